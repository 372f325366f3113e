"""Security benchmark: the API-key matrix, the body limits, per-cadre cost of many events,
slow clients against a real server, and latency while the model reloads.

``python -m benchmarks.bench_security [--scale sample] [--events 20000] [--calls 200]
[--reload-scale large]``

1. Auth matrix: every endpoint × (no key, read, write, admin, revoked, bogus key) with keys
   configured, and the same without keys from loopback and from another host; the table
   counts the statuses.
2. Body limits: a 1,000-event batch (the documented maximum) is accepted; 1 MiB + 1 is 413.
3. Per-cadre latency: recommendations and menu for a cadre with 10 stored events against one
   with ``--events`` events (posted through the API by a write key), and the key check's
   own cost (loopback without key vs a key).

4. Slow clients: ``recommender serve`` in a child process (read timeouts 2 s for headers,
   3 s for a body): header-trickling, idle and slow-body connections at once; how many the
   server closed within the timeout + 1 s, and whether a normal request is answered meanwhile.
5. Reload under load: ``benchmarks.bench_reload`` (wrk, one worker) on ``--reload-scale``:
   p99 with an admin reload every 0.5 s against rounds without, in the same run.

1–3 run in process through ``TestClient`` (its own overhead, ~1 ms, is in every figure;
compare rows with each other, not with the wrk tables of bench_serving).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd

from benchmarks import bench_reload
from benchmarks.bench_serving import Server
from benchmarks.common import Section, model_dir, percentiles
from recommender.lifecycle.keys import add_key, revoke_key
from service.config import Settings
from service.main import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

HOLDERS = ("none", "read", "write", "admin", "revoked", "bogus")
PROFILE = {
    "job_title": "乡镇党委副书记",
    "job_description": "负责基层党建、乡村振兴、安全生产和应急管理工作",
    "unit_level": "乡镇",
    "system": "农业农村",
    "rank": "一级主任科员",
}

#: the test clients call the server by a loopback name (keyless mode serves only those)
BASE = "http://localhost"


def _endpoints(cadre: str, course: str) -> list[tuple[str, str, dict | None, str]]:
    event = {"cadre_id": cadre, "course_id": course, "enrolled_at": "2025-06-01T09:00:00"}
    return [
        ("GET", f"/v1/cadres/{cadre}/recommendations?k=5", None, "read"),
        ("POST", "/v1/recommendations", {**PROFILE, "k": 5}, "read"),
        ("POST", f"/v1/cadres/{cadre}/menu", {}, "read"),
        ("GET", f"/v1/courses/{course}/similar?k=5", None, "read"),
        ("GET", "/v1/model", None, "read"),
        ("GET", "/openapi.json", None, "read"),
        ("POST", "/v1/completions", event, "write"),
        ("POST", "/v1/admin/reload", None, "admin"),
        ("GET", "/healthz", None, "open"),
    ]


def _event(cadre: str, course: str, i: int, tag: str) -> dict:
    day = 1 + i % 28
    return {
        "event_id": f"{tag}-{i}",
        "cadre_id": cadre,
        "course_id": course,
        "enrolled_at": f"2025-0{1 + i % 9}-{day:02d}T09:00:00",
        "completed_at": f"2025-0{1 + i % 9}-{day:02d}T18:00:00",
        "progress": 1.0,
        "rating": 1 + i % 5,
        "source": "self_selected",
    }


def auth_matrix(root: Path, tmp: Path, cadre: str, course: str) -> pd.DataFrame:
    keys_file = tmp / "api_keys.json"
    keys = {s: add_key(keys_file, s, s)[0] for s in ("read", "write", "admin")}
    keys["revoked"] = add_key(keys_file, "old", "admin")[0]
    revoke_key(keys_file, "old")
    keys["bogus"] = "xx_" + "0" * 43
    rows = []
    keyed = Settings(model_path=root, events_path=tmp / "m.sqlite3", keys_file=keys_file)
    none_file = tmp / "none.json"
    open_ = Settings(model_path=root, events_path=tmp / "o.sqlite3", keys_file=none_file)
    modes = [("keys configured", keyed, "10.1.2.3"), ("no keys, loopback", open_, "127.0.0.1")]
    modes.append(("no keys, other host", open_, "10.1.2.3"))
    for mode, settings, host in modes:
        with TestClient(create_app(settings), base_url=BASE, client=(host, 40000)) as c:
            for method, path, body, scope in _endpoints(cadre, course):
                counts: Counter = Counter()
                for holder in HOLDERS:
                    headers = {"X-API-Key": keys[holder]} if holder in keys else {}
                    r = c.request(method, path, json=body, headers=headers)
                    counts[r.status_code] += 1
                    rows.append((mode, scope, holder, r.status_code))
    df = pd.DataFrame(rows, columns=["mode", "scope", "key", "status"])
    table = df.pivot_table(
        index=["mode", "scope"], columns="key", values="status", aggfunc=_summary
    )
    return table.reindex(columns=list(HOLDERS)).reset_index()


def _summary(statuses: pd.Series) -> str:
    c = Counter(statuses)
    return " ".join(f"{s}×{n}" if n > 1 else str(s) for s, n in sorted(c.items()))


def _timed(c: TestClient, method: str, path: str, calls: int, **kw) -> dict[str, float]:
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        r = c.request(method, path, **kw)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.text[:300]
    return percentiles(times)


def per_cadre(root: Path, tmp: Path, cadres: list[str], courses: list[str], args) -> tuple:
    keys_file = tmp / "bench_keys.json"
    token = add_key(keys_file, "bench", "write")[0]
    settings = Settings(model_path=root, events_path=tmp / "p.sqlite3", keys_file=keys_file)
    w = {"X-API-Key": token}
    rnd = random.Random(0)
    few, many = cadres[0], cadres[1]
    rows, limits = [], []
    with TestClient(create_app(settings), base_url=BASE, client=("10.1.2.3", 40000)) as c:
        batch = [_event(few, rnd.choice(courses), i, "few") for i in range(10)]
        assert c.post("/v1/completions", json=batch, headers=w).status_code == 200
        post_ms = []
        for start in range(0, args.events, 1000):
            n = min(1000, args.events - start)
            batch = [_event(many, rnd.choice(courses), start + i, "many") for i in range(n)]
            t0 = time.perf_counter()
            r = c.post("/v1/completions", json=batch, headers=w)
            post_ms.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200, r.text[:300]
        body = r.request.content
        limits.append(("POST 1,000 events", f"{len(body) / 1024:.0f} KB", r.status_code))
        limits[-1] += (f"{sorted(post_ms)[len(post_ms) // 2]:.0f} ms (p50 of batches)",)
        big = b"[" + b" " * (settings.max_events_body_bytes) + b"]"
        r = c.post("/v1/completions", content=big, headers={**w, "content-type": "x"})
        limits.append(("POST 1 MiB + 2 bytes", f"{len(big) / 1024:.0f} KB", r.status_code, ""))
        for n, cadre in ((10, few), (args.events, many)):
            rec = _timed(
                c, "GET", f"/v1/cadres/{cadre}/recommendations?k=10", args.calls, headers=w
            )
            menu = _timed(c, "POST", f"/v1/cadres/{cadre}/menu", args.menu_calls, headers=w)
            rows.append((f"{n:,}", "recommendations k=10", rec["p50"], rec["p99"]))
            rows.append((f"{n:,}", "menu", menu["p50"], menu["p99"]))
    cost = []
    # the same event store, keys file absent: reads from loopback need no key
    base = Settings(model_path=root, events_path=settings.events_path, keys_file=tmp / "none.json")
    with TestClient(create_app(base), base_url=BASE, client=("127.0.0.1", 40000)) as c:
        url = f"/v1/cadres/{few}/recommendations?k=10"
        cost.append(("loopback, no keys configured", *_timed(c, "GET", url, args.calls).values()))
    with TestClient(create_app(settings), base_url=BASE, client=("10.1.2.3", 40000)) as c:
        cost.append(
            ("X-API-Key (write key)", *_timed(c, "GET", url, args.calls, headers=w).values())
        )
    cost += _decide_cost(tmp)
    return (
        pd.DataFrame(rows, columns=["events of the cadre", "request", "p50 ms", "p99 ms"]),
        pd.DataFrame(limits, columns=["request", "body", "status", "time"]),
        pd.DataFrame(
            cost, columns=["GET recommendations, 10 events", "p50 ms", "p95 ms", "p99 ms"]
        ),
    )


def _decide_cost(tmp: Path, n: int = 100_000) -> list[tuple]:
    """The middleware's decision alone (µs → ms), with 10 keys in the file."""
    from service.auth import Authenticator, token_of

    keys_file = tmp / "ten_keys.json"
    tokens = [add_key(keys_file, f"k{i}", "read")[0] for i in range(10)]
    keyed = Authenticator(Settings(keys_file=keys_file))
    local = Authenticator(Settings(keys_file=tmp / "none.json"))
    headers = [(b"host", b"x"), (b"x-api-key", tokens[5].encode()), (b"accept", b"*/*")]
    out = []
    for label, auth, host, hdr in (
        ("decide() only: loopback, no keys", local, "127.0.0.1", headers[:1]),
        ("decide() only: 1 of 10 keys", keyed, "10.1.2.3", headers),
    ):
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(n // 5):
                auth.decide("read", token_of(hdr), host)
            times.append((time.perf_counter() - t0) * 1000 / (n // 5))
        times.sort()
        out.append((label, times[2], times[3], times[4]))
    return out


#: read timeouts of the slow-client server (seconds; the defaults are 10 and 30)
SLOW_TIMEOUTS = {"XUANXUE_HEADER_TIMEOUT": 2.0, "XUANXUE_BODY_TIMEOUT": 3.0}
TRICKLE_EVERY = 0.5
SLOW_BODY = (
    b"POST /v1/recommendations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 1000\r\n\r\n{"
)
#: phases, each (clients, connections, first bytes, bytes trickled every TRICKLE_EVERY s,
#: which timeout applies); the second exceeds limit_concurrency (256 a worker)
SLOW_PHASES = (
    (
        ("header trickle", 200, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", b"X", "HEADER"),
        ("slow body", 50, SLOW_BODY, b" ", "BODY"),
    ),
    (("idle, nothing sent", 1500, b"", None, "HEADER"),),
)


@contextlib.contextmanager
def _environ(values: dict[str, object]) -> Iterator[None]:
    """Set environment variables for a child process started inside the block."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update({k: str(v) for k, v in values.items()})
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


async def _held(port: int, first: bytes, trickle: bytes | None, limit: float) -> tuple:
    """(seconds until the server closed the connection or None if still open after
    ``limit``, whether it answered first) for a client that sent ``first`` then trickled."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    t0, answered = time.monotonic(), False
    try:
        writer.write(first)
        while time.monotonic() - t0 < limit:
            try:
                data = await asyncio.wait_for(reader.read(4096), TRICKLE_EVERY)
            except TimeoutError:
                if trickle:
                    writer.write(trickle)
                    await writer.drain()
                continue
            if not data:
                return time.monotonic() - t0, answered  # EOF: the server closed it
            answered = True
        return None, answered
    except OSError:  # reset by the server while writing
        return time.monotonic() - t0, answered
    finally:
        writer.close()


async def _normal_request(base: str, at: float) -> str:
    await asyncio.sleep(at)
    async with httpx.AsyncClient(timeout=10) as c:
        t0 = time.perf_counter()
        try:
            r = await c.get(base + "/healthz")
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__} after {time.perf_counter() - t0:.2f} s"
        return f"{r.status_code} in {1000 * (time.perf_counter() - t0):.0f} ms"


async def _phase(port: int, base: str, clients: tuple) -> tuple[list[list], list[str]]:
    limit = max(SLOW_TIMEOUTS.values()) + 3.0
    groups = [
        [_held(port, first, trickle, limit) for _ in range(n)]
        for _, n, first, trickle, _ in clients
    ]
    flat = [t for ts in groups for t in ts]
    done = await asyncio.gather(*flat, _normal_request(base, 1.0), _normal_request(base, limit))
    held, at = [], 0
    for ts in groups:
        held.append(done[at : at + len(ts)])
        at += len(ts)
    return held, list(done[len(flat) :])


def _slow_row(phase: str, client: tuple, held: list, normal: list[str]) -> dict:
    name, n, _, _, which = client
    timeout = SLOW_TIMEOUTS[f"XUANXUE_{which}_TIMEOUT"]
    closed = [t for t, _ in held if t is not None]
    return {
        "phase": phase,
        "clients": name,
        "connections": n,
        "timeout s": timeout,
        "closed within timeout + 1 s": sum(t <= timeout + 1 for t in closed),
        "answered before closing": sum(a for _, a in held),
        "open at the end": n - len(closed),
        "median s to close": statistics.median(closed) if closed else float("nan"),
        "max s to close": max(closed) if closed else float("nan"),
        "normal GET /healthz at 1 s / after": " / ".join(normal),
    }


def slow_clients(root: Path) -> pd.DataFrame:
    """Slow and idle connections against ``recommender serve``: closed within the timeout?"""
    rows = []
    with _environ(SLOW_TIMEOUTS), Server(root) as server:
        for i, clients in enumerate(SLOW_PHASES, 1):
            total = sum(c[1] for c in clients)
            held, normal = asyncio.run(_phase(server.port, server.base, clients))
            for client, got in zip(clients, held, strict=True):
                rows.append(_slow_row(f"{i}: {total:,} connections", client, got, normal))
    return pd.DataFrame(rows)


def reload_row(scale: str, rounds: int) -> pd.DataFrame:
    """bench_reload's two rows: p99 without reloads and with one every 0.5 s, same run."""
    table = bench_reload.measure(scale, rounds=rounds)
    keep = ["while", "p99 ms (median)", "p99 per round", "p99 ratio", "req/s (median)"]
    return table[[*keep, "failed requests", "reloads done", "reloads failed"]]


def main(argv: list[str] | None = None) -> Section:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="sample")
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--menu-calls", type=int, default=20)
    ap.add_argument("--reload-scale", default="large", help="model for the reload rows")
    ap.add_argument("--reload-rounds", type=int, default=3)
    args = ap.parse_args(argv)
    sec = Section(
        f"Security ({args.scale} model)",
        f"python -m benchmarks.bench_security --scale {args.scale} --events {args.events} "
        f"--reload-scale {args.reload_scale}",
    )
    t0 = time.perf_counter()
    root = model_dir(args.scale)
    from recommender.lifecycle.artifacts import load_model

    model = load_model(root)
    cadres = [str(c) for c in model.cadres["cadre_id"][:2]]
    courses = [str(c) for c in model.course_ids[model.active]]
    del model
    with tempfile.TemporaryDirectory() as tmp:
        matrix = auth_matrix(root, Path(tmp), cadres[0], courses[0])
        sec.add("Auth matrix: status per endpoint scope × key (counts when several)", matrix)
        latency, limits, cost = per_cadre(root, Path(tmp), cadres, courses, args)
        sec.add("Body limits", limits)
        sec.add(f"Per-cadre latency, 10 vs {args.events:,} stored events", latency, ".2f")
        sec.add("Cost of the key check", cost, ".4f")
        sec.note(
            "decide() rows: milliseconds per call, median / 4th / 5th of 5 batches of 20,000 "
            "calls (not request percentiles)"
        )
    slow = slow_clients(root)
    sec.add(
        "Slow clients against `recommender serve` (one worker; each phase at once)", slow, ".2f"
    )
    reload = reload_row(args.reload_scale, args.reload_rounds)
    sec.add(f"Reload under load ({args.reload_scale} model, wrk c=8, 1 worker)", reload, ".2f")
    sec.seconds = time.perf_counter() - t0
    sec.save("security")  # benchmarks/out/results/security.md
    return sec


if __name__ == "__main__":
    main()
