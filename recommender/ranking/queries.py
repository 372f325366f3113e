"""Queries built publicly: from a known cadre (with newer events), or from a profile.

A :class:`CadreQuery` is what every caller hands to ``RecommenderModel.score``: the
profile (for the candidate policy and the cohort), the scoring
:class:`~recommender.signals.base.Query`, and the cadre id when the model knows the cadre.
"""

from __future__ import annotations

import weakref
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.data.features import context_bits, interaction_weights, segment_of
from recommender.data.schema import Columns as C
from recommender.signals.base import Query, QueryBatch
from recommender.signals.content import profile_text


class CadreProfile(Mapping):
    """A known cadre's columns as a read-only mapping, each read from the cadre table when
    first asked (values as :meth:`RecommenderModel.cadre_profile` gives them)."""

    __slots__ = ("_columns", "_row", "_values")

    def __init__(self, columns: Mapping[str, Any], row: int, values: dict | None = None) -> None:
        self._columns, self._row = columns, row
        self._values = {} if values is None else values  # the full dict, when built already

    def __getitem__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            v = self._columns[key][self._row]  # KeyError for a column the table lacks
            v = v.item() if isinstance(v, np.generic) else v
            self._values[key] = v
            return v

    def __iter__(self):
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)

    def __repr__(self) -> str:
        return f"CadreProfile(row={self._row})"


@dataclass(frozen=True)
class CadreQuery:
    """One cadre's request: ``profile`` (a mapping of the cadre's columns), the scoring
    ``query`` (internal indices), and ``cadre_id`` (``None`` for a profile sent in full)."""

    profile: Mapping[str, Any]
    query: Query
    cadre_id: str | None = None

    @property
    def history(self) -> np.ndarray:
        """Course positions the cadre enrolled in (training history and newer events)."""
        return self.query.history


@dataclass(frozen=True)
class Coded:
    """A long sequence of few distinct values (e.g. each cadre's segment): the values once
    and an int32 code per item. A list of 100k tuples cost ~70 ms to unpickle at every
    reload, and every garbage-collector pass walked it."""

    values: list
    codes: np.ndarray

    @classmethod
    def of(cls, items: Sequence) -> Coded:
        index: dict = {}
        codes = np.fromiter((index.setdefault(v, len(index)) for v in items), np.int32, len(items))
        return cls(list(index), codes)

    def __getitem__(self, i: int):
        return self.values[self.codes[i]]

    def __len__(self) -> int:
        return len(self.codes)

    def counts(self) -> np.ndarray:
        """How many items have each value (aligned with ``values``)."""
        return np.bincount(self.codes, minlength=len(self.values))


def unique_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a 2-D numeric array and their counts (lexsort: no GIL-bound sort)."""
    if not len(a):
        return a, np.zeros(0, np.int64)
    s = a[np.lexsort(a.T[::-1])]
    starts = np.flatnonzero(np.concatenate(([True], np.any(s[1:] != s[:-1], axis=1))))
    return s[starts], np.diff(np.append(starts, len(s)))


def csr_row(matrix: sp.csr_matrix, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of row ``r`` of a CSR matrix (views, no sparse object built)."""
    lo, hi = matrix.indptr[r], matrix.indptr[r + 1]
    return matrix.indices[lo:hi], matrix.data[lo:hi]


def merge_max(
    a_idx: np.ndarray, a_w: np.ndarray, b_idx: np.ndarray, b_w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Union of two sparse rows keeping the larger weight per index, sorted by index."""
    idx = np.concatenate([a_idx, b_idx])
    w = np.concatenate([a_w, b_w]).astype(np.float32)
    order = np.lexsort((-w, idx))
    idx, w = idx[order], w[order]
    first = np.concatenate(([True], idx[1:] != idx[:-1]))
    return idx[first], w[first]


class QueryBuilder:
    """Turns cadre ids (with newer events) and profiles into queries for one model."""

    def __init__(self, model: Any) -> None:
        # a proxy, not a reference: a cycle would keep a replaced model alive after a reload
        # (the service freezes the heap after each swap, so cycles are never collected)
        self.m = weakref.proxy(model)

    def events_row(self, events: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray, int]:
        """Course indices, summed weights and the newest course of completion events."""
        if events is None or len(events) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32), -1
        cols = self.m.course_map.lookup(events[C.COURSE_ID])
        ok = cols >= 0
        if not ok.any():
            return np.zeros(0, np.int64), np.zeros(0, np.float32), -1
        w = interaction_weights(events)[ok]
        idx, inv = np.unique(cols[ok], return_inverse=True)
        summed = np.bincount(inv, weights=w).astype(np.float32)
        times = events.loc[ok, C.ENROLLED_AT].to_numpy(dtype="datetime64[s]")
        return idx, summed, int(cols[ok][int(np.argmax(times))])

    def known(self, cadre_id: str, events=None) -> CadreQuery:
        """``events``: completions newer than the model, as a frame, or any event store
        (an object with ``for_cadre(cadre_id)``), which is then read for this cadre."""
        m = self.m
        profile = m.profile_view(cadre_id)  # columns read when asked, not all 22
        if events is not None and hasattr(events, "for_cadre"):
            events = events.for_cadre(str(cadre_id))
        r = m.cadre_map.index[str(cadre_id)]
        hist, hist_w = csr_row(m.history_, r)
        hist_w = hist_w.astype(np.float32)
        extra, extra_w, last = self.events_row(events)
        if len(extra):
            hist, hist_w = merge_max(hist, hist_w, extra, extra_w)
        else:
            last = int(m.last_items_[r])
        terms, term_w = csr_row(m.profile_vectors_, r)
        query = Query(
            terms=terms,
            term_weights=term_w,
            history=np.asarray(hist, dtype=np.int64),
            history_weights=hist_w,
            last_item=last,
            segment=m.segments_[r],
            context=m.context_[r],
            fields=None if m.fields_ is None else m.fields_[r],
        )
        return CadreQuery(profile, query, str(cadre_id))

    def profile(self, profile: Mapping[str, Any], completed: Collection[str] = ()) -> CadreQuery:
        """A cadre the model has never seen, from the profile's columns."""
        m = self.m
        text = profile_text(dict(profile))
        vec = m.text.transform([text])
        cols = m.course_map.lookup(list(completed))
        cols = np.unique(cols[cols >= 0])
        ctx = context_bits(
            pd.DataFrame(
                [
                    {
                        C.PREFERRED_FORMATS: profile.get(C.PREFERRED_FORMATS, ""),
                        C.AVAILABLE_WINDOWS: profile.get(C.AVAILABLE_WINDOWS, ""),
                    }
                ]
            )
        )
        taxonomy = m.field_taxonomy
        query = Query(
            terms=vec.indices.astype(np.int64),
            term_weights=vec.data.astype(np.float32),
            history=cols.astype(np.int64),
            history_weights=np.ones(len(cols), np.float32),
            last_item=int(cols[-1]) if len(cols) else -1,
            segment=segment_of(profile),
            context=ctx[0],
            fields=None if taxonomy is None else taxonomy.match([text])[0],
        )
        return CadreQuery(profile, query, None)

    def batch(self, rows: np.ndarray) -> QueryBatch:
        """Known cadres (internal rows) as one batch, from their training history."""
        m = self.m
        rows = np.asarray(rows, dtype=np.int64)
        return QueryBatch(
            m.profile_vectors_[rows],
            m.history_[rows],
            m.last_items_[rows],
            [m.segments_[r] for r in rows],
            m.context_[rows],
            None if m.fields_ is None else m.fields_[rows],
        )

    def batch_of(self, queries: Sequence[CadreQuery]) -> QueryBatch:
        """Any queries (e.g. known cadres with newer events) as one batch."""
        m = self.m
        n, terms, items = len(queries), m.profile_vectors_.shape[1], len(m.course_ids)

        def stack(pairs, width):
            idx = [np.asarray(i, np.int64) for i, _ in pairs]
            val = [np.asarray(v, np.float32) for _, v in pairs]
            indptr = np.concatenate(([0], np.cumsum([len(i) for i in idx])))
            cat_i = np.concatenate(idx) if idx else np.zeros(0, np.int64)
            cat_v = np.concatenate(val) if val else np.zeros(0, np.float32)
            return sp.csr_matrix((cat_v, cat_i, indptr), shape=(n, width))

        qs = [q.query for q in queries]
        fields = None if m.fields_ is None else np.vstack([q.fields for q in qs])
        return QueryBatch(
            stack([(q.terms, q.term_weights) for q in qs], terms),
            stack([(q.history, q.history_weights) for q in qs], items),
            np.array([q.last_item for q in qs], np.int64),
            [q.segment for q in qs],
            np.vstack([q.context for q in qs]),
            fields,
        )
