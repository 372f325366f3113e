"""Ranking metrics: hand-computed values and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from recommender.ranking.metrics import (
    average_precision_at_k,
    catalog_coverage,
    hit_rate_at_k,
    intra_list_diversity,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)

RANKED = [7, 3, 9, 1, 5]  # hits at positions 2 and 4 (1-based) for RELEVANT
RELEVANT = {3, 1, 8}


def test_recall_hand_computed():
    # top-3 = [7, 3, 9] → 1 hit of 3 relevant; top-5 → 2 hits of 3
    assert recall_at_k(RANKED, RELEVANT, 3) == pytest.approx(1 / 3)
    assert recall_at_k(RANKED, RELEVANT, 5) == pytest.approx(2 / 3)


def test_precision_hand_computed():
    # top-5 → 2 hits / 5; a list shorter than k still divides by k: 2 hits / 10
    assert precision_at_k(RANKED, RELEVANT, 5) == pytest.approx(0.4)
    assert precision_at_k(RANKED, RELEVANT, 10) == pytest.approx(0.2)


def test_hit_rate_hand_computed():
    assert hit_rate_at_k(RANKED, RELEVANT, 1) == 0.0  # top-1 = [7]
    assert hit_rate_at_k(RANKED, RELEVANT, 2) == 1.0  # top-2 = [7, 3]


def test_ndcg_hand_computed():
    # DCG@5 = 1/log2(3) + 1/log2(5) = 0.63093 + 0.43068 = 1.06161
    # IDCG over min(3, 5) = 3 slots = 1 + 1/log2(3) + 1/log2(4) = 1 + 0.63093 + 0.5 = 2.13093
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3) + 0.5)
    assert ndcg_at_k(RANKED, RELEVANT, 5) == pytest.approx(expected)
    assert expected == pytest.approx(0.49819, abs=1e-5)
    # k = 2: DCG = 1/log2(3); IDCG over min(3, 2) = 2 slots = 1 + 1/log2(3)
    assert ndcg_at_k(RANKED, RELEVANT, 2) == pytest.approx(0.63093 / 1.63093, abs=1e-5)


def test_average_precision_hand_computed():
    # hits at 2 and 4: precision@2 = 1/2, precision@4 = 2/4 → (0.5 + 0.5) / min(3, 5) = 1/3
    assert average_precision_at_k(RANKED, RELEVANT, 5) == pytest.approx(1 / 3)
    # k = 2: one hit at 2 → (1/2) / min(3, 2) = 0.25
    assert average_precision_at_k(RANKED, RELEVANT, 2) == pytest.approx(0.25)
    # perfect list: [1, 2] for {1, 2} → (1/1 + 2/2) / 2 = 1
    assert average_precision_at_k([1, 2, 9], {1, 2}, 3) == pytest.approx(1.0)


def test_repeated_item_counts_once():
    # [3, 3]: the second 3 is not a new hit → recall 1/2, NDCG = 1 / (1 + 1/log2(3))
    assert recall_at_k([3, 3], {3, 4}, 2) == pytest.approx(0.5)
    assert ndcg_at_k([3, 3], {3, 4}, 2) == pytest.approx(1 / (1 + 1 / math.log2(3)))


@pytest.mark.parametrize(
    "metric",
    [recall_at_k, precision_at_k, hit_rate_at_k, ndcg_at_k, average_precision_at_k],
)
def test_empty_relevant_set_is_nan_and_bad_k_raises(metric):
    assert math.isnan(metric(RANKED, set(), 5))
    with pytest.raises(ValueError, match="k must be"):
        metric(RANKED, RELEVANT, 0)


def test_metrics_accept_numpy_ranked_lists():
    assert recall_at_k(np.array(RANKED), RELEVANT, 5) == pytest.approx(2 / 3)


def test_catalog_coverage_hand_computed():
    # distinct {0, 1, 2, 5} of 10 items
    assert catalog_coverage([[0, 1, 2], [2, 5], []], 10) == pytest.approx(0.4)
    assert catalog_coverage(np.array([[0, 1], [1, 0]]), 4) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        catalog_coverage([[0, 1, 2]], 2)


def test_intra_list_diversity_hand_computed():
    vectors = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    # cos(0,1) = 0, cos(0,2) = cos(1,2) = 1/√2 → mean(1, 1 − 0.7071, 1 − 0.7071) = 0.52860
    expected = (1 + 2 * (1 - 1 / math.sqrt(2))) / 3
    assert intra_list_diversity([0, 1, 2], vectors) == pytest.approx(expected)
    assert intra_list_diversity([0, 1, 2], sp.csr_matrix(vectors)) == pytest.approx(expected)
    assert intra_list_diversity([0, 0], vectors) == pytest.approx(0.0)
    assert math.isnan(intra_list_diversity([1], vectors))


# ------------------------------------------------------------------ properties
items = st.integers(min_value=0, max_value=30)
ranked_lists = st.lists(items, max_size=20, unique=True)
relevant_sets = st.sets(items, min_size=1, max_size=10)
ks = st.integers(min_value=1, max_value=25)


@given(ranked_lists, relevant_sets, ks)
def test_ndcg_and_recall_lie_in_unit_interval(ranked, relevant, k):
    assert 0.0 <= ndcg_at_k(ranked, relevant, k) <= 1.0 + 1e-12
    assert 0.0 <= recall_at_k(ranked, relevant, k) <= 1.0
    assert 0.0 <= average_precision_at_k(ranked, relevant, k) <= 1.0 + 1e-12


@given(ranked_lists, relevant_sets, ks)
def test_recall_non_decreasing_in_k(ranked, relevant, k):
    assert recall_at_k(ranked, relevant, k) <= recall_at_k(ranked, relevant, k + 1)


@given(relevant_sets, st.lists(items, max_size=10), ks, st.randoms(use_true_random=False))
def test_ndcg_is_one_when_relevant_items_come_first(relevant, tail, k, rnd):
    head = sorted(relevant)
    rnd.shuffle(head)
    ranked = head + [i for i in tail if i not in relevant]
    assert ndcg_at_k(ranked, relevant, k) == pytest.approx(1.0)
    assert average_precision_at_k(ranked, relevant, k) == pytest.approx(1.0)


@given(st.lists(st.lists(items, max_size=10), max_size=10))
def test_coverage_lies_in_unit_interval(lists):
    assert 0.0 <= catalog_coverage(lists, 31) <= 1.0
