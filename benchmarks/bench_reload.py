"""Latency while the model is reloaded: one worker under wrk load, without reloads and with
an admin reload every 0.5 s (each 0.5 s after the previous one finished), rounds alternating.

    .venv/bin/python -m benchmarks.bench_reload [--scale large] [--rounds 3] [--seconds 10]

Needs ``wrk``; ``--scale large`` trains the large model of bench_scale once (cached). Each
row is the median over the rounds of that condition; the ratio compares p99 with the
no-reload rounds of the same run (the machine is shared: compare rows, not runs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from pathlib import Path

import httpx
import pandas as pd

from benchmarks.bench_serving import Server, wrk_level
from benchmarks.common import Section, dataset_dir, model_dir

KEY = "reload-bench-key-" + "k" * 16
RELOAD_EVERY = 0.5


class Reloader:
    """Posts ``force`` reloads back to back (``RELOAD_EVERY`` s apart) in a thread."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.seconds: list[float] = []
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=300) as c:
            while not self._stop.is_set():
                t0 = time.perf_counter()
                r = c.post(
                    self.base + "/v1/admin/reload", json={"force": True}, headers={"X-API-Key": KEY}
                )
                self.seconds.append(time.perf_counter() - t0)
                self.failed += r.status_code != 200
                self._stop.wait(RELOAD_EVERY)

    def __enter__(self) -> Reloader:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _round(server: Server, ids: list[str], seconds: float, reload: bool) -> dict:
    if not reload:
        return {**wrk_level(server, "recommendations", ids, 8, seconds), "reloads": []}
    with Reloader(server.base) as reloader:
        row = wrk_level(server, "recommendations", ids, 8, seconds)
    return {**row, "reloads": reloader.seconds, "reloads failed": reloader.failed}


def _summary(label: str, rounds: list[dict], baseline_p99: float | None) -> dict:
    p99 = statistics.median(r["p99 ms"] for r in rounds)
    reloads = [s for r in rounds for s in r["reloads"]]
    return {
        "while": label,
        "rounds": len(rounds),
        "p99 ms (median)": p99,
        "p99 per round": " / ".join(f"{r['p99 ms']:.0f}" for r in rounds),
        "p99 ratio": p99 / baseline_p99 if baseline_p99 else 1.0,
        "req/s (median)": statistics.median(r["req/s"] for r in rounds),
        "failed requests": sum(r["failed"] for r in rounds),
        "reloads done": len(reloads),
        "reloads failed": sum(r.get("reloads failed", 0) for r in rounds),
        "reload s (median)": statistics.median(reloads) if reloads else float("nan"),
    }


def gil_holds(root: Path, loads: int = 3) -> pd.DataFrame:
    """Longest time a 1 ms ticker thread waited while this (warm, frozen, as a serving
    worker) process loaded and smoke-checked the model: how long one step held the GIL."""
    import gc

    from recommender import load_model, smoke_check

    smoke_check(load_model(root))  # imports, jieba's dictionary: paid once at start-up
    gc.collect()
    gc.freeze()
    rows = []
    for _ in range(loads):
        waits: list[float] = []
        stop = threading.Event()
        ticker = threading.Thread(target=_tick, args=(stop, waits))
        ticker.start()
        t0 = time.perf_counter()
        smoke_check(load_model(root))
        seconds = time.perf_counter() - t0
        stop.set()
        ticker.join()
        rows.append((seconds, max(waits) * 1000, sum(w > 0.01 for w in waits)))
    return pd.DataFrame(rows, columns=["load + smoke s", "longest wait ms", "waits > 10 ms"])


def _tick(stop: threading.Event, waits: list[float]) -> None:
    last = time.perf_counter()
    while not stop.is_set():
        time.sleep(0.001)
        now = time.perf_counter()
        waits.append(now - last - 0.001)
        last = now


def measure(
    scale: str = "large", *, rounds: int = 3, seconds: float = 10.0, model: Path | None = None
) -> pd.DataFrame:
    """p99 and throughput of GET recommendations (wrk c = 8) without and with reloads.

    ``model``: a models root trained on the ``scale`` data (default: the cached one).
    """
    root = model or model_dir(scale)
    ids = pd.read_csv(dataset_dir(scale) / "cadres.csv", usecols=["cadre_id"], nrows=2000)
    ids = ids["cadre_id"].astype(str).tolist()
    os.environ["XUANXUE_API_KEY"] = KEY  # inherited by the server process
    with Server(root) as server:
        wrk_level(server, "recommendations", ids, 8, 3)  # warm-up, not counted
        quiet, busy = [], []
        for _ in range(rounds):
            quiet.append(_round(server, ids, seconds, reload=False))
            busy.append(_round(server, ids, seconds, reload=True))
    base = _summary("no reload", quiet, None)
    rows = [base, _summary(f"reload every {RELOAD_EVERY:g} s", busy, base["p99 ms (median)"])]
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> Section:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="large")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--model", type=Path, help="models root (default: train/cache --scale)")
    args = ap.parse_args(argv)
    sec = Section(
        f"Reload under load ({args.scale} model)",
        f"python -m benchmarks.bench_reload --scale {args.scale} --rounds {args.rounds}",
    )
    t0 = time.perf_counter()
    table = measure(args.scale, rounds=args.rounds, seconds=args.seconds, model=args.model)
    sec.add(
        f"GET recommendations k=10 with explanations, 1 worker, wrk c=8, {args.seconds:g} s a "
        f"round, rounds alternating (load average {os.getloadavg()[0]:.1f} at the end)",
        table,
        ".2f",
    )
    holds = gil_holds(args.model or model_dir(args.scale))
    sec.add("In process: loads of the same model with a 1 ms ticker thread running", holds, ".1f")
    sec.seconds = time.perf_counter() - t0
    sec.save("reload")  # benchmarks/out/results/reload.md
    return sec


if __name__ == "__main__":
    main()
