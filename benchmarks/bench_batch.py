"""Batch recommendation throughput: the vectorised path against one cadre at a time.

    .venv/bin/python -m benchmarks.bench_batch [--scale large] [--cadres 20000] [--repeat 3]
        [--model ROOT] [--src TREE]

Both rows run in the same process on the same model: "one by one" is what batch
``recommend --cadres`` and unit tables did before (a ``recommend`` call per cadre),
"vectorised" is ``RecommenderModel.recommend_many`` (``Hybrid.score`` over chunks, the same
candidate policy and ranker). Top-10, no reasons unless ``explain`` says so. Medians of
``--repeat`` runs, per second of wall time and of the process's CPU time (on a shared
machine the second moves less); the lists of both paths are compared, so a faster wrong
answer shows. Runs after the first find each cadre's audience mask memoised, as a long
running process does. ``--src TREE`` imports the library from another tree (before/after).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from benchmarks.common import Section, machine_info, model_dir


def _rate(fn, n: int, repeat: int) -> tuple[float, float, object]:
    """Cadres per second of wall time and of CPU time (medians of ``repeat`` runs)."""
    times, cpu, out = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        cpu.append(time.process_time() - c0)
        times.append(time.perf_counter() - t0)
    return n / statistics.median(times), n / statistics.median(cpu), out


def measure(scale: str, n_cadres: int, repeat: int, chunk: int, root=None) -> pd.DataFrame:
    from recommender import load_model

    model = load_model(root or model_dir(scale))
    ids = model.cadres["cadre_id"].astype(str).tolist()
    rng = np.random.default_rng(0)
    ids = [ids[i] for i in rng.choice(len(ids), size=min(n_cadres, len(ids)), replace=False)]
    loop_ids = ids[: max(1, len(ids) // 10)]  # the slow path on a tenth, rate per cadre

    def one_by_one():
        return {
            cid: [r.course_id for r in model.recommend(cid, 10, explain=False)] for cid in loop_ids
        }

    rows = []
    loop_rate, loop_cpu, loop_lists = _rate(one_by_one, len(loop_ids), repeat)
    rows.append({"path": "one by one (recommend per cadre)", "cadres": len(loop_ids),
                 "cadres/s": loop_rate, "cadres/CPU s": loop_cpu, "ratio": 1.0,
                 "same lists": "—"})  # fmt: skip
    for explain in (False, True):
        n = len(ids) if not explain else len(loop_ids)
        batch_ids = ids if not explain else loop_ids

        def vectorised(batch_ids=batch_ids, explain=explain):
            return model.recommend_many(batch_ids, 10, explain=explain, chunk=chunk)[0]

        rate, cpu, lists = _rate(vectorised, n, repeat)
        same = np.mean([[r.course_id for r in lists[c]] == loop_lists[c] for c in loop_ids])
        rows.append({"path": f"vectorised (chunk {chunk}){', reasons' if explain else ''}",
                     "cadres": n, "cadres/s": rate, "cadres/CPU s": cpu,
                     "ratio": rate / loop_rate, "same lists": f"{same:.1%}"})  # fmt: skip
    return pd.DataFrame(rows)


def stages(root, chunk: int, repeat: int = 3) -> pd.DataFrame:
    """CPU µs per cadre of each piece of ``recommend_many`` on one chunk (best of
    ``repeat``): where the vectorised path's time goes."""
    from recommender import load_model
    from recommender.ranking.candidates import ELECTIVES
    from recommender.ranking.scaling import zscore

    model = load_model(root)
    rng = np.random.default_rng(0)
    ids = model.cadres["cadre_id"].astype(str).to_numpy()
    ids = [str(c) for c in rng.choice(ids, chunk, replace=False)]
    model.recommend_many(ids, 10)  # audiences and memo rows as a running process has them
    batch = model.queries.batch(model.cadre_map.lookup(ids))
    rows = []

    def timed(name, fn):
        best = min(_cpu(fn) for _ in range(repeat))
        rows.append({"piece": name, "CPU µs per cadre": best * 1e6 / chunk})

    h = model.hybrid
    for s in h.signals_:
        if not (h.weights_.get(s.name) or h.cold_weights_.get(s.name)):
            continue
        if s.memo_on() is None:
            raw = s.score(batch)
            timed(f"score: {s.name}", lambda s=s: s.score(batch))
            timed(f"z-score: {s.name}", lambda raw=raw: zscore(raw))
        else:

            def groups_and_take(s=s):  # the rows themselves are memoised (dict look-ups)
                codes = batch.groups(s.memo_on())
                rows = np.zeros((codes.max() + 1, h.n_items_), np.float32)
                return np.take(rows, codes, axis=0)

            timed(f"groups + take of memoised rows: {s.name}", groups_and_take)
    timed("score_batch (all signals, weights, sums)", lambda: model.score_batch(batch))
    scores, _ = model.score_batch(batch)
    audiences = [model.cadre_audience(c) for c in ids]
    masks = model.policy.for_batch((), batch.history, ELECTIVES, model.reference_at(),
                                   audiences=audiences)  # fmt: skip
    timed("candidate masks", lambda: model.policy.for_batch(
        (), batch.history, ELECTIVES, model.reference_at(), audiences=audiences))  # fmt: skip
    tops = model.ranker.top_many(
        scores, masks, 10, fields=batch.fields, has_history=batch.has_history
    )
    timed("top-10 of each row", lambda: model.ranker.top_many(
        scores, masks, 10, fields=batch.fields, has_history=batch.has_history))  # fmt: skip
    timed("result objects", lambda: [model.as_recommendations(t, scores[i], [()] * len(t))
                                     for i, t in enumerate(tops)])  # fmt: skip
    timed("recommend_many (whole chunk)", lambda: model.recommend_many(ids, 10))
    return pd.DataFrame(rows)


def _cpu(fn) -> float:
    c0 = time.process_time()
    fn()
    return time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="large")
    ap.add_argument("--cadres", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=1024)
    ap.add_argument("--model", default=None, help="a models root to use instead of training one")
    ap.add_argument("--src", default=None, help="a source tree to import the library from "
                    "(e.g. a `git archive` copy: before/after with the same script)")  # fmt: skip
    ap.add_argument("--stages", action="store_true", help="CPU per piece, one chunk")
    args = ap.parse_args()
    if args.src:
        sys.path.insert(0, args.src)
    if args.stages:
        with threadpool_limits(1):
            table = stages(args.model or model_dir(args.scale), args.chunk)
        print(f"load average {os.getloadavg()}")
        print("| piece | CPU µs per cadre |\n|---|---:|")
        for piece, us in table.itertuples(index=False):
            print(f"| {piece} | {us:.1f} |")
        return
    command = f"python -m benchmarks.bench_batch --scale {args.scale} --cadres {args.cadres}"
    section = Section(f"Batch recommend throughput ({args.scale})", command)
    with threadpool_limits(1):  # one core, as one service worker has
        table = measure(args.scale, args.cadres, args.repeat, args.chunk, args.model)
    section.add("top-10 lists per second, medians", table, floatfmt=".1f")
    section.note(str({k: v for k, v in machine_info().items() if k in ("cpu", "numpy")}))
    section.note(f"library: {sys.modules['recommender'].__file__}")
    print(f"saved → {section.save('bench_batch')}")


if __name__ == "__main__":
    main()
