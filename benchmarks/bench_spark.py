"""Spark training cost curve on ``local[2]``: seconds per stage, shuffle bytes, driver peak
memory, the single-machine path beside it, and a projection to 10M cadres / 500M records.

Each run is a fresh child process. Stage seconds come from ``train_spark``'s own stage
marks; ``fit`` holds the blend's validation folds — as Spark jobs (``--validation spark``,
the default: "fold jobs s" is their share) or split from the collected records on the
driver (``driver``, the path before) — beside the final signals fitted from Spark's
statistics; shuffle bytes from the Spark UI's REST API (completed stages, summed per stage);
peak memory from a 50 ms sampler over the Python driver and its JVM (in ``local[2]`` the JVM
is driver and executors at once, so its peak is an upper bound for the driver's).

    .venv/bin/python -m benchmarks.bench_spark [--scales medium large xlarge] [--no-single]
        [--validation spark driver]
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


def child_spark(scale: str, validation: str = "spark") -> dict:
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
            str(data),
            out / "models",
            spark=spark,
            rejects_dir=str(out),
            on_stage=on_stage,
            validation=validation,
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
    ap.add_argument(
        "--validation", nargs="+", default=["spark"], choices=["spark", "driver"],
        help="where the blend's validation folds are computed (several: one run each)",
    )  # fmt: skip
    args = ap.parse_args()
    if args.child:
        kind, scale = args.child
        if kind == "single":
            result = child_single(scale)
        else:
            result = child_spark(scale, kind.removeprefix("spark-") if "-" in kind else "spark")
        print(json.dumps(result))
        return
    started = time.perf_counter()
    section = Section("Spark training (local[2])", "python -m benchmarks.bench_spark")
    rows = []
    for scale in args.scales:
        cadres, records = _records(scale)
        print(f"[spark] {scale}: {cadres} cadres, {records} records", file=sys.stderr, flush=True)
        single = None
        for mode in args.validation:
            spark = run_child(
                ["-m", "benchmarks.bench_spark", "--child", f"spark-{mode}", scale],
                timeout=args.timeout,
            )
            if single is None and not args.no_single:
                single = run_child(
                    ["-m", "benchmarks.bench_spark", "--child", "single", scale],
                    timeout=args.timeout,
                )
            rows.append(_row(scale, mode, cadres, records, spark, single))
            print(json.dumps(rows[-1], ensure_ascii=False), file=sys.stderr, flush=True)
    table = pd.DataFrame([{k: v for k, v in r.items() if k != "_shuffle"} for r in rows])
    section.add(
        "Seconds per stage, shuffle, peak memory (Spark local[2]) and single-machine", table, ".1f"
    )
    shuffle = pd.DataFrame(
        [
            {
                "scale": r["scale"],
                "validation folds": r["validation folds"],
                **{k: round(v / 2**20, 1) for k, v in r["_shuffle"].items()},
            }
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


def _row(scale, mode, cadres, records, spark, single) -> dict:
    st = spark["stages"]
    row = {"scale": scale, "validation folds": mode, "cadres": cadres, "records": records}
    row.update({f"{s} s": st.get(s, float("nan")) for s in STAGES})
    row["fold jobs s"] = st.get("fit: fold jobs", float("nan"))
    row["total s"] = round(sum(st.get(s, 0.0) for s in STAGES), 1)
    row["shuffle MB"] = round(sum(spark["shuffle"].values()) / 2**20, 1)
    row["driver py MB"] = spark["peak_mb"]["python"]
    row["JVM MB"] = spark["peak_mb"]["jvm"]
    row["_shuffle"] = spark["shuffle"]
    row["single s"] = single["seconds"] if single else float("nan")
    row["single MB"] = single["peak_mb"] if single else float("nan")
    exec_s = sum(st.get(s, 0.0) for s in EXECUTOR_STAGES)
    row["records/s/core (executor stages)"] = round(records / exec_s / CORES)
    row["Gram pairs M"] = round(gram_pairs(scale) / 1e6, 1)
    return row


#: network shuffle a cluster adds to the local runs' stage times (assumed)
SHUFFLE_OVERHEAD = 1.25


#: the projection's target and its assumed shape
TARGET_CADRES, TARGET_RECORDS = 10_000_000, 500_000_000


def _project(section: Section, rows: list[dict]) -> None:
    """10M cadres / 500M records on N executors × 4 cores from the largest run's rates
    (the largest run with the folds on Spark, when there is one)."""
    spark_rows = [r for r in rows if r["validation folds"] == "spark"] or rows
    big = max(spark_rows, key=lambda r: r["records"])
    row_s = sum(big[f"{s} s"] for s in ("validate", "text", "interactions"))
    rate = big["records"] / row_s / CORES  # records per second per core, row-by-row stages
    per_cadre = TARGET_RECORDS / TARGET_CADRES
    pairs = TARGET_CADRES * per_cadre**2  # Σ n² ≥ n̄² per cadre: a lower bound
    pair_rate = big["Gram pairs M"] * 1e6 / big["statistics s"] / CORES
    folds = big["fold jobs s"] if big["fold jobs s"] == big["fold jobs s"] else 0.0  # NaN: 0
    fold_share = folds / big["statistics s"]  # the folds' jobs per second of statistics
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
                "validation folds (min)": round(stats_min * fold_share, 1),
                "executors total (min)": round(rows_min + stats_min * (1 + fold_share), 1),
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
        f"that: ≥ {pairs / 1e9:.0f}G pairs ({big['scale']}: {big['Gram pairs M'] / 1e3:.2f}G). "
        f"The validation folds' jobs (each fold's statistics again) took {fold_share:.2f}× the "
        "statistics stage's time and are projected at that ratio."
    )
    gb = big["driver py MB"] / big["records"] * TARGET_RECORDS / 1024
    section.note(
        f"Driver: 'fit' less the fold jobs ({big['fit s'] - folds:.1f} s at {big['scale']}) is "
        "the signals fitted from statistics (Gram inversion courses³, popularity segments × "
        "courses, transitions courses × 200) once per fold and once for the model, the "
        "weight search over ≤ 1,000 sampled cadres per fold, and the serving model object "
        "built over every cadre's history; no fold reads all the records on the driver. "
        "Still linear in records on the driver: the completions, enrolment triples and "
        f"history the artifact serves from: {big['driver py MB']:,} MB peak here → about "
        f"{gb:,.0f} GB at 500M, so a national platform serves from Spark's nightly batch "
        "(`recommend --engine spark --all`) rather than from one artifact (docs/spark.md)."
    )
    by_scale: dict[str, dict[str, dict]] = {}
    for r in rows:
        by_scale.setdefault(r["scale"], {})[r["validation folds"]] = r
    for scale, modes in by_scale.items():
        if {"spark", "driver"} <= modes.keys():
            a, b = modes["driver"], modes["spark"]
            section.note(
                f"{scale}, the same data: validation folds on the driver → on Spark: fit "
                f"{a['fit s']} → {b['fit s']} s (fold jobs {b['fold jobs s']} s), total "
                f"{a['total s']} → {b['total s']} s, driver peak {a['driver py MB']:,} → "
                f"{b['driver py MB']:,} MB; the same blend weights (tests/test_spark.py)."
            )
    if len({r["scale"] for r in spark_rows}) > 1:
        small = min(spark_rows, key=lambda r: r["records"])
        ratio = big["records"] / small["records"]
        execs = [sum(r[f"{s} s"] for s in EXECUTOR_STAGES) for r in (small, big)]
        section.note(
            f"{small['scale']} → {big['scale']} (folds on Spark): records ×{ratio:.1f}; Spark "
            f"total ×{big['total s'] / small['total s']:.1f}, "
            f"executor stages ×{execs[1] / execs[0]:.1f}, "
            f"fit ×{big['fit s'] / small['fit s']:.1f}, Gram pairs "
            f"×{big['Gram pairs M'] / small['Gram pairs M']:.1f}."
        )


if __name__ == "__main__":
    main()
