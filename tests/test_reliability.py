"""Reliability: API fuzzing, SIGKILL during ``train``, and event durability under concurrency.

Fast versions run in the normal suite; the long ones are marked ``slow`` (``make bench``
runs them with ``pytest -m slow``).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from recommender.lifecycle.artifacts import CURRENT, MODEL_FILE, list_versions, load_model, resolve
from tests.pg import stored_ids
from tests.service_support import (
    API_KEY,
    WRITE,
    client_for,
    completion_event,
    make_settings,
)
from tests.test_openapi import conformance_checks

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ API fuzzing
#: who calls: the admin key (every operation reaches its handler), a wrong key (403), and
#: nobody (reads from loopback are allowed, writes and admin answer 401)
CALLERS = {"admin key": {"X-API-Key": API_KEY}, "wrong key": {"X-API-Key": "x" * 20}, "no key": {}}


def _fuzz(settings, examples: int) -> Counter:
    """Every operation of the OpenAPI spec, positive and negative generated inputs, each
    caller of :data:`CALLERS`; every response is checked against the documented contract."""
    schemathesis = pytest.importorskip("schemathesis")
    statuses: Counter = Counter()
    failures: dict[str, str] = {}  # one reproduction per distinct (operation, failure)
    # schemathesis's ASGI client calls the app "testserver": a name the Host allow-list of a
    # keyless (loopback-only) service would refuse
    settings = settings.model_copy(update={"allowed_hosts": ("localhost", "testserver")})
    with client_for(settings) as c:  # runs the lifespan: the model is loaded on c.app
        schema = schemathesis.openapi.from_asgi("/openapi.json", c.app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 8
        for op in operations:
            for mode in schemathesis.GenerationMode:
                for caller in CALLERS:
                    _fuzz_operation(op, mode, caller, examples, statuses, failures)
    assert not failures, "nonconforming responses:\n" + "\n".join(
        f"{title}\n{example}" for title, example in failures.items()
    )
    return statuses


def _fuzz_operation(
    op, mode, caller: str, examples: int, statuses: Counter, failures: dict
) -> None:
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hsettings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.core.failures import FailureGroup

    checks, headers = conformance_checks(), CALLERS[caller]

    @hsettings(
        max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=op.as_strategy(generation_mode=mode))
    def check(case):
        response = case.call(headers=headers)
        statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except FailureGroup as exc:
            for failure in exc.exceptions:
                title = f"{op.label} ({caller}): {failure.title}"
                failures.setdefault(title, failure.message[:600])

    try:
        check()
    except Unsatisfiable:  # e.g. no invalid input exists for an operation without parameters
        if mode.value != "negative":
            raise


def test_fuzzed_requests_conform_to_openapi(tiny_models, tmp_path):
    """schemathesis: no 5xx, and every status, content type and body is the documented one."""
    settings = make_settings(tiny_models, tmp_path / "events.sqlite3", api_key=API_KEY)
    statuses = _fuzz(settings, examples=6)
    assert all(statuses[status] > 0 for status in (200, 401, 403, 404, 422)), statuses


@pytest.mark.slow
def test_fuzzed_requests_conform_to_openapi_long(tiny_models, tmp_path):
    _fuzz(make_settings(tiny_models, tmp_path / "events.sqlite3", api_key=API_KEY), examples=150)


# ------------------------------------------------------- SIGKILL during train
def _train_cmd(data: Path, root: Path) -> list[str]:
    return [sys.executable, "-m", "recommender", "train", "--data", str(data), "--out", str(root)]


def _kill_when(proc: subprocess.Popen, root: Path, mode: str, delay: float) -> str:
    """SIGKILL ``proc`` after ``delay`` s, or the moment a new version starts being written
    (``tmp``) or exists but is not yet published (``written``). Returns what happened."""
    known = {p.name for p in root.iterdir()}
    t0 = time.perf_counter()
    while proc.poll() is None and time.perf_counter() - t0 < 600:
        new = {p.name for p in root.iterdir()} - known
        if mode == "tmp" and any(n.startswith(".tmp-") for n in new):
            break
        if mode == "written" and any(
            (root / n / MODEL_FILE).exists() for n in new if not n.startswith(".")
        ):
            break
        if mode == "delay" and time.perf_counter() - t0 >= delay:
            break
        time.sleep(0.002)
    if proc.poll() is not None:
        return "finished"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    return "killed"


def _kill_during_train(tiny_data: Path, tiny_models: Path, tmp: Path, runs: int) -> Counter:
    root = tmp / "models"
    shutil.copytree(tiny_models, root, symlinks=True)
    old = resolve(root).name
    rng = random.Random(20260101)
    seen: Counter = Counter()
    for i in range(runs):
        # one run in three aims at the save window itself; the others land anywhere
        mode = ("tmp", "written", "delay")[i % 3]
        proc = subprocess.Popen(
            _train_cmd(tiny_data, root),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        outcome = _kill_when(proc, root, mode, delay=rng.uniform(0.5, 15.0))
        current = resolve(root)
        model = load_model(root)  # the published model always loads …
        model.recommend(str(model.cadres["cadre_id"].iloc[0]), k=3)
        if outcome == "killed" and current.name != old:
            # … and a kill can only leave a new one published if it came after publishing
            meta = json.loads((current / "metadata.json").read_text(encoding="utf-8"))
            assert meta["model_version"] == current.name
            outcome = "killed after publish"
        elif outcome == "killed":
            assert current.name == old, f"run {i} ({mode}): current moved to {current.name}"
        old = current.name
        seen[f"{mode}: {outcome}"] += 1
        assert (root / CURRENT).is_symlink()
        assert all(not v.startswith(".") for v in list_versions(root))
    return seen


def test_sigkill_during_train_keeps_current(tiny_data, tiny_models, tmp_path):
    seen = _kill_during_train(tiny_data, tiny_models, tmp_path, runs=5)
    assert sum(v for k, v in seen.items() if "killed" in k) >= 3, seen


@pytest.mark.slow
def test_sigkill_during_train_keeps_current_many(tiny_data, tiny_models, tmp_path):
    seen = _kill_during_train(tiny_data, tiny_models, tmp_path, runs=20)
    assert sum(v for k, v in seen.items() if "killed" in k) >= 12, seen
    # and a train after all those kills still works and publishes
    proc = subprocess.run(
        _train_cmd(tiny_data, tmp_path / "models"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    load_model(tmp_path / "models")


# --------------------------------------------------- event store under concurrency
def _store_settings(models: Path, target: str, tmp: Path, **overrides):
    """Service settings on ``target``: a SQLite path or a PostgreSQL URL (events_url)."""
    if target.startswith("postgresql://"):
        return make_settings(models, tmp / "unused.sqlite3", events_url=target, **overrides)
    return make_settings(models, Path(target), **overrides)


def _post_concurrently(post, cadres, courses, threads: int, batches: int) -> tuple[set, int]:
    """Each thread posts batches of 1–3 new events and re-sends one earlier batch."""
    acked: set[str] = set()
    lock = threading.Lock()
    failures = []

    def worker(t: int) -> None:
        rnd = random.Random(t)
        sent = []
        for b in range(batches):
            batch = [
                completion_event(rnd.choice(cadres), rnd.choice(courses), f"t{t}-b{b}-e{e}")
                for e in range(rnd.randint(1, 3))
            ]
            sent.append(batch)
            status, body = post(batch if len(batch) > 1 else batch[0])
            if status != 200:
                failures.append((status, body))
                continue
            with lock:
                acked.update(e["event_id"] for e in body["events"] if e["status"] == "stored")
        status, body = post(sent[0])  # a resend must be a duplicate, never a second copy
        if status == 200:
            assert all(e["status"] == "duplicate" for e in body["events"]), body

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    return acked, len(failures)


def test_concurrent_completions_survive_restart_exactly_once(
    tiny_models, tmp_path, events_target, cadre_ids, course_ids
):
    events = events_target  # SQLite, then PostgreSQL
    settings = _store_settings(tiny_models, events, tmp_path, api_key=API_KEY)
    with client_for(settings, WRITE) as c:

        def post(body):
            r = c.post("/v1/completions", json=body)
            return r.status_code, r.json()

        acked, failed = _post_concurrently(post, cadre_ids, course_ids, threads=12, batches=10)
    assert failed == 0
    assert len(acked) >= 12 * 10
    with client_for(settings) as restarted:  # a new app on the same events_path
        assert restarted.app.state.store.count() == len(acked)
    stored = stored_ids(events)
    assert set(stored) == acked
    assert all(n == 1 for n in stored.values())


@pytest.mark.slow
def test_acknowledged_events_survive_server_sigkill(
    tiny_models, tmp_path, events_target, cadre_ids, course_ids
):
    """A real server on 127.0.0.1 is SIGKILLed mid-stream: every 200 it sent is stored once
    (SQLite on disk, or committed in PostgreSQL)."""
    import httpx

    events = events_target
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    where = "XUANXUE_EVENTS_URL" if events.startswith("postgresql://") else "XUANXUE_EVENTS_PATH"
    env = {**os.environ, where: events, "XUANXUE_LOG_LEVEL": "WARNING"}
    env.update(XUANXUE_API_KEY=API_KEY, XUANXUE_KEYS_FILE=str(tmp_path / "no_api_keys.json"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "recommender",
            "serve",
            "--model",
            str(tiny_models),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            pytest.fail("server not ready")
        acked: set[str] = set()
        lock = threading.Lock()
        stop = threading.Event()

        def worker(t: int) -> None:
            rnd = random.Random(t)
            with httpx.Client(base_url=base, timeout=10, headers=WRITE) as client:
                i = 0
                while not stop.is_set() and i < 10_000:
                    i += 1
                    body = completion_event(
                        rnd.choice(cadre_ids),
                        rnd.choice(course_ids),
                        f"{t}-{i}-{uuid.uuid4().hex[:6]}",
                    )
                    try:
                        r = client.post("/v1/completions", json=body)
                    except httpx.HTTPError:
                        return  # the server is gone: this request was never acknowledged
                    if r.status_code == 200:
                        with lock:
                            acked.add(body["event_id"])

        pool = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for th in pool:
            th.start()
        time.sleep(8)
        os.killpg(proc.pid, signal.SIGKILL)
        stop.set()
        for th in pool:
            th.join(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert len(acked) > 20
    stored = stored_ids(events)
    assert acked <= set(stored), f"{len(acked - set(stored))} acknowledged events lost"
    assert all(n == 1 for n in stored.values())
    with client_for(_store_settings(tiny_models, events, tmp_path)) as restarted:
        assert restarted.app.state.store.count() == len(stored)
