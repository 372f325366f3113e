"""Batch recommendation throughput: the vectorised path against one cadre at a time.

    .venv/bin/python -m benchmarks.bench_batch [--scale large] [--cadres 20000] [--repeat 3]

Both rows run in the same process on the same model: "one by one" is what batch
``recommend --cadres`` and unit tables did before (a ``recommend`` call per cadre),
"vectorised" is ``RecommenderModel.recommend_many`` (``Hybrid.score`` over chunks, the same
candidate policy and ranker). Top-10, no reasons unless ``explain`` says so. Medians of
``--repeat`` runs; the lists of both paths are compared, so a faster wrong answer shows.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from benchmarks.common import Section, machine_info, model_dir
from recommender import load_model
from recommender.data.schema import Columns as C


def _rate(fn, n: int, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return n / statistics.median(times), out


def measure(scale: str, n_cadres: int, repeat: int, chunk: int, root=None) -> pd.DataFrame:
    model = load_model(root or model_dir(scale))
    ids = model.cadres[C.CADRE_ID].astype(str).tolist()
    rng = np.random.default_rng(0)
    ids = [ids[i] for i in rng.choice(len(ids), size=min(n_cadres, len(ids)), replace=False)]
    loop_ids = ids[: max(1, len(ids) // 10)]  # the slow path on a tenth, rate per cadre

    def one_by_one():
        return {
            cid: [r.course_id for r in model.recommend(cid, 10, explain=False)] for cid in loop_ids
        }

    rows = []
    loop_rate, loop_lists = _rate(one_by_one, len(loop_ids), repeat)
    rows.append({"path": "one by one (recommend per cadre)", "cadres": len(loop_ids),
                 "cadres/s": loop_rate, "ratio": 1.0, "same lists": "—"})  # fmt: skip
    for explain in (False, True):
        n = len(ids) if not explain else len(loop_ids)
        batch_ids = ids if not explain else loop_ids

        def vectorised(batch_ids=batch_ids, explain=explain):
            return model.recommend_many(batch_ids, 10, explain=explain, chunk=chunk)[0]

        rate, lists = _rate(vectorised, n, repeat)
        same = np.mean([[r.course_id for r in lists[c]] == loop_lists[c] for c in loop_ids])
        rows.append({"path": f"vectorised (chunk {chunk}){', reasons' if explain else ''}",
                     "cadres": n, "cadres/s": rate, "ratio": rate / loop_rate,
                     "same lists": f"{same:.1%}"})  # fmt: skip
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="large")
    ap.add_argument("--cadres", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=1024)
    ap.add_argument("--model", default=None, help="a models root to use instead of training one")
    args = ap.parse_args()
    command = f"python -m benchmarks.bench_batch --scale {args.scale} --cadres {args.cadres}"
    section = Section(f"Batch recommend throughput ({args.scale})", command)
    with threadpool_limits(1):  # one core, as one service worker has
        table = measure(args.scale, args.cadres, args.repeat, args.chunk, args.model)
    section.add("top-10 lists per second, medians", table, floatfmt=".1f")
    section.note(str({k: v for k, v in machine_info().items() if k in ("cpu", "numpy")}))
    print(f"saved → {section.save('bench_batch')}")


if __name__ == "__main__":
    main()
