"""Spark training cost curve on ``local[2]``: seconds per stage, shuffle bytes, driver peak
memory, the single-machine path beside it, and a projection to 10M cadres / 500M records.

Each run is a fresh child process. Stage seconds come from ``train_spark``'s own stage
marks; shuffle bytes from the Spark UI's REST API (completed stages, summed per stage);
peak memory from a 50 ms sampler over the Python driver and its JVM (in ``local[2]`` the JVM
is driver and executors at once, so its peak is an upper bound for the driver's).

    .venv/bin/python -m benchmarks.bench_spark [--scales medium large xlarge] [--no-single]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pandas as pd

from benchmarks.common import ROOT, Section, dataset_dir, run_child

RESULTS_MD = ROOT / "benchmarks" / "RESULTS.md"
CORES = 2
STAGES = ["validate", "text", "interactions", "fit", "save"]
EXECUTOR_STAGES = ["validate", "text", "interactions"]


class TreeSampler:
    """Peak RSS (MB) of this process and of its child JVM, sampled every 50 ms."""

    def __init__(self) -> None:
        import psutil

        self.me = psutil.Process()
        self.peak = {"python": 0.0, "jvm": 0.0}
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                py = self.me.memory_info().rss
                jvm = sum(
                    c.memory_info().rss
                    for c in self.me.children(recursive=True)
                    if "java" in c.name()
                )
            except Exception:  # a child ending between listing and reading
                continue
            self.peak["python"] = max(self.peak["python"], py / 2**20)
            self.peak["jvm"] = max(self.peak["jvm"], jvm / 2**20)

    def stop(self) -> dict[str, float]:
        self._stop.set()
        return {k: round(v) for k, v in self.peak.items()}


def _shuffle_bytes(ui: str, app: str) -> int:
    url = f"{ui}/api/v1/applications/{app}/stages?status=complete"
    with urllib.request.urlopen(url, timeout=10) as r:
        stages = json.load(r)
    return int(sum(s.get("shuffleWriteBytes", 0) for s in stages))


def child_spark(scale: str) -> dict:
    from recommender.lifecycle.spark_engine import train_spark
    from recommender.lifecycle.spark_session import spark_session

    data = dataset_dir(scale)
    sampler = TreeSampler()
    t0 = time.perf_counter()
    spark = spark_session(
        f"local[{CORES}]", app=f"bench-{scale}", conf={"spark.driver.memory": "8g"}
    )
    session_s = time.perf_counter() - t0
    sc = spark.sparkContext
    shuffle: dict[str, int] = {}
    last = [0]

    def on_stage(name: str) -> None:
        total = _shuffle_bytes(sc.uiWebUrl, sc.applicationId)
        shuffle[name] = total - last[0]
        last[0] = total

    out = Path(tempfile.mkdtemp(prefix="bench-spark-"))
    try:
        _, times = train_spark(
            str(data), out / "models", spark=spark, rejects_dir=str(out), on_stage=on_stage
        )
    finally:
        spark.stop()
        shutil.rmtree(out, ignore_errors=True)
    return {
        "session_s": round(session_s, 1),
        "stages": times.seconds,
        "shuffle": shuffle,
        "peak_mb": sampler.stop(),
    }


def child_single(scale: str) -> dict:
    import resource

    from recommender.lifecycle.train import train

    data = dataset_dir(scale)
    out = Path(tempfile.mkdtemp(prefix="bench-single-"))
    t0 = time.perf_counter()
    try:
        train(data, out / "models", events_path=out / "none.sqlite3", rejects_dir=out)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {
        "seconds": round(time.perf_counter() - t0, 1),
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _records(scale: str) -> tuple[int, int]:
    d = dataset_dir(scale)
    with open(d / "completions.csv", "rb") as fh:
        records = sum(1 for _ in fh) - 1
    with open(d / "cadres.csv", "rb") as fh:
        cadres = sum(1 for _ in fh) - 1
    return cadres, records


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs=2, metavar=("KIND", "SCALE"))
    ap.add_argument("--scales", nargs="+", default=["medium", "large", "xlarge"])
    ap.add_argument("--no-single", action="store_true")
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    if args.child:
        kind, scale = args.child
        result = child_spark(scale) if kind == "spark" else child_single(scale)
        print(json.dumps(result))
        return
    started = time.perf_counter()
    section = Section("Spark training (local[2])", "python -m benchmarks.bench_spark")
    rows = []
    for scale in args.scales:
        cadres, records = _records(scale)
        print(f"[spark] {scale}: {cadres} cadres, {records} records", file=sys.stderr, flush=True)
        spark = run_child(
            ["-m", "benchmarks.bench_spark", "--child", "spark", scale], timeout=args.timeout
        )
        single = None
        if not args.no_single:
            single = run_child(
                ["-m", "benchmarks.bench_spark", "--child", "single", scale], timeout=args.timeout
            )
        st = spark["stages"]
        row = {"scale": scale, "cadres": cadres, "records": records}
        row.update({f"{s} s": st.get(s, float("nan")) for s in STAGES})
        row["total s"] = round(sum(st.get(s, 0.0) for s in STAGES), 1)
        row["shuffle MB"] = round(sum(spark["shuffle"].values()) / 2**20, 1)
        row["driver py MB"] = spark["peak_mb"]["python"]
        row["JVM MB"] = spark["peak_mb"]["jvm"]
        row["_shuffle"] = spark["shuffle"]
        row["single s"] = single["seconds"] if single else float("nan")
        row["single MB"] = single["peak_mb"] if single else float("nan")
        exec_s = sum(st.get(s, 0.0) for s in EXECUTOR_STAGES)
        row["records/s/core (executor stages)"] = round(records / exec_s / CORES)
        row["fit µs/record"] = round(st.get("fit", 0.0) / records * 1e6, 1)
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False), file=sys.stderr, flush=True)
    table = pd.DataFrame([{k: v for k, v in r.items() if k != "_shuffle"} for r in rows])
    section.add(
        "Seconds per stage, shuffle, peak memory (Spark local[2]) and single-machine", table, ".1f"
    )
    shuffle = pd.DataFrame(
        [
            {"scale": r["scale"], **{k: round(v / 2**20, 1) for k, v in r["_shuffle"].items()}}
            for r in rows
        ]
    )
    section.add("Shuffle write MB per stage", shuffle, ".1f")
    for r in rows:
        del r["_shuffle"]
    _project(section, rows)
    section.seconds = time.perf_counter() - started
    section.save("spark")
    section.splice(RESULTS_MD, "Spark training")


#: network shuffle a cluster adds to the local runs' stage times (assumed)
SHUFFLE_OVERHEAD = 1.25


def _project(section: Section, rows: list[dict]) -> None:
    """10M cadres / 500M records on N executors × 4 cores from the largest run's rates."""
    big = max(rows, key=lambda r: r["records"])
    rate = big["records/s/core (executor stages)"]
    fit_us = big["fit µs/record"]
    target = 500_000_000
    lines = []
    for executors in (10, 25, 50, 100):
        exec_min = target / (rate * executors * 4) / 60 * SHUFFLE_OVERHEAD
        lines.append(
            {"executors × 4 cores": executors, "executor stages (min)": round(exec_min, 1)}
        )
    section.add(
        "Projection, 10M cadres / 500M records: executor stages at the measured per-core rate",
        pd.DataFrame(lines),
        ".1f",
    )
    section.note(
        f"Per-core rate {rate:,} records/s is the {big['scale']} run's (validate + text + "
        "interactions) on 2 shared cores (load average 10-15 from other jobs); assumed to hold "
        "per executor core (the stages are parallel per partition; the aggregations shuffle only "
        f"cadre × course pairs), times {SHUFFLE_OVERHEAD} for network shuffle not seen locally."
    )
    gb = big["driver py MB"] / big["records"] * target / 1024
    section.note(
        f"The driver fit ({fit_us} µs/record here) does not scale out yet: the driver holds the "
        "validated completions and refits every signal on the validation folds (ranking/ and "
        f"signals/ unchanged). Linear extrapolation: {fit_us * target / 1e6 / 3600:.1f} h and "
        f"about {gb:,.0f} GB of driver memory at 500M records, i.e. not feasible as is. The "
        "signals' fit-from-statistics hooks (issue 23 report) turn it into a fit on aggregates "
        "(Gram courses², time-decayed counts by segment, transitions, cadres × terms), whose "
        "size does not grow with the number of records."
    )
    if len(rows) > 1:
        small = min(rows, key=lambda r: r["records"])
        ratio = big["records"] / small["records"]
        execs = [sum(r[f"{s} s"] for s in EXECUTOR_STAGES) for r in (small, big)]
        section.note(
            f"{small['scale']} → {big['scale']}: records ×{ratio:.1f}; Spark total "
            f"×{big['total s'] / small['total s']:.1f}, executor stages ×{execs[1] / execs[0]:.1f} "
            f"(fixed job overhead dominates the smaller run), driver fit "
            f"×{big['fit s'] / small['fit s']:.1f}, single machine "
            f"×{big['single s'] / small['single s']:.1f}."
        )


if __name__ == "__main__":
    main()
