"""Two service replicas sharing one PostgreSQL event store and one models folder.

Real processes (``python -m recommender serve``) on two loopback ports, as behind a load
balancer: an event posted to one replica counts on the other at once; events posted to both
from 8 threads while one replica is SIGKILLed and restarted are each stored exactly once
(a client whose request failed resends it to the other replica, as a proxy would); a new model
published and reloaded on both serves without a single failed request.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from recommender.lifecycle.artifacts import publish_version, resolve
from tests.pg import stored_ids
from tests.service_support import API_KEY, WRITE, completion_event

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Replica:
    """One ``recommender serve`` process; ``kill()`` is SIGKILL, ``start()`` (re)starts it."""

    models: Path
    events_url: str
    scratch: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> Replica:
        return self.spawn().wait_ready(timeout)

    def spawn(self) -> Replica:
        env = {
            **os.environ,
            "XUANXUE_EVENTS_URL": self.events_url,
            "XUANXUE_API_KEY": API_KEY,
            "XUANXUE_KEYS_FILE": str(self.scratch / "no_api_keys.json"),
            "XUANXUE_LOG_LEVEL": "WARNING",
            "XUANXUE_LIMIT_CONCURRENCY": "0",
        }
        cmd = [sys.executable, "-m", "recommender", "serve", "--model", str(self.models)]
        self.proc = subprocess.Popen(
            [*cmd, "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self

    def wait_ready(self, timeout: float = 120) -> Replica:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"replica on port {self.port} exited ({self.proc.returncode})")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base + "/readyz", timeout=1, headers=WRITE).status_code == 200:
                    return self
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"replica on port {self.port} not ready in {timeout} s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


@contextlib.contextmanager
def replicas(models: Path, events_url: str, scratch: Path, n: int = 2):
    """``n`` replicas started together (each loads the model), killed at the end."""
    started: list[Replica] = []
    try:
        for _ in range(n):
            started.append(Replica(models, events_url, scratch).spawn())
        for r in started:
            r.wait_ready()
        yield started
    finally:
        for r in started:
            r.kill()


@dataclass
class PostResult:
    sent: set[str] = field(default_factory=set)
    acked: set[str] = field(default_factory=set)
    retried: int = 0
    failed: int = 0  # gave up on both replicas


def post_during_kill(
    pool: list[Replica], cadres, courses, *, events: int, threads: int = 8, kill_after: float = 0.3
) -> PostResult:
    """``events`` events from ``threads`` threads, round-robin over the replicas; once
    ``kill_after`` of them are acknowledged, replica 0 is SIGKILLed and restarted. A request that
    fails (connection refused/reset, 5xx) is resent to the next replica, as a proxy would."""
    import httpx

    out, lock = PostResult(), threading.Lock()
    killed = threading.Event()
    per_thread = events // threads

    def worker(t: int) -> None:
        rnd = random.Random(t)
        clients = [httpx.Client(base_url=r.base, timeout=10, headers=WRITE) for r in pool]
        try:
            for i in range(per_thread):
                body = completion_event(rnd.choice(cadres), rnd.choice(courses), f"r{t}-{i}")
                with lock:
                    out.sent.add(body["event_id"])
                for attempt in range(6):
                    target = clients[(i + t + attempt) % len(clients)]
                    try:
                        r = target.post("/v1/completions", json=body)
                    except httpx.HTTPError:
                        r = None
                    if r is not None and r.status_code == 200:
                        with lock:
                            out.acked.add(body["event_id"])
                        break
                    with lock:
                        out.retried += 1
                    time.sleep(0.02 * attempt)
                else:
                    with lock:
                        out.failed += 1
        finally:
            for c in clients:
                c.close()

    def killer() -> None:
        while len(out.acked) < kill_after * events and not killed.is_set():
            time.sleep(0.01)
        pool[0].kill()  # SIGKILL mid-stream
        killed.set()
        pool[0].start()

    pool_threads = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    k = threading.Thread(target=killer)
    k.start()
    for th in pool_threads:
        th.start()
    for th in pool_threads:
        th.join()
    killed.set()
    k.join()
    return out


def reload_under_load(
    pool: list[Replica], models: Path, version: str, cadres, *, seconds: float = 3.0
) -> tuple[int, int, set[str]]:
    """GET recommendations from 4 threads on every replica while ``version`` is published and
    each replica reloads it; returns (requests, failed, versions seen)."""
    import httpx

    stop = threading.Event()
    counts = {"ok": 0, "failed": 0}
    seen: set[str] = set()
    lock = threading.Lock()

    def reader(t: int) -> None:
        rnd = random.Random(100 + t)
        with httpx.Client(base_url=pool[t % len(pool)].base, timeout=30, headers=WRITE) as c:
            while not stop.is_set():
                try:
                    r = c.get(f"/v1/cadres/{rnd.choice(cadres)}/recommendations?k=10")
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    counts["ok" if ok else "failed"] += 1
                    if ok:
                        seen.add(r.json()["model_version"])

    threads = [threading.Thread(target=reader, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    time.sleep(seconds / 3)
    publish_version(models, version)
    for r in pool:
        resp = httpx.post(r.base + "/v1/admin/reload", headers=WRITE, json={}, timeout=120)
        assert resp.status_code == 200 and resp.json()["model_version"] == version, resp.text
    time.sleep(seconds * 2 / 3)
    stop.set()
    for th in threads:
        th.join()
    return counts["ok"] + counts["failed"], counts["failed"], seen


# ------------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def shared(tiny_models, tiny_data, tmp_path_factory, pg_cluster):
    """A models folder with a second, unpublished version, and a fresh PostgreSQL database."""
    from recommender.lifecycle.train import train

    scratch = tmp_path_factory.mktemp("replicas")
    models = scratch / "models"
    shutil.copytree(tiny_models, models, symlinks=True)
    new = train(tiny_data, models, publish=False).name
    return models, new, pg_cluster.new_database(), scratch


def test_two_replicas_share_events_survive_a_kill_and_reload(shared, cadre_ids, course_ids):
    import httpx

    models, new_version, url, scratch = shared
    assert resolve(models).name != new_version
    with replicas(models, url, scratch) as (a, b):
        # 1. posted to A, gone from B's next recommendations
        cadre = cadre_ids[7]
        top = httpx.get(f"{b.base}/v1/cadres/{cadre}/recommendations?k=5", headers=WRITE)
        taken = top.json()["items"][0]["course_id"]
        posted = httpx.post(f"{a.base}/v1/completions", json=completion_event(cadre, taken, "ab-1"),
                            headers=WRITE)  # fmt: skip
        assert posted.status_code == 200 and posted.json()["stored"] == 1
        after = httpx.get(f"{b.base}/v1/cadres/{cadre}/recommendations?k=5", headers=WRITE)
        assert taken not in [it["course_id"] for it in after.json()["items"]]
        resend = httpx.post(f"{b.base}/v1/completions", json=completion_event(cadre, taken, "ab-1"),
                            headers=WRITE)  # fmt: skip
        assert resend.json()["duplicates"] == 1  # the other replica knows it too

        # 2. 8 threads on both replicas, A SIGKILLed and restarted mid-stream
        result = post_during_kill([a, b], cadre_ids, course_ids, events=400)
        stored = stored_ids(url)
        assert result.failed == 0
        assert result.acked == result.sent  # every event eventually acknowledged …
        assert result.acked <= set(stored)  # … and stored …
        assert all(n == 1 for n in stored.values())  # … exactly once
        assert len(stored) == len(result.acked) + 1  # + ab-1

        # 3. a new model published and reloaded on both: no failed request
        total, failed, seen = reload_under_load([a, b], models, new_version, cadre_ids)
        assert total > 20 and failed == 0
        assert new_version in seen
        for r in (a, b):
            assert httpx.get(f"{r.base}/v1/model", headers=WRITE).json()["model_version"] == (
                new_version
            )
