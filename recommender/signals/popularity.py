"""Time-decayed popularity, overall and per cadre segment, with hierarchical shrinkage.

A segment is a tuple such as ``(rank, unit_level, system)``. Counts are kept for a
backoff hierarchy of keys (finest → coarsest, e.g. ``(rank, unit_level, system)`` →
``(unit_level, system)`` → ``(system,)`` → overall) and a segment's distribution is
shrunk level by level towards its parent, so a small segment borrows strength from
the larger groups it belongs to and an unknown segment falls back to overall.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from recommender.signals.base import ColdBridge, Query, QueryBatch, Signal

_SECONDS_PER_DAY = 86400.0


class Popularity(BaseEstimator):
    """Segment popularity with exponential time decay and Bayesian backoff.

    An interaction of weight ``w`` and age ``a`` days counts ``w · 0.5^(a / half_life)``.
    For each level, from the coarsest to the finest, ``p = (c + s·p_parent) / (n + s)``
    where ``c`` are the level's decayed item counts for the segment's key, ``n = Σc`` and
    ``s = shrinkage`` (in decayed-interaction units); the root is the overall
    distribution. Scores are probabilities: they sum to 1.

    Parameters
    ----------
    half_life_days
        Age at which an interaction counts half (``inf`` = no decay).
    shrinkage
        Pseudo-count pulling a level towards its parent level.
    levels
        Backoff hierarchy, finest first: index tuples into the segment tuple.
        ``()`` is the overall level and is always the root, listed or not.
    """

    def __init__(
        self,
        *,
        half_life_days: float = 180.0,
        shrinkage: float = 20.0,
        levels: tuple[tuple[int, ...], ...] = ((0, 1, 2), (1, 2), (2,), ()),
    ) -> None:
        self.half_life_days = half_life_days
        self.shrinkage = shrinkage
        self.levels = levels

    def fit(
        self,
        item_idx: np.ndarray,
        timestamps: np.ndarray,
        segments: Sequence[tuple[str, ...]] | None,
        n_items: int,
        *,
        weights: np.ndarray | None = None,
        now: np.datetime64 | None = None,
    ) -> Popularity:
        """Decayed counts overall and for every level key seen in ``segments``.

        ``segments[i]`` is interaction ``i``'s segment tuple (``None`` = overall only);
        ``now`` defaults to the latest timestamp; events after ``now`` count as age 0.
        """
        if not self.half_life_days > 0 or self.shrinkage < 0:
            raise ValueError(
                f"need half_life_days > 0 and shrinkage >= 0, got "
                f"{self.half_life_days=}, {self.shrinkage=}"
            )
        items = np.asarray(item_idx, dtype=np.int64)
        if items.size and (items.min() < 0 or items.max() >= n_items):
            raise ValueError(
                f"item indices must lie in [0, {n_items}), got {items.min()}…{items.max()}"
            )
        w = _decayed_weights(np.asarray(timestamps), weights, now, self.half_life_days, len(items))
        self.n_items_ = int(n_items)
        self.overall_counts_ = np.bincount(items, weights=w, minlength=n_items)
        self.tables_: list[tuple[tuple[int, ...], dict, sp.csr_matrix, np.ndarray]] = []
        if segments is not None:
            if len(segments) != len(items):
                raise ValueError(f"{len(segments)} segments for {len(items)} interactions")
            self.tables_ = _level_tables(items, w, segments, self._fine_levels(), n_items)
        self.n_interactions_ = len(items)
        self.overall_ = _normalise(self.overall_counts_).astype(np.float32)
        return self

    def _fine_levels(self) -> list[tuple[int, ...]]:
        return [tuple(lv) for lv in self.levels if len(lv) > 0]

    def score(self, segment: tuple[str, ...] | None) -> np.ndarray:
        """Item probabilities (n_items,) float32 for ``segment`` (``None``/unknown = overall)."""
        check_is_fitted(self, "overall_")
        if segment is None or not self.tables_:
            return self.overall_.copy()
        p = _normalise(self.overall_counts_)
        for level, index, counts, _ in reversed(self.tables_):
            row = index.get(_key(segment, level))
            if row is None:
                continue
            c = _dense_row(counts, row)
            p = (c + self.shrinkage * p) / (c.sum() + self.shrinkage)
        return p.astype(np.float32)


def _dense_row(matrix: sp.csr_matrix, row: int) -> np.ndarray:
    """Row ``row`` of a CSR matrix as a dense array, from its index arrays: ``matrix[row]``
    builds a sparse matrix first (~0.1 ms; a reload warms hundreds of segment rows)."""
    lo, hi = matrix.indptr[row], matrix.indptr[row + 1]
    out = np.zeros(matrix.shape[1], dtype=matrix.dtype)
    np.add.at(out, matrix.indices[lo:hi], matrix.data[lo:hi])  # add: duplicates sum, as toarray
    return out


def _key(segment: tuple[str, ...], level: tuple[int, ...]) -> tuple[str, ...]:
    if len(segment) <= max(level):
        raise ValueError(f"segment {segment!r} has no position {max(level)} needed by {level}")
    return tuple(segment[i] for i in level)


def _normalise(counts: np.ndarray) -> np.ndarray:
    """Counts → probabilities; uniform when there is nothing to count."""
    total = counts.sum()
    if total > 0:
        return counts / total
    return np.full(len(counts), 1.0 / max(len(counts), 1))


def _decayed_weights(times: np.ndarray, weights, now, half_life_days: float, n: int) -> np.ndarray:
    """``weight · 0.5^(age / half_life)``; missing times (NaT) count as age 0."""
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(times) != n or len(w) != n:
        raise ValueError(f"timestamps ({len(times)}) and weights ({len(w)}) must match items ({n})")
    if n == 0:
        return w
    times = times.astype("datetime64[s]")
    known = ~np.isnat(times)
    if now is None and not known.any():
        return w
    ref = np.datetime64(now, "s") if now is not None else times[known].max()
    age = (ref - times).astype(np.float64) / _SECONDS_PER_DAY
    age = np.where(known, np.clip(age, 0.0, None), 0.0)
    return w * np.power(0.5, age / half_life_days)


def _level_tables(items, w, segments, levels, n_items):
    """Per level: (level, key → row, decayed counts csr (keys × items), raw support)."""
    seg_index: dict[tuple[str, ...], int] = {}
    codes = np.fromiter(
        (seg_index.setdefault(tuple(s), len(seg_index)) for s in segments),
        dtype=np.int64,
        count=len(segments),
    )
    uniques = list(seg_index)
    tables = []
    for level in levels:
        index: dict[tuple[str, ...], int] = {}
        to_row = np.array([index.setdefault(_key(s, level), len(index)) for s in uniques], int)
        rows = to_row[codes] if len(codes) else codes
        counts = sp.csr_matrix((w, (rows, items)), shape=(len(index), n_items), dtype=np.float64)
        support = np.bincount(rows, minlength=len(index))
        tables.append((level, index, counts, support))
    return tables


class PopularitySignal(Signal):
    """Log of time-decayed popularity within the cadre's segment (or overall).

    Choice models are additive in log-popularity, so the log scale blends well with the
    other z-scored signals; courses with no enrolments borrow the score of their text
    neighbours (cold bridge) instead of sitting at the bottom.

    Parameters
    ----------
    scope
        ``"segment"`` (rank, unit level, system with backoff) or ``"overall"``.
    half_life_days
        Age at which an enrolment counts half.
    """

    needs_history = False

    def __init__(self, *, scope: str = "segment", half_life_days: float = 180.0) -> None:
        self.scope = scope
        self.half_life_days = half_life_days

    @property
    def name(self) -> str:  # type: ignore[override]
        return "popularity" if self.scope == "segment" else "popularity_overall"

    def fit(self, data) -> PopularitySignal:
        if self.scope not in ("segment", "overall"):
            raise ValueError(f"scope must be 'segment' or 'overall', got {self.scope!r}")
        segs = [data.segments[r] for r in data.rows] if self.scope == "segment" else None
        self.model_ = Popularity(half_life_days=self.half_life_days).fit(
            data.cols, data.times, segs, data.n_items, now=data.now
        )
        warm = data.item_counts() > 0
        self.bridge_ = ColdBridge(data.cold_bridge(), warm) if warm.any() else None
        self.n_items_ = data.n_items
        return self

    def _row(self, segment: tuple[str, ...] | None) -> np.ndarray:
        share = self.model_.score(segment if self.scope == "segment" else None)
        logp = np.log(share.astype(np.float64) + 1e-6).astype(np.float32)
        if self.bridge_ is None or self.bridge_.all_warm:
            return logp
        logp[self.bridge_.cold] = 0.0
        return self.bridge_.one(logp)

    def score(self, batch: QueryBatch) -> np.ndarray:
        self._check_fitted()
        keys = [tuple(s) if self.scope == "segment" else None for s in batch.segments]
        rows = {k: self._row(k) for k in dict.fromkeys(keys)}
        if not keys:
            return np.zeros((0, self.n_items_), np.float32)
        return np.vstack([rows[k] for k in keys])

    def score_one(self, query: Query) -> np.ndarray:
        self._check_fitted()
        return self._row(tuple(query.segment) if self.scope == "segment" else None)

    def memo_on(self) -> tuple[str, ...]:
        return ("segments",) if self.scope == "segment" else ()

    def memo_key(self, query: Query):
        return (self.name, tuple(query.segment)) if self.scope == "segment" else (self.name,)
