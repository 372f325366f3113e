"""``recommender serve --workers 2``: one copy of the model, forked from the supervisor.

A real server process on a loopback port. Its workers are forks of a supervisor that loaded
the model (so each worker's unique pages are a small part of its resident set — a spawned
worker that imported the stack and loaded the model itself owns most of its pages); SIGHUP
loads a new model in the supervisor and replaces both workers by forks sharing it, with no
failed request; a corrupt new version leaves the workers and the old model in place.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from recommender.lifecycle.artifacts import MODEL_FILE, publish_version
from tests.service_support import add_version, copy_models

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="fork + /proc (Linux)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tiny_models, tmp_path_factory):
    """(supervisor process, base URL, models root, log folder) of ``serve --workers 2``: one
    server for the module (the SIGHUP test, which publishes new versions, comes last)."""
    tmp_path = tmp_path_factory.mktemp("served")
    models = copy_models(tiny_models, tmp_path / "models")
    port = _free_port()
    env = {
        **os.environ,
        "XUANXUE_EVENTS_PATH": str(tmp_path / "events.sqlite3"),
        "XUANXUE_KEYS_FILE": str(tmp_path / "no_api_keys.json"),
        "XUANXUE_LOG_LEVEL": "INFO",
    }
    cmd = [sys.executable, "-m", "recommender", "serve", "--model", str(models)]
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [*cmd, "--port", str(port), "--workers", "2"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: len(_workers(proc)) == 2 and _ready(base), 120, proc, tmp_path)
        yield proc, base, models, tmp_path
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _ready(base: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(base + "/readyz", timeout=2).status_code == 200
    return False


def _wait(cond, seconds: float, proc, tmp_path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError((tmp_path / "server.log").read_text()[-3000:])
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds} s: {(tmp_path / 'server.log').read_text()[-3000:]}")


def _workers(proc) -> list[psutil.Process]:
    """The supervisor's worker processes (multiprocessing may keep no helper: fork context)."""
    with contextlib.suppress(psutil.Error):
        return [c for c in psutil.Process(proc.pid).children() if c.is_running()]
    return []


def _versions(base: str, n: int = 20) -> set[str]:
    """Versions answered over n new connections (each may reach either worker)."""
    return {httpx.get(base + "/v1/model", timeout=10).headers["x-model-version"] for _ in range(n)}


def _unique_share(p: psutil.Process) -> float:
    info = p.memory_full_info()
    return info.uss / info.rss


def test_workers_are_forks_sharing_the_supervisors_model(served, tiny_model):
    proc, base, _, _ = served
    with httpx.Client(base_url=base, timeout=10) as c:
        cadre = str(tiny_model.cadres["cadre_id"].iloc[0])
        for _ in range(40):
            assert c.get(f"/v1/cadres/{cadre}/recommendations").status_code == 200
            body = {"job_title": "乡镇党委书记", "job_description": "负责基层治理", "k": 5}
            assert c.post("/v1/recommendations", json=body).status_code == 200
    workers = _workers(proc)
    assert len(workers) == 2
    for w in workers:  # a spawned worker owns ~80 % of its pages (imports + model)
        assert _unique_share(w) < 0.5, (w.pid, w.memory_full_info())
    assert _versions(base) == {tiny_model.version}


def test_a_burst_of_connections_reaches_both_workers(served):
    """16 connections opened at once are all answered, by both workers (each listens on its
    own SO_REUSEPORT socket: a slot without a worker would leave its share unanswered)."""
    proc, base, _, _ = served
    port = int(base.rsplit(":", 1)[1])
    conns = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(16)]
    try:
        for conn in conns:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        for conn in conns:
            assert conn.recv(4096).startswith(b"HTTP/1.1 200")
        held = {
            w.pid: sum(
                1
                for c in w.net_connections(kind="tcp")
                if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port
            )
            for w in _workers(proc)
        }
    finally:
        for conn in conns:
            conn.close()
    assert sum(held.values()) == 16 and min(held.values()) >= 2, held


def test_sighup_reloads_in_the_supervisor_and_replaces_the_workers(served, tiny_model):
    proc, base, models, tmp_path = served
    before = {w.pid for w in _workers(proc)}
    statuses: list[int] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=base, timeout=30) as c:
            while not stop.is_set():
                statuses.append(c.get("/v1/model").status_code)

    bad = add_version(models, "v-corrupt")  # refused: nothing changes
    (bad / MODEL_FILE).write_bytes(b"not a model")
    os.kill(proc.pid, signal.SIGHUP)
    time.sleep(3)
    log = (tmp_path / "server.log").read_text()
    assert {w.pid for w in _workers(proc)} == before, log[-3000:]
    assert "artifact_tampered" in log
    assert _versions(base) == {tiny_model.version}
    publish_version(models, tiny_model.version)  # `current` back on the good version

    thread = threading.Thread(target=load)
    thread.start()
    try:
        add_version(models, "v-sighup")
        os.kill(proc.pid, signal.SIGHUP)
        _wait(
            lambda: len(_workers(proc)) == 2 and not before & {w.pid for w in _workers(proc)},
            120,
            proc,
            tmp_path,
        )
    finally:
        stop.set()
        thread.join()
    assert _versions(base) == {"v-sighup"}
    assert len(statuses) > 10 and set(statuses) == {200}, sorted(set(statuses))
    for w in _workers(proc):  # the new workers share the new model too
        assert _unique_share(w) < 0.5, (w.pid, w.memory_full_info())
