"""The public model: ids in, ranked and explained courses (or a menu) out.

``RecommenderModel`` wraps a fitted :class:`~recommender.ranking.hybrid.Hybrid` and the
text space with the catalog and cadre profiles it was trained on, applies business filters
(exclude completed, active only, audience, category, format) and explains every
item. Completion events newer than the model are passed in per request, so they
count at once without retraining.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.data.catalog import Catalog, audience_tags, open_sessions
from recommender.data.features import context_bits, interaction_weights, segment_of
from recommender.data.rules import TrainingRules, load_rules
from recommender.data.schema import Columns as C
from recommender.data.training import TrainingData
from recommender.ranking.explain import ExplainContext, Reason, explain_items
from recommender.ranking.hybrid import Hybrid
from recommender.ranking.scaling import top_k, zscore
from recommender.signals.base import Query, QueryBatch
from recommender.signals.content import profile_text
from recommender.text.space import TextSpace


class UnknownIdError(KeyError):
    """An id the model does not know; ``kind`` is 'cadre' or 'course'."""

    def __init__(self, kind: str, value: str, hint: str = "") -> None:
        super().__init__(value)
        self.kind, self.value, self.hint = kind, value, hint

    def __str__(self) -> str:
        return f"unknown {self.kind} {self.value!r}" + (f"; {self.hint}" if self.hint else "")


@dataclass(frozen=True)
class Recommendation:
    """One recommended course with its score and reasons."""

    course_id: str
    title: str
    category: str
    format: str
    credit_hours: float
    score: float
    rank: int
    reasons: tuple[Reason, ...] = field(default_factory=tuple)

    @property
    def reason_text(self) -> str:
        return "；".join(r.text for r in self.reasons)

    def to_dict(self) -> dict:
        # built by hand: dataclasses.asdict deep-copies and costs ~0.1 ms an item
        return {
            "course_id": self.course_id,
            "title": self.title,
            "category": self.category,
            "format": self.format,
            "credit_hours": self.credit_hours,
            "score": self.score,
            "rank": self.rank,
            "reasons": [r.to_dict() for r in self.reasons],
        }


@dataclass
class _Request:
    """One cadre's request: the profile (for filters and reasons) and the scoring query."""

    profile: Mapping[str, Any]
    query: Query

    @property
    def seen(self) -> np.ndarray:
        return self.query.history

    def explain_context(self, cohort_counts, components) -> ExplainContext:
        q = self.query
        return ExplainContext(
            q.terms, q.term_weights, q.history, q.last_item, cohort_counts, components, q.fields
        )


#: cadre profiles kept as dicts after first use (oldest dropped past this many)
MAX_CACHED_PROFILES = 20_000
#: a field of work the profile names with at least this share gets a course in a new
#: cadre's list (at most MAX_COVERED fields, the strongest first)
FIELD_SHARE = 0.2
MAX_COVERED = 3


def cover_fields(
    top: np.ndarray,
    scores: np.ndarray,
    candidates: np.ndarray,
    fields: np.ndarray,
    course_fields: np.ndarray,
) -> np.ndarray:
    """Make every field the profile clearly names hold at least one course of the list.

    A post that is mostly 信息化 but also 执法 should see a 政策法规 course too: for each
    named field (share ≥ FIELD_SHARE) the list lacks, the best-scoring candidate serving it
    replaces the lowest-ranked course that is not itself such a pick. Order stays by score.
    """
    named = [int(f) for f in np.argsort(-fields, kind="stable") if fields[f] >= FIELD_SHARE]
    top = list(top)
    protected: set[int] = set()
    for f in named[:MAX_COVERED]:
        serving = course_fields[:, f] > 0
        held = [i for i in top if serving[i]]
        if held:
            protected.add(held[0])
            continue
        pool = candidates[serving[candidates]]
        pool = pool[~np.isin(pool, top)]
        victims = [i for i in reversed(top) if i not in protected]
        if not len(pool) or not victims:
            continue
        best = int(pool[np.argmax(scores[pool])])
        top[top.index(victims[0])] = best
        protected.add(best)
    out = np.asarray(top, dtype=np.int64)
    return out[np.argsort(-scores[out], kind="stable")]


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


def _unique_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a 2-D numeric array and their counts (lexsort: no GIL-bound sort)."""
    if not len(a):
        return a, np.zeros(0, np.int64)
    s = a[np.lexsort(a.T[::-1])]
    starts = np.flatnonzero(np.concatenate(([True], np.any(s[1:] != s[:-1], axis=1))))
    return s[starts], np.diff(np.append(starts, len(s)))


def _row(matrix: sp.csr_matrix, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of row ``r`` of a CSR matrix (views, no sparse object built)."""
    lo, hi = matrix.indptr[r], matrix.indptr[r + 1]
    return matrix.indices[lo:hi], matrix.data[lo:hi]


def _merge_max(
    a_idx: np.ndarray, a_w: np.ndarray, b_idx: np.ndarray, b_w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Union of two sparse rows keeping the larger weight per index, sorted by index."""
    idx = np.concatenate([a_idx, b_idx])
    w = np.concatenate([a_w, b_w]).astype(np.float32)
    order = np.lexsort((-w, idx))
    idx, w = idx[order], w[order]
    first = np.concatenate(([True], idx[1:] != idx[:-1]))
    return idx[first], w[first]


class RecommenderModel:
    """A trained recommender over one catalog and cadre population."""

    def __init__(
        self,
        hybrid: Hybrid,
        text: TextSpace,
        data: TrainingData,
        *,
        rules: TrainingRules | None = None,
        metadata: dict | None = None,
    ) -> None:
        self.hybrid = hybrid
        self.text = text
        self.courses = data.courses.reset_index(drop=True)
        self.cadres = data.cadres.reset_index(drop=True)
        # what requests need from the training data (not the enrolment table itself)
        self.course_map = data.course_ids
        self.cadre_map = data.cadre_ids
        self.history_ = data.history
        self.profile_vectors_ = data.profile_vectors
        self.segments_ = Coded.of(data.segments)
        self.context_ = data.context
        self.fields_ = data.profile_fields
        self.field_taxonomy = data.field_taxonomy
        self.last_items_ = data.last_items()
        self.item_counts_ = data.item_counts()
        self.quality_ = np.asarray(data.quality, dtype=np.float32)
        self.now_ = data.now
        self.rules = rules or load_rules()
        self.metadata = metadata or {}
        #: reference time for "session not started yet"; None = the end of the training data
        self.as_of: np.datetime64 | None = None
        self._prepare()

    def _prepare(self) -> None:
        """Plain arrays for the hot path (pandas row access is too slow per request)."""
        c = self.courses
        self.course_ids = c[C.COURSE_ID].astype(str).to_numpy(dtype=object)
        self.titles = c[C.TITLE].astype(str).to_numpy(dtype=object)
        self.categories = c[C.CATEGORY].astype(str).to_numpy(dtype=object)
        self.formats = c[C.FORMAT].fillna("").astype(str).to_numpy(dtype=object)
        self.hours = c[C.CREDIT_HOURS].to_numpy(dtype=np.float64)
        self.compulsory = c[C.COMPULSORY].fillna(False).to_numpy(dtype=bool)
        self.active = c[C.ACTIVE].fillna(True).to_numpy(dtype=bool)
        self.session_start = c[C.SESSION_START].to_numpy(dtype="datetime64[s]")
        self.catalog = Catalog.from_frame(self.courses, self.rules)
        self._cohort_index, self._cohort_counts = self._cohort_table()
        # profiles are built per cadre on first use (to_dict of 100k cadres held the GIL for
        # ~2 s at every load, stalling requests during a reload)
        self._cadre_columns = [(c, self.cadres[c].array) for c in self.cadres.columns]
        self._cadre_records: dict[int, dict] = {}
        self._state = self.hybrid.serving_state()
        self.hybrid.warm_up(self._state, self._common_queries())
        self._open_cache: tuple[str | None, np.ndarray] | None = None
        self._table_cache: tuple | None = None

    def _common_queries(self) -> list[Query]:
        """One query per distinct segment and per distinct context, most common first.

        Counted with numeric sorts only: a sort of strings or of whole rows (np.unique with
        ``axis=0``) holds the GIL for ~0.2–0.4 s on 100k cadres, stalling requests at reload.
        """
        segs = self.segments_
        queries = [Query(segment=segs.values[i]) for i in np.argsort(-segs.counts(), kind="stable")]
        queries = queries[: self._state.max_rows // 2]
        ctx, ctx_counts = _unique_rows(self.context_)
        queries += [Query(context=ctx[i]) for i in np.argsort(-ctx_counts, kind="stable")]
        return queries

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for key in (
            "course_ids",
            "titles",
            "categories",
            "formats",
            "hours",
            "compulsory",
            "active",
            "audiences",
            "session_start",
            "catalog",
            "_cohort_index",
            "_cohort_counts",
            "_cadre_records",
            "_cadre_columns",
            "rules",
            "_state",
            "_open_cache",
            "_table_cache",
        ):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.rules = load_rules()  # policy lives in the settings file, not in the artifact
        self._prepare()

    # ---------------------------------------------------------------- lookup
    @property
    def version(self) -> str:
        return str(self.metadata.get("model_version", "unversioned"))

    def reference_time(self) -> datetime:
        """ "Now" for this model: ``as_of`` if set, else the newest enrolment it was trained on."""
        ref = self.as_of if self.as_of is not None else self.now_
        return pd.Timestamp(ref).to_pydatetime()

    def has_cadre(self, cadre_id: str) -> bool:
        return cadre_id in self.cadre_map

    def course_index(self, course_id: str) -> int:
        idx = self.course_map.index.get(str(course_id))
        if idx is None:
            raise UnknownIdError("course", course_id)
        return idx

    def cadre_profile(self, cadre_id: str) -> dict:
        row = self.cadre_map.index.get(str(cadre_id))
        if row is None:
            raise UnknownIdError(
                "cadre",
                cadre_id,
                "for a cadre the model has not seen, POST /v1/recommendations "
                "with a profile (or call recommend_profile)",
            )
        record = self._cadre_records.get(row)
        if record is None:
            record = {
                name: (v.item() if isinstance(v, np.generic) else v)
                for name, column in self._cadre_columns
                for v in (column[row],)
            }
            if len(self._cadre_records) >= MAX_CACHED_PROFILES:
                self._cadre_records.clear()  # simple and thread-safe; profiles rebuild in µs
            self._cadre_records[row] = record
        return record

    # --------------------------------------------------------------- request
    def _events_row(self, events: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray, int]:
        """Course indices, summed weights and the newest course of completion events."""
        if events is None or len(events) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32), -1
        cols = self.course_map.lookup(events[C.COURSE_ID])
        ok = cols >= 0
        if not ok.any():
            return np.zeros(0, np.int64), np.zeros(0, np.float32), -1
        w = interaction_weights(events)[ok]
        idx, inv = np.unique(cols[ok], return_inverse=True)
        summed = np.bincount(inv, weights=w).astype(np.float32)
        times = events.loc[ok, C.ENROLLED_AT].to_numpy(dtype="datetime64[s]")
        return idx, summed, int(cols[ok][int(np.argmax(times))])

    def _known_request(self, cadre_id: str, events) -> _Request:
        """``events``: completions newer than the model, as a frame, or any event store
        (an object with ``for_cadre(cadre_id)``), which is then read for this cadre."""
        profile = self.cadre_profile(cadre_id)
        if events is not None and hasattr(events, "for_cadre"):
            events = events.for_cadre(str(cadre_id))
        r = self.cadre_map.index[str(cadre_id)]
        hist, hist_w = _row(self.history_, r)
        hist_w = hist_w.astype(np.float32)
        extra, extra_w, last = self._events_row(events)
        if len(extra):
            hist, hist_w = _merge_max(hist, hist_w, extra, extra_w)
        else:
            last = int(self.last_items_[r])
        terms, term_w = _row(self.profile_vectors_, r)
        query = Query(
            terms=terms,
            term_weights=term_w,
            history=np.asarray(hist, dtype=np.int64),
            history_weights=hist_w,
            last_item=last,
            segment=self.segments_[r],
            context=self.context_[r],
            fields=None if self.fields_ is None else self.fields_[r],
        )
        return _Request(profile, query)

    def _profile_request(self, profile: Mapping[str, Any], completed: Collection[str]) -> _Request:
        text = profile_text(dict(profile))
        vec = self.text.transform([text])
        cols = self.course_map.lookup(completed)
        cols = np.unique(cols[cols >= 0])
        last = int(cols[-1]) if len(cols) else -1
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
        query = Query(
            terms=vec.indices.astype(np.int64),
            term_weights=vec.data.astype(np.float32),
            history=cols.astype(np.int64),
            history_weights=np.ones(len(cols), np.float32),
            last_item=last,
            segment=segment_of(profile),
            context=ctx[0],
            fields=None if self.field_taxonomy is None else self.field_taxonomy.match([text])[0],
        )
        return _Request(profile, query)

    def batch_for(self, rows: np.ndarray) -> QueryBatch:
        """Known cadres (internal rows) as one batch, from their training history."""
        rows = np.asarray(rows, dtype=np.int64)
        return QueryBatch(
            self.profile_vectors_[rows],
            self.history_[rows],
            self.last_items_[rows],
            [self.segments_[r] for r in rows],
            self.context_[rows],
            None if self.fields_ is None else self.fields_[rows],
        )

    def _score(self, req: _Request) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Blended scores and 1-D components for one request (each signal's own fast path)."""
        return self.hybrid.score_one(req.query, self._state)

    def open_courses(self, at: np.datetime64 | None = None) -> np.ndarray:
        """Courses one can still enrol in at ``at`` (default ``as_of``, else the end of the
        training data): self-paced ones, and scheduled ones whose session has not started."""
        at = self.as_of if at is None else at
        return open_sessions(self.session_start, self.now_ if at is None else at)

    def _open_mask(self) -> np.ndarray:
        """Active courses still open at ``as_of`` (memoised per ``as_of``; read-only)."""
        key = None if self.as_of is None else str(self.as_of)
        cached = self._open_cache
        if cached is None or cached[0] != key:
            mask = self.active & self.open_courses()
            mask.setflags(write=False)
            cached = self._open_cache = (key, mask)
        return cached[1]

    def course_table(self) -> tuple[Catalog, np.ndarray]:
        """The menu planner's parsed catalog of courses still open at ``as_of`` and their
        positions in the model (memoised per ``as_of`` and window hours: parsing 5k courses
        per request would cost more than the optimisation)."""
        r = self.rules  # session windows depend on the day/evening hours
        key = (
            None if self.as_of is None else str(self.as_of),
            r.day_start_hour,
            r.evening_start_hour,
        )
        cached = self._table_cache
        if cached is None or cached[0] != key:
            rows = np.flatnonzero(self.open_courses())
            table = Catalog.from_frame(self.courses.iloc[rows], self.rules)
            cached = self._table_cache = (key, table, rows)
        return cached[1], cached[2]

    def _audience_mask(self, profile: Mapping[str, Any]) -> np.ndarray:
        """Courses whose audience includes this cadre."""
        band = self.rules.rank_band(str(profile.get(C.RANK) or ""))
        return self.catalog.audiences.mask(audience_tags(profile, band))

    def _eligible(
        self, req: _Request, *, category, fmt, include_completed: bool, include_compulsory: bool
    ) -> np.ndarray:
        mask = self._open_mask() & self._audience_mask(req.profile)
        if not include_compulsory:
            mask &= ~self.compulsory
        if not include_completed and len(req.seen):
            mask[req.seen] = False
        if category:
            cats = {category} if isinstance(category, str) else set(category)
            mask &= np.isin(self.categories, list(cats))
        if fmt:
            fmts = {fmt} if isinstance(fmt, str) else set(fmt)
            mask &= np.isin(self.formats, list(fmts))
        return mask

    def _cohort_table(self) -> tuple[dict[tuple[str, str], int], np.ndarray]:
        """Course counts of every (unit level, system) cohort, computed in one sparse product
        at load time so no request pays for a cohort the first time it is asked about."""
        # factorised column by column: zipping 100k rows into tuples held the GIL ~0.2 s
        level, levels = pd.factorize(self.cadres[C.UNIT_LEVEL].fillna("").astype(str))
        system, systems = pd.factorize(self.cadres[C.SYSTEM].fillna("").astype(str))
        pairs, codes = np.unique(level * len(systems) + system, return_inverse=True)
        keys = [(levels[p // len(systems)], systems[p % len(systems)]) for p in pairs.tolist()]
        member = sp.csr_matrix(
            (np.ones(len(codes), np.float32), (codes, np.arange(len(codes)))),
            shape=(len(keys), len(codes)),
        )
        taken = (self.history_ > 0).astype(np.float32)
        counts = np.asarray((member @ taken).toarray(), dtype=np.int32)
        return {tuple(k): i for i, k in enumerate(keys)}, counts

    def cohort_counts(self, profile: Mapping[str, Any]) -> np.ndarray:
        """How many cadres of the same unit level and system took each course."""
        key = (str(profile.get(C.UNIT_LEVEL) or ""), str(profile.get(C.SYSTEM) or ""))
        row = self._cohort_index.get(key)
        if row is None:
            return np.zeros(len(self.course_ids), dtype=np.int32)
        return self._cohort_counts[row]

    def _rank(
        self, req, k, *, category, fmt, include_completed, explain, include_compulsory=False
    ) -> list[Recommendation]:
        scores, comps = self._score(req)
        mask = self._eligible(
            req,
            category=category,
            fmt=fmt,
            include_completed=include_completed,
            include_compulsory=include_compulsory,
        )
        cand = np.flatnonzero(mask)
        if len(cand) == 0 or k <= 0:
            return []
        top = cand[top_k(scores[cand], k)[0]]
        field = self.hybrid.signal("field")
        if field is not None and not req.query.has_history and req.query.fields is not None:
            top = cover_fields(top, scores, cand, req.query.fields, field.course_fields_)
        reasons: list = [()] * len(top)
        if explain:
            ctx = req.explain_context(self.cohort_counts(req.profile), comps)
            reasons = [tuple(r) for r in explain_items(self, ctx, top.tolist())]
        return [
            Recommendation(
                course_id=self.course_ids[i],
                title=self.titles[i],
                category=self.categories[i],
                format=self.formats[i],
                credit_hours=float(self.hours[i]),
                score=round(float(scores[i]), 4),
                rank=pos + 1,
                reasons=reasons[pos],
            )
            for pos, i in enumerate(top.tolist())
        ]

    # ---------------------------------------------------------------- public
    def recommend(
        self,
        cadre_id: str,
        k: int = 10,
        *,
        category: str | Sequence[str] | None = None,
        format: str | Sequence[str] | None = None,
        include_completed: bool = False,
        include_compulsory: bool = False,
        explain: bool = True,
        events=None,
    ) -> list[Recommendation]:
        """Top-``k`` elective courses for a known cadre; ``events`` are completions newer
        than the model (a frame, or an event store read for this cadre).

        Courses the cadre already enrolled in (finished or not) are excluded unless
        ``include_completed``; compulsory courses (assigned, not chosen: the menu places
        them first) unless ``include_compulsory``. Raises :class:`UnknownIdError` for an
        unknown cadre.
        """
        req = self._known_request(cadre_id, events)
        return self._rank(
            req,
            k,
            category=category,
            fmt=format,
            include_completed=include_completed,
            include_compulsory=include_compulsory,
            explain=explain,
        )

    def compulsory_courses(
        self, cadre_id: str, *, events: pd.DataFrame | None = None
    ) -> list[dict[str, Any]]:
        """The active compulsory courses whose audience includes this cadre, with a status:
        ``taken`` (enrolled or completed, events included), ``open`` (can still be taken),
        ``closed`` (its session has started and the cadre did not take it). Recommendation
        lists leave these out; portals show them as 必修 from here."""
        req = self._known_request(cadre_id, events)
        mask = self.compulsory & self.active & self._audience_mask(req.profile)
        taken = np.zeros(len(self.course_ids), dtype=bool)
        taken[req.seen] = True
        open_now = self.open_courses()
        out = []
        for i in np.flatnonzero(mask).tolist():
            status = "taken" if taken[i] else ("open" if open_now[i] else "closed")
            start = self.session_start[i]
            out.append(
                {
                    "course_id": self.course_ids[i],
                    "title": self.titles[i],
                    "category": self.categories[i],
                    "format": self.formats[i],
                    "credit_hours": float(self.hours[i]),
                    "status": status,
                    "session_start": None if np.isnat(start) else str(start),
                }
            )
        order = {"open": 0, "closed": 1, "taken": 2}
        return sorted(out, key=lambda c: (order[c["status"]], c["course_id"]))

    def recommend_profile(
        self,
        profile: Mapping[str, Any],
        k: int = 10,
        *,
        completed: Collection[str] = (),
        category: str | Sequence[str] | None = None,
        format: str | Sequence[str] | None = None,
        include_compulsory: bool = False,
        explain: bool = True,
    ) -> list[Recommendation]:
        """Top-``k`` elective courses for a cadre the model has never seen (cold start)."""
        req = self._profile_request(profile, completed)
        return self._rank(
            req,
            k,
            category=category,
            fmt=format,
            include_completed=False,
            include_compulsory=include_compulsory,
            explain=explain,
        )

    def similar(self, course_id: str, k: int = 10) -> list[Recommendation]:
        """Courses like ``course_id``: text similarity blended with co-completion."""
        i = self.course_index(course_id)
        content = self.text.similar_items(i)
        blended = zscore(content)[0]
        collab = self.hybrid.signal("collaborative")
        if collab is not None:
            hist = sp.csr_matrix(
                ([1.0], ([0], [i])), shape=(1, len(self.course_ids)), dtype=np.float32
            )
            blended = blended + 0.5 * zscore(collab.raw_score(hist))[0]
        blended[i] = -np.inf
        blended[~self.active] = -np.inf
        k = min(k, int(np.isfinite(blended).sum()))
        top = np.argsort(-blended, kind="stable")[:k]
        return [
            Recommendation(
                course_id=self.course_ids[j],
                title=self.titles[j],
                category=self.categories[j],
                format=self.formats[j],
                credit_hours=float(self.hours[j]),
                score=round(float(blended[j]), 4),
                rank=pos + 1,
                reasons=(
                    Reason(
                        "similar_course",
                        f"与《{self.titles[i]}》内容相近或常被一起学习",
                        {"similarity": round(float(content[j]), 3)},
                    ),
                ),
            )
            for pos, j in enumerate(top)
        ]

    def recommend_batch(
        self, cadre_ids: Sequence[str], k: int = 10, *, events=None, include_compulsory=False
    ) -> pd.DataFrame:
        """``cadre_id, rank, course_id, score`` rows for many known cadres (no explanations);
        ``events``: an event store read for each cadre (see :meth:`recommend`)."""
        rows = []
        for cid in cadre_ids:
            recs = self.recommend(
                cid, k, explain=False, events=events, include_compulsory=include_compulsory
            )
            for rec in recs:
                rows.append((cid, rec.rank, rec.course_id, rec.score))
        return pd.DataFrame(rows, columns=[C.CADRE_ID, "rank", C.COURSE_ID, "score"])
