"""A county academy's export (tests/fixtures/county): can each cadre's menu be met?

    .venv/bin/python -m benchmarks.bench_county_menus

The plan is made at the data's end (late November 2026), as an office would, for every
roster cadre. Rows:

- **default plan** — no year given: from the rules' cut-over day (1 October) the next year
  is planned whole; the platform (中国干部网络学院) is no instructor with a cap;
- **as in the issue** — the same menus with the rest of this year and the platform capped
  as a person (what the issue measured: 9 of 140 学时 planned);
- **this year's 已获** — the 学时 each menu counts as already earned this year, against a
  hand sum over the platform's CSV (rows whose 身份证号 Excel did not mangle, each course
  once): how many cadres match exactly.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import date

import numpy as np

from recommender.data.identity import TEST_ID_SECRET
from recommender.data.loading import load_dataset
from recommender.data.schema import Columns as C
from recommender.lifecycle.train import fit_model
from recommender.menu.planning import plan_menu
from tests.test_county_menus import FILES, YEAR, hand_sums


def _row(name: str, menus: list, seconds: float) -> str:
    planned = np.array([m.planned_hours for m in menus])
    met = np.mean([m.met for m in menus])
    return (
        f"| {name} | {menus[0].year} | {len(menus)} | {np.median(planned):g} | "
        f"{np.percentile(planned, 10):g} | {np.mean(planned >= 40):.1%} | {met:.1%} | "
        f"{seconds / len(menus) * 1000:.0f} ms |"
    )


def main() -> None:
    dataset = load_dataset(files=FILES, write_rejects=False, id_secret=TEST_ID_SECRET)
    model = fit_model(dataset)
    ids = model.cadres[C.CADRE_ID].astype(str).tolist()
    print(f"数据截至 {model.reference_time():%Y-%m-%d}，{len(ids)} 名干部")
    print("| 菜单 | 年度 | 人数 | 计划学时中位数 | P10 | ≥40 学时 | 全部达标 | 每份耗时 |")
    print("|---|---|---|---|---|---|---|---|")
    t = time.perf_counter()
    menus = [plan_menu(model, cid) for cid in ids]
    print(_row("默认（切换日后计划下一年度，平台不计教师上限）", menus, time.perf_counter() - t))
    rules = model.rules
    model.rules = dataclasses.replace(rules, organisations=(), next_year_from=(12, 31))
    try:
        t = time.perf_counter()
        old = [plan_menu(model, cid, hours_credited=0.0) for cid in ids]
        print(_row("如问题所述（本年余下几周，平台计教师上限）", old, time.perf_counter() - t))
    finally:
        model.rules = rules
    hand = hand_sums(YEAR)
    this = [plan_menu(model, cid, year=YEAR, as_of=date(YEAR, 11, 26)) for cid in ids]
    exact = sum(m.hours_earned == hand.get(m.cadre_id, 0.0) for m in this)
    worst = max(abs(m.hours_earned - hand.get(m.cadre_id, 0.0)) for m in this)
    earned = np.array([m.hours_earned for m in this])
    print(
        f"\n{YEAR} 年菜单的已获学时与手工合计一致：{exact}/{len(this)} 人（最大差 {worst:g}），"
        f"已获学时合计 {earned.sum():g}，中位数 {np.median(earned):g}；"
        f"其中含目录外专题网班学时的 {dataset.external[C.CADRE_ID].nunique()} 人"
    )


if __name__ == "__main__":
    main()
