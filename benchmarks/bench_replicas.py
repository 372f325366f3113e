"""More than one replica: recommendation throughput with 1 vs 2 replicas on one PostgreSQL
event store, and exactly-once storage of events posted while a replica is SIGKILLed.

Everything runs on this machine: a throw-away PostgreSQL cluster (initdb/pg_ctl, fsync on,
as tests/pg.py starts it), ``recommender serve`` replicas on loopback ports sharing the
``sample`` model, and the load client (asyncio + httpx, spreading requests round-robin over
the replicas as a reverse proxy would). The client, the replicas and PostgreSQL share the
machine's cores, so "2 replicas" measures what a second process buys on the same host, not on
a second machine.

1. Exactly once: ``--events`` events (default 2,000) from 8 threads, round-robin over two
   replicas; when 30% are acknowledged replica A is SIGKILLed and restarted. A failed request
   is resent to the other replica (as a proxy retries). Reported: sent, acknowledged, stored,
   acknowledged but not stored (lost), stored twice, requests that failed (resent), gave up.
2. Throughput: GET /v1/cadres/{id}/recommendations?k=10 at ``--concurrency`` for
   ``--duration`` s against 1 replica (SQLite events, then PostgreSQL events) and 2 replicas
   (PostgreSQL), every store holding the same events; requests/s, p50/p99 latency, failures.

    .venv/bin/python -m benchmarks.bench_replicas [--quick] [--events 2000] [--duration 15]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.common import ROOT, Section, model_dir, percentiles
from tests.pg import PgCluster, stored_ids
from tests.service_support import WRITE
from tests.test_replicas import Replica, post_during_kill, replicas


async def _load(bases: list[str], cadres: list[str], concurrency: int, seconds: float) -> dict:
    import httpx

    latencies: list[float] = []
    failed = 0
    clients = [
        httpx.AsyncClient(
            base_url=b,
            timeout=30,
            headers=WRITE,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        for b in bases
    ]
    deadline = time.perf_counter() + seconds

    async def user(u: int) -> None:
        nonlocal failed
        rnd, i = random.Random(u), u
        while time.perf_counter() < deadline:
            client = clients[i % len(clients)]  # round-robin, like the proxy
            i += 1
            t0 = time.perf_counter()
            try:
                r = await client.get(f"/v1/cadres/{rnd.choice(cadres)}/recommendations?k=10")
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append((time.perf_counter() - t0) * 1000)
            else:
                failed += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(user(u) for u in range(concurrency)))
    elapsed = time.perf_counter() - t0
    for c in clients:
        await c.aclose()
    p = percentiles(latencies)
    return {
        "requests": len(latencies) + failed,
        "req/s": len(latencies) / elapsed,
        "p50 ms": p["p50"],
        "p99 ms": p["p99"],
        "failed": failed,
    }


def throughput(bases, cadres, args) -> dict:
    asyncio.run(_load(bases, cadres, args.concurrency, min(2.0, args.duration)))  # warm up
    return asyncio.run(_load(bases, cadres, args.concurrency, args.duration))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="400 events, 5 s per load level")
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--duration", type=float, default=15.0)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = ap.parse_args(argv)
    if args.quick:
        args.events, args.duration = 400, 5.0
    t_start = time.perf_counter()
    models = model_dir("sample")
    from recommender import load_model, open_event_store

    model = load_model(models)
    cadres = [str(c) for c in model.cadres["cadre_id"]]
    courses = [str(c) for c in model.course_ids]
    del model
    cmd = "python -m benchmarks.bench_replicas" + (" --quick" if args.quick else "")
    sec = Section("Replicas: shared PostgreSQL events, 1 vs 2 replicas, SIGKILL", cmd)
    scratch = Path(tempfile.mkdtemp(prefix="xuanxue-bench-replicas-"))
    rows = []
    with PgCluster(fsync=True) as pg:
        url = pg.new_database()
        with replicas(models, url, scratch) as (a, b):
            t0 = time.perf_counter()
            res = post_during_kill([a, b], cadres, courses, events=args.events)
            took = time.perf_counter() - t0
            stored = stored_ids(url)
            once = pd.DataFrame(
                [
                    {
                        "sent": len(res.sent),
                        "acknowledged": len(res.acked),
                        "stored": len(stored),
                        "acked, not stored": len(res.acked - set(stored)),
                        "stored twice": sum(n > 1 for n in stored.values()),
                        "failed requests (resent)": res.retried,
                        "gave up": res.failed,
                        "seconds": took,
                    }
                ]
            )
            sec.add(
                f"Exactly once: {args.events} events, 8 threads, replica A SIGKILLed", once, ".1f"
            )
            rows.append(
                {
                    "replicas": 2,
                    "events": "PostgreSQL",
                    **throughput([a.base, b.base], cadres, args),
                }
            )
            rows.insert(
                0, {"replicas": 1, "events": "PostgreSQL", **throughput([a.base], cadres, args)}
            )
        # the same events in SQLite (the embedded default) for the one-replica baseline
        with open_event_store(url) as store:
            copy = store.backup(scratch / "events.sqlite3")
        sqlite = Replica(models, f"sqlite:///{copy}", scratch)
        try:
            sqlite.start()
            rows.insert(
                0, {"replicas": 1, "events": "SQLite", **throughput([sqlite.base], cadres, args)}
            )
        finally:
            sqlite.kill()
    table = pd.DataFrame(rows)
    sec.add(
        f"GET recommendations (k = 10, sample model), concurrency {args.concurrency}, "
        f"{args.duration:g} s per row",
        table,
        ".1f",
    )
    sec.note(
        "one machine, 2 cores shared by the load client, the replicas and PostgreSQL: a second "
        "replica adds a process, not cores; on separate hosts throughput scales with replicas "
        "until PostgreSQL (one indexed read per request) is the limit"
    )
    sec.note(
        "PostgreSQL runs with fsync on; each POST is one transaction with synchronous_commit on, "
        "so a 200 means the event is on disk in the WAL"
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    sec.note(
        f"load average at the end of the run: {load} (other work on the machine counts: "
        "compare rows of one run, not runs)"
    )
    sec.note(
        "exactly once: a request to the killed replica fails (connection refused/reset) and is "
        "resent to the other one, as `proxy_next_upstream … non_idempotent` does; events the "
        "killed replica committed but never acknowledged come back as duplicates, not copies"
    )
    sec.seconds = time.perf_counter() - t_start
    sec.save("replicas")
    if not args.no_write:
        sec.splice(ROOT / "benchmarks" / "RESULTS.md", "Replicas")
    return 0


if __name__ == "__main__":
    sys.exit(main())
