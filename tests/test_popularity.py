"""Time-decayed segment popularity with hierarchical shrinkage."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from recommender.signals.popularity import Popularity

NOW = np.datetime64("2024-07-01T00:00:00", "s")
TOWN_FARM = ("一级科员", "township", "农业农村")
CITY_EMERG = ("正处", "city", "应急管理")


def _days_ago(days: list[float]) -> np.ndarray:
    return NOW - (np.asarray(days) * 86400).astype("timedelta64[s]")


def _segmented():
    """Overall item 0 wins (40 city 应急管理 events); 10 township 农业农村 events all on item 1."""
    items = np.array([0] * 40 + [2] * 5 + [1] * 10)
    segs = [CITY_EMERG] * 45 + [TOWN_FARM] * 10
    return items, _days_ago([0.0] * len(items)), segs


def test_event_one_half_life_old_counts_half():
    items = np.array([0, 1])
    pop = Popularity(half_life_days=180.0).fit(items, _days_ago([0.0, 180.0]), None, 3, now=NOW)
    # weights 1·0.5^0 = 1 and 1·0.5^(180/180) = 0.5 → probabilities 1/1.5, 0.5/1.5, 0
    np.testing.assert_allclose(pop.overall_counts_, [1.0, 0.5, 0.0])
    np.testing.assert_allclose(pop.score(None), [2 / 3, 1 / 3, 0.0], rtol=1e-6)


def test_weights_multiply_decay_and_now_defaults_to_latest_event():
    times = _days_ago([90.0, 0.0])
    pop = Popularity(half_life_days=90.0).fit(
        np.array([0, 1]), times, None, 2, weights=np.array([4.0, 1.0])
    )
    # 4 · 0.5^(90/90) = 2 against 1 · 0.5^0 = 1
    np.testing.assert_allclose(pop.overall_counts_, [2.0, 1.0])


def test_segment_with_local_preference_ranks_its_item_first():
    pop = Popularity(shrinkage=5.0).fit(*_segmented(), 3, now=NOW)
    assert pop.score(None).argmax() == 0
    assert pop.score(TOWN_FARM).argmax() == 1
    assert pop.score(CITY_EMERG).argmax() == 0


def test_scores_are_float32_probabilities():
    pop = Popularity().fit(*_segmented(), 3, now=NOW)
    for seg in (None, TOWN_FARM, ("x", "y", "z")):
        p = pop.score(seg)
        assert p.shape == (3,) and p.dtype == np.float32
        assert p.sum() == pytest.approx(1.0, abs=1e-6)


def test_unknown_segment_is_overall():
    pop = Popularity().fit(*_segmented(), 3, now=NOW)
    np.testing.assert_array_equal(pop.score(("四级调研员", "village", "财政")), pop.score(None))


def test_partly_known_segment_backs_off_to_its_known_level():
    items, times, segs = _segmented()
    pop = Popularity().fit(items, times, segs, 3, now=NOW)
    coarse = Popularity(levels=((1, 2), (2,), ())).fit(items, times, segs, 3, now=NOW)
    new_rank = ("二级主任科员", *TOWN_FARM[1:])
    np.testing.assert_allclose(pop.score(new_rank), coarse.score(TOWN_FARM), rtol=1e-6)


def test_shrinkage_pulls_tiny_segment_towards_parent():
    items = np.array([0, 0, 0, 1, 2])
    segs = [("a",)] * 4 + [("tiny",)]
    times = _days_ago([0.0] * 5)
    levels = ((0,), ())
    pop = Popularity(shrinkage=4.0, levels=levels).fit(items, times, segs, 3, now=NOW)
    # overall p = [3, 1, 1] / 5; tiny counts c = [0, 0, 1], n = 1:
    # p = (c + 4·[0.6, 0.2, 0.2]) / (1 + 4) = [2.4, 0.8, 1.8] / 5
    np.testing.assert_allclose(pop.score(("tiny",)), [0.48, 0.16, 0.36], rtol=1e-6)
    raw = Popularity(shrinkage=0.0, levels=levels).fit(items, times, segs, 3, now=NOW)
    np.testing.assert_allclose(raw.score(("tiny",)), [0.0, 0.0, 1.0])


def test_future_events_count_as_now():
    pop = Popularity().fit(
        np.array([0]), np.array([NOW + np.timedelta64(3, "D")]), None, 1, now=NOW
    )
    np.testing.assert_allclose(pop.overall_counts_, [1.0])


def test_score_before_fit_raises():
    with pytest.raises(NotFittedError):
        Popularity().score(None)


def test_out_of_range_item_is_rejected():
    with pytest.raises(ValueError, match="item indices"):
        Popularity().fit(np.array([3]), _days_ago([0.0]), None, 3)
