"""Spark training cost curve on ``local[2]``: seconds per stage, shuffle bytes, driver peak
memory, the single-machine path beside it, and a projection to 10M cadres / 500M records.

Each run is a fresh child process. Stage seconds come from ``train_spark``'s own stage
marks (the driver's ``fit`` split into the blend's validation folds, still refit from the
records, and the final signals fitted from Spark's statistics, timed around
``Hybrid._fit_signals``); shuffle bytes from the Spark UI's REST API (completed stages,
summed per stage);
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
STAGES = ["validate", "text", "interactions", "statistics", "fit", "save"]
#: Spark jobs (the statistics stage also folds small aggregates on the driver)
EXECUTOR_STAGES = ["validate", "text", "interactions", "statistics"]


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
    fits = _time_signal_fits()
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
        "final_fit_s": round(sum(s for given, s in fits if given), 2),
        "shuffle": shuffle,
        "peak_mb": sampler.stop(),
    }


def _time_signal_fits() -> list[tuple[bool, float]]:
    """(fitted from given statistics?, seconds) of every ``Hybrid._fit_signals`` call: the
    final fit from Spark's statistics, or a validation fold's probe fitted from records."""
    from recommender.ranking.hybrid import Hybrid

    calls: list[tuple[bool, float]] = []
    inner = Hybrid._fit_signals

    def timed(self, data, statistics=None):
        t0 = time.perf_counter()
        inner(self, data, statistics)
        calls.append((bool(statistics), time.perf_counter() - t0))

    Hybrid._fit_signals = timed
    return calls


def gram_pairs(scale: str) -> int:
    """Cadre × course pairs the Gram's self-join emits: Σ over cadres of (courses taken)²."""
    d = dataset_dir(scale)
    done = pd.read_csv(d / "completions.csv", usecols=["cadre_id", "course_id"], dtype=str)
    per = done.drop_duplicates().groupby("cadre_id").size().to_numpy()
    return int((per.astype("int64") ** 2).sum())


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
        row["final fit s"] = spark["final_fit_s"]
        row["folds fit s"] = round(st.get("fit", 0.0) - spark["final_fit_s"], 1)
        row["folds µs/record"] = round(row["folds fit s"] / records * 1e6, 1)
        row["Gram pairs M"] = round(gram_pairs(scale) / 1e6, 1)
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


#: the projection's target and its assumed shape
TARGET_CADRES, TARGET_RECORDS = 10_000_000, 500_000_000


def _project(section: Section, rows: list[dict]) -> None:
    """10M cadres / 500M records on N executors × 4 cores from the largest run's rates."""
    big = max(rows, key=lambda r: r["records"])
    row_s = sum(big[f"{s} s"] for s in ("validate", "text", "interactions"))
    rate = big["records"] / row_s / CORES  # records per second per core, row-by-row stages
    per_cadre = TARGET_RECORDS / TARGET_CADRES
    pairs = TARGET_CADRES * per_cadre**2  # Σ n² ≥ n̄² per cadre: a lower bound
    pair_rate = big["Gram pairs M"] * 1e6 / big["statistics s"] / CORES
    lines = []
    for executors in (10, 25, 50, 100):
        cores = executors * 4
        rows_min = TARGET_RECORDS / (rate * cores) / 60 * SHUFFLE_OVERHEAD
        stats_min = pairs / (pair_rate * cores) / 60 * SHUFFLE_OVERHEAD
        lines.append(
            {
                "executors × 4 cores": executors,
                "row stages (min)": round(rows_min, 1),
                "statistics (min)": round(stats_min, 1),
                "executors total (min)": round(rows_min + stats_min, 1),
            }
        )
    section.add(
        "Projection, 10M cadres / 500M records: executor stages at the measured per-core rates",
        pd.DataFrame(lines),
        ".1f",
    )
    section.note(
        f"Rates from the {big['scale']} run on 2 shared cores: {rate:,.0f} records/s/core in "
        f"validate + text + interactions; {pair_rate:,.0f} Gram pairs/s/core in the statistics "
        "stage (all of it charged to the Gram's self-join, which dominates). Assumed to hold per "
        f"executor core, times {SHUFFLE_OVERHEAD} for network shuffle not seen locally. 500M "
        f"records over 10M cadres is {per_cadre:.0f} per cadre ({big['scale']}: "
        f"{big['records'] / big['cadres']:.0f}); the Gram's pairs grow with the square of "
        f"that: ≥ {pairs / 1e9:.0f}G pairs ({big['scale']}: {big['Gram pairs M'] / 1e3:.2f}G)."
    )
    gb = big["driver py MB"] / big["records"] * TARGET_RECORDS / 1024
    folds_h = big["folds µs/record"] * TARGET_RECORDS / 1e6 / 3600
    section.note(
        f"Driver, fitted from Spark's statistics: the final signals took {big['final fit s']} s "
        "at 5,000 courses (Gram inversion courses³, popularity segments × courses, "
        "transitions courses × 200): independent of the number of records. Still on the "
        "driver and linear in records: the blend's validation folds, whose probe signals are "
        f"refit from the records ({big['folds µs/record']} µs/record here → {folds_h:.1f} h at "
        "500M), and the collected completions, enrolment triples and history (the artifact "
        f"serves from the history): {big['driver py MB']:,} MB here → about {gb:,.0f} GB at "
        "500M. So 500M records still do not fit one driver; the next step is the folds' "
        "statistics on Spark with a sample of validation cadres (docs/spark.md)."
    )
    if len(rows) > 1:
        small = min(rows, key=lambda r: r["records"])
        ratio = big["records"] / small["records"]
        execs = [sum(r[f"{s} s"] for s in EXECUTOR_STAGES) for r in (small, big)]
        section.note(
            f"{small['scale']} → {big['scale']}: records ×{ratio:.1f}; Spark total "
            f"×{big['total s'] / small['total s']:.1f}, "
            f"executor stages ×{execs[1] / execs[0]:.1f}, "
            f"driver fit ×{big['fit s'] / small['fit s']:.1f}, Gram pairs "
            f"×{big['Gram pairs M'] / small['Gram pairs M']:.1f}, single machine "
            f"×{big['single s'] / small['single s']:.1f}."
        )


if __name__ == "__main__":
    main()
