"""Item–item scorers (contract mixin) and the "next course" transition matrix."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics.pairwise import cosine_similarity

from recommender.signals.collaborative import EASE, ItemKNN
from recommender.signals.sequence import sequence_transitions, transition_scores
from tests.helpers import ScorerContract, checkerboard


class TestEASE(ScorerContract):
    def make_model(self):
        return EASE(l2=10)


class TestItemKNN(ScorerContract):
    def make_model(self):
        return ItemKNN(k=30)  # ≥ block size: pruning inside a uniform block is arbitrary


class TestAsymmetricItemKNN(ScorerContract):
    def make_model(self):
        return ItemKNN(k=30, shrink=0.0, alpha=0.8)


def _with_unseen_item(item: int = 7) -> sp.csr_matrix:
    """The checkerboard with every interaction on ``item`` removed."""
    dense = checkerboard().train.toarray()
    dense[:, item] = 0.0
    return sp.csr_matrix(dense)


def test_ease_matches_closed_form_with_zero_diagonal():
    X = checkerboard(n_users=20, n_items=8).train
    B = EASE(l2=2.0).fit(X).item_similarity_
    P = np.linalg.inv(X.T.toarray().astype(float) @ X.toarray() + 2.0 * np.eye(8))
    expected = -P / np.diag(P)
    np.fill_diagonal(expected, 0.0)
    assert B.dtype == np.float32 and B.shape == (8, 8)
    np.testing.assert_allclose(B, expected, atol=1e-6)
    assert not np.diag(B).any()


def test_ease_item_without_interactions_has_zero_row_and_column():
    B = EASE(l2=10).fit(_with_unseen_item(7)).item_similarity_
    assert not B[7].any() and not B[:, 7].any()


def test_itemknn_keeps_at_most_k_positive_neighbours_and_zero_diagonal():
    S = ItemKNN(k=3).fit(checkerboard().train).item_similarity_
    assert sp.issparse(S) and S.dtype == np.float32
    assert S.getnnz(axis=1).max() <= 3
    assert not S.diagonal().any()
    assert (S.data > 0).all()


def test_itemknn_without_shrinkage_is_cosine():
    X = checkerboard(n_users=20, n_items=8).train
    S = ItemKNN(k=100, shrink=0.0).fit(X).item_similarity_.toarray()
    expected = cosine_similarity(X.T)
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(S, expected, atol=1e-6)


def test_itemknn_shrinkage_damps_similarities():
    X = checkerboard().train
    plain = ItemKNN(k=100, shrink=0.0).fit(X).item_similarity_
    shrunk = ItemKNN(k=100, shrink=10.0).fit(X).item_similarity_
    assert shrunk.sum() < plain.sum()


@pytest.mark.parametrize("model", [EASE(l2=10), ItemKNN(k=10)], ids=["ease", "itemknn"])
def test_history_with_item_unseen_in_training_scores(model):
    model.fit(_with_unseen_item(7))
    history = sp.csr_matrix(([1.0, 1.0], ([0, 0], [3, 7])), shape=(1, 40), dtype=np.float32)
    scores = model.score(history)
    assert np.isfinite(scores).all()
    # the unseen item adds nothing: same scores as the history without it
    without = sp.csr_matrix(([1.0], ([0], [3])), shape=(1, 40), dtype=np.float32)
    np.testing.assert_array_equal(scores, model.score(without))


def test_sequence_transitions_hand_computed():
    # user 0 takes 0 → 1 → 2 (by time, rows given out of order); user 1 takes 0 → 1 → 1.
    users = np.array([0, 0, 0, 1, 1, 1])
    items = np.array([2, 0, 1, 0, 1, 1])
    times = np.array(
        ["2024-03-01", "2024-01-01", "2024-02-01", "2024-01-05", "2024-01-06", "2024-01-07"],
        dtype="datetime64[s]",
    )
    T = sequence_transitions(users, items, times, 4).toarray()
    # counts: 0→1 twice, 1→2 once; the repeat 1→1 is skipped; rows sum to 1 or 0.
    expected = np.zeros((4, 4), dtype=np.float32)
    expected[0, 1] = 1.0
    expected[1, 2] = 1.0
    np.testing.assert_array_equal(T, expected)


def test_sequence_transitions_gap_two_weighs_later_successors_half():
    users = np.zeros(3, dtype=int)
    T = sequence_transitions(users, np.array([0, 1, 2]), np.arange(3), 3, max_gap=2).toarray()
    # row 0: 0→1 counts 1, 0→2 (two steps) counts 1/2 → normalised 2/3, 1/3
    np.testing.assert_allclose(T[0], [0.0, 2 / 3, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(T[1], [0.0, 0.0, 1.0])
    assert not T[2].any()


def test_transition_scores_uses_last_item_and_zero_for_none():
    T = sequence_transitions(np.zeros(2, int), np.array([0, 1]), np.arange(2), 2)
    scores = transition_scores(T, np.array([0, -1]))
    assert scores.dtype == np.float32
    np.testing.assert_array_equal(scores, [[0.0, 1.0], [0.0, 0.0]])
