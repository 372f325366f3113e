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
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

from benchmarks.common import MODELS, Section, dataset_dir, mark_fresh, run_child

#: wrapped steps: (label, module path, attribute); labels are what the table shows. Steps
#: of the code before issue 22's training work (``--tree`` of an older checkout) and after it
#: are both listed; a step the checked-out library does not call shows as blank.
STEPS = [
    ("load + validate data", "recommender.lifecycle.train", "load_dataset"),
    ("fit (everything below)", "recommender.lifecycle.train", "fit_model"),
    ("  text in worker processes: start → finished", "recommender.text.space.TextSpace",
     "fit_with_profiles"),
    ("    waiting for the workers, TF-IDF", "recommender.text.space.TextSpace",
     "fit_with_profiles.finish"),
    ("  tokenize + TF-IDF courses", "recommender.text.space.TextSpace", "fit"),
    ("  profile vectors (tokenize cadres)", "recommender.text.space.TextSpace", "transform"),
    ("    tokenize (all processes)", "recommender.text.space", "tokenize_texts"),
    ("  fields of work (profiles)", "recommender.text.fields.FieldTaxonomy", "match"),
    ("  training data (interaction matrix …)", "recommender.data.training.TrainingData", "build"),
    ("    validation split", "recommender.data.training.TrainingData", "split_time"),
    ("    validation split (leave-last)", "recommender.data.training.TrainingData", "split_last"),
    ("  blend-weight search (signals on the split)", "recommender.ranking.hybrid", "fit_weights"),
    ("    listwise softmax fit", "recommender.ranking.blend_search", "listwise_weights"),
    ("  signal fits (split + final)", "recommender.ranking.hybrid.Hybrid", "_fit_signals"),
    ("  signal fits, every fit summed (split + final, threads)",
     "recommender.signals.base.Signal", "fit"),
    ("    Gram matrix XᵀX", "recommender.signals.collaborative", "gram_matrix"),
    ("    Cholesky inversion", "recommender.signals.collaborative", "_spd_inverse"),
    ("    cold-course bridge", "recommender.data.training", "cold_item_bridge"),
    ("  waiting for the final fit", "recommender.ranking.hybrid.Hybrid", "_set_signals"),
    ("save (write + reload + smoke check)", "recommender.lifecycle.train", "save_model"),
]  # fmt: skip
#: per-signal rows under "every fit summed": ``Signal.fit`` is timed by the signal's name
PER_SIGNAL = "      {name}"


# ------------------------------------------------------------------------ child side
class Tracker:
    """Inclusive seconds, calls and peak RSS per wrapped step (nested steps allowed)."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.stats: dict[str, dict] = {}
        self.active: list[dict] = []
        self.tree_peak = 0  # this process and its children (tokenising workers) together
        self.child_cpu: dict[int, float] = {}  # pid → CPU seconds last seen
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
                    # workers leave when idle: their CPU is read while they live
                    self.child_cpu[child.pid] = sum(child.cpu_times()[:2])
            with self.lock:
                self.tree_peak = max(self.tree_peak, tree)
                for m in self.active:
                    m["peak"] = max(m["peak"], rss)

    @contextlib.contextmanager
    def step(self, label: str):
        marker = {"peak": self.proc.memory_info().rss}
        with self.lock:
            self.active.append(marker)
        # a top-level step's CPU is the whole process's (all its threads); a nested step's is
        # the calling thread's: signal fits run in several threads at once
        clock = time.process_time if not label.startswith(" ") else time.thread_time
        t0, c0 = time.perf_counter(), clock()
        try:
            yield
        finally:
            dt, dc = time.perf_counter() - t0, clock() - c0
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

    def wrap(self, label: str, fn, *, generator: bool = False, deferred: str | None = None):
        if deferred:  # fn returns a finish() callable: time start → finished, and finish()

            @functools.wraps(fn)
            def start_wrapper(*a, **kw):
                marker = {"peak": self.proc.memory_info().rss}
                t0 = time.perf_counter()
                finish = fn(*a, **kw)

                def finished(*fa, **fkw):
                    with self.step(deferred):
                        out = finish(*fa, **fkw)
                    s = self.stats.setdefault(
                        label, {"seconds": 0.0, "cpu_s": 0.0, "calls": 0, "peak_mb": 0.0}
                    )
                    s["seconds"] += time.perf_counter() - t0
                    s["cpu_s"] = float("nan")  # worker processes' CPU: not this thread's
                    s["calls"] += 1
                    s["peak_mb"] = max(s["peak_mb"], marker["peak"] / 2**20)
                    return out

                return finished

            return start_wrapper
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


def _wrap_signal_fit(tracker: Tracker, label: str, fn):
    """``Signal.fit`` timed as a whole and per signal name (a row per signal)."""

    @functools.wraps(fn)
    def wrapper(self, *a, **kw):
        with tracker.step(label), tracker.step(PER_SIGNAL.format(name=self.name)):
            return fn(self, *a, **kw)

    return wrapper


def child_train(data: str, out: str, tree: str | None = None) -> dict:
    import resource

    if tree:  # another checkout's library (the code before a change), same benchmark
        sys.path.insert(0, str(Path(tree).resolve()))
    tracker = Tracker()
    deferred = {attr.split(".")[0]: lab for lab, _, attr in STEPS if "." in attr}
    for label, owner, attr in STEPS:
        if "." in attr:
            continue
        target = _resolve(owner)
        fn = getattr(target, attr, None)
        if fn is None:  # a step the checked-out library does not have (a before/after run)
            continue
        if attr == "fit" and owner.endswith("signals.base.Signal"):
            setattr(target, attr, _wrap_signal_fit(tracker, label, fn))
            continue
        setattr(target, attr, tracker.wrap(label, fn, deferred=deferred.get(attr)))
    from recommender.lifecycle.train import train

    t0, c0 = time.perf_counter(), time.process_time()
    path = train(data, out)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    for child in tracker.proc.children(recursive=True):
        with contextlib.suppress(Exception):
            tracker.child_cpu[child.pid] = sum(child.cpu_times()[:2])
    workers = sum(tracker.child_cpu.values())  # tokenising processes: their CPU is not ours
    size = sum(f.stat().st_size for f in Path(path).iterdir()) / 2**20
    import recommender

    return {
        "library": str(Path(recommender.__file__).parent),
        "total_s": total,
        "cpu_s": cpu,
        "worker_cpu_s": workers,
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


def measure(
    scale: str,
    *,
    timeout: float,
    als_factors: int = 64,
    als: bool = True,
    tree: str | None = None,
    label: str | None = None,
) -> dict:
    """Train ``scale`` in a child process (``tree``: another checkout's library, into a
    scratch models folder, not the one bench_serving reuses)."""
    data = dataset_dir(scale)
    root = MODELS / scale if tree is None else Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        train = run_child(
            ["-m", "benchmarks.bench_scale", "--child", "train", "--data", str(data),
             "--out", str(root), *(["--tree", tree] if tree else [])],
            timeout=timeout,
        )  # fmt: skip
    finally:
        if tree is not None:
            shutil.rmtree(root, ignore_errors=True)
    if tree is None:
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

    ds = load_dataset(data, write_rejects=False)
    return {
        "scale": label or scale,
        "train": train,
        "als": als,
        "cadres": len(ds.cadres),
        "courses": len(ds.courses),
        "completions": len(ds.completions),
    }


def _step_labels(results: list[dict]) -> list[str]:
    """STEPS' labels, each signal's own row after the summed signal fits."""
    indent = PER_SIGNAL[: PER_SIGNAL.index("{")]
    names = sorted(
        {k for r in results for k in r["train"]["steps"] if k.startswith(indent)}
        - {label for label, _, _ in STEPS}
    )
    out = []
    for label, _, attr in STEPS:
        out.append(label)
        if attr == "fit" and label.startswith("  signal fits"):
            out += names
    return out


def step_table(results: list[dict]) -> pd.DataFrame:
    rows = []
    nan = float("nan")
    for label in _step_labels(results):
        row = {"step": label}
        for r in results:
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
    rows.append(
        {
            "step": "  + CPU of the tokenising worker processes",
            **{f"{r['scale']} cpu s": r["train"].get("worker_cpu_s", nan) for r in results},
        }
    )
    return pd.DataFrame(rows).dropna(axis=0, how="all", subset=[c for c in rows[0] if c != "step"])


def growth_table(results: list[dict]) -> pd.DataFrame:
    """Exponent b in time ∝ size^b between consecutive scales (size = completions or items)."""
    rows = []
    for a, b in itertools.pairwise(results):
        nc = math.log(b["completions"] / a["completions"])
        ni = math.log(b["courses"] / a["courses"]) if b["courses"] != a["courses"] else None
        for label in _step_labels([a, b]):
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
    ap.add_argument("--tree", help=argparse.SUPPRESS)
    ap.add_argument(
        "--before",
        metavar="DIR",
        help="also train with the library of this checkout (e.g. `git archive <commit>` "
        "unpacked), alternating with this one: before/after columns from one run",
    )
    ap.add_argument("--repeat", type=int, default=1, help="runs per library (alternating)")
    args = ap.parse_args(argv)
    if args.child == "train":
        print(json.dumps(child_train(args.data, args.out, args.tree)))
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
    if args.before:
        sec.command += f" --before {args.before}"
    if args.repeat > 1:
        sec.command += f" --repeat {args.repeat}"
    t0 = time.perf_counter()
    results = []
    for scale in scales:
        for i in range(args.repeat):
            for tree in [args.before, None] if args.before else [None]:
                label = (
                    scale + (" before" if tree else "") + (f" #{i + 1}" if args.repeat > 1 else "")
                )
                print(
                    f"[scale] {label} … (load {os.getloadavg()[0]:.1f})",
                    file=sys.stderr,
                    flush=True,
                )
                r = measure(
                    scale, timeout=3600, als=not args.no_als and i == 0, tree=tree, label=label
                )
                r["load_avg"] = os.getloadavg()[0]
                results.append(r)
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
                    "load avg": r.get("load_avg", float("nan")),
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
        "Seconds and peak RSS (MB) by step — inclusive; indented steps are part of the step "
        "above, and may run at the same time as their neighbours (text in worker processes, "
        "signal fits in threads: summed seconds can exceed the step above). CPU: the whole "
        "process's for top-level steps, the calling thread's for indented ones",
        step_table(results),
        ".1f",
    )
    plain = [r for r in results if r["scale"] in scales]
    if len(plain) > 1:
        sec.add("Growth: time ∝ size^b between scales", growth_table(plain), ".2f")
    for r in results:
        if r["scale"].startswith("large") and "before" not in r["scale"]:
            t, m = r["train"]["wall_s"], r["train"].get("tree_peak_mb", r["train"]["peak_mb"])
            sec.note(
                f"{r['scale']}: issue 22's goal (≤ 40 s, peak with workers < 3 GB): {t:.0f} s, "
                f"{m:.0f} MB, load average {r.get('load_avg', float('nan')):.1f} → "
                + ("met" if t <= 40 and m < 3072 else "NOT met")
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
