"""The transition signal on hand-checkable successions (the contract is in test_signals)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.signals.base import Query
from recommender.signals.sequence import next_course_counts, transition_counts
from recommender.signals.transition import TransitionSignal, text_neighbours

A, B, C, D, E, A2 = range(6)


def _data(pairs: list[tuple[int, ...]], course_vectors=None) -> SimpleNamespace:
    """The fields the signal fits on: one cadre per tuple, courses in time order."""
    rows = np.concatenate([np.full(len(p), u) for u, p in enumerate(pairs)])
    cols = np.concatenate([np.asarray(p) for p in pairs])
    times = np.concatenate([np.arange(len(p)) for p in pairs]).astype("datetime64[D]")
    return SimpleNamespace(
        rows=rows, cols=cols, times=times, n_items=6, course_vectors=course_vectors
    )


#: A → B four times, A → C once; D is taken first and never next; E follows D twice
SUCCESSIONS = [(A, B)] * 4 + [(A, C), (D, E), (D, E)]


def _ranking(signal: TransitionSignal, history: list[int]) -> list[int]:
    scores = signal.score_one(Query(history=np.asarray(history), last_item=history[-1]))
    return [int(i) for i in np.argsort(-scores, kind="stable") if i not in history]


def test_observed_successors_rank_first_under_light_shrinkage():
    signal = TransitionSignal(reverse=0.0, shrinkage=1.0).fit(_data(SUCCESSIONS))
    assert _ranking(signal, [A])[:2] == [B, C]
    # heavy shrinkage: one A → C is outweighed by E's back-off (a next course twice)
    heavy = TransitionSignal(reverse=0.0, shrinkage=20.0).fit(_data(SUCCESSIONS))
    assert _ranking(heavy, [A])[:2] == [B, E]


def test_unseen_successions_back_off_to_next_course_popularity():
    signal = TransitionSignal(reverse=0.0).fit(_data(SUCCESSIONS))
    ranked = _ranking(signal, [A])
    # after A: never-followed courses are ordered by how often they are a next course;
    # E (twice a next course) above D (only ever a first course)
    assert ranked.index(E) < ranked.index(D)


def test_probabilities_follow_the_formula():
    signal = TransitionSignal(reverse=0.0, shrinkage=5.0).fit(_data(SUCCESSIONS))
    prior = np.array([0, 4, 1, 0, 2, 0]) + 0.1
    prior /= prior.sum()
    expected = (np.array([0, 4, 1, 0, 0, 0]) + 5.0 * prior) / (5 + 5.0)
    row = signal.score_one(Query(history=np.array([A]), last_item=A))
    np.testing.assert_allclose(row, np.log(expected), rtol=1e-5)


def test_text_neighbour_lends_its_successors():
    # A2 reads like D and nobody followed it: with text, D's successor E comes first
    dense = np.eye(6, dtype=np.float32)
    dense[A2] = dense[D]
    vectors = sp.csr_matrix(dense)
    light = {"reverse": 0.0, "shrinkage": 1.0}
    signal = TransitionSignal(neighbours=1, **light).fit(_data(SUCCESSIONS, vectors))
    assert _ranking(signal, [A2])[0] == E
    no_text = TransitionSignal(**light).fit(_data(SUCCESSIONS))
    assert _ranking(no_text, [A2])[0] == B  # back-off only: the most common next course


def test_history_is_averaged_over_its_courses():
    signal = TransitionSignal(reverse=0.0).fit(_data(SUCCESSIONS))
    both = signal.score_one(Query(history=np.array([A, D]), last_item=D))
    mean = (
        np.exp(signal.score_one(Query(history=np.array([A]), last_item=A)))
        + np.exp(signal.score_one(Query(history=np.array([D]), last_item=D)))
    ) / 2
    np.testing.assert_allclose(both, np.log(mean), rtol=1e-5)


def test_no_history_scores_zero_and_bad_options_raise():
    signal = TransitionSignal().fit(_data(SUCCESSIONS))
    assert not signal.score_one(Query()).any()
    with pytest.raises(ValueError, match="shrinkage"):
        TransitionSignal(shrinkage=0.0).fit(_data(SUCCESSIONS))


def test_counts_helpers():
    data = _data([(A, B, C), (A, B)])
    counts = transition_counts(data.rows, data.cols, data.times, 6).toarray()
    assert counts[A, B] == 2 and counts[B, C] == 1 and counts.sum() == 3
    later = next_course_counts(data.rows, data.cols, data.times, 6)
    np.testing.assert_array_equal(later, [0, 2, 1, 0, 0, 0])


def test_text_neighbours_rows_are_stochastic_top_k():
    vectors = sp.csr_matrix(np.array([[1, 0], [0.8, 0.6], [0, 1]], dtype=np.float32))
    S = text_neighbours(vectors, 1).toarray()
    np.testing.assert_allclose(S.sum(axis=1), 1.0)
    assert S[0, 1] == 1.0 and S[2, 1] == 1.0 and np.diag(S).sum() == 0


def test_kept_prunes_the_smaller_counts_to_the_back_off():
    signal = TransitionSignal(reverse=0.0, shrinkage=5.0, kept=1).fit(_data(SUCCESSIONS))
    prior = np.array([0, 4, 1, 0, 2, 0]) + 0.1
    prior /= prior.sum()
    row = signal.score_one(Query(history=np.array([A]), last_item=A))
    # A → B (4) is kept; A → C (1) is dropped: C keeps only its back-off share
    np.testing.assert_allclose(row[B], np.log((4 + 5.0 * prior[B]) / 10), rtol=1e-5)
    np.testing.assert_allclose(row[C], np.log(5.0 * prior[C] / 10), rtol=1e-5)
    assert signal.counts_.getnnz(axis=1).max() == 1
