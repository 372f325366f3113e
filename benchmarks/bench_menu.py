"""Menu solver: how close the MILP and the greedy planner come to the exhaustive optimum on
tiny random cases, their latency on a 5,000-course synthetic catalog, and ``plan_menu`` on a
trained model's cadres (wall and CPU time; the 40 ms MILP limit against a near-exact one).

    .venv/bin/python -m benchmarks.bench_menu [--cases 200] [--runs 60]
        [--model benchmarks/out/models/large --cadres 200]

These were two slow tests that only printed (tests/test_menu.py keeps the 30-case check
that the MILP matches the exhaustive optimum); the figures are printed as tables here.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import Section, percentiles
from recommender.data.schema import Columns as C
from recommender.menu.builder import MenuConstraints, build_menu
from tests.test_menu import CADRE, JAN1, YEAR, random_catalog, solver_gaps


def gap_table(n_cases: int, seed: int = 1) -> pd.DataFrame:
    """Objective, relevance and unmet goals of milp/greedy minus exhaustive's, per case."""
    rows = []
    for key, v in solver_gaps(n_cases, seed=seed).items():
        worst = v.max() if "obj" in key or "unmet" in key else v.min()
        rows.append(
            {
                "solver − exhaustive": key,
                "mean": v.mean(),
                "median": float(np.median(v)),
                "worst": worst,
                "equal": f"{np.mean(np.abs(v) < 1e-6):.0%}",
            }
        )
    return pd.DataFrame(rows)


def latency_table(runs: int, n_courses: int = 5000, seed: int = 42) -> pd.DataFrame:
    """``build_menu`` wall time per solver on one synthetic catalog (6 compulsory courses)."""
    rng = np.random.default_rng(seed)
    df = random_catalog(rng, n_courses, prereqs=True)
    df[C.COMPULSORY] = False
    df.loc[df.index[:6], C.COMPULSORY] = True
    df.loc[df.index[:6], C.PREREQUISITES] = ""
    rows = []
    for solver in ("milp", "greedy"):
        times, met, fell_back = [], 0, 0
        for r in range(runs):
            scores = pd.Series(rng.random(n_courses), index=df[C.COURSE_ID])
            t0 = time.perf_counter()
            menu = build_menu(
                df,
                scores,
                cadre=CADRE,
                constraints=MenuConstraints(
                    year=YEAR, start=JAN1 + timedelta(days=r), target_hours=140.0
                ),
                solver=solver,
            )
            times.append((time.perf_counter() - t0) * 1000)
            met += bool(menu.met)
            fell_back += menu.solver != solver  # the MILP's time limit hands over to greedy
        rows.append(
            {
                "solver": solver,
                "runs": runs,
                **percentiles(times, (50, 99)),
                "menus met": met,
                "fell back to greedy": fell_back,
            }
        )
    return pd.DataFrame(rows)


def plan_menus(model, cadres: list[str], time_limit: float | None = None) -> dict[str, dict]:
    """``plan_menu`` (50 h, from 1 January of the data's year, as bench_serving plans them)
    for each cadre: chosen courses, objective, wall and CPU ms. ``time_limit`` overrides the
    rules' MILP limit (None: the settings file's)."""
    from recommender.menu.planning import plan_menu

    rules = model.rules
    if time_limit is not None:
        solver = dataclasses.replace(rules.solver, time_limit=time_limit)
        model.rules = dataclasses.replace(rules, solver=solver)
    day = date(model.reference_time().year, 1, 1)
    out = {}
    try:
        plan_menu(model, cadres[0], target_hours=50, as_of=day)  # the rules' arrays, once
        for c in cadres:
            t0, c0 = time.perf_counter(), time.process_time()
            menu = plan_menu(model, c, target_hours=50, as_of=day)
            out[c] = {
                "courses": sorted(it.course_id for it in menu.items),
                "objective": menu.objective,
                "wall": (time.perf_counter() - t0) * 1e3,
                "cpu": (time.process_time() - c0) * 1e3,
            }
    finally:
        model.rules = rules
    return out


def model_table(root: Path, n: int, seed: int = 0) -> pd.DataFrame:
    """``plan_menu`` on ``n`` cadres of a trained model (the cadres bench_serving draws), with
    a 5 s MILP limit (solved to optimality) and the settings file's; the second row's
    courses and objective compared with the first's."""
    from recommender.lifecycle.artifacts import load_model, smoke_check

    model = load_model(root, mmap=True)
    smoke_check(model)
    rng = np.random.default_rng(seed)
    cadres = [str(x) for x in rng.choice(model.cadres[C.CADRE_ID].to_numpy(), 1000, False)][:n]
    for c in cadres[:20]:  # warm caches like a running service (as bench_serving does)
        model.recommend(c, 10)
    ref = plan_menus(model, cadres, time_limit=5.0)
    rows = []
    for label, limit in (("5 s", 5.0), (f"{model.rules.solver.time_limit * 1e3:g} ms", None)):
        got = ref if limit == 5.0 else plan_menus(model, cadres, time_limit=limit)
        same = [got[c]["courses"] == ref[c]["courses"] for c in cadres]
        gap = [
            abs(got[c]["objective"] - ref[c]["objective"]) / max(abs(ref[c]["objective"]), 1e-9)
            for c in cadres
        ]
        wall = percentiles([v["wall"] for v in got.values()], (50, 99))
        cpu = percentiles([v["cpu"] for v in got.values()], (50, 99))
        rows.append(
            {
                "MILP time limit": label,
                "menus": len(cadres),
                "wall p50 ms": wall["p50"],
                "wall p99 ms": wall["p99"],
                "CPU p50 ms": cpu["p50"],
                "CPU p99 ms": cpu["p99"],
                "same courses as 5 s": f"{sum(same)}/{len(cadres)}",
                "objective within 0.5 % of 5 s": f"{sum(g <= 0.005 for g in gap)}/{len(cadres)}",
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> Section:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=200, help="tiny random cases (gap table)")
    ap.add_argument("--runs", type=int, default=60, help="menus per solver (latency table)")
    ap.add_argument("--model", type=Path, default=None, help="a models root: plan_menu rows")
    ap.add_argument("--cadres", type=int, default=200, help="cadres planned with --model")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    sec = Section(
        "Menu solver",
        f"python -m benchmarks.bench_menu --cases {args.cases} --runs {args.runs}"
        + (f" --model {args.model} --cadres {args.cadres}" if args.model else ""),
    )
    sec.add(
        f"Gap to the exhaustive optimum ({args.cases} tiny random cases)", gap_table(args.cases)
    )
    sec.add("build_menu latency, 5,000-course catalog (ms)", latency_table(args.runs), ".0f")
    if args.model:
        sec.add(
            f"plan_menu on {args.cadres} cadres of {args.model} (50 h from 1 January; ms)",
            model_table(args.model, args.cadres),
            ".1f",
        )
    sec.seconds = time.perf_counter() - t0
    sec.save("menu")
    return sec


if __name__ == "__main__":
    main()
