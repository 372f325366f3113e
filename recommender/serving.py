"""Single-cadre scoring fast path for request time.

The batch code in :mod:`recommender.hybrid` is written for thousands of cadres at once
(evaluation, weight fitting); one HTTP request scores one cadre, where scipy.sparse's
per-call overhead dominates. This module precomputes dense helpers once per loaded
model (never pickled) and scores one cadre with plain numpy, giving the same z-scored
components as the batch path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from recommender.collaborative import EASE
from recommender.features import context_scores
from recommender.hybrid import HybridRecommender

#: above this many courses the dense course × course content matrix is not kept
DENSE_LIMIT = 8000


def _zscore(x: np.ndarray) -> np.ndarray:
    std = float(x.std())
    if std <= 1e-12:
        return np.zeros_like(x, dtype=np.float32)
    return ((x - x.mean()) / std).astype(np.float32)


@dataclass
class ServingIndex:
    """Dense, request-time helpers derived from a fitted HybridRecommender."""

    content_sim: np.ndarray | None
    course_t: sp.csr_matrix
    cold_idx: np.ndarray
    cold_nbrs: np.ndarray
    cold_w: np.ndarray
    z_cache: dict = field(default_factory=dict)

    def constant_z(self, key: tuple, raw: np.ndarray) -> np.ndarray:
        """z-scores of a component row that recurs across requests, memoised by ``key``
        (the inputs that determine the row: the segment, the context bits …)."""
        z = self.z_cache.get(key)
        if z is None:
            z = _zscore(raw)
            if len(self.z_cache) < 50_000:
                self.z_cache[key] = z
        return z

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
        return cls(sim, cm.T.tocsr(), cold_idx, nbrs, w)

    def bridge(self, scores: np.ndarray) -> np.ndarray:
        """Fill cold courses from their warm content neighbours (as ``scores @ bridge_``)."""
        if len(self.cold_idx):
            scores[self.cold_idx] = (scores[self.cold_nbrs] * self.cold_w).sum(axis=1)
        return scores


def score_one(
    h: HybridRecommender,
    index: ServingIndex,
    profile_vector: sp.csr_matrix,
    hist_idx: np.ndarray,
    hist_w: np.ndarray,
    segment: tuple[str, ...],
    last_item: int,
    context: np.ndarray,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Blended scores (n_items,) and raw 1-D components for one cadre."""
    cold = len(hist_idx) == 0
    weights = h.cold_weights_ if cold else h.weights_
    comps: dict[str, np.ndarray] = {}
    if weights.get("content"):
        comps["content"] = _content(h, index, profile_vector, hist_idx, hist_w)
    if weights.get("collaborative") and not cold:
        comps["collaborative"] = index.bridge(_collab(h, hist_idx, hist_w))
    if weights.get("popularity"):
        comps["popularity"] = h.segment_popularity(segment)
    if weights.get("popularity_overall"):
        comps["popularity_overall"] = h.segment_popularity(None)
    if weights.get("quality"):
        comps["quality"] = h.quality_raw_
    if weights.get("sequence") and last_item >= 0:
        t = h.transitions_
        seq = np.zeros(t.shape[1], dtype=np.float32)
        lo, hi = t.indptr[last_item], t.indptr[last_item + 1]
        seq[t.indices[lo:hi]] = t.data[lo:hi]
        comps["sequence"] = seq
    if weights.get("context"):
        comps["context"] = context_scores(context, h.course_formats_, h.course_windows_)[0]
    keys = {
        "popularity": segment,
        "popularity_overall": None,
        "quality": None,
        "context": context.tobytes(),
    }
    total = np.zeros(len(h.courses_), dtype=np.float32)
    for name, raw in comps.items():
        z = index.constant_z((name, keys[name]), raw) if name in keys else _zscore(raw)
        total += np.float32(weights[name]) * z
    return total, comps


def _content(h, index, profile_vector, hist_idx, hist_w) -> np.ndarray:
    """Cosine of the blended cadre vector, up to a positive factor (z-scoring removes it)."""
    prof = np.asarray((profile_vector @ index.course_t).toarray()).ravel()
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
    has_prof = profile_vector.nnz > 0
    hw = h.content_.history_weight if has_prof else 1.0
    # cos(normalize((1-hw)·p + hw·u), c) ∝ (1-hw)·p·c + hw·u·c for unit p and u
    return ((1.0 - hw) * prof + hw * hs).astype(np.float32)


def _collab(h, hist_idx, hist_w) -> np.ndarray:
    if isinstance(h.collab_, EASE):
        return (hist_w @ h.collab_.item_similarity_[hist_idx]).astype(np.float32)
    row = sp.csr_matrix(
        (hist_w, (np.zeros(len(hist_idx), int), hist_idx)), shape=(1, len(h.courses_))
    )
    return h.collab_.score(row)[0]
