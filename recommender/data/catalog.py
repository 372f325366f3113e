"""The catalog, parsed once: list cells, session times and windows, audiences.

Audiences (适用对象) are read through the packaged taxonomy ``resources/audience.toml``:
wording it does not know admits everyone, never no one (and ``validate`` warns about it).

:class:`Catalog` holds the per-course arrays that recommendation filters (who may take a
course, is its session still open) and menus (hours, sessions, prerequisites, capacity) both
need, so a catalog of thousands of courses is parsed once per model, not per request.
"""

from __future__ import annotations

import os
import re
import tomllib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recommender.data.schema import LIST_SEPARATORS, SCHEDULED_FORMATS, WINDOWS
from recommender.data.schema import Columns as C

if TYPE_CHECKING:  # pragma: no cover
    from recommender.data.rules import TrainingRules

_SPLIT = re.compile("[" + re.escape(LIST_SEPARATORS) + "]")
WEEKDAY_DAYTIME, WEEKDAY_EVENING, WEEKEND = WINDOWS


def split_list(value: object) -> list[str]:
    """Items of a list-valued cell such as ``a|b；c``."""
    if not isinstance(value, str) or not value.strip():
        return []
    return [s.strip() for s in _SPLIT.split(value) if s.strip()]


def session_windows(
    starts: pd.Series | Sequence[datetime],
    *,
    day_start_hour: float = 8.0,
    evening_start_hour: float = 18.0,
) -> np.ndarray:
    """Window of each session start ('' if none, e.g. a weekday 07:00 start or NaT)."""
    ts = pd.Series(pd.to_datetime(pd.Series(starts)).to_numpy())
    hour = ts.dt.hour + ts.dt.minute / 60.0
    weekend = ts.dt.day_of_week >= 5
    evening = ~weekend & (hour >= evening_start_hour)
    daytime = ~weekend & (hour >= day_start_hour) & (hour < evening_start_hour)
    out = np.full(len(ts), "", dtype=object)
    out[weekend.fillna(False).to_numpy(bool)] = WEEKEND
    out[evening.fillna(False).to_numpy(bool)] = WEEKDAY_EVENING
    out[daytime.fillna(False).to_numpy(bool)] = WEEKDAY_DAYTIME
    return out


_LEVEL_WORDS = {
    "province": ("省", "省级", "province"),
    "city": ("市", "市级", "city"),
    "county": ("县", "县级", "区县", "county"),
    "township": ("乡镇", "乡", "镇", "街道", "township"),
    "village": ("村", "社区", "village"),
}
AUDIENCE_ENV = "XUANXUE_AUDIENCE"
_ALTERNATIVES = re.compile("[" + re.escape(LIST_SEPARATORS) + "和及与或]")
_NO_LIMIT = re.compile(r"(乡科级|县处级|厅局级|科级|处级|厅级)(干部)?及?以上(的)?")
#: one alternative of an audience cell: the tags a cadre must all carry (empty: everyone)
Rule = frozenset


@dataclass(frozen=True)
class AudienceTaxonomy:
    """适用对象 wording → tags (``recommender/resources/audience.toml``)."""

    everyone: frozenset[str]
    words: Mapping[str, tuple[str, ...]]
    systems: tuple[str, ...]
    fillers: tuple[str, ...]
    leader_words: tuple[str, ...]
    not_leader_words: tuple[str, ...]
    young_max_age: int = 35

    def resolve(self, cell: object) -> tuple[list[frozenset[str]], list[str]]:
        """(rules, unknown wording) of an audience cell; an unknown alternative admits
        everyone, so it becomes the empty rule."""
        text = unicodedata.normalize("NFKC", str(cell or "")).strip()
        if not text:
            return [Rule()], []
        rules, unknown = [], []
        text = _NO_LIMIT.sub("", text) or "全体"
        for part in _ALTERNATIVES.split(text):
            part = part.strip()
            if not part:
                continue
            rule = self._rule(part)
            if rule is None:
                unknown.append(part)
                rule = Rule()
            rules.append(rule)
        return rules or [Rule()], unknown

    def _rule(self, part: str) -> frozenset[str] | None:
        if part in self.everyone:
            return Rule()
        if part in self.words:
            return Rule(self.words[part])
        if part in self.systems:
            return Rule({f"system:{part}"})
        tags: set[str] = set()
        rest = part
        keys = sorted([*self.words, *self.systems], key=len, reverse=True)
        for key in keys:
            if key in rest:
                tags.update(self.words.get(key, (f"system:{key}",)))
                rest = rest.replace(key, " ")
        for filler in sorted(self.fillers, key=len, reverse=True):
            rest = rest.replace(filler, " ")
        if rest.strip() or not tags:
            return Rule() if not rest.strip() else None
        return Rule(tags)


def _norm(word: object) -> str:
    return unicodedata.normalize("NFKC", str(word)).strip()


@lru_cache(maxsize=4)
def _load_taxonomy(path: str) -> AudienceTaxonomy:
    with open(path, "rb") as fh:
        doc = tomllib.load(fh)
    words = {_norm(k): tuple(str(t) for t in v) for k, v in doc.get("words", {}).items()}
    return AudienceTaxonomy(
        everyone=frozenset(_norm(w) for w in doc.get("everyone", ())),
        words=MappingProxyType(words),
        systems=tuple(_norm(w) for w in doc.get("systems", {}).get("words", ())),
        fillers=tuple(_norm(w) for w in doc.get("fillers", ())),
        leader_words=tuple(_norm(w) for w in doc.get("leader_words", ())),
        not_leader_words=tuple(_norm(w) for w in doc.get("not_leader_words", ())),
        young_max_age=int(doc.get("young_max_age", 35)),
    )


def audience_taxonomy(path: str | Path | None = None) -> AudienceTaxonomy:
    """The 适用对象 taxonomy: ``path``, else ``$XUANXUE_AUDIENCE``, else the packaged one."""
    chosen = path or os.environ.get(AUDIENCE_ENV) or ""
    return _load_taxonomy(_resolved(str(chosen)))


@lru_cache(maxsize=16)
def _resolved(chosen: str) -> str:
    """The taxonomy file's real path (memoised: resolving it cost ~60 µs, paid twice by
    every new cadre's audience tags on the request path)."""
    if not chosen:
        chosen = str(resources.files("recommender") / "resources" / "audience.toml")
    return str(Path(chosen).resolve())


def resolve_audience(cell: object) -> tuple[list[frozenset[str]], list[str]]:
    """(rules, unknown wording) of one 适用对象 cell under the packaged taxonomy."""
    return audience_taxonomy().resolve(cell)


def is_leader(job_title: object, rank: object, band: str = "") -> bool:
    """职务 names a leading post (局长, 镇长, 书记 …; not 主任科员) or 职级 says 正职/副职, or
    the rank band is 县处级 and above."""
    tax = audience_taxonomy()
    title = _norm(job_title or "")
    for word in tax.not_leader_words:
        title = title.replace(word, " ")
    rank_text = _norm(rank or "")
    return (
        any(w in title for w in tax.leader_words)
        or "正职" in rank_text
        or "副职" in rank_text
        or band in ("县处级", "厅局级")
    )


def audience_tags(cadre: pd.Series | dict, rank_band: str) -> set[str]:
    """Tags a course audience may use to target this cadre (see ``audience.toml``): the
    taxonomy's ``level:…``, ``band:…``, ``role:leader``, ``flag:…``, ``gender:female``,
    ``system:…`` and, for old-style audiences, the bare words themselves."""
    system = str(cadre.get(C.SYSTEM) or "")
    tags = {rank_band, system, f"band:{rank_band}"}
    level = str(cadre.get(C.UNIT_LEVEL) or "")
    tags.update(_LEVEL_WORDS.get(level, ()))
    tags.update({level, f"level:{level}"} if level else ())
    if system:
        tags.add(f"system:{system}")
    unit = _norm(cadre.get(C.UNIT) or "")
    if unit:
        tags.update(f"system:{w}" for w in audience_taxonomy().systems if w in unit)
    if is_leader(cadre.get(C.JOB_TITLE), cadre.get(C.RANK), rank_band):
        tags.add("role:leader")
    if cadre.get(C.NEWLY_PROMOTED):
        tags.update({"新提拔", "新提拔干部", "flag:new"})
    if cadre.get(C.YOUNG_CADRE):
        tags.update({"年轻干部", "优秀年轻干部", "flag:young"})
    if cadre.get(C.VILLAGE_OFFICIAL):
        tags.update({"大学生村官", "选调生", "村官", "flag:village_official"})
    if _norm(cadre.get(C.GENDER) or "").lower() in ("女", "female", "f", "女性"):
        tags.add("gender:female")
    return {t for t in tags if t}


def audience_matches(audience: Sequence[object], tags: set[str]) -> bool:
    """True if a course with this audience is meant for a cadre with these tags.

    ``audience`` holds resolved rules (frozensets of tags, see
    :meth:`AudienceTaxonomy.resolve`) or, as before, plain words; an empty audience, a rule
    with no tags (everyone, or wording the taxonomy does not know) matches all cadres.
    """
    if not audience:
        return True
    for a in audience:
        if isinstance(a, frozenset):
            if a <= tags:
                return True
        elif a in _ALL or a in tags:
            return True
    return False


_ALL = ("全体", "全体干部", "所有干部", "all")


class AudienceIndex:
    """Which courses admit a cadre, given the courses' audience cells: the few distinct
    cells are resolved once through the taxonomy and the answer is memoised per set of
    audience tags."""

    def __init__(self, cells: Sequence[object]) -> None:
        texts = pd.Series(list(cells), dtype=object)
        codes, uniques = pd.factorize(texts.where(texts.notna(), "").astype(str))
        self.codes = np.asarray(codes)
        taxonomy = audience_taxonomy()
        resolved = [taxonomy.resolve(u) for u in uniques]
        self.lists = [rules for rules, _ in resolved]
        #: audience wording the taxonomy does not know (read as everyone)
        self.unknown = sorted({w for _, unknown in resolved for w in unknown})
        self._cache: dict[frozenset, np.ndarray] = {}

    def mask(self, tags: set[str]) -> np.ndarray:
        """Boolean per course (read-only, shared between requests)."""
        key = frozenset(tags)
        ok = self._cache.get(key)
        if ok is None:
            ok = np.array([audience_matches(a, tags) for a in self.lists], bool)[self.codes]
            ok.setflags(write=False)
            if len(self._cache) < 10_000:
                self._cache[key] = ok
        return ok


def unknown_audiences(cells: Sequence[object]) -> dict[str, int]:
    """适用对象 wording the taxonomy does not know → number of courses using it."""
    taxonomy = audience_taxonomy()
    counts: dict[str, int] = {}
    for cell, n in (
        pd.Series(list(cells), dtype=object).fillna("").astype(str).value_counts().items()
    ):
        for word in taxonomy.resolve(cell)[1]:
            counts[word] = counts.get(word, 0) + int(n)
    return counts


def _column(df: pd.DataFrame, name: str, default: object) -> pd.Series:
    return df[name] if name in df else pd.Series([default] * len(df), index=df.index)


def _times(df: pd.DataFrame, name: str) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(pd.to_datetime(_column(df, name, pd.NaT), errors="coerce"))
    idx = idx.tz_localize(None) if idx.tz is not None else idx
    return idx.as_unit("ns")  # one resolution, so .asi8 values compare across columns


def _text(df: pd.DataFrame, name: str) -> np.ndarray:
    col = _column(df, name, "").astype(object)
    return col.where(col.notna(), "").astype(str).to_numpy(dtype=object)


@dataclass
class Catalog:
    """The request-independent half of a plan catalog: parsed once per catalog.

    A menu request only adds what depends on the cadre (completed courses, audience,
    windows, calendar, scores); parsing list cells, times and session windows for
    thousands of courses is done here once (:meth:`RecommenderModel.course_table` keeps
    one per model), not per request.
    """

    ids: np.ndarray
    titles: np.ndarray
    categories: np.ndarray
    formats: np.ndarray
    topics: np.ndarray
    instructors: np.ndarray
    hours: np.ndarray  # NaN where missing or unparseable
    active: np.ndarray
    compulsory: np.ndarray
    capacity: np.ndarray
    audiences: AudienceIndex
    prereq_cells: dict[int, list[str]]  # course position → prerequisite ids (only non-empty)
    start: pd.DatetimeIndex
    end: pd.DatetimeIndex
    scheduled: np.ndarray
    windows: np.ndarray
    needs_session: np.ndarray
    pos: dict[str, int]

    @classmethod
    def from_frame(cls, courses: pd.DataFrame, rules: TrainingRules) -> Catalog:
        df = courses.drop_duplicates(C.COURSE_ID, keep="first").reset_index(drop=True)
        ids = df[C.COURSE_ID].astype(str).to_numpy(dtype=object)
        hours = pd.to_numeric(_column(df, C.CREDIT_HOURS, np.nan), errors="coerce").to_numpy(float)
        start, end = _times(df, C.SESSION_START), _times(df, C.SESSION_END)
        scheduled = np.asarray(~start.isna())
        by_hours = start + pd.to_timedelta(np.nan_to_num(hours), unit="h")
        end = pd.DatetimeIndex(np.where(scheduled & ~(end > start), by_hours, end)).as_unit("ns")
        formats = _text(df, C.FORMAT)
        prereq_cells = {
            i: items
            for i, cell in enumerate(_text(df, C.PREREQUISITES))
            if (items := split_list(cell))
        }
        return cls(
            ids=ids,
            titles=_text(df, C.TITLE),
            categories=_text(df, C.CATEGORY),
            formats=formats,
            topics=np.array([(split_list(t) or [""])[0] for t in _text(df, C.TAGS)], dtype=object),
            instructors=np.array([s.strip() for s in _text(df, C.INSTRUCTOR)], dtype=object),
            hours=hours,
            active=_column(df, C.ACTIVE, True).fillna(True).astype(bool).to_numpy(),
            compulsory=_column(df, C.COMPULSORY, False).fillna(False).astype(bool).to_numpy(),
            capacity=pd.to_numeric(_column(df, C.CAPACITY, np.nan), errors="coerce").to_numpy(
                float
            ),
            audiences=AudienceIndex(_text(df, C.AUDIENCE)),
            prereq_cells=prereq_cells,
            start=start,
            end=end,
            scheduled=scheduled,
            windows=session_windows(
                start,
                day_start_hour=rules.day_start_hour,
                evening_start_hour=rules.evening_start_hour,
            ),
            needs_session=np.isin(formats, SCHEDULED_FORMATS),
            pos={c: i for i, c in enumerate(ids)},
        )


def open_sessions(starts: np.ndarray, at: np.datetime64) -> np.ndarray:
    """Courses one can still enrol in at ``at``: self-paced ones (no session start) and
    scheduled ones whose session starts at or after ``at``."""
    starts = np.asarray(starts, dtype="datetime64[s]")
    return np.isnat(starts) | (starts >= np.datetime64(at, "s"))
