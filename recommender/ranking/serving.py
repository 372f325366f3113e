"""Single-cadre scoring fast path for request time.

The batch code in :mod:`recommender.ranking.hybrid` is written for thousands of cadres at once
(evaluation, weight fitting); one HTTP request scores one cadre, where scipy.sparse's
per-call overhead dominates. This module precomputes dense helpers once per loaded
model (never pickled) and scores one cadre with plain numpy on index/weight arrays (no
sparse objects are built per request), giving the same z-scored blend as the batch path.

The components that depend only on the cadre's segment or declared context (popularity,
overall popularity, quality, format/window fit) are z-scored once per distinct segment or
context and memoised; a request computes only its own content, collaborative and sequence
terms.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from recommender.signals.collaborative import EASE
from recommender.data.features import context_scores
from recommender.ranking.hybrid import HybridRecommender

#: above this many courses the dense course × course content matrix is not kept
DENSE_LIMIT = 8000
#: memory for memoised constant blends (one float32 row per distinct segment × context)
CONSTANT_CACHE_BYTES = 64 * 2**20
#: components that are the same for every cadre of one segment and context
CONSTANT = ("popularity", "popularity_overall", "quality", "context")


def zscore_row(x: np.ndarray) -> np.ndarray:
    """(x − mean) / std as float32; zeros for a constant row (same as the batch path)."""
    x = np.asarray(x, dtype=np.float32)
    n = max(len(x), 1)
    d = x - np.float32(float(np.add.reduce(x, dtype=np.float64)) / n)
    var = float(d @ d) / n
    if var <= 1e-24:
        return np.zeros_like(x)
    d *= np.float32(1.0 / np.sqrt(var))
    return d


@dataclass
class ServingIndex:
    """Dense, request-time helpers derived from a fitted HybridRecommender."""

    content_sim: np.ndarray | None
    course_t: sp.csr_matrix  # terms × courses
    cold_idx: np.ndarray
    cold_nbrs: np.ndarray
    cold_w: np.ndarray
    max_cached: int = 1024
    cache: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def memo(self, key: tuple, build: Callable[[], np.ndarray]) -> np.ndarray:
        """``build()`` once per ``key``; oldest entries are dropped past ``max_cached``."""
        row = self.cache.get(key)
        if row is None:
            row = build()
            row.setflags(write=False)  # shared across requests: callers copy
            with self._lock:
                while len(self.cache) >= self.max_cached:
                    self.cache.pop(next(iter(self.cache)))
                self.cache[key] = row
        return row

    @classmethod
    def build(cls, h: HybridRecommender) -> ServingIndex:
        cm = h.content_.course_matrix_
        dense = cm.shape[0] <= DENSE_LIMIT
        sim = np.asarray((cm @ cm.T).toarray(), dtype=np.float32) if dense else None
        bridge = h.bridge_.tocsc()
        warm = h.item_counts_ > 0
        cold_idx = np.flatnonzero(~warm)
        k = int(np.diff(bridge.indptr)[cold_idx].max()) if len(cold_idx) else 0
        nbrs = np.zeros((len(cold_idx), k), dtype=np.int64)
        w = np.zeros((len(cold_idx), k), dtype=np.float32)
        for r, c in enumerate(cold_idx):
            lo, hi = bridge.indptr[c], bridge.indptr[c + 1]
            nbrs[r, : hi - lo] = bridge.indices[lo:hi]
            w[r, : hi - lo] = bridge.data[lo:hi]
        course_t = cm.T.tocsr()
        course_t.sort_indices()
        max_cached = max(16, CONSTANT_CACHE_BYTES // max(4 * cm.shape[0], 1))
        return cls(sim, course_t, cold_idx, nbrs, w, max_cached=max_cached)

    def bridge(self, scores: np.ndarray) -> np.ndarray:
        """Fill cold courses from their warm content neighbours (as ``scores @ bridge_``)."""
        if len(self.cold_idx):
            scores[self.cold_idx] = (scores[self.cold_nbrs] * self.cold_w).sum(axis=1)
        return scores

    def profile_scores(self, terms: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``profile · course`` for every course, from the profile's term indices/weights:
        the posting lists of those terms gathered and summed (no sparse product)."""
        t = self.course_t
        n = t.shape[1]
        pos, lens = row_positions(t.indptr, terms)
        if len(pos) == 0:
            return np.zeros(n, dtype=np.float32)
        vals = t.data[pos] * np.repeat(weights.astype(np.float32), lens)
        return np.bincount(t.indices[pos], weights=vals, minlength=n).astype(np.float32)


def row_positions(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (in ``indices``/``data``) of the entries of CSR ``rows``, concatenated in
    the order given, and each row's length: one vectorised gather instead of a slice per row."""
    rows = np.asarray(rows, dtype=np.int64)
    starts = indptr[rows]
    lens = indptr[rows + 1] - starts
    shift = starts - np.concatenate(([0], np.cumsum(lens)[:-1])).astype(starts.dtype)
    return np.repeat(shift, lens) + np.arange(int(lens.sum())), lens


def score_one(
    h: HybridRecommender,
    index: ServingIndex,
    terms: np.ndarray,
    term_w: np.ndarray,
    hist_idx: np.ndarray,
    hist_w: np.ndarray,
    segment: tuple[str, ...],
    last_item: int,
    context: np.ndarray,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Blended scores (n_items,) and the raw per-cadre components (content, collaborative,
    sequence) for one cadre; the constant components are folded into a memoised row."""
    cold = len(hist_idx) == 0
    weights = h.cold_weights_ if cold else h.weights_
    total = np.zeros(len(h.courses_), dtype=np.float32)
    for name in CONSTANT:
        if weights.get(name):
            total += np.float32(weights[name]) * _constant_z(h, index, name, segment, context)
    comps: dict[str, np.ndarray] = {}
    if weights.get("content"):
        comps["content"] = _content(h, index, terms, term_w, hist_idx, hist_w)
    if weights.get("collaborative") and not cold:
        comps["collaborative"] = index.bridge(_collab(h, hist_idx, hist_w))
    if weights.get("sequence") and last_item >= 0:
        t = h.transitions_
        seq = np.zeros(t.shape[1], dtype=np.float32)
        lo, hi = t.indptr[last_item], t.indptr[last_item + 1]
        seq[t.indices[lo:hi]] = t.data[lo:hi]
        comps["sequence"] = seq
    for name, raw in comps.items():
        total += np.float32(weights[name]) * zscore_row(raw)
    return total, comps


def warm(h: HybridRecommender, index: ServingIndex, segs, contexts: np.ndarray) -> None:
    """Memoise the constant rows of the most common segments and contexts up front (at
    model load), so no request pays for the first cadre of its segment."""
    budget = index.max_cached // 2
    for seg, _ in Counter(segs).most_common(budget):
        _constant_z(h, index, "popularity", seg, None)
    ctx, counts = np.unique(np.asarray(contexts, dtype=np.float32), axis=0, return_counts=True)
    for i in np.argsort(-counts, kind="stable")[: index.max_cached - len(index.cache) - 4]:
        _constant_z(h, index, "context", None, ctx[i])
    for name in ("popularity_overall", "quality"):
        _constant_z(h, index, name, None, None)


def _constant_z(h, index: ServingIndex, name: str, segment, context) -> np.ndarray:
    """z-scores of a component that only depends on the segment or the context (memoised)."""
    if name == "popularity":
        return index.memo((name, segment), lambda: zscore_row(h.segment_popularity(segment)))
    if name == "popularity_overall":
        return index.memo((name,), lambda: zscore_row(h.segment_popularity(None)))
    if name == "quality":
        return index.memo((name,), lambda: zscore_row(h.quality_raw_))
    ctx = np.asarray(context, dtype=np.float32).reshape(1, -1)
    return index.memo(
        (name, ctx.tobytes()),
        lambda: zscore_row(context_scores(ctx, h.course_formats_, h.course_windows_)[0]),
    )


def _content(h, index, terms, term_w, hist_idx, hist_w) -> np.ndarray:
    """Cosine of the blended cadre vector, up to a positive factor (z-scoring removes it)."""
    prof = index.profile_scores(terms, term_w)
    if len(hist_idx) == 0:
        return prof
    if index.content_sim is not None:
        sub = index.content_sim[hist_idx]
        hs = hist_w @ sub
        norm = float(np.sqrt(max(hist_w @ sub[:, hist_idx] @ hist_w, 0.0)))
    else:
        row = sp.csr_matrix(
            (hist_w, (np.zeros(len(hist_idx), int), hist_idx)), shape=(1, len(h.courses_))
        )
        hv = row @ h.content_.course_matrix_
        hs = np.asarray((hv @ index.course_t).toarray()).ravel()
        norm = float(np.sqrt(hv.multiply(hv).sum()))
    hs = hs / norm if norm > 0 else hs
    hw = h.content_.history_weight if len(terms) else 1.0
    # cos(normalize((1-hw)·p + hw·u), c) ∝ (1-hw)·p·c + hw·u·c for unit p and u
    return ((1.0 - hw) * prof + hw * hs).astype(np.float32)


def _collab(h, hist_idx, hist_w) -> np.ndarray:
    if isinstance(h.collab_, EASE):
        return (hist_w @ h.collab_.item_similarity_[hist_idx]).astype(np.float32)
    row = sp.csr_matrix(
        (hist_w, (np.zeros(len(hist_idx), int), hist_idx)), shape=(1, len(h.courses_))
    )
    return h.collab_.score(row)[0]
