"""Contract tests for the hybrid model and the public RecommenderModel."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from recommender.ranking.blend_search import BlendConfig
from recommender.ranking.hybrid import Hybrid
from recommender.ranking.model import UnknownIdError
from recommender.ranking.pipeline import SignalsConfig, TrainConfig, fit_recommender
from recommender.signals.content import ContentSignal
from tests.frames import checkerboard

WEIGHTS = {"content": 1.0, "collaborative": 1.0, "popularity": 0.5}
COLD = {"content": 1.0, "popularity": 0.5}


def fit(collaborative="ease", weights=WEIGHTS, cold_weights=COLD):
    courses, cadres, comps, withheld = checkerboard()
    cfg = TrainConfig(
        signals=SignalsConfig(collaborative=collaborative, ease_l2=1.0),
        weights=weights,
        cold_weights=cold_weights,
    )
    return fit_recommender(courses, cadres, comps, cfg), withheld


@pytest.fixture(scope="module")
def fitted():
    return fit()


def test_not_fitted_raises():
    h = Hybrid(signals=[ContentSignal()])
    with pytest.raises(NotFittedError):
        h.signal("content")


@pytest.mark.parametrize("kind", ["ease", "itemknn"])
def test_withheld_course_ranks_first(kind):
    model, withheld = fit(collaborative=kind)
    for cadre_id, course in withheld.items():
        recs = model.recommend(cadre_id, k=3)
        assert recs[0].course_id == course, cadre_id


def test_completed_courses_never_recommended_unless_asked(fitted):
    model, withheld = fitted
    cadre = next(iter(withheld))
    done = set(model.course_ids[model.history_[0].indices])
    recs = model.recommend(cadre, k=12)
    assert done.isdisjoint(r.course_id for r in recs)
    recs_all = model.recommend(cadre, k=12, include_completed=True)
    assert done <= {r.course_id for r in recs_all}


def test_every_item_is_explained(fitted):
    model, withheld = fitted
    for rec in model.recommend(next(iter(withheld)), k=5):
        assert rec.reasons and all(r.text for r in rec.reasons)


def test_cold_cadre_gets_courses_of_their_field(fitted):
    model, _ = fitted
    recs = model.recommend_profile(
        {"job_title": "应急管理岗", "job_description": "从事应急管理、安全生产等工作"}, k=6
    )
    assert [r.category for r in recs] == ["应急管理"] * 6
    assert any(r.kind == "profile_terms" for r in recs[0].reasons)


def test_unknown_cadre_has_hint(fitted):
    model, _ = fitted
    with pytest.raises(UnknownIdError, match="POST /v1/recommendations"):
        model.recommend("nobody")


def test_category_filter(fitted):
    model, withheld = fitted
    recs = model.recommend(next(iter(withheld)), k=10, category="乡村振兴")
    assert recs and {r.category for r in recs} == {"乡村振兴"}


def test_same_seed_same_output():
    a, w = fit(weights=None, cold_weights=None, collaborative="auto")
    b, _ = fit(weights=None, cold_weights=None, collaborative="auto")
    assert a.hybrid.validation_["validation_cadres"] > 0
    cid = next(iter(w))
    assert [r.course_id for r in a.recommend(cid, k=8)] == [
        r.course_id for r in b.recommend(cid, k=8)
    ]
    assert a.hybrid.weights_ == b.hybrid.weights_


def test_save_load_identical_scores(fitted, tmp_path):
    """Through the artifact functions production uses (signed version dir, verified load)."""
    from recommender.lifecycle.artifacts import load_model, save_model

    model, _withheld = fitted
    saved = save_model(model, tmp_path, {"model_version": "roundtrip"}, publish=False)
    again = load_model(saved)
    assert again is not model and again.version == "roundtrip"
    rows = np.arange(len(model.cadres))
    batch = model.queries.batch(rows)
    np.testing.assert_array_equal(model.hybrid.score(batch)[0], again.hybrid.score(batch)[0])
    cid = str(model.cadres.iloc[0]["cadre_id"])
    assert [r.to_dict() for r in model.recommend(cid)] == [
        r.to_dict() for r in again.recommend(cid)
    ]


def test_new_events_change_recommendations_without_retraining(fitted):
    import pandas as pd

    model, withheld = fitted
    cadre = next(iter(withheld))
    course = withheld[cadre]
    assert model.recommend(cadre, k=1)[0].course_id == course
    events = pd.DataFrame(
        {
            "cadre_id": [cadre],
            "course_id": [course],
            "enrolled_at": [pd.Timestamp("2025-01-01")],
            "completed_at": [pd.Timestamp("2025-01-02")],
            "progress": [1.0],
            "credit_hours_awarded": [2.0],
            "rating": [np.nan],
            "source": [""],
        }
    )
    assert course not in {r.course_id for r in model.recommend(cadre, k=10, events=events)}


def test_similar_courses_same_block(fitted):
    model, _ = fitted
    sims = model.similar("K000", k=4)
    assert {s.category for s in sims} == {"应急管理"}
    with pytest.raises(UnknownIdError):
        model.similar("nope")


@pytest.mark.parametrize("protocol", ["leave-last", "temporal"])
def test_second_leave_last_fold_adds_validation_queries(protocol):
    courses, cadres, comps, _ = checkerboard()

    def validation(folds):
        # min_validation=1: the checkerboard is small
        blend = BlendConfig(protocol=protocol, folds=folds, min_validation=1)
        cfg = TrainConfig(signals=SignalsConfig(ease_l2=1.0), blend=blend)
        return fit_recommender(courses, cadres, comps, cfg).hybrid.validation_

    one, two = validation(1), validation(2)
    assert one["validation_cadres"] == two["validation_cadres"]  # fold 1 is unchanged
    assert one["listwise_queries"] > 0
    if protocol == "leave-last":
        assert two["listwise_queries"] > one["listwise_queries"]
    else:  # an earlier period is not pooled
        assert two["listwise_queries"] == one["listwise_queries"]
