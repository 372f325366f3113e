"""The menu planner's fast paths choose what the plain ones chose (issue 22): the pruned
candidate pool keeps the MILP's optimum, earned hours from the ledger's arrays equal the
records frame's, and the per-catalog arrays follow a change of rules."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import pandas as pd
import pytest

from recommender.data.rules import load_rules
from recommender.data.schema import Columns as C
from recommender.menu import solver as menu_solver
from recommender.menu.ledger import goal_hours, year_hours, year_records
from recommender.menu.planning import plan_menu
from tests.test_menu import CADRE, course, exact_rules, ids, plan, random_catalog, random_request


def unpruned(monkeypatch) -> None:
    """Plan with the whole candidate pool, as before the pruning."""
    monkeypatch.setattr(menu_solver.Selector, "_prune", lambda self, cand, fixed: cand)


def pool_sizes(monkeypatch) -> list[tuple[int, int]]:
    """(pruned, whole) candidate counts of every MILP solved from now on."""
    seen: list[tuple[int, int]] = []
    run = menu_solver.Selector.milp

    def recording(self, fixed):
        seen.append((len(self.candidates(fixed)), len(self.candidates(fixed, prune=False))))
        return run(self, fixed)

    monkeypatch.setattr(menu_solver.Selector, "milp", recording)
    return seen


def sample_menus(model, cadres: list[str]) -> dict[str, tuple[list[str], float]]:
    day = date(model.reference_time().year, 1, 1)
    out = {}
    for cid in cadres:
        menu = plan_menu(model, cid, target_hours=50, as_of=day)
        out[cid] = (sorted(it.course_id for it in menu.items), menu.objective)
    return out


def test_pruned_pool_gives_the_same_menus_on_the_sample(sample_model, monkeypatch):
    """40 sample cadres, 50 h from 1 January (as bench_serving plans them): the same courses
    and the same objective (the issue allows 0.5 %; the pruning is exact) with and without
    the pruning, which does drop candidates."""
    monkeypatch.setattr(sample_model, "rules", exact_rules())
    cadres = [str(c) for c in sample_model.cadres[C.CADRE_ID].iloc[::80][:40]]
    sizes = pool_sizes(monkeypatch)
    fast = sample_menus(sample_model, cadres)
    assert sum(p < w for p, w in sizes) >= len(cadres) // 2  # the pruning is not a no-op
    unpruned(monkeypatch)
    plain = sample_menus(sample_model, cadres)
    for cid in cadres:
        assert fast[cid][0] == plain[cid][0], cid
        assert fast[cid][1] == pytest.approx(plain[cid][1], rel=0.005, abs=1e-6), cid


@pytest.mark.parametrize("seed", range(12))
def test_pruned_pool_keeps_the_optimum_on_random_catalogs(seed, monkeypatch):
    """Random 40-course catalogs (sessions, prerequisites, caps, minimums, the split): the
    objective with the pruned pool equals the whole pool's."""
    rng = np.random.default_rng(1000 + seed)
    df = random_catalog(rng, 40)
    req = random_request(rng, df)
    req["max_courses"] = 40
    sc = pd.Series(rng.random(40), index=df[C.COURSE_ID])
    fast = plan(df, sc, **req)
    unpruned(monkeypatch)
    plain = plan(df, sc, **req)
    assert fast.objective == pytest.approx(plain.objective, rel=1e-6, abs=1e-6)
    assert ids(fast) == ids(plain)


def test_pruning_keeps_the_cheapest_of_interchangeable_courses(monkeypatch):
    """Twelve 2-hour courses alike in every constraint and 6 hours to plan: a selection holds
    at most four (6 h plus the overshoot bound, one longest course), so the MILP sees the four
    best-scored and picks the top three."""
    rows = [course(f"A{i:02d}", tags="", instructor="") for i in range(12)]
    sc = pd.Series({f"A{i:02d}": 1.0 - i / 20 for i in range(12)})
    sizes = pool_sizes(monkeypatch)
    menu = plan(rows, sc, target_hours=6.0)
    assert ids(menu) == {"A00", "A01", "A02"}
    assert sizes == [(4, 12)]


def test_earned_hours_from_the_ledger_arrays_equal_the_records(sample_model):
    """year_hours (no events: the ledger's arrays) = year_records + goal_hours, and with
    newer events it counts them too, as the records do."""
    year = sample_model.reference_time().year
    cadres = [str(c) for c in sample_model.cadres[C.CADRE_ID].iloc[::53]]
    nonzero = 0
    for cid in cadres:
        for y in (year, year - 1):
            earned, goals = year_hours(sample_model, cid, y)
            records = year_records(sample_model, cid, y)
            assert earned == pytest.approx(float(records["hours"].sum()), abs=1e-9)
            want = goal_hours(sample_model.rules, records)
            assert goals.keys() == want.keys()
            assert all(goals[k] == pytest.approx(want[k], abs=1e-9) for k in want)
            nonzero += earned > 0
    assert nonzero >= len(cadres) // 2
    cid = cadres[0]
    newer = pd.DataFrame(
        {
            C.CADRE_ID: [cid],
            C.COURSE_ID: [str(sample_model.course_ids[0])],
            C.COMPLETED_AT: [pd.Timestamp(f"{year}-12-30")],
            C.CREDIT_HOURS_AWARDED: [3.25],
        }
    )
    earned, goals = year_hours(sample_model, cid, year, events=newer)
    records = year_records(sample_model, cid, year, events=newer)
    assert earned == pytest.approx(float(records["hours"].sum()))
    assert goals == pytest.approx(goal_hours(sample_model.rules, records))


def test_catalog_arrays_follow_new_rules():
    """The per-catalog arrays are cached per rules object: a menu planned under rules that
    map a renamed category onto a group counts it towards that group's minimum."""
    rows = [course(f"B{i}", credit_hours=4.0) for i in range(4)]
    rows += [course("T0", category="理论教育", credit_hours=2.0)]
    sc = pd.Series({"B0": 0.9, "B1": 0.8, "B2": 0.7, "B3": 0.6, "T0": 0.1})
    minimum = {"政治理论": 0.25}
    plain = exact_rules()
    mapped = dataclasses.replace(
        plain, category_groups={**plain.category_groups, "理论教育": "政治理论"}
    )
    kw = dict(target_hours=8.0, category_minimums=minimum, cadre=CADRE)
    assert "T0" not in ids(plan(rows, sc, rules=plain, **kw))
    assert "T0" in ids(plan(rows, sc, rules=mapped, **kw))
    assert "T0" not in ids(plan(rows, sc, rules=plain, **kw))
    assert load_rules().solver.time_limit < plain.solver.time_limit
