"""In-process ``recommend`` latency for known cadres, before/after in one run, with the floor.

    .venv/bin/python -m benchmarks.bench_request [--model ROOT] [--before DIR] [--rounds 2]

Each measurement runs in its own process (``--child SRC``: the library imported from
``SRC``), loads the model as the service does (arrays mapped), warms it with ``--warmup``
calls, then times ``--calls`` random known cadres (a seed, so both trees see the same ids),
reasons on and off, interleaved with the floor: numpy's top-10 over a 5,000-float row.
Wall time and the thread's CPU time are both recorded: on a shared machine the wall p99 is
mostly the scheduler (another process holding the core for a 4 ms slice), the CPU p99 is
the code. ``--before DIR`` (e.g. a ``git archive`` copy) alternates before/after rounds.
The heap is frozen after warm-up (``gc.freeze``), as the service does after a load.
``--fill`` also fills the content signal's similarity rows during warm-up (the steady state
of a long-running worker; otherwise a first touch of a course row is paid by a request).
"""

# ruff: noqa: B023  (the timed lambdas run at once, inside their loop iteration)
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "benchmarks" / "out" / "models" / "large"


def child(src: str, model: str, calls: int, warmup: int, fill: bool, seed: int) -> dict:
    sys.path.insert(0, src)
    import numpy as np
    from threadpoolctl import threadpool_limits

    import recommender
    from recommender.lifecycle.artifacts import load_model

    assert Path(recommender.__file__).resolve().is_relative_to(Path(src).resolve())
    threadpool_limits(1)  # one core, as one service worker has
    m = load_model(model, mmap=True)
    rng = np.random.default_rng(seed)
    ids = [str(x) for x in rng.choice(m.cadres["cadre_id"].to_numpy(), warmup + calls, False)]
    if fill:
        content = m.hybrid.signal("content")
        content.similarity(np.arange(content.n_items_))
    for c in ids[:warmup]:
        m.recommend(c, 10)
    gc.collect()  # as the service does once a model is loaded (service/holder.py): a full
    gc.freeze()  # collection then walks only what requests made, not the model's objects
    row = rng.random(len(m.course_ids)).astype(np.float32)

    def floor():
        top = np.argpartition(-row, 9)[:10]
        return top[np.argsort(-row[top], kind="stable")]

    wall = time.perf_counter
    cpu = time.thread_time
    out: dict = {"source": src}
    t = {"on": ([], []), "off": ([], []), "floor": ([], [])}
    for i, c in enumerate(ids[warmup:]):
        explain = i % 2 == 0  # a cadre seen once: reasons on for half, off for the other
        w0, c0 = wall(), cpu()
        m.recommend(c, 10, explain=explain)
        c1, w1 = cpu(), wall()
        f0, fc0 = wall(), cpu()
        floor()
        fc1, f1 = cpu(), wall()
        for name, w, c_ in (("on" if explain else "off", w1 - w0, c1 - c0),
                            ("floor", f1 - f0, fc1 - fc0)):  # fmt: skip
            t[name][0].append(w * 1e3)
            t[name][1].append(c_ * 1e3)
    for name, (w, c) in t.items():
        out[name] = {
            "n": len(w),
            "wall": [float(np.percentile(w, q)) for q in (50, 99)],
            "cpu": [float(np.percentile(c, q)) for q in (50, 99)],
        }
    return out


def stages(model: str, calls: int, warmup: int, seed: int) -> list[tuple[str, float, float]]:
    """CPU time of each piece of one ``recommend`` (this tree; reasons on), the similarity
    rows filled: what the rest of the latency is made of."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    from recommender.lifecycle.artifacts import load_model
    from recommender.ranking.candidates import ELECTIVES
    from recommender.ranking.scaling import zscore_row

    threadpool_limits(1)
    m = load_model(model, mmap=True)
    state = m.hybrid.serving_state()  # the memo the pieces below use (prepares the signals)
    content = m.hybrid.signal("content")
    content.similarity(np.arange(content.n_items_))
    rng = np.random.default_rng(seed)
    ids = [str(x) for x in rng.choice(m.cadres["cadre_id"].to_numpy(), warmup + calls, False)]
    for c in ids[:warmup]:
        m.recommend(c, 10)
        h = m.query(c).query
        m.hybrid.score_one(h, state)
    gc.collect()
    gc.freeze()
    times: dict[str, np.ndarray] = {}
    call = 0

    def timed(name, fn):  # lambdas below run at once: their loop variables are current
        t0 = time.thread_time()
        out = fn()
        times.setdefault(name, np.zeros(calls))[call] += (time.thread_time() - t0) * 1e3
        return out

    h = m.hybrid
    for call, c in enumerate(ids[warmup:]):  # noqa: B007  (read by timed)
        q = timed("query (history, profile view)", lambda: m.query(c))
        weights = h.weights_ if q.query.has_history else h.cold_weights_
        for s in h.signals_:
            if not weights.get(s.name):
                continue
            key = s.memo_key(q.query)
            if key is None:
                raw = timed(f"score_one: {s.name}", lambda: s.score_one(q.query))
                timed("z-scores (signals not memoised)", lambda: zscore_row(raw))
            else:
                build = lambda: zscore_row(s.score_one(q.query))  # noqa: E731  (a rare miss)
                timed("memoised rows (segment, context …)", lambda: state.get(key, build))
        scores, comps = timed("score_one: blend, all signals", lambda: h.score_one(q.query, state))
        aud = timed("audience mask (first time: tags)", lambda: m.cadre_audience(c))
        cands = timed("candidate policy", lambda: m.policy.for_query(
            q.profile, q.history, ELECTIVES, m.reference_at(), audience=aud))  # fmt: skip
        top = timed("top-10 (ranker)", lambda: m.ranker.top(scores, cands.mask, 10,
                    fields=q.query.fields, has_history=q.query.has_history))  # fmt: skip
        reasons = timed("reasons (explainer)", lambda: m.explain(q, top, comps))
        timed("result objects", lambda: m.as_recommendations(top, scores, reasons))
        timed("recommend, the same cadre again (whole call)", lambda: m.recommend(c, 10))
    # several pieces of one kind in a call (z-scores, memo rows) are summed per call
    return [(k, float(np.percentile(v, 50)), float(np.percentile(v, 99))) for k, v in times.items()]


def run_child(src: str, args) -> dict:
    cmd = [sys.executable, __file__, "--child", src, "--model", str(args.model),
           "--calls", str(args.calls), "--warmup", str(args.warmup),
           "--seed", str(args.seed)]  # fmt: skip
    if args.fill:
        cmd.append("--fill")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd="/tmp", check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(MODEL))
    ap.add_argument("--before", default=None, help="a source tree to alternate with this one")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--calls", type=int, default=2700)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fill", action="store_true")
    ap.add_argument("--stages", action="store_true", help="CPU time of each piece (this tree)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.stages:
        print(f"load average at start: {os.getloadavg()}")
        print("| piece (reasons on, similarity rows filled) | CPU p50 ms | CPU p99 ms |")
        print("|---|---:|---:|")
        for name, p50, p99 in stages(args.model, args.calls, args.warmup, args.seed):
            print(f"| {name} | {p50:.3f} | {p99:.3f} |")
        return
    if args.child:
        res = child(args.child, args.model, args.calls, args.warmup, args.fill, args.seed)
        print(json.dumps(res))
        return
    trees = [("before", args.before)] if args.before else []
    trees.append(("after", str(ROOT)))
    print(f"load average at start: {os.getloadavg()}", flush=True)
    print("| run | reasons on p50 / p99 ms (CPU p50 / p99) | reasons off p50 / p99 ms (CPU "
          "p50 / p99) | floor p50 / p99 ms |")  # fmt: skip
    print("|---|---|---|---|")
    for r in range(args.rounds):
        for label, src in trees:
            res = run_child(src, args)
            cells = []
            for name in ("on", "off"):
                w, c = res[name]["wall"], res[name]["cpu"]
                cells.append(f"{w[0]:.3f} / {w[1]:.3f} ({c[0]:.3f} / {c[1]:.3f})")
            f = res["floor"]["wall"]
            load = os.getloadavg()[0]
            print(f"| {label} {r + 1} (load {load:.1f}) | {cells[0]} | {cells[1]} | "
                  f"{f[0]:.3f} / {f[1]:.3f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
