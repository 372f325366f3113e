"""Menu solver: how close the MILP and the greedy planner come to the exhaustive optimum on
tiny random cases, and their latency on a 5,000-course synthetic catalog.

    .venv/bin/python -m benchmarks.bench_menu [--cases 200] [--runs 60]

These were two slow tests that only printed (tests/test_menu.py keeps the 30-case check
that the MILP matches the exhaustive optimum); the figures are printed as tables here.
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

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


def main(argv: list[str] | None = None) -> Section:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=200, help="tiny random cases (gap table)")
    ap.add_argument("--runs", type=int, default=60, help="menus per solver (latency table)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    sec = Section(
        "Menu solver",
        f"python -m benchmarks.bench_menu --cases {args.cases} --runs {args.runs}",
    )
    sec.add(
        f"Gap to the exhaustive optimum ({args.cases} tiny random cases)", gap_table(args.cases)
    )
    sec.add("build_menu latency, 5,000-course catalog (ms)", latency_table(args.runs), ".0f")
    sec.seconds = time.perf_counter() - t0
    sec.save("menu")
    return sec


if __name__ == "__main__":
    main()
