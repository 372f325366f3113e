"""The request-time fast paths agree with the straightforward computations they replace."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import re

import numpy as np
import pandas as pd
import pytest

from recommender.data.catalog import Catalog
from recommender.data.rules import load_rules
from recommender.data.schema import Columns as C
from recommender.menu.builder import MenuConstraints, build_menu
from recommender.menu.solver import Selector
from recommender.ranking.hybrid import ServingState
from recommender.ranking.queries import csr_row, merge_max
from recommender.ranking.scaling import zscore_row
from service.schemas import Recommendations
from tests.test_menu import (
    CADRE,
    YEAR,
    assert_hard_constraints,
    exact_rules,
    random_catalog,
    random_request,
)

ROWS = (0, 1, 7, 42, 123)


def cadre_id(model, r: int) -> str:
    return str(model.cadres.iloc[r][C.CADRE_ID])


def test_profile_scores_equal_sparse_product(tiny_model):
    m = tiny_model
    cm, index = m.text.course_matrix_, m.hybrid.signal("content")
    for r in ROWS:
        terms, weights = csr_row(m.profile_vectors_, r)
        assert len(terms)
        expected = (m.profile_vectors_[r] @ cm.T).toarray().ravel()
        np.testing.assert_allclose(index.profile_scores(terms, weights), expected, atol=1e-5)
    rng = np.random.default_rng(0)  # unsorted terms, arbitrary weights
    terms = rng.choice(cm.shape[1], 40, replace=False)
    weights = rng.random(40).astype(np.float32)
    expected = cm[:, terms] @ weights
    np.testing.assert_allclose(index.profile_scores(terms, weights), expected, atol=1e-5)
    empty = index.profile_scores(np.zeros(0, np.int64), np.zeros(0, np.float32))
    np.testing.assert_array_equal(empty, np.zeros(cm.shape[0], np.float32))


def test_zscore_row():
    x = np.random.default_rng(1).normal(3.0, 2.0, 500)
    z = zscore_row(x)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z, (x - x.mean()) / x.std(), atol=1e-5)
    np.testing.assert_array_equal(zscore_row(np.full(7, 2.5)), np.zeros(7, np.float32))


def batch_of(model, rows):
    return model.queries.batch(rows)


def test_memo_evicts_oldest_and_fast_path_still_matches_batch(tiny_model):
    state = ServingState(max_rows=3)
    built: list[int] = []
    build = lambda k: built.append(k) or np.full(4, float(k))  # noqa: E731
    rows = {k: state.get(("k", k), lambda k=k: build(k)) for k in range(5)}
    assert list(state.rows) == [("k", 2), ("k", 3), ("k", 4)]
    assert all(not row.flags.writeable for row in rows.values())
    assert state.get(("k", 4), lambda: build(99)) is rows[4]  # a hit does not rebuild
    assert state.get(("k", 0), lambda: build(0))[0] == 0.0  # evicted: rebuilt
    assert built == [0, 1, 2, 3, 4, 0] and len(state.rows) == 3

    model = copy.copy(tiny_model)
    model._state = ServingState(max_rows=3)  # every request now evicts shared rows
    rows_ = np.arange(12)
    batch, _ = model.hybrid.score(batch_of(model, rows_))
    for _ in range(2):
        for r in rows_:
            fast = model.score(model.query(cadre_id(model, r))).scores
            np.testing.assert_allclose(fast, batch[r], atol=1e-3)
            assert len(model._state.rows) <= 3


def test_merge_max_keeps_larger_weight_sorted():
    a = (np.array([1, 3, 5]), np.float32([0.5, 2.0, 1.0]))
    b = (np.array([7, 3, 0, 5]), np.float32([0.2, 1.0, 1.5, 3.0]))  # unsorted is fine too
    idx, w = merge_max(*a, *b)
    np.testing.assert_array_equal(idx, [0, 1, 3, 5, 7])
    np.testing.assert_allclose(w, [1.5, 0.5, 2.0, 3.0, 0.2])
    assert w.dtype == np.float32


def event(cadre: str, course: str, day: str, progress: float, rating=np.nan) -> dict:
    done = pd.Timestamp(day) if progress == 1.0 else pd.NaT
    return dict(cadre_id=cadre, course_id=course, enrolled_at=pd.Timestamp(day), completed_at=done,
                progress=progress, credit_hours_awarded=2.0, rating=rating, source="")  # fmt: skip


def test_known_request_merges_events(tiny_model):
    m = tiny_model
    cid, ids = cadre_id(m, 3), m.course_ids
    hist, hist_w = (a.copy() for a in csr_row(m.history_, 3))
    lo, hi = hist[np.argmin(hist_w)], hist[np.argmax(hist_w)]
    new = int(np.setdiff1d(np.arange(len(ids)), hist)[-1])
    newest = sorted((lo, hi, new))[1]  # neither the first nor the last index
    day = {c: "2025-03-01" if c == newest else "2025-01-01" for c in (lo, hi, new)}
    events = pd.DataFrame([
        event(cid, ids[lo], day[lo], 1.0, rating=5.0),  # weight 1.2
        event(cid, ids[new], day[new], 0.5),  # 0.65
        event(cid, ids[hi], day[hi], 0.0),  # 0.3
        event(cid, "NO-SUCH-COURSE", "2025-04-01", 1.0),
    ])  # fmt: skip
    req = m.query(cid, events=events).query
    np.testing.assert_array_equal(req.history, np.union1d(hist, [new]))
    got = dict(zip(req.history.tolist(), req.history_weights.tolist(), strict=True))
    old = dict(zip(hist.tolist(), hist_w.tolist(), strict=True))
    assert old[lo] < 1.2 and old[hi] > 0.3  # both sides of the max are exercised
    assert got[lo] == pytest.approx(1.2) and got[hi] == pytest.approx(old[hi])
    assert got[new] == pytest.approx(0.65)
    assert all(got[i] == pytest.approx(w) for i, w in old.items() if i not in (lo, hi))
    assert req.last_item == newest
    assert m.query(cid).query.last_item == int(m.last_items_[3])


def explained(model, r: int):
    """(query, f(items) → reasons) for cadre row ``r`` through the public scoring path."""
    scored = model.score(model.query(cadre_id(model, r)))
    return scored.query, lambda items: model.explain(scored.query, items, scored.components)


def test_matched_terms_are_shared_and_strongest_first(tiny_model):
    m = tiny_model
    cm, names = m.text.course_matrix_, m.text.terms_
    col = {str(t): j for j, t in enumerate(names)}
    n_items, longest = len(m.course_ids), 0
    for r in ROWS:
        profile = m.profile_vectors_[r].toarray().ravel()
        _, explain = explained(m, r)
        products = profile[None, :] * cm.toarray()
        for i, reasons in enumerate(explain(list(range(n_items)))):
            prod = products[i]
            shared = np.flatnonzero(prod > 0)
            listed = [x.detail["terms"] for x in reasons if x.kind == "profile_terms"]
            assert bool(listed) == bool(len(shared)), (r, i)
            if not listed:
                continue
            terms = [col[t] for t in listed[0]]
            assert set(terms) <= set(shared.tolist())
            assert len(terms) == min(3, len(shared))
            p = prod[terms]
            assert np.all(np.diff(p) <= 1e-6), (r, i, p)
            rest = np.setdiff1d(shared, terms)
            assert not len(rest) or prod[rest].max() <= p.min() + 1e-6
            longest = max(longest, len(shared))
    assert longest > 3  # the top-3 cut was exercised
    query, explain = explained(m, 0)
    items = [5, 0, 17, 5, n_items - 1, *query.history[:3].tolist()]
    assert explain(items) == [explain([i])[0] for i in items]
    recs = m.recommend(cadre_id(m, 0), k=10)
    top = [m.course_index(rec.course_id) for rec in recs]
    assert [rec.reasons for rec in recs] == explain(top)


def menu(courses, sc, req: dict, *, rules=None, solver="milp"):
    kw = dict(req)
    opts = dict(completed=kw.pop("completed"), enrolled_counts=kw.pop("enrolled_counts"))
    mc = MenuConstraints(year=YEAR, **kw)
    return build_menu(courses, sc, cadre=CADRE, constraints=mc, rules=rules, solver=solver, **opts)


@pytest.mark.parametrize("solver", ["milp", "greedy"])
def test_course_table_with_aligned_scores_gives_same_menu(solver):
    rules = exact_rules()
    for seed in range(4):
        rng = np.random.default_rng(seed)
        df = random_catalog(rng, int(rng.integers(20, 60)))
        req = random_request(rng, df)
        sc = pd.Series(rng.random(len(df)), index=df[C.COURSE_ID]).sample(frac=0.8, random_state=1)
        table = Catalog.from_frame(df, rules)
        aligned = sc.reindex(table.ids).to_numpy(float)
        assert np.isnan(aligned).any()
        a = menu(df, sc, req, rules=rules, solver=solver)
        b = menu(table, aligned, req, rules=rules, solver=solver)
        assert [it.course_id for it in a.items] == [it.course_id for it in b.items]
        assert a.planned_hours == b.planned_hours and a.objective == b.objective
        assert a.unmet == b.unmet and a.solver == b.solver


def record_runs(monkeypatch, *, incumbent: str | None = None) -> list[tuple[bool, bool]]:
    """Record (timed_out, misses_goals) per run. ``incumbent`` makes the MILP 'time out' with
    a chosen result: 'short' = the compulsory courses plus one (short of the target),
    'over' = greedy's own selection plus one more course (meets the target, worse than greedy).
    """
    runs: list[tuple[bool, bool]] = []
    real_run = Selector.run

    def run(self, solver):
        out = real_run(self, solver)
        runs.append((self.timed_out, self.misses_goals(out[0])))
        return out

    def fake(self, fixed):
        self.timed_out = True
        if incumbent == "short":
            return [*fixed, next(int(i) for i in self.order if i not in fixed)]
        sel = self.fill(list(fixed))
        for i in self.order:
            if i not in sel and self.try_add(sel, int(i)):
                break
        return sel

    monkeypatch.setattr(Selector, "run", run)
    if incumbent is not None:
        monkeypatch.setattr(Selector, "milp", fake)
    return runs


def random_case(seed: int, n: int = 400):
    rng = np.random.default_rng(seed)
    df = random_catalog(rng, n)
    req = {**random_request(rng, df), "target_hours": 40.0, "max_courses": 20}
    return df, req, pd.Series(rng.random(len(df)), index=df[C.COURSE_ID])


def test_tiny_time_limit_still_gives_a_valid_menu(monkeypatch):
    rules = load_rules()
    tiny = dataclasses.replace(rules, solver=dataclasses.replace(rules.solver, time_limit=1e-4))
    runs = record_runs(monkeypatch)
    for seed in range(3):
        df, req, sc = random_case(seed)
        fast = menu(df, sc, req, rules=tiny)
        timed_out, misses = runs[-1]
        greedy = menu(df, sc, req, rules=tiny, solver="greedy")
        assert_hard_constraints(fast, df, req)
        if fast.solver == "greedy":  # no incumbent, or one short of the goals that greedy beat
            assert timed_out and fast.objective == pytest.approx(greedy.objective)
        elif timed_out and misses:  # a short incumbent was kept only if greedy was no better
            assert fast.objective <= greedy.objective + 1e-6
    assert any(t for t, _ in runs)  # the limit was actually hit


@pytest.mark.parametrize("incumbent", ["short", "over"])
def test_timed_out_incumbent_is_checked_against_greedy(monkeypatch, incumbent):
    for seed in range(20):  # a case where greedy meets the target with room for one more
        df, req, sc = random_case(seed, 200)
        greedy = menu(df, sc, req, rules=exact_rules(), solver="greedy")
        goals = [u for u in greedy.unmet if u.constraint != "compulsory"]  # hours, categories
        if not goals and len(greedy.items) < req["max_courses"]:
            break
    else:
        raise AssertionError("no suitable random case")
    record_runs(monkeypatch, incumbent=incumbent)
    got = menu(df, sc, req, rules=exact_rules())
    assert_hard_constraints(got, df, req)
    if incumbent == "short":  # short of the target: greedy is computed and wins
        assert got.solver == "greedy" and got.objective == pytest.approx(greedy.objective)
    else:  # meets the goals: kept as is, even though greedy would have been better here
        assert got.solver == "milp" and got.objective > greedy.objective


def test_service_responses_match_schema_and_keep_chinese(client, tiny_model):
    cid = cadre_id(tiny_model, 0)
    get = client.get(f"/v1/cadres/{cid}/recommendations", params={"k": 5})
    post = client.post(
        "/v1/recommendations",
        json={"job_title": "乡镇党委副书记", "job_description": "负责基层党建和应急管理", "k": 5},
    )
    for r in (get, post):
        assert r.status_code == 200, r.text
        body = Recommendations.model_validate(r.json())
        assert body.count == len(body.items) >= 1
        assert r.headers["content-type"].startswith("application/json")
        assert r.headers["x-model-version"] == tiny_model.version == body.model_version
        assert "\\u" not in r.text and re.search("[\u4e00-\u9fff]", r.text)
    expected = [rec.to_dict() for rec in tiny_model.recommend(cid, 5)]
    assert get.json()["items"] == expected


def test_request_memos_are_not_saved_in_the_artifact(tiny_model):
    """Rows memoised while serving are rebuilt after loading, never pickled."""
    tiny_model.recommend_profile({"rank": "一级科员", "unit_level": "county", "system": "财政"})
    assert tiny_model._state.rows
    assert "_state" not in tiny_model.__getstate__()
    again = pickle.loads(pickle.dumps(tiny_model))  # loading warms the memo again
    assert again._state is not tiny_model._state
    cid = cadre_id(tiny_model, 0)
    assert [r.to_dict() for r in again.recommend(cid, 8)] == [
        r.to_dict() for r in tiny_model.recommend(cid, 8)
    ]
