"""Serving latency and throughput on the ``large`` model (5k courses, 100k cadres).

1. In process: ``recommend`` (k = 10, explain on/off), ``recommend_profile`` and ``plan_menu``
   p50/p99, against baselines in the same run (top-10 by numpy argpartition over a precomputed
   score row; the hybrid's scoring alone) to show where the time goes.
2. HTTP on loopback: ``recommender serve`` in a child process on 127.0.0.1 (free port), driven
   by an asyncio + httpx client at concurrency 1, 8, 32, 64 (each level time-bounded), and by
   ``wrk`` when it is installed. The client shares the 2 cores with the server; its CPU use is
   reported next to the server's.
3. ``--soak SECONDS``: constant load, server RSS sampled every 10 s; fails on RSS growth
   beyond a tolerance or on any failed request.

    .venv/bin/python -m benchmarks.bench_serving [--quick] [--soak 300] [--duration 12]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import OUT, PY, ROOT, Section, model_dir, percentiles, run_child

LEVELS = (1, 8, 16, 32, 64)
#: levels driven by the Python client too (wrk drives every level)
HTTPX_LEVELS = (1, 8, 32, 64)
#: wrk concurrency levels for more than one worker (the throughput target's rows)
WRK_LEVELS_MULTI = (8, 16, 32)
#: HTTP menu body; ``in_process`` adds ``as_of`` (1 January of the data's year) so HTTP
#: menus plan what the in-process row plans, whatever the day the benchmark runs
MENU_BODY: dict = {"target_hours": 50}


# ------------------------------------------------------------------------ in process
def _time_calls(fn, args, repeat: int = 1) -> list[float]:
    out = []
    for a in args:
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn(a)
            out.append((time.perf_counter() - t0) * 1e3)
    return out


def _batch_scores(model, rows: np.ndarray) -> np.ndarray:
    """Blended scores of known cadres through the batch path (what evaluation uses)."""

    batch = model.queries.batch(rows)
    return model.hybrid.score(batch)[0]


def in_process(root: Path, n: int, n_menu: int, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    from recommender.lifecycle.artifacts import load_model, smoke_check
    from recommender.menu.planning import plan_menu

    t0 = time.perf_counter()
    model = load_model(root, mmap=True)  # as the service loads it, and warmed as it is
    smoke_check(model)
    load_s = time.perf_counter() - t0
    MENU_BODY["as_of"] = plan_day(model).isoformat()
    rng = np.random.default_rng(seed)
    ids = [str(x) for x in rng.choice(model.cadres["cadre_id"].to_numpy(), n, replace=False)]
    rows_idx = model.cadre_map.lookup(ids)
    profiles = [dict(model.cadre_profile(c)) for c in ids[: max(50, n // 5)]]
    for c in ids[:20]:  # warm caches (segment popularity, cohorts) like a running service
        model.recommend(c, 10)
    scores = np.vstack([_batch_scores(model, rows_idx[i : i + 256]) for i in range(0, n, 256)])

    def argpartition_top(i):
        row = scores[i]
        top = np.argpartition(-row, 9)[:10]
        return top[np.argsort(-row[top], kind="stable")]

    timings = {
        "baseline: numpy argpartition top-10 over a precomputed score row": _time_calls(
            argpartition_top, range(n)
        ),
        "baseline: batch scoring path (Hybrid.score, 1 cadre)": _time_calls(
            lambda r: _batch_scores(model, np.array([r])), rows_idx
        ),
        "recommend(k=10, explain=False)": _time_calls(
            lambda c: model.recommend(c, 10, explain=False), ids
        ),
        "recommend(k=10, explain=True)": _time_calls(
            lambda c: model.recommend(c, 10, explain=True), ids
        ),
        "recommend_profile(k=10) (cold start, POST /v1/recommendations)": _time_calls(
            lambda p: model.recommend_profile(p, 10), profiles
        ),
    }
    if n_menu:
        timings["plan_menu (target 50 h)"] = _time_calls(
            lambda c: plan_menu(model, c, target_hours=50, as_of=plan_day(model)), ids[:n_menu]
        )
    solver = menu_time_limit(model, ids[:n_menu]) if n_menu else pd.DataFrame()
    base = float(np.median(timings["recommend(k=10, explain=False)"]))
    rows = []
    for name, ms in timings.items():
        p = percentiles(ms, (50, 90, 99))
        rows.append(
            {
                "call": name,
                "calls": len(ms),
                "p50 ms": p["p50"],
                "p90 ms": p["p90"],
                "p99 ms": p["p99"],
                "max ms": max(ms),
                "p50 / recommend(explain=False) p50": p["p50"] / base,
            }
        )
    return pd.DataFrame(rows), {"load_s": load_s, "ids": ids, "solver": solver}


def plan_day(model) -> date:
    """1 January of the data's last year: menus plan that whole year (sessions of the sample
    lie in it), so figures do not depend on the day the benchmark runs."""
    return date(model.reference_time().year, 1, 1)


def menu_time_limit(model, ids, limits=(2.0, None)) -> pd.DataFrame:
    """A 2 s MILP time limit (near exact) against the settings file's (50 ms) on the same
    cadres: latency, how often the limit stops the solver, and what the menus lose."""
    import dataclasses

    import recommender.menu.solver as ms
    from recommender.menu.planning import plan_menu

    rules, out, ref = model.rules, [], None
    seen: list[bool] = []
    run = ms.Selector.run

    def recording(self, solver):
        result = run(self, solver)
        seen.append(self.timed_out)
        return result

    ms.Selector.run = recording
    try:
        for limit in limits:
            w = (
                rules.solver
                if limit is None
                else dataclasses.replace(rules.solver, time_limit=limit)
            )
            model.rules = dataclasses.replace(rules, solver=w)
            seen.clear()
            ms_, res = [], []
            for c in ids:
                t0 = time.perf_counter()
                m = plan_menu(model, c, target_hours=50, as_of=plan_day(model))
                ms_.append((time.perf_counter() - t0) * 1e3)
                rel = sum(it.score for it in m.items if not it.compulsory and it.score == it.score)
                res.append((m.objective, m.met, rel, m.planned_hours))
            r = np.array(res, dtype=float)
            ref = r if ref is None else ref
            p = percentiles(ms_, (50, 99))
            out.append(
                {
                    "MILP time limit": f"{w.time_limit * 1e3:g} ms",
                    "menus": len(ids),
                    "p50 ms": p["p50"],
                    "p99 ms": p["p99"],
                    "stopped by the limit %": 100 * float(np.mean(seen)),
                    "menus met": int(r[:, 1].sum()),
                    "chosen-course score sum (% of first row)": 100
                    * r[:, 2].sum()
                    / ref[:, 2].sum(),
                    "objective − first row (mean)": float((r[:, 0] - ref[:, 0]).mean()),
                }
            )
    finally:
        ms.Selector.run = run
        model.rules = rules
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``recommender serve`` on 127.0.0.1 in a child process (its own process group)."""

    def __init__(self, root: Path, workers: int = 1) -> None:
        self.root, self.workers = root, workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.tmp = Path(tempfile.mkdtemp(prefix="serve-", dir=OUT))

    def __enter__(self) -> Server:
        import httpx

        env = {
            **os.environ,
            "XUANXUE_EVENTS_PATH": str(self.tmp / "events.sqlite3"),
            "XUANXUE_LOG_LEVEL": "WARNING",
            "XUANXUE_MAX_K": "100",
        }
        self.log = open(self.tmp / "server.log", "wb")
        self.proc = subprocess.Popen(
            [
                PY,
                "-m",
                "recommender",
                "serve",
                "--model",
                str(self.root),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 300:
            if self.proc.poll() is not None:
                log = (self.tmp / "server.log").read_text()[-2000:]
                raise RuntimeError(f"server exited: {log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base + "/readyz", timeout=2).status_code == 200:
                    self._wait_workers(t0)
                    self.ready_s = time.perf_counter() - t0
                    return self
            time.sleep(0.5)
        raise RuntimeError("server not ready within 300 s")

    def _wait_workers(self, t0: float) -> None:
        """/readyz answers as soon as one worker is up; wait until every worker has loaded
        the model (their RSS levels off near the first one's), so no row measures fewer."""
        import psutil

        if self.workers <= 1:
            return
        parent = psutil.Process(self.proc.pid)
        while time.perf_counter() - t0 < 300:
            with contextlib.suppress(psutil.Error):
                rss = sorted((c.memory_info().rss for c in parent.children()), reverse=True)
                top = rss[: self.workers]  # uvicorn may keep a small helper process too
                if len(top) == self.workers and top[-1] > 0.9 * top[0]:
                    time.sleep(2.0)  # the last one finishes its warm-up
                    return
            time.sleep(0.5)
        print("[server] workers did not all level off; measuring anyway", file=sys.stderr)

    def rss_mb(self) -> float:
        import psutil

        p = psutil.Process(self.proc.pid)
        procs = [p, *p.children(recursive=True)]
        return sum(x.memory_info().rss for x in procs if x.is_running()) / 2**20

    def pss_mb(self) -> float:
        """Proportional set size of the server's processes: pages shared by N workers (the
        memory-mapped arrays, the page cache of the artifact) count 1/N in each."""
        import psutil

        p = psutil.Process(self.proc.pid)
        total = 0
        for x in [p, *p.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += x.memory_full_info().pss
        return total / 2**20

    def cpu_s(self) -> float:
        import psutil

        p = psutil.Process(self.proc.pid)
        total = 0.0
        for x in [p, *p.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                t = x.cpu_times()
                total += t.user + t.system
        return total

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class BareServer(Server):
    """The floor: a bare ASGI app (no framework) answering a fixed body, on the same uvicorn
    with the same HTTP parser (httptools), in a child process like the service."""

    def __init__(self, body: bytes) -> None:
        super().__init__(Path("."), 1)
        (self.tmp / "body.json").write_bytes(body)

    def __enter__(self) -> BareServer:
        import httpx

        self.log = open(self.tmp / "server.log", "wb")
        self.proc = subprocess.Popen(
            [PY, "-m", "benchmarks.bench_serving", "--child-bare", str(self.port), str(self.tmp)],
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 60:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base + "/", timeout=2).status_code == 200:
                    self.ready_s = time.perf_counter() - t0
                    return self
            time.sleep(0.2)
        raise RuntimeError("bare ASGI server not ready within 60 s")


def child_bare(port: int, folder: str) -> None:
    import uvicorn

    body = (Path(folder) / "body.json").read_bytes()
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))],
    }
    done = {"type": "http.response.body", "body": body}

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                await send({"type": msg["type"] + ".complete"})
                if msg["type"] == "lifespan.shutdown":
                    return
        await send(start)
        await send(done)

    uvicorn.run(
        app, host="127.0.0.1", port=port, http="httptools", access_log=False, log_level="warning"
    )


def real_profiles(n: int = 1000) -> list[dict[str, str]]:
    """Distinct real post profiles (the Hubei table, else the committed fixture), in file order."""
    from benchmarks.real_posts import POSITIONS, load_positions, profile

    path = POSITIONS if POSITIONS.exists() else ROOT / "tests/fixtures/hubei_field_posts.csv"
    seen, out = set(), []
    for row in load_positions(path).to_dict("records"):
        p = profile(row)
        key = (p["job_title"], p["job_description"])
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out[:n]


def _tail_row(where: str, ms: list[float]) -> dict:
    p = percentiles(ms, (50, 90, 99))
    return {
        "where": where,
        "requests": len(ms),
        **{f"{k} ms": v for k, v in p.items()},
        "max ms": max(ms) if ms else float("nan"),
    }


def _sample_body(root: Path, ids: list[str]) -> bytes:
    """A real recommendations body (k = 10, explained) for the floor server to answer."""
    from recommender.lifecycle.artifacts import load_model

    model = load_model(root, mmap=True)
    items = model.recommend(ids[0], 10, explain=True)
    doc = {
        "model_version": model.version,
        "cadre_id": ids[0],
        "count": len(items),
        "items": [r.to_dict() for r in items],
    }
    return json.dumps(doc, ensure_ascii=False).encode()


def child_cold(root: str) -> dict:
    """In a fresh process: load as the service does (mapped, smoke-checked: what it pays
    before /readyz), then time the first real profiles one by one."""
    from recommender.lifecycle.artifacts import load_model, smoke_check

    t0 = time.perf_counter()
    model = load_model(root, mmap=True)
    smoke_check(model)
    ready = time.perf_counter() - t0
    ms = _time_calls(lambda p: model.recommend_profile(p, 10), real_profiles())
    return {"ready_s": ready, "ms": ms}


def first_profiles_http(server: Server, profiles: list[dict]) -> list[float]:
    """The first requests after /readyz: each real profile once, one at a time."""
    import httpx

    out = []
    with httpx.Client(base_url=server.base, timeout=30.0) as client:
        for p in profiles:
            t0 = time.perf_counter()
            r = client.post("/v1/recommendations", json={**p, "k": 10})
            r.raise_for_status()
            out.append((time.perf_counter() - t0) * 1e3)
    return out


# -------------------------------------------------------------------------- clients
def make_request(kind: str, ids: list[str], rnd: random.Random):
    if kind == "bare":
        return "GET", "/", None, None
    cid = rnd.choice(ids)
    if kind == "recommendations":
        return "GET", f"/v1/cadres/{cid}/recommendations", {"k": 10, "explain": "true"}, None
    if kind == "menu":
        return "POST", f"/v1/cadres/{cid}/menu", None, MENU_BODY
    raise ValueError(kind)


async def _drive(
    base: str,
    kinds: list[str],
    ids: list[str],
    concurrency: int,
    duration: float,
    on_tick=None,
    tick: float = 10.0,
) -> dict:
    """Closed-loop load: ``concurrency`` tasks, each sending its next request on an answer."""
    import httpx

    lat: dict[str, list[float]] = {k: [] for k in kinds}
    fails: dict[str, int] = {k: 0 for k in kinds}
    errors: list[str] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    deadline = time.perf_counter() + duration
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30.0) as client:

        async def worker(i: int) -> None:
            rnd = random.Random(i)
            while time.perf_counter() < deadline:
                kind = kinds[rnd.randrange(len(kinds))]
                method, path, params, body = make_request(kind, ids, rnd)
                t0 = time.perf_counter()
                try:
                    r = await client.request(method, path, params=params, json=body)
                    ok = r.status_code == 200
                    if not ok and len(errors) < 5:
                        errors.append(f"{r.status_code} {path}: {r.text[:200]}")
                except httpx.HTTPError as exc:
                    ok = False
                    if len(errors) < 5:
                        errors.append(f"{type(exc).__name__} {path}")
                if ok:
                    lat[kind].append((time.perf_counter() - t0) * 1e3)
                else:
                    fails[kind] += 1

        async def ticker() -> None:
            while time.perf_counter() < deadline:
                await asyncio.sleep(min(tick, max(0.0, deadline - time.perf_counter())))
                on_tick()

        t0 = time.perf_counter()
        tasks = [worker(i) for i in range(concurrency)]
        if on_tick:
            tasks.append(ticker())
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
    return {"lat": lat, "fails": fails, "elapsed": elapsed, "errors": errors}


def httpx_level(server: Server, kind: str, ids, concurrency: int, duration: float) -> dict:
    s0, c0 = server.cpu_s(), os.times()
    res = asyncio.run(_drive(server.base, [kind], ids, concurrency, duration))
    s1, c1 = server.cpu_s(), os.times()
    ms = res["lat"][kind]
    p = percentiles(ms)
    return {
        "endpoint": kind,
        "client": "httpx (asyncio)",
        "concurrency": concurrency,
        "requests": len(ms),
        "failed": res["fails"][kind],
        "req/s": len(ms) / res["elapsed"],
        "p50 ms": p["p50"],
        "p95 ms": p["p95"],
        "p99 ms": p["p99"],
        "server CPU %": 100 * (s1 - s0) / res["elapsed"],
        "server CPU ms/req": 1e3 * (s1 - s0) / max(1, len(ms)),
        "client CPU %": 100 * ((c1.user - c0.user) + (c1.system - c0.system)) / res["elapsed"],
        "errors": "; ".join(res["errors"]),
    }


WRK_SCRIPT = """
local ids = {%s}
local kind = "%s"
request = function()
  local id = ids[math.random(#ids)]
  if kind == "bare" then
    return wrk.format("GET", "/")
  end
  if kind == "menu" then
    return wrk.format("POST", "/v1/cadres/" .. id .. "/menu",
                      {["Content-Type"] = "application/json"}, '%s')
  end
  return wrk.format("GET", "/v1/cadres/" .. id .. "/recommendations?k=10&explain=true")
end
done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests": %%d, "errors": %%d, "non2xx": %%d, '
    .. '"p50": %%f, "p95": %%f, "p99": %%f}\\n',
    summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000))
end
"""


def wrk_level(server: Server, kind: str, ids, concurrency: int, duration: float) -> dict | None:
    wrk = shutil.which("wrk")
    if not wrk:
        return None
    script = server.tmp / f"{kind}.lua"
    script.write_text(
        WRK_SCRIPT % (", ".join(f'"{i}"' for i in ids[:2000]), kind, json.dumps(MENU_BODY))
    )
    s0 = server.cpu_s()
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            wrk,
            "-t",
            "1",
            "-c",
            str(concurrency),
            "-d",
            f"{int(duration)}s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            server.base,
        ],
        capture_output=True,
        text=True,
        timeout=duration + 60,
    )
    elapsed = time.perf_counter() - t0
    s1 = server.cpu_s()
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("WRKJSON")]
    if not line:
        return {
            "endpoint": kind,
            "client": "wrk",
            "concurrency": concurrency,
            "errors": proc.stdout[-300:] + proc.stderr[-300:],
        }
    d = json.loads(line[0].split(" ", 1)[1])
    rps = [ln for ln in proc.stdout.splitlines() if ln.startswith("Requests/sec")]
    return {
        "endpoint": kind,
        "client": "wrk (1 thread)",
        "concurrency": concurrency,
        "requests": d["requests"],
        "failed": d["errors"] + d["non2xx"],
        "req/s": float(rps[0].split()[1]) if rps else d["requests"] / duration,
        "p50 ms": d["p50"],
        "p95 ms": d["p95"],
        "p99 ms": d["p99"],
        "server CPU %": 100 * (s1 - s0) / elapsed,
        "server CPU ms/req": 1e3 * (s1 - s0) / max(1, d["requests"]),
        "client CPU %": float("nan"),
        "errors": "",
    }


def soak(
    server: Server,
    ids,
    seconds: float,
    concurrency: int = 8,
    tolerance_mb: float = 64.0,
    tolerance_frac: float = 0.10,
) -> tuple[pd.DataFrame, dict]:
    samples = [(0.0, server.rss_mb())]
    t0 = time.perf_counter()

    def tick():
        samples.append((time.perf_counter() - t0, server.rss_mb()))

    res = asyncio.run(
        _drive(
            server.base,
            ["recommendations"] * 9 + ["menu"],
            ids,
            concurrency,
            seconds,
            on_tick=tick,
            tick=10.0,
        )
    )
    tick()
    rss = np.array([s[1] for s in samples])
    # first minute is warm-up (caches fill); compare the steady state's start and end
    warm = [r for t, r in samples if t >= min(60.0, seconds / 3)]
    start = float(np.median(warm[:3])) if warm else float(rss[0])
    end = float(np.median(warm[-3:])) if warm else float(rss[-1])
    allowed = max(tolerance_mb, tolerance_frac * start)
    n = sum(len(v) for v in res["lat"].values())
    fails = sum(res["fails"].values())
    ok = fails == 0 and end - start <= allowed
    summary = {
        "seconds": seconds,
        "concurrency": concurrency,
        "requests": n,
        "failed": fails,
        "req/s": n / res["elapsed"],
        "rss_start_mb": start,
        "rss_end_mb": end,
        "growth_mb": end - start,
        "allowed_mb": allowed,
        "passed": ok,
        "errors": res["errors"],
    }
    for kind, ms in res["lat"].items():
        p = percentiles(ms)
        summary[f"{kind} p50/p99 ms"] = f"{p['p50']:.1f} / {p['p99']:.1f}"
    return pd.DataFrame(samples, columns=["t s", "server RSS MB"]), summary


def _goal_notes(sec: Section, http: pd.DataFrame, tails: list[dict]) -> None:
    """Issue 22's serving goals, from rows of this run (wrk rows: the client is lighter)."""
    wrk = http[http["client"].astype(str).str.startswith("wrk") & http["req/s"].notna()]

    def rps(workers, endpoint: str, c: int) -> float:
        row = wrk[(wrk.workers == workers) & (wrk.endpoint == endpoint) & (wrk.concurrency == c)]
        return float(row["req/s"].iloc[0]) if len(row) else float("nan")

    def cpu(workers, endpoint: str, c: int) -> float:
        row = wrk[(wrk.workers == workers) & (wrk.endpoint == endpoint) & (wrk.concurrency == c)]
        return float(row["server CPU ms/req"].iloc[0]) if len(row) else float("nan")

    one, floor = rps(1, "recommendations", 1), rps("bare ASGI", "bare", 1)
    if one == one:
        sec.note(
            f"HTTP 1 worker c=1 (wrk): {one:.0f} req/s — target ≥ 1,000 "
            + ("met" if one >= 1000 else "NOT met")
            + f"; bare-ASGI floor {floor:.0f} req/s: per request {1e3 / one:.2f} ms, of which "
            f"the floor (uvicorn + loopback + wrk) {1e3 / floor:.2f} ms; server CPU per request "
            f"{cpu(1, 'recommendations', 1):.2f} ms (floor {cpu('bare ASGI', 'bare', 1):.3f} ms)"
        )
    two, base = rps(2, "recommendations", 16), rps(1, "recommendations", 16)
    if two == two and base == base:
        sec.note(
            f"HTTP c=16 (wrk): 2 workers {two:.0f} req/s / 1 worker {base:.0f} req/s = "
            f"{two / base:.2f}× — target ≥ 1.7× " + ("met" if two >= 1.7 * base else "NOT met")
        )
    for t in tails:
        sec.note(
            f"first {t['requests']} profiles, {t['where']}: p99 {t['p99 ms']:.1f} ms — target "
            "≤ 10 ms " + ("met" if t["p99 ms"] <= 10 else "NOT met")
        )


# ------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> Section:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick", action="store_true", help="fewer calls, 4 s per HTTP level, levels 1 and 8"
    )
    ap.add_argument("--scale", default="large")
    ap.add_argument(
        "--model",
        type=Path,
        default=None,
        help="a models root to serve as is (default: the cached model of --scale, retrained "
        "when the library changed)",
    )
    ap.add_argument("--duration", type=float, default=None, help="seconds per HTTP level")
    ap.add_argument("--soak", type=float, default=0.0, help="soak seconds (0 = no soak)")
    ap.add_argument("--no-wrk", action="store_true")
    ap.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="uvicorn worker counts to measure (recommendations only for >1)",
    )
    ap.add_argument("--no-menu", action="store_true", help="skip the menu rows (in process, HTTP)")
    ap.add_argument("--child-bare", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--child-cold", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_bare:
        child_bare(int(args.child_bare[0]), args.child_bare[1])
        sys.exit(0)
    if args.child_cold:
        print(json.dumps(child_cold(args.child_cold)))
        sys.exit(0)
    duration = args.duration or (4.0 if args.quick else 12.0)
    levels = (1, 8) if args.quick else LEVELS
    cmd = (
        "python -m benchmarks.bench_serving"
        + (" --quick" if args.quick else "")
        + (f" --soak {args.soak:g}" if args.soak else "")
    )
    sec = Section(f"Serving ({args.scale} model)", cmd)
    t_all = time.perf_counter()
    root = args.model or model_dir(args.scale)
    n, n_menu = (200, 20) if args.quick else (1000, 200)
    n_menu = 0 if args.no_menu else n_menu
    table, info = in_process(root, n, n_menu)
    gc.collect()  # the in-process model is gone before the server starts
    sec.add(
        f"In-process latency (1 thread, {n} distinct known cadres; model load "
        f"{info['load_s']:.1f} s)",
        table,
        ".3f",
    )
    calls = table.set_index("call")
    for name, target in (
        ("recommend(k=10, explain=False)", 2.0),
        ("recommend(k=10, explain=True)", 2.0),
        ("plan_menu (target 50 h)", 100.0),
    ):
        if name not in calls.index:
            continue
        p99 = calls.loc[name, "p99 ms"]
        sec.note(
            f"in-process {name} p99 {p99:.2f} ms vs target {target:g} ms → "
            + ("met" if p99 < target else "NOT met")
        )
    if len(info["solver"]):
        sec.add(
            "Menu solver time limit (same cadres, same run; objective: lower is better)",
            info["solver"],
            ".2f",
        )
    ids = info["ids"]
    profiles = real_profiles()
    cold = run_child(["-m", "benchmarks.bench_serving", "--child-cold", str(root)], timeout=900)
    tails = [
        _tail_row(
            f"in process, fresh process after load + smoke check ({cold['ready_s']:.1f} s)",
            cold["ms"],
        )
    ]
    rows, memory = [], []
    with BareServer(_sample_body(root, ids)) as bare:  # the floor, same run
        for c in (1, 8):
            rows.append({"workers": "bare ASGI", **httpx_level(bare, "bare", ids, c, duration)})
            if not args.no_wrk:
                w = wrk_level(bare, "bare", ids, c, max(5.0, duration / 2))
                if w:
                    rows.append({"workers": "bare ASGI", **w})
    for workers in args.workers:
        with Server(root, workers) as server:
            tails.append(
                _tail_row(
                    f"HTTP, {workers} worker(s), right after /readyz",
                    first_profiles_http(server, profiles),
                )
            )
            memory.append(
                {
                    "workers": workers,
                    "ready s": server.ready_s,
                    "RSS MB": server.rss_mb(),
                    "PSS MB": server.pss_mb(),
                }
            )
            mem_row = memory[-1]
            sec.note(
                f"server (workers={workers}) ready in {server.ready_s:.1f} s, "
                f"RSS {memory[-1]['RSS MB']:.0f} MB, PSS {memory[-1]['PSS MB']:.0f} MB"
            )
            if workers > 2:  # 2 cores serve 2 workers: memory after a short load only
                if not args.no_wrk:
                    wrk_level(server, "recommendations", ids, 16, max(5.0, duration / 2))
                mem_row["PSS after load MB"] = server.pss_mb()
                continue
            kinds = ("recommendations", "menu") if workers == 1 else ("recommendations",)
            if args.no_menu:
                kinds = ("recommendations",)
            lv = levels if workers == 1 else WRK_LEVELS_MULTI
            for kind in kinds:
                for c in lv:
                    print(f"[http] workers={workers} {kind} c={c}", file=sys.stderr, flush=True)
                    # the Python client needs a core of its own
                    if (workers == 1 and c in HTTPX_LEVELS) or c == 32:
                        rows.append(
                            {"workers": workers, **httpx_level(server, kind, ids, c, duration)}
                        )
                    if not args.no_wrk:
                        w = wrk_level(server, kind, ids, c, max(5.0, duration / 2))
                        if w:
                            rows.append({"workers": workers, **w})
            mem_row["PSS after load MB"] = server.pss_mb()
    mem = pd.DataFrame(memory)
    if len(mem):
        first = float(mem["PSS MB"].iloc[0])
        mem["PSS added per extra worker MB"] = [
            (v - first) / max(1, w - 1) if w > 1 else float("nan")
            for v, w in zip(mem["PSS MB"], mem["workers"], strict=True)
        ]
        mem["added / first %"] = 100 * mem["PSS added per extra worker MB"] / first
        for _, m in mem[mem.workers > 1].iterrows():
            sec.note(
                f"memory, {int(m.workers)} workers: each worker past the first adds "
                f"{m['added / first %']:.0f} % of one worker's PSS — target ≤ 35 % "
                + ("met" if m["added / first %"] <= 35 else "NOT met")
            )
    sec.add(
        "Memory by worker count (PSS: shared pages count 1/N in each of N processes)", mem, ".1f"
    )
    sec.add(
        f"First {len(profiles)} real-post profile requests (k = 10) after readiness, one at a time",
        pd.DataFrame(tails),
        ".2f",
    )
    http = pd.DataFrame(rows)
    sec.add(
        f"HTTP on 127.0.0.1 (closed loop, {duration:g} s per row for httpx, "
        f"{max(5.0, duration / 2):g} s for wrk; client and server share the 2 cores)",
        http.drop(columns=["errors"]),
        ".1f",
    )
    errs = [e for e in http["errors"] if e]
    if errs:
        sec.note("errors seen: " + " | ".join(errs[:3]))
    if shutil.which("wrk") is None and not args.no_wrk:
        sec.note("wrk not installed (apt-get install -y wrk): httpx rows only")
    rec = http[(http.endpoint == "recommendations") & http["req/s"].notna()]
    for workers, part in rec.groupby("workers"):
        ok = part[part["p99 ms"] < 50]
        if len(ok):
            best = ok.loc[ok["req/s"].idxmax()]
            met = best["req/s"] >= 500
            sec.note(
                f"recommendations, {workers} worker(s): best throughput with p99 < 50 ms is "
                f"{best['req/s']:.0f} req/s at c={best['concurrency']} ({best['client']}, "
                f"p99 {best['p99 ms']:.1f} ms) — target ≥ 500 req/s with p99 < 50 ms "
                + ("met" if met else "NOT met")
            )
    _goal_notes(sec, http, tails)
    if args.soak:
        with Server(root, 1) as server:
            samples, s = soak(server, ids, args.soak)
        sec.add(
            f"Soak: {args.soak:g} s at concurrency {s['concurrency']} (90 % recommendations"
            " / 10 % menu), server RSS every 10 s",
            samples,
            ".1f",
        )
        sec.note(
            f"soak {'PASSED' if s['passed'] else 'FAILED'}: {s['requests']} requests "
            f"({s['req/s']:.0f}/s), {s['failed']} failed; steady-state RSS "
            f"{s['rss_start_mb']:.0f} → {s['rss_end_mb']:.0f} MB (growth "
            f"{s['growth_mb']:+.0f} MB, allowed {s['allowed_mb']:.0f}); latency "
            + ", ".join(f"{k} {v}" for k, v in s.items() if k.endswith("ms"))
        )
        sec.soak_passed = s["passed"]  # type: ignore[attr-defined]
    sec.seconds = time.perf_counter() - t_all
    sec.save("serving")
    return sec


if __name__ == "__main__":
    sec = main()
    sys.exit(0 if getattr(sec, "soak_passed", True) else 1)
