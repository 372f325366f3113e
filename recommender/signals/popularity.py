"""Time-decayed popularity, overall and per cadre segment, with hierarchical shrinkage.

A segment is a tuple such as ``(rank, unit_level, system)``. Counts are kept for a
backoff hierarchy of keys (finest → coarsest, e.g. ``(rank, unit_level, system)`` →
``(unit_level, system)`` → ``(system,)`` → overall) and a segment's distribution is
shrunk level by level towards its parent, so a small segment borrows strength from
the larger groups it belongs to and an unknown segment falls back to overall.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
        self._check_params()
        items = np.asarray(item_idx, dtype=np.int64)
        codes, uniques = None, None
        if segments is not None:
            if len(segments) != len(items):
                raise ValueError(f"{len(segments)} segments for {len(items)} interactions")
            codes, uniques = segment_codes(segments)
        stats = popularity_counts(
            items,
            timestamps,
            codes,
            uniques,
            n_items,
            half_life_days=self.half_life_days,
            weights=weights,
            now=now,
        )
        return self.fit_counts(stats)

    def fit_counts(self, stats: PopularityCounts) -> Popularity:
        """Fit from the decayed counts of :func:`popularity_counts` (or the same numbers
        aggregated elsewhere, e.g. by Spark)."""
        self._check_params()
        n_items = stats.counts.shape[1]
        self.n_items_ = int(n_items)
        if stats.segments is None:  # one row: the overall counts
            self.overall_counts_ = np.asarray(stats.counts.toarray(), np.float64).reshape(-1)
            self.tables_: list[tuple[tuple[int, ...], dict, sp.csr_matrix, np.ndarray]] = []
        else:
            self.overall_counts_ = np.asarray(stats.counts.sum(axis=0), np.float64).ravel()
            self.tables_ = _level_tables(stats, self._fine_levels())
        self.n_interactions_ = int(stats.support.sum())
        self.overall_ = _normalise(self.overall_counts_).astype(np.float32)
        return self

    def _check_params(self) -> None:
        if not self.half_life_days > 0 or self.shrinkage < 0:
            raise ValueError(
                f"need half_life_days > 0 and shrinkage >= 0, got "
                f"{self.half_life_days=}, {self.shrinkage=}"
            )

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


def decayed_weights(times: np.ndarray, weights, now, half_life_days: float, n: int) -> np.ndarray:
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


@dataclass(frozen=True)
class PopularityCounts:
    """The sufficient statistics of :class:`Popularity`: decayed enrolment weight per
    (segment, course) and enrolments per segment.

    ``segments`` lists the distinct segment tuples in row order of ``counts``
    (segments × courses, float64) and ``support`` (raw enrolments per segment); ``None``:
    one row, overall only. Spark computes the same table with ``groupBy``.
    """

    segments: list[tuple[str, ...]] | None
    counts: sp.csr_matrix
    support: np.ndarray


def segment_codes(segments: Sequence[tuple[str, ...]]) -> tuple[np.ndarray, list[tuple]]:
    """(code of each tuple, distinct tuples in order of first appearance)."""
    index: dict[tuple[str, ...], int] = {}
    codes = np.fromiter(
        (index.setdefault(tuple(s), len(index)) for s in segments),
        dtype=np.int64,
        count=len(segments),
    )
    return codes, list(index)


def popularity_counts(
    items: np.ndarray,
    timestamps: np.ndarray,
    codes: np.ndarray | None,
    segments: list[tuple[str, ...]] | None,
    n_items: int,
    *,
    half_life_days: float,
    weights: np.ndarray | None = None,
    now: np.datetime64 | None = None,
) -> PopularityCounts:
    """Each enrolment ``i`` adds ``weights[i] · 0.5^(age / half_life_days)`` to
    ``(segments[codes[i]], items[i])`` and 1 to its segment's support (``codes`` ``None``:
    one overall row)."""
    items = np.asarray(items, dtype=np.int64)
    if items.size and (items.min() < 0 or items.max() >= n_items):
        raise ValueError(
            f"item indices must lie in [0, {n_items}), got {items.min()}…{items.max()}"
        )
    w = decayed_weights(np.asarray(timestamps), weights, now, half_life_days, len(items))
    if codes is None:
        counts = sp.csr_matrix(np.bincount(items, weights=w, minlength=n_items)[None, :])
        return PopularityCounts(None, counts, np.array([len(items)], dtype=np.int64))
    codes = np.asarray(codes, dtype=np.int64)
    n_seg = len(segments or [])
    counts = sp.csr_matrix((w, (codes, items)), shape=(n_seg, n_items), dtype=np.float64)
    return PopularityCounts(list(segments or []), counts, np.bincount(codes, minlength=n_seg))


def _level_tables(stats: PopularityCounts, levels):
    """Per level: (level, key → row, decayed counts csr (keys × items), raw support),
    each level's rows the sums of the segments that share its key."""
    uniques, n_seg = stats.segments or [], len(stats.segments or [])
    tables = []
    for level in levels:
        index: dict[tuple[str, ...], int] = {}
        to_row = np.array([index.setdefault(_key(s, level), len(index)) for s in uniques], int)
        merge = sp.csr_matrix(
            (np.ones(n_seg), (to_row, np.arange(n_seg))), shape=(len(index), n_seg)
        )
        counts = sp.csr_matrix(merge @ stats.counts, dtype=np.float64)
        counts.sort_indices()
        support = np.bincount(to_row, weights=stats.support, minlength=len(index)).astype(np.int64)
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

    def statistics(self, data) -> PopularityCounts:
        """Decayed enrolment counts per (cadre segment, course), or overall."""
        self._check_scope()
        codes, uniques = None, None
        if self.scope == "segment":
            by_cadre, uniques = segment_codes(data.segments)
            codes = by_cadre[data.rows]
            seen = np.zeros(len(uniques), bool)
            seen[codes] = True
            if not seen.all():  # segments with no enrolment leave no row, as in Spark
                renumber = np.cumsum(seen) - 1
                codes, uniques = (
                    renumber[codes],
                    [u for u, k in zip(uniques, seen, strict=True) if k],
                )
        return popularity_counts(
            data.cols,
            data.times,
            codes,
            uniques,
            data.n_items,
            half_life_days=self.half_life_days,
            now=data.now,
        )

    def fit_from_statistics(self, stats: PopularityCounts, meta) -> PopularitySignal:
        self._check_scope()
        self.model_ = Popularity(half_life_days=self.half_life_days).fit_counts(stats)
        warm = meta.item_counts() > 0
        self.bridge_ = ColdBridge(meta.cold_bridge(), warm) if warm.any() else None
        self.n_items_ = meta.n_items
        return self

    def _check_scope(self) -> None:
        if self.scope not in ("segment", "overall"):
            raise ValueError(f"scope must be 'segment' or 'overall', got {self.scope!r}")

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
