"""The one contract every ranking signal implements, and the query it answers.

A :class:`Signal` learns from :class:`~recommender.data.training.TrainingData` in
:meth:`Signal.fit` and scores every course for cadres: many at once (:meth:`Signal.score`,
for training, weight fitting and evaluation) or one at a time (:meth:`Signal.score_one`,
the request path). Both are the same score — one definition — and the contract tests
(:mod:`recommender.testing`) check it for every subclass. A signal whose score depends
only on something many cadres share (their segment, their declared context, nothing)
says so with :meth:`Signal.memo_key`, and the serving state computes it once per key.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from recommender.data.training import cold_item_bridge

if TYPE_CHECKING:  # pragma: no cover
    from recommender.data.training import TrainingData

_EMPTY_I = np.zeros(0, dtype=np.int64)
_EMPTY_F = np.zeros(0, dtype=np.float32)


@dataclass(frozen=True)
class Query:
    """Who is asking, with what profile, history and context (internal indices).

    ``terms``/``term_weights``: the profile's TF-IDF entries; ``history``/``history_weights``:
    enrolled courses (sorted, unique) and their confidence; ``last_item``: the newest course
    (-1 = none); ``segment``: (rank, unit level, system); ``context``: declared formats and
    study windows as the bit row of :func:`recommender.data.features.context_bits`;
    ``fields``: how strongly the profile names each field of work
    (:class:`recommender.text.fields.FieldTaxonomy`).
    """

    terms: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    term_weights: np.ndarray = field(default_factory=lambda: _EMPTY_F)
    history: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    history_weights: np.ndarray = field(default_factory=lambda: _EMPTY_F)
    last_item: int = -1
    segment: tuple[str, ...] = ("", "", "")
    context: np.ndarray | None = None
    fields: np.ndarray | None = None

    @property
    def has_history(self) -> bool:
        return len(self.history) > 0


@dataclass(frozen=True)
class QueryBatch:
    """Many queries as matrices: the shape batch scoring wants."""

    profiles: sp.csr_matrix  # n × terms
    history: sp.csr_matrix  # n × courses
    last_items: np.ndarray  # n
    segments: Sequence[tuple[str, ...]]
    context: np.ndarray  # n × bits
    fields: np.ndarray | None = None  # n × fields of work

    def __len__(self) -> int:
        return self.history.shape[0]

    @property
    def has_history(self) -> np.ndarray:
        return np.asarray(self.history.getnnz(axis=1) > 0)

    def without_history(self) -> QueryBatch:
        """The same cadres as if they were new (profile, segment and context only)."""
        return QueryBatch(
            self.profiles,
            sp.csr_matrix(self.history.shape, dtype=np.float32),
            np.full(len(self), -1, dtype=np.int64),
            self.segments,
            self.context,
            self.fields,
        )

    def take(self, rows: np.ndarray) -> QueryBatch:
        """The queries at ``rows`` as a batch."""
        rows = np.asarray(rows, dtype=np.int64)
        return QueryBatch(
            self.profiles[rows],
            self.history[rows],
            np.asarray(self.last_items)[rows],
            [self.segments[r] for r in rows.tolist()],
            np.asarray(self.context)[rows],
            None if self.fields is None else np.asarray(self.fields)[rows],
        )

    def groups(self, on: Sequence[str]) -> np.ndarray:
        """A code per row such that rows with equal ``on`` attributes (``context``,
        ``fields``, ``segments``; none = one group) share it, numbered from 0."""
        codes = np.zeros(len(self), dtype=np.int64)
        for name in on:
            if name == "segments":
                part = pd.factorize(pd.Series([tuple(s) for s in self.segments], dtype=object))[0]
            else:
                value = getattr(self, name)
                if value is None:
                    continue
                part = np.unique(np.asarray(value), axis=0, return_inverse=True)[1].ravel()
            codes = np.unique(np.stack([codes, part], axis=1), axis=0, return_inverse=True)[1]
            codes = codes.ravel()
        return codes

    def query(self, i: int) -> Query:
        """Row ``i`` as a single :class:`Query`."""
        p, h = self.profiles, self.history
        lo, hi = p.indptr[i], p.indptr[i + 1]
        hlo, hhi = h.indptr[i], h.indptr[i + 1]
        order = np.argsort(h.indices[hlo:hhi], kind="stable")
        return Query(
            terms=p.indices[lo:hi].astype(np.int64),
            term_weights=p.data[lo:hi].astype(np.float32),
            history=h.indices[hlo:hhi][order].astype(np.int64),
            history_weights=h.data[hlo:hhi][order].astype(np.float32),
            last_item=int(self.last_items[i]),
            segment=tuple(self.segments[i]),
            context=np.asarray(self.context[i], dtype=np.float32),
            fields=None if self.fields is None else np.asarray(self.fields[i], np.float32),
        )

    @classmethod
    def for_cadres(cls, data: TrainingData, rows: np.ndarray) -> QueryBatch:
        """Known cadres (internal rows) as they stand in ``data``."""
        rows = np.asarray(rows, dtype=np.int64)
        last = data.last_items()
        return cls(
            profiles=data.profile_vectors[rows],
            history=data.history[rows],
            last_items=last[rows],
            segments=[data.segments[r] for r in rows],
            context=data.context[rows],
            fields=None if data.profile_fields is None else data.profile_fields[rows],
        )


@dataclass(frozen=True)
class Reason:
    """One reason a course is listed: a machine-readable ``kind``, a Chinese ``text`` and
    details."""

    kind: str
    text: str
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "text": self.text, "detail": dict(self.detail)}


def quote(title: object) -> str:
    """A course title in 《》 (a title that already carries them is not bracketed twice)."""
    return f"《{str(title).strip().removeprefix('《').removesuffix('》')}》"


@dataclass(frozen=True)
class ExplainContext:
    """What a signal may read to explain its part of one request: the catalog's titles and
    ids, the text space's terms, the field names, and the raw scores of the signals that
    were scored for this request (``components``; a signal missing there did not count)."""

    titles: np.ndarray
    course_ids: np.ndarray
    term_names: np.ndarray
    field_names: Sequence[str] | None
    components: dict = field(default_factory=dict)


@dataclass
class CatalogMeta:
    """The catalog side of :class:`~recommender.data.training.TrainingData`: what
    :meth:`Signal.fit_from_statistics` may read besides the statistics — no enrolment
    record. ``TrainingData`` has the same attributes, so one machine passes the data itself.

    ``item_users``: cadres who enrolled in each course (``TrainingData.item_counts``);
    ``quality``: the rating prior per course.
    """

    courses: pd.DataFrame
    item_users: np.ndarray
    now: np.datetime64
    course_vectors: sp.csr_matrix | None = None
    quality: np.ndarray | None = None
    field_taxonomy: Any = None
    _bridge: sp.csr_matrix | None = field(default=None, repr=False)

    @classmethod
    def of(cls, data: TrainingData) -> CatalogMeta:
        """The catalog side of ``data``."""
        return cls(
            courses=data.courses,
            item_users=data.item_counts(),
            now=data.now,
            course_vectors=data.course_vectors,
            quality=data.quality,
            field_taxonomy=data.field_taxonomy,
        )

    @property
    def n_items(self) -> int:
        return len(self.courses)

    def item_counts(self) -> np.ndarray:
        return self.item_users

    def cold_bridge(self, neighbours: int = 20) -> sp.csr_matrix:
        """As ``TrainingData.cold_bridge``: warm scores kept, cold courses from text."""
        if self._bridge is None:
            if self.course_vectors is None:
                raise ValueError("course_vectors are needed for the cold-course bridge")
            warm = np.asarray(self.item_users) > 0
            self._bridge = cold_item_bridge(self.course_vectors, warm, neighbours=neighbours)
        return self._bridge


class NotFittedError(RuntimeError):
    """A signal was asked to score before :meth:`Signal.fit`."""


class Signal(BaseEstimator):
    """One score per course for a cadre; the hybrid blends several.

    Subclasses set ``name`` (unique within a hybrid) and ``needs_history`` (``True`` when
    the score says nothing for a cadre with no history, e.g. collaborative filtering), and
    implement :meth:`fit` and :meth:`score_one`; :meth:`score` defaults to one call per row
    and is overridden where a matrix product is faster. Follow scikit-learn's rules:
    ``__init__`` only stores parameters, fitted attributes end in ``_``.
    """

    name: ClassVar[str] = ""
    needs_history: ClassVar[bool] = False

    def fit(self, data: TrainingData) -> Signal:
        """Fit on ``data``: :meth:`statistics`, then :meth:`fit_from_statistics` (a signal
        may override ``fit`` alone instead; it then fits only from the records)."""
        return self.fit_from_statistics(self.statistics(data), data)

    def statistics(self, data: TrainingData) -> Any:
        """The aggregates of the enrolment records this signal's fit needs (its sufficient
        statistics), computed on one machine; the Spark engine computes the same ones as
        Spark jobs. ``None`` (the default): the fit reads only the catalog side."""
        return None

    def fit_from_statistics(self, stats: Any, meta: CatalogMeta | TrainingData) -> Signal:
        """Fit from :meth:`statistics` and the catalog side (``meta``: a
        :class:`CatalogMeta`, or the training data itself), reading no enrolment record."""
        raise NotImplementedError(f"{type(self).__name__} fits only from records (fit(data))")

    @classmethod
    def fits_from_statistics(cls) -> bool:
        """Whether this signal implements :meth:`fit_from_statistics`."""
        return cls.fit_from_statistics is not Signal.fit_from_statistics

    def score(self, batch: QueryBatch) -> np.ndarray:
        """(n queries × n courses) float32."""
        self._check_fitted()
        rows = [self.score_one(batch.query(i)) for i in range(len(batch))]
        n = self.n_items_
        return np.vstack(rows).astype(np.float32) if rows else np.zeros((0, n), np.float32)

    def score_one(self, query: Query) -> np.ndarray:  # pragma: no cover - abstract
        """(n courses,) float32 for one query."""
        raise NotImplementedError

    def memo_key(self, query: Query) -> Hashable | None:
        """A key such that queries with equal keys get equal scores, or ``None``."""
        return None

    def memo_on(self) -> tuple[str, ...] | None:
        """The :class:`QueryBatch` attributes this score depends on alone (``()``: the same
        for every cadre), or ``None``: batch scoring then scores each distinct value once.
        Must agree with :meth:`memo_key`."""
        return None

    def prepare(self) -> None:
        """Build request-time helpers (called once at model load; never pickled)."""

    def explain(
        self, query: Query, items: np.ndarray, context: ExplainContext
    ) -> list[list[Reason]] | None:
        """This signal's reasons for each of ``items`` (course positions), or ``None`` when
        it has nothing to say. Each signal explains only its own contribution."""
        return None

    def related(self, item: int) -> tuple[np.ndarray, float] | None:
        """Scores of every course as "related to course ``item``" and the weight they get
        in similar-course lists, or ``None`` (the default: not a course-to-course signal)."""
        return None

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_items_"):
            raise NotFittedError(
                f"{type(self).__name__} is not fitted yet: call fit(data) before scoring"
            )

    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())
        for key in [k for k in state if k.startswith("_serving")]:
            del state[key]  # request-time helpers are rebuilt by prepare()
        return state


class ColdBridge:
    """Fills courses with no enrolments from their warm text neighbours, for behavioural
    scores: ``scores @ matrix`` in batch, a gather of the same weights for one row."""

    def __init__(self, matrix: sp.csr_matrix, warm: np.ndarray) -> None:
        self.matrix = matrix.tocsr()
        self.all_warm = bool(np.all(warm))
        csc = self.matrix.tocsc()
        cold = np.flatnonzero(~np.asarray(warm, bool))
        k = int(np.diff(csc.indptr)[cold].max()) if len(cold) else 0
        self.cold = cold
        self.nbrs = np.zeros((len(cold), k), dtype=np.int64)
        self.weights = np.zeros((len(cold), k), dtype=np.float32)
        for r, c in enumerate(cold):
            lo, hi = csc.indptr[c], csc.indptr[c + 1]
            self.nbrs[r, : hi - lo] = csc.indices[lo:hi]
            self.weights[r, : hi - lo] = csc.data[lo:hi]

    def batch(self, scores: np.ndarray) -> np.ndarray:
        if self.all_warm or not len(self.cold):
            return np.asarray(scores, dtype=np.float32)
        return np.asarray(scores @ self.matrix, dtype=np.float32)

    def one(self, scores: np.ndarray) -> np.ndarray:
        scores = np.array(scores, dtype=np.float32)
        if len(self.cold) and not self.all_warm:
            scores[self.cold] = (scores[self.nbrs] * self.weights).sum(axis=1)
        return scores
