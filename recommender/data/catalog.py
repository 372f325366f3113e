"""The catalog, parsed once: list cells, session times and windows, audiences.

:class:`Catalog` holds the per-course arrays that recommendation filters (who may take a
course, is its session still open) and menus (hours, sessions, prerequisites, capacity) both
need, so a catalog of thousands of courses is parsed once per model, not per request.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
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
_ALL = ("全体", "全体干部", "所有干部", "all")


def audience_tags(cadre: pd.Series | dict, rank_band: str) -> set[str]:
    """Words a course audience may use to target this cadre."""
    tags = {rank_band, str(cadre.get(C.SYSTEM) or "")}
    level = str(cadre.get(C.UNIT_LEVEL) or "")
    tags.update(_LEVEL_WORDS.get(level, ()))
    tags.add(level)
    if cadre.get(C.NEWLY_PROMOTED):
        tags.update({"新提拔", "新提拔干部"})
    if cadre.get(C.YOUNG_CADRE):
        tags.update({"年轻干部", "优秀年轻干部"})
    if cadre.get(C.VILLAGE_OFFICIAL):
        tags.update({"大学生村官", "选调生", "村官"})
    return {t for t in tags if t}


def audience_matches(audience: Sequence[str], tags: set[str]) -> bool:
    """True if a course with this audience list is meant for a cadre with these tags.

    An empty audience, or one naming everybody, matches all cadres.
    """
    if not audience or any(a in _ALL for a in audience):
        return True
    return any(a in tags for a in audience)


class AudienceIndex:
    """Which courses admit a cadre, given the courses' audience cells: the few distinct
    cells are parsed once and the answer is memoised per set of audience tags."""

    def __init__(self, cells: Sequence[object]) -> None:
        texts = pd.Series(list(cells), dtype=object)
        codes, uniques = pd.factorize(texts.where(texts.notna(), "").astype(str))
        self.codes = np.asarray(codes)
        self.lists = [split_list(u) for u in uniques]
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
