"""Sequence signal: "cadres who finished this course often take that one next".

Cadres take courses in sequences (series, prerequisites, 初任 → 任职 training); a
row-normalised transition matrix from each cadre's enrolment order scores the courses that
tend to follow the cadre's newest one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recommender.signals.base import ExplainContext, Query, QueryBatch, Reason, Signal, quote


def _by_cadre_and_time(
    user_idx: np.ndarray, item_idx: np.ndarray, order_key: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(users, items) sorted by user, then by ``order_key`` (ties keep input order)."""
    users, items = np.asarray(user_idx), np.asarray(item_idx)
    order = np.argsort(np.asarray(order_key), kind="stable")
    order = order[np.argsort(users[order], kind="stable")]
    return users[order], items[order]


def transition_counts(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    order_key: np.ndarray,
    n_items: int,
    *,
    max_gap: int = 1,
) -> sp.csr_matrix:
    """Counts ``C`` (n_items, n_items) float64 of which course comes next.

    Each user's interactions are ordered by ``order_key`` (e.g. enrolment time; ties
    keep input order). ``C[i, j]`` counts how often ``j`` comes within ``max_gap``
    steps after ``i`` for the same user, a successor ``g`` steps later counting
    ``1/g``; repeats of the same item are skipped.
    """
    users, items = _by_cadre_and_time(user_idx, item_idx, order_key)
    return _successor_counts(users, items, n_items, max_gap)


def _successor_counts(users, items, n_items: int, max_gap: int) -> sp.csr_matrix:
    """:func:`transition_counts` of enrolments already ordered by cadre and time."""
    if max_gap < 1:
        raise ValueError(f"max_gap must be >= 1, got {max_gap}")
    src, dst, val = [], [], []
    for gap in range(1, max_gap + 1):
        same = (users[gap:] == users[:-gap]) & (items[gap:] != items[:-gap])
        src.append(items[:-gap][same])
        dst.append(items[gap:][same])
        val.append(np.full(int(same.sum()), 1.0 / gap))
    return sp.csr_matrix(
        (np.concatenate(val), (np.concatenate(src), np.concatenate(dst))),
        shape=(n_items, n_items),
        dtype=np.float64,
    )


def next_course_counts(
    user_idx: np.ndarray, item_idx: np.ndarray, order_key: np.ndarray, n_items: int
) -> np.ndarray:
    """Enrolments per item that were not their user's first (n_items,) float64."""
    users, items = _by_cadre_and_time(user_idx, item_idx, order_key)
    later = items[1:][users[1:] == users[:-1]]
    return np.bincount(later, minlength=n_items).astype(np.float64)


@dataclass(frozen=True)
class Successions:
    """The sufficient statistics of the sequence and transition signals: which course
    follows which in each cadre's enrolment order.

    ``counts`` is :func:`transition_counts` (``max_gap`` steps), ``next_counts`` the
    enrolments that were not their cadre's first (:func:`next_course_counts`); Spark
    computes both with window functions over (cadre, enrolment time, file row)."""

    counts: sp.csr_matrix
    next_counts: np.ndarray
    max_gap: int = 1


def successions(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    order_key: np.ndarray,
    n_items: int,
    *,
    max_gap: int = 1,
) -> Successions:
    """:class:`Successions` of the enrolments (one sort for both counts)."""
    users, items = _by_cadre_and_time(user_idx, item_idx, order_key)
    later = items[1:][users[1:] == users[:-1]]
    counts = _successor_counts(users, items, n_items, max_gap)
    return Successions(counts, np.bincount(later, minlength=n_items).astype(np.float64), max_gap)


def sequence_transitions(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    order_key: np.ndarray,
    n_items: int,
    *,
    max_gap: int = 1,
) -> sp.csr_matrix:
    """Row-normalised "next course" matrix ``T`` (n_items, n_items) float32: the
    :func:`transition_counts` with rows summing to 1 (or all zero).
    Score a history with ``T[last_item]`` (see :func:`transition_scores`).
    """
    counts = transition_counts(user_idx, item_idx, order_key, n_items, max_gap=max_gap)
    return row_normalised(counts)


def row_normalised(counts: sp.csr_matrix) -> sp.csr_matrix:
    """``counts`` with rows summing to 1 (or all zero), float32."""
    totals = np.asarray(counts.sum(axis=1)).ravel()
    inv = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)
    return sp.csr_matrix(sp.diags(inv) @ counts, dtype=np.float32)


def transition_scores(transitions: sp.csr_matrix, last_items: np.ndarray) -> np.ndarray:
    """Next-course scores (n_rows, n_items) float32 from each row's last item (-1 = none)."""
    last = np.asarray(last_items, dtype=np.int64).ravel()
    out = np.zeros((len(last), transitions.shape[1]), dtype=np.float32)
    has = last >= 0
    if has.any():
        out[has] = transitions[last[has]].toarray()
    return out


class SequenceSignal(Signal):
    """Next-course scores ``T[last course]`` from enrolment order.

    Parameters
    ----------
    max_gap
        A successor ``g`` steps later counts ``1/g``, up to ``max_gap`` steps.
    """

    name = "sequence"
    needs_history = True

    def __init__(self, *, max_gap: int = 1) -> None:
        self.max_gap = max_gap

    def statistics(self, data) -> Successions:
        """Successions within ``max_gap`` steps of each cadre's enrolment order."""
        return successions(data.rows, data.cols, data.times, data.n_items, max_gap=self.max_gap)

    def fit_from_statistics(self, stats: Successions, meta) -> SequenceSignal:
        if stats.max_gap != self.max_gap:
            raise ValueError(
                f"successions counted up to {stats.max_gap} steps, need {self.max_gap}"
            )
        self.transitions_ = row_normalised(stats.counts)
        self.n_items_ = meta.n_items
        return self

    def score(self, batch: QueryBatch) -> np.ndarray:
        self._check_fitted()
        return transition_scores(self.transitions_, batch.last_items)

    def score_one(self, query: Query) -> np.ndarray:
        self._check_fitted()
        out = np.zeros(self.n_items_, dtype=np.float32)
        if query.last_item >= 0:
            t = self.transitions_
            lo, hi = t.indptr[query.last_item], t.indptr[query.last_item + 1]
            out[t.indices[lo:hi]] = t.data[lo:hi]
        return out

    def explain(self, query: Query, items: np.ndarray, context: ExplainContext):
        """ "Cadres who finished the last course often take this one next"."""
        own = context.components.get(self.name)
        if own is None or query.last_item < 0:
            return None
        last = query.last_item
        reason = Reason(
            "sequence",
            f"学完{quote(context.titles[last])}的干部常接着学这门课",
            {"after_course_id": context.course_ids[last]},
        )
        return [[reason] if own[i] > 0 else [] for i in np.asarray(items, np.int64).tolist()]
