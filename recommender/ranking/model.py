"""The public model: queries in, scored, ranked and explained courses out.

``RecommenderModel`` wires the parts and holds nothing else: queries are built by
:class:`~recommender.ranking.queries.QueryBuilder`, scored by the fitted
:class:`~recommender.ranking.hybrid.Hybrid`, filtered by the one
:class:`~recommender.ranking.candidates.CandidatePolicy`, ranked by the
:class:`~recommender.ranking.ranker.Ranker` and explained by the
:class:`~recommender.ranking.explain.Explainer`. Menus, evaluation, the console, batch jobs
and the service call only the public methods. Completion events newer than the model are
passed per request, so they count at once without retraining.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from recommender.data.catalog import Catalog
from recommender.data.ledger import HoursLedger
from recommender.data.rules import TrainingRules, load_rules
from recommender.data.schema import Columns as C
from recommender.data.training import TrainingData
from recommender.ranking.batch import batch_frame, recommend_many
from recommender.ranking.candidates import ELECTIVES, CandidatePolicy, CandidateSet, Filters
from recommender.ranking.courses import compulsory_courses, similar
from recommender.ranking.explain import CohortCounts, Explainer, Reason
from recommender.ranking.hybrid import Hybrid
from recommender.ranking.queries import (
    CadreProfile,
    CadreQuery,
    Coded,
    QueryBuilder,
    unique_rows,
)
from recommender.ranking.ranker import Ranker, RankerConfig
from recommender.ranking.results import Ranked, Recommendation, UnknownIdError
from recommender.signals.base import Query
from recommender.text.space import TextSpace

#: cadre profiles kept as dicts after first use (oldest dropped past this many)
MAX_CACHED_PROFILES = 20_000
#: known cadres' audience masks kept (a dict entry each: the masks are shared)
MAX_CACHED_AUDIENCES = 200_000


@dataclass(frozen=True)
class Scored:
    """One query scored: blended ``scores`` per course, the ``candidates`` the policy lets
    a list hold, and the raw per-signal ``components`` scored for it."""

    query: CadreQuery
    scores: np.ndarray
    candidates: CandidateSet
    components: dict[str, np.ndarray]


#: attributes rebuilt by ``_prepare`` at load, never saved
_DERIVED = ("course_ids", "titles", "categories", "formats", "hours", "compulsory", "active",
            "session_start", "policy", "cohorts", "ranker", "explainer", "queries", "rules",
            "_cadre_records", "_cadre_columns", "_cadre_column_map", "_audiences", "_state",
            "_table_cache")  # fmt: skip


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
        ranker: RankerConfig | None = None,
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
        self.now_ = data.now
        #: completed records of recent years: 学时 already earned (menus, 学时档案)
        self.ledger_ = HoursLedger.build(
            data.completions, data.courses, data.cadre_ids, data.course_ids, data.external
        )
        self.ranker_config = ranker or RankerConfig()
        self.rules = rules or load_rules()
        self.metadata = metadata or {}
        #: reference time for "session not started yet"; None = the end of the training data
        self.as_of: np.datetime64 | None = None
        self._prepare()

    def _prepare(self) -> None:
        """Plain arrays for the hot path and the parts the model wires together."""
        c = self.courses
        self.course_ids = c[C.COURSE_ID].astype(str).to_numpy(dtype=object)
        self.titles = c[C.TITLE].astype(str).to_numpy(dtype=object)
        self.categories = c[C.CATEGORY].astype(str).to_numpy(dtype=object)
        self.formats = c[C.FORMAT].fillna("").astype(str).to_numpy(dtype=object)
        self.hours = c[C.CREDIT_HOURS].to_numpy(dtype=np.float64)
        self.compulsory = c[C.COMPULSORY].fillna(False).to_numpy(dtype=bool)
        self.active = c[C.ACTIVE].fillna(True).to_numpy(dtype=bool)
        self.session_start = c[C.SESSION_START].to_numpy(dtype="datetime64[s]")
        self.policy = CandidatePolicy(c, self.rules)
        self.cohorts = CohortCounts(self.cadres, self.history_)
        taxonomy = self.field_taxonomy
        fields = None if taxonomy is None else taxonomy.category_matrix(c[C.CATEGORY])
        self.ranker = Ranker(fields, getattr(self, "ranker_config", RankerConfig()))
        self.explainer = Explainer(
            self.hybrid.signals_,
            titles=self.titles,
            course_ids=self.course_ids,
            term_names=self.text.terms_,
            field_names=None if taxonomy is None else taxonomy.names,
            compulsory=self.compulsory,
            item_counts=self.item_counts_,
        )
        self.queries = QueryBuilder(self)
        # profiles are built per cadre on first use (to_dict of 100k cadres held the GIL for
        # ~2 s at every load, stalling requests during a reload)
        self._cadre_columns = [(col, self.cadres[col].array) for col in self.cadres.columns]
        self._cadre_column_map = dict(self._cadre_columns)
        self._cadre_records: dict[int, dict] = {}
        #: each known cadre's audience mask (row → the policy's shared read-only mask):
        #: the tags behind it cost ~0.15 ms a request, and never change for a known cadre
        self._audiences: dict[int, np.ndarray] = {}
        self._state = self.hybrid.serving_state()
        self.hybrid.warm_up(self._state, self._common_queries())
        self._table_cache: tuple | None = None

    def _common_queries(self) -> list[Query]:
        """One query per distinct segment and per distinct context, most common first
        (numeric sorts only: sorting strings or whole rows held the GIL at reload)."""
        segs = self.segments_
        queries = [Query(segment=segs.values[i]) for i in np.argsort(-segs.counts(), kind="stable")]
        queries = queries[: self._state.max_rows // 2]
        ctx, ctx_counts = unique_rows(self.context_)
        queries += [Query(context=ctx[i]) for i in np.argsort(-ctx_counts, kind="stable")]
        return queries

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for key in _DERIVED:
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
        return pd.Timestamp(self.reference_at()).to_pydatetime()

    def reference_at(self) -> np.datetime64:
        """:meth:`reference_time` as a ``datetime64`` (the candidate policy's clock)."""
        return np.datetime64(self.as_of if self.as_of is not None else self.now_, "s")

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

    def profile_view(self, cadre_id: str) -> CadreProfile:
        """A known cadre's profile read column by column when asked (the request path reads
        a few columns; a full dict of a new cadre cost ~0.1 ms). Raises
        :class:`UnknownIdError`."""
        row = self.cadre_map.index.get(str(cadre_id))
        if row is None:
            self.cadre_profile(cadre_id)  # raises, with the hint
        record = self._cadre_records.get(row)
        return CadreProfile(self._cadre_column_map, row, record)

    def cadre_audience(self, cadre_id: str) -> np.ndarray:
        """Courses whose 适用对象 admits this known cadre (read-only; memoised per cadre:
        the tags behind it never change for a known cadre)."""
        row = self.cadre_map.index.get(str(cadre_id))
        mask = None if row is None else self._audiences.get(row)
        if mask is None:
            mask = self.policy.audience(self.profile_view(cadre_id))
            if len(self._audiences) >= MAX_CACHED_AUDIENCES:
                self._audiences.clear()  # simple and thread-safe, as for profiles
            self._audiences[row] = mask
        return mask

    def open_courses(self, at: np.datetime64 | None = None) -> np.ndarray:
        """Courses one can still enrol in at ``at`` (default :meth:`reference_at`)."""
        return self.policy.open_at(self.reference_at() if at is None else at)

    def course_table(self) -> tuple[Catalog, np.ndarray]:
        """The menu planner's parsed catalog of courses still open at ``as_of`` and their
        positions in the model (memoised per ``as_of`` and window hours: parsing 5k courses
        per request would cost more than the optimisation)."""
        r = self.rules  # session windows depend on the day/evening hours
        key = (str(self.reference_at()), r.day_start_hour, r.evening_start_hour)
        cached = self._table_cache
        if cached is None or cached[0] != key:
            rows = np.flatnonzero(self.open_courses())
            table = Catalog.from_frame(self.courses.iloc[rows], self.rules)
            cached = self._table_cache = (key, table, rows)
        return cached[1], cached[2]

    def cohort_counts(self, profile: Mapping[str, Any]) -> np.ndarray:
        """How many cadres of the same unit level and system took each course."""
        return self.cohorts.of(profile)

    # ---------------------------------------------------------------- scoring
    def query(self, cadre_id: str, *, events=None) -> CadreQuery:
        """A known cadre's query; ``events`` are completions newer than the model (a frame,
        or an event store read for this cadre). Raises :class:`UnknownIdError`."""
        return self.queries.known(cadre_id, events)

    def query_profile(
        self, profile: Mapping[str, Any], *, completed: Collection[str] = ()
    ) -> CadreQuery:
        """A query for a cadre the model has never seen (cold start)."""
        return self.queries.profile(profile, completed)

    def score(self, query: CadreQuery, *, filters: Filters = ELECTIVES) -> Scored:
        """Blended scores, the candidate set and the per-signal components of one query."""
        scores, comps = self.hybrid.score_one(query.query, self._state)
        cands = self.policy.for_query(
            query.profile,
            query.history,
            filters,
            self.reference_at(),
            audience=self._audience(query),
        )
        return Scored(query, scores, cands, comps)

    def _audience(self, query: CadreQuery) -> np.ndarray | None:
        """A known cadre's audience mask (``None`` for a profile query: the policy reads it)."""
        return None if query.cadre_id is None else self.cadre_audience(query.cadre_id)

    def score_batch(self, batch) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``Hybrid.score`` of many queries with the request path's memoised rows (what
        ``recommend_many`` blends; evaluation scores without them)."""
        return self.hybrid.score(batch, self._state)

    def rank(self, scored: Scored, k: int = 10, *, explain: bool = True) -> Ranked:
        """The top-``k`` candidates of a scored query, explained."""
        q = scored.query.query
        top = self.ranker.top(
            scored.scores, scored.candidates.mask, k, fields=q.fields, has_history=q.has_history
        )
        reasons = self.explain(scored.query, top, scored.components) if explain else [()] * len(top)
        return Ranked(
            self.as_recommendations(top, scored.scores, reasons), candidates=scored.candidates, k=k
        )

    def explain(
        self, query: CadreQuery, items: Sequence[int], components: Mapping[str, np.ndarray]
    ) -> list[tuple[Reason, ...]]:
        """Reasons for each course position in ``items`` for this query."""
        cohort = self.cohorts.of(query.profile)
        return self.explainer.explain(query.query, items, components, cohort)

    def as_recommendations(self, top, scores, reasons) -> list[Recommendation]:
        """Course positions (best first) with their scores and reasons as recommendations."""
        items = np.asarray(top, dtype=np.int64)
        make, ids, titles, cats, fmts = (Recommendation.of, self.course_ids, self.titles,
                                         self.categories, self.formats)  # fmt: skip
        hours, values = self.hours[items].tolist(), np.asarray(scores)[items].tolist()
        return [
            make(
                ids[i],
                titles[i],
                cats[i],
                fmts[i],
                hours[pos],
                round(values[pos], 4),
                pos + 1,
                tuple(reasons[pos]),
            )
            for pos, i in enumerate(items.tolist())
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
    ) -> Ranked:
        """Top-``k`` elective courses for a known cadre; ``events`` are completions newer
        than the model (a frame, or an event store read for this cadre).

        Courses the cadre already enrolled in (finished or not) are excluded unless
        ``include_completed``; compulsory courses (assigned, not chosen: the menu places
        them first) unless ``include_compulsory``. Raises :class:`UnknownIdError` for an
        unknown cadre. A short list says why (``.shortfall``).
        """
        filters = Filters.of(
            category=category,
            format=format,
            include_completed=include_completed,
            include_compulsory=include_compulsory,
        )
        scored = self.score(self.query(cadre_id, events=events), filters=filters)
        return self.rank(scored, k, explain=explain)

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
    ) -> Ranked:
        """Top-``k`` elective courses for a cadre the model has never seen (cold start)."""
        filters = Filters.of(
            category=category, format=format, include_compulsory=include_compulsory
        )
        scored = self.score(self.query_profile(profile, completed=completed), filters=filters)
        return self.rank(scored, k, explain=explain)

    def compulsory_courses(self, cadre_id: str, *, events=None) -> list[dict[str, Any]]:
        """The compulsory courses meant for this cadre with a status (taken, open, closed):
        see :func:`recommender.ranking.courses.compulsory_courses`."""
        return compulsory_courses(self, cadre_id, events=events)

    def similar(self, course_id: str, k: int = 10) -> list[Recommendation]:
        """Courses like ``course_id`` (see :func:`recommender.ranking.courses.similar`)."""
        return similar(self, course_id, k)

    def recommend_many(
        self,
        cadre_ids: Sequence[str],
        k: int = 10,
        *,
        filters: Filters = ELECTIVES,
        events=None,
        explain: bool = False,
        chunk: int = 1024,
    ) -> tuple[dict[str, Ranked], list[str]]:
        """Lists for many known cadres, scored in vectorised chunks (``Hybrid.score``) with
        the same candidate policy and ranker as :meth:`recommend`. Returns the lists by
        cadre id and the ids the model does not know (reported, not fatal)."""
        return recommend_many(
            self, cadre_ids, k, filters=filters, events=events, explain=explain, chunk=chunk
        )

    def recommend_batch(
        self, cadre_ids: Sequence[str], k: int = 10, *, events=None, include_compulsory=False
    ) -> pd.DataFrame:
        """``cadre_id, rank, course_id, score`` rows for many known cadres (no explanations);
        unknown ids are skipped and listed in ``frame.attrs["unknown"]``."""
        filters = Filters(include_compulsory=include_compulsory)
        return batch_frame(self, cadre_ids, k, filters=filters, events=events)
