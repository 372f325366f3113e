"""Training time and peak memory by step, small → medium → large (→ xlarge), vs implicit ALS.

Every fit runs in a fresh child process, so its peak RSS (the child's own ``ru_maxrss``) is
honest. The child runs the real ``recommender.lifecycle.train.train`` path; the steps are timed from
outside by wrapping the library functions that path calls (no timing hooks in the library).
Per-step peaks come from an RSS sampler thread (20 ms) in the child.

    .venv/bin/python -m benchmarks.bench_scale [--quick] [--xlarge] [--scales small medium large]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import json
import math
import shutil
import sys
import threading
import time
from pathlib import Path

import pandas as pd

from benchmarks.common import MODELS, Section, dataset_dir, mark_fresh, run_child

#: wrapped steps: (label, module path, attribute); labels are what the table shows
STEPS = [
    ("load + validate data", "recommender.lifecycle.train", "load_dataset"),
    ("fit (everything below)", "recommender.lifecycle.train", "fit_model"),
    ("  tokenize + TF-IDF courses", "recommender.text.space.TextSpace", "fit"),
    ("  profile vectors (tokenize cadres)", "recommender.text.space.TextSpace", "transform"),
    ("    tokenize (all processes)", "recommender.text.space", "tokenize_texts"),
    ("  fields of work (profiles)", "recommender.text.fields.FieldTaxonomy", "match"),
    ("  training data (interaction matrix …)", "recommender.data.training.TrainingData", "build"),
    ("  blend-weight search (signals on the split)", "recommender.ranking.hybrid", "fit_weights"),
    ("  signal fits (split + final)", "recommender.ranking.hybrid.Hybrid", "_fit_signals"),
    ("    EASE fit", "recommender.signals.collaborative.EASE", "fit"),
    (
        "      Gram matrix XᵀX (dense blocks)",
        "recommender.signals.collaborative",
        "_cooccurrence_blocks",
    ),
    ("      Cholesky inversion", "recommender.signals.collaborative", "_spd_inverse"),
    ("    item-kNN fit", "recommender.signals.collaborative.ItemKNN", "fit"),
    ("    cold-course bridge", "recommender.data.training", "cold_item_bridge"),
    ("    sequence transitions", "recommender.signals.sequence", "sequence_transitions"),
    ("    popularity", "recommender.signals.popularity.Popularity", "fit"),
    ("save (dump + reload + smoke check)", "recommender.lifecycle.train", "save_model"),
    ("  joblib dump", "joblib", "dump"),
]


# ------------------------------------------------------------------------ child side
class Tracker:
    """Inclusive seconds, calls and peak RSS per wrapped step (nested steps allowed)."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.stats: dict[str, dict] = {}
        self.active: list[dict] = []
        self.tree_peak = 0  # this process and its children (tokenising workers) together
        self.lock = threading.Lock()
        self._stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            rss = self.proc.memory_info().rss
            tree = rss
            for child in self.proc.children(recursive=True):
                with contextlib.suppress(Exception):  # a child that just exited
                    tree += child.memory_info().rss
            with self.lock:
                self.tree_peak = max(self.tree_peak, tree)
                for m in self.active:
                    m["peak"] = max(m["peak"], rss)

    @contextlib.contextmanager
    def step(self, label: str):
        marker = {"peak": self.proc.memory_info().rss}
        with self.lock:
            self.active.append(marker)
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            marker["peak"] = max(marker["peak"], self.proc.memory_info().rss)
            with self.lock:  # by identity: markers with equal peaks compare equal
                self.active = [m for m in self.active if m is not marker]
            s = self.stats.setdefault(
                label, {"seconds": 0.0, "cpu_s": 0.0, "calls": 0, "peak_mb": 0.0}
            )
            s["seconds"] += dt
            s["cpu_s"] += dc
            s["calls"] += 1
            s["peak_mb"] = max(s["peak_mb"], marker["peak"] / 2**20)

    def wrap(self, label: str, fn, *, generator: bool = False):
        if generator:

            @functools.wraps(fn)
            def gen_wrapper(*a, **kw):
                it = fn(*a, **kw)
                while True:
                    with self.step(label):
                        try:
                            item = next(it)
                        except StopIteration:
                            return
                    yield item

            return gen_wrapper

        @functools.wraps(fn)
        def wrapper(*a, **kw):
            with self.step(label):
                return fn(*a, **kw)

        return wrapper


def _resolve(path: str):
    import importlib

    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for p in parts[i:]:
            obj = getattr(obj, p)
        return obj
    raise ImportError(path)


def child_train(data: str, out: str) -> dict:
    import resource

    tracker = Tracker()
    for label, owner, attr in STEPS:
        target = _resolve(owner)
        fn = getattr(target, attr, None)
        if fn is None:  # a step the checked-out library does not have (a before/after run)
            continue
        setattr(target, attr, tracker.wrap(label, fn, generator=attr == "_cooccurrence_blocks"))
    from recommender.lifecycle.train import train

    t0, c0 = time.perf_counter(), time.process_time()
    path = train(data, out)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    size = sum(f.stat().st_size for f in Path(path).iterdir()) / 2**20
    return {
        "total_s": total,
        "cpu_s": cpu,
        "steps": tracker.stats,
        "artifact_mb": size,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "tree_peak_mb": tracker.tree_peak / 2**20,
        "version": Path(path).name,
    }


def child_als(data: str, factors: int) -> dict:
    import resource

    from threadpoolctl import threadpool_limits

    from recommender.data.features import IdMap, interaction_matrix
    from recommender.data.loading import load_dataset
    from recommender.data.schema import Columns as C

    t0 = time.perf_counter()
    ds = load_dataset(data)
    t1 = time.perf_counter()
    X = interaction_matrix(
        ds.completions,
        IdMap(ds.cadres[C.CADRE_ID].to_numpy()),
        IdMap(ds.courses[C.COURSE_ID].to_numpy()),
    )
    t2, c2 = time.perf_counter(), time.process_time()
    from implicit.cpu.als import AlternatingLeastSquares

    with threadpool_limits(1, "blas"):
        als = AlternatingLeastSquares(
            factors=factors,
            regularization=0.1,
            alpha=10.0,
            iterations=15,
            random_state=0,
            num_threads=0,
        )
        als.fit(X, show_progress=False)
    t3, c3 = time.perf_counter(), time.process_time()
    return {
        "load_s": t1 - t0,
        "matrix_s": t2 - t1,
        "fit_s": t3 - t2,
        "fit_cpu_s": c3 - c2,
        "nnz": int(X.nnz),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# ----------------------------------------------------------------------- parent side
def prune_versions(root: Path, keep: str) -> None:
    """Keep only the published version (artifacts of a large model are hundreds of MB)."""
    for p in root.iterdir():
        if p.is_dir() and not p.is_symlink() and p.name != keep:
            shutil.rmtree(p, ignore_errors=True)


def measure(scale: str, *, timeout: float, als_factors: int = 64, als: bool = True) -> dict:
    data = dataset_dir(scale)
    root = MODELS / scale
    train = run_child(
        [
            "-m",
            "benchmarks.bench_scale",
            "--child",
            "train",
            "--data",
            str(data),
            "--out",
            str(root),
        ],
        timeout=timeout,
    )
    prune_versions(root, train["version"])
    mark_fresh(root)  # bench_serving reuses this model
    nan = float("nan")
    skipped = {"load_s": nan, "matrix_s": nan, "fit_s": nan, "fit_cpu_s": nan, "peak_mb": nan}
    als = (
        skipped
        if not als
        else run_child(
            [
                "-m",
                "benchmarks.bench_scale",
                "--child",
                "als",
                "--data",
                str(data),
                "--factors",
                str(als_factors),
            ],
            timeout=timeout,
        )
    )
    from recommender.data.loading import load_dataset

    ds = load_dataset(data)
    return {
        "scale": scale,
        "train": train,
        "als": als,
        "cadres": len(ds.cadres),
        "courses": len(ds.courses),
        "completions": len(ds.completions),
    }


def step_table(results: list[dict]) -> pd.DataFrame:
    rows = []
    for label, _, _ in STEPS:
        row = {"step": label}
        for r in results:
            nan = float("nan")
            s = r["train"]["steps"].get(label, {"seconds": nan, "cpu_s": nan, "peak_mb": nan})
            row[f"{r['scale']} s"] = s["seconds"]
            row[f"{r['scale']} cpu s"] = s["cpu_s"]
            row[f"{r['scale']} peak MB"] = s["peak_mb"]
        rows.append(row)
    rows.append(
        {
            "step": "TOTAL train() (child wall incl. imports)",
            **{
                k: v
                for r in results
                for k, v in (
                    (f"{r['scale']} s", r["train"]["wall_s"]),
                    (f"{r['scale']} cpu s", r["train"]["cpu_s"]),
                    (f"{r['scale']} peak MB", r["train"]["peak_mb"]),
                )
            },
        }
    )
    return pd.DataFrame(rows)


def growth_table(results: list[dict]) -> pd.DataFrame:
    """Exponent b in time ∝ size^b between consecutive scales (size = completions or items)."""
    rows = []
    for a, b in itertools.pairwise(results):
        nc = math.log(b["completions"] / a["completions"])
        ni = math.log(b["courses"] / a["courses"]) if b["courses"] != a["courses"] else None
        for label, _, _ in STEPS:
            sa = a["train"]["steps"].get(label, {}).get("seconds")
            sb = b["train"]["steps"].get(label, {}).get("seconds")
            if not sa or not sb or sa < 0.05:
                continue
            rows.append(
                {
                    "step": label,
                    "from → to": f"{a['scale']} → {b['scale']}",
                    "time ratio": sb / sa,
                    "b vs completions": math.log(sb / sa) / nc,
                    "b vs courses": (math.log(sb / sa) / ni) if ni else float("nan"),
                }
            )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> Section | None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small and medium only")
    ap.add_argument("--xlarge", action="store_true", help="also xlarge (4× large cadres)")
    ap.add_argument("--scales", nargs="+")
    ap.add_argument("--no-als", action="store_true", help="skip the implicit ALS comparison")
    ap.add_argument("--child", choices=["train", "als"], help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--factors", type=int, default=64, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child == "train":
        print(json.dumps(child_train(args.data, args.out)))
        return None
    if args.child == "als":
        print(json.dumps(child_als(args.data, args.factors)))
        return None
    scales = args.scales or (["small", "medium"] if args.quick else ["small", "medium", "large"])
    if args.xlarge and "xlarge" not in scales:
        scales.append("xlarge")
    sec = Section(
        "Training time and peak memory (each fit in its own process)",
        "python -m benchmarks.bench_scale"
        + (" --quick" if args.quick else "")
        + (" --xlarge" if args.xlarge else ""),
    )
    t0 = time.perf_counter()
    results = []
    for scale in scales:
        print(f"[scale] {scale} …", file=sys.stderr, flush=True)
        results.append(measure(scale, timeout=3600, als=not args.no_als))
    sec.add(
        "Sizes, totals, and implicit ALS (factors 64, 15 iterations, same interaction "
        "matrix) in the same run",
        pd.DataFrame(
            [
                {
                    "scale": r["scale"],
                    "cadres": r["cadres"],
                    "courses": r["courses"],
                    "completions": r["completions"],
                    "xuanxue train s": r["train"]["wall_s"],
                    "xuanxue fit s": r["train"]["steps"]["fit (everything below)"]["seconds"],
                    "xuanxue fit cpu s": r["train"]["steps"]["fit (everything below)"]["cpu_s"],
                    "xuanxue peak MB": r["train"]["peak_mb"],
                    "peak MB with workers": r["train"].get("tree_peak_mb", float("nan")),
                    "artifact MB": r["train"]["artifact_mb"],
                    "ALS load+matrix s": r["als"]["load_s"] + r["als"]["matrix_s"],
                    "ALS fit s": r["als"]["fit_s"],
                    "ALS fit cpu s": r["als"]["fit_cpu_s"],
                    "ALS peak MB": r["als"]["peak_mb"],
                    "fit / ALS fit": (
                        r["train"]["steps"]["fit (everything below)"]["seconds"] / r["als"]["fit_s"]
                    ),
                }
                for r in results
            ]
        ),
        ".1f",
    )
    sec.add(
        "Seconds and peak RSS (MB) by step — inclusive; indented steps are part of the step above",
        step_table(results),
        ".1f",
    )
    if len(results) > 1:
        sec.add("Growth: time ∝ size^b between scales", growth_table(results), ".2f")
    for r in results:
        if r["scale"] == "large":
            t, m = r["train"]["wall_s"], r["train"]["peak_mb"]
            sec.note(
                f"large target (< 300 s, < 6144 MB): {t:.0f} s, {m:.0f} MB → "
                + ("met" if t < 300 and m < 6144 else "NOT met")
            )
    sec.note(
        "xlarge (400k cadres, 8M completions) runs only with --xlarge."
        if not args.xlarge
        else "xlarge included."
    )
    sec.seconds = time.perf_counter() - t0
    sec.save("scale")
    return sec


if __name__ == "__main__":
    main()
