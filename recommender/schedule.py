"""Time side of the menu: session windows, week buckets, overlaps and the week-by-week layout.

Weeks are Monday-based buckets from the week of the plan start to the week holding
31 December; a partial first or last week still gets the full weekly budget. A scheduled
session occupies the week it starts in; a self-paced course is spread over the earliest
weeks with budget left, after everything it depends on and before any scheduled course
that depends on it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recommender.features import audience_matches, audience_tags
from recommender.schema import LIST_SEPARATORS, SCHEDULED_FORMATS, WINDOWS
from recommender.schema import Columns as C

if TYPE_CHECKING:  # pragma: no cover
    from recommender.rules import TrainingRules

TOL = 1e-6
WEEKDAY_DAYTIME, WEEKDAY_EVENING, WEEKEND = WINDOWS


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


@dataclass(frozen=True)
class Calendar:
    """Planning horizon of one year from ``start``, cut into Monday-based weeks."""

    start: datetime
    end: datetime  # exclusive: 1 January of the next year
    budget: float

    @classmethod
    def for_year(cls, year: int, start: datetime | None, budget: float) -> Calendar:
        """Horizon [max(start, 1 Jan), 1 Jan next year); empty if ``start`` is later."""
        first, end = datetime(year, 1, 1), datetime(year + 1, 1, 1)
        if start is not None and start.tzinfo is not None:
            start = start.replace(tzinfo=None)
        begin = max(start or first, first)
        return cls(start=min(begin, end), end=end, budget=max(float(budget), 0.0))

    @property
    def first_monday(self) -> date:
        d = self.start.date()
        return d - timedelta(days=d.weekday())

    @property
    def n_weeks(self) -> int:
        """Weeks (whole or partial) left between ``start`` and the year's end."""
        if self.start >= self.end:
            return 0
        last = (self.end - timedelta(microseconds=1)).date()
        return (last - self.first_monday).days // 7 + 1

    def week_of(self, when: datetime | pd.Timestamp) -> int:
        """Bucket index of a moment (may fall outside 0 … n_weeks-1)."""
        return (pd.Timestamp(when).date() - self.first_monday).days // 7

    def week_start(self, week: int) -> date:
        """First plannable day of a bucket (the start date for the first one)."""
        return max(self.first_monday + timedelta(weeks=week), self.start.date())

    def week_end(self, week: int) -> date:
        """Last day of a bucket (31 December for the last one)."""
        last = (self.end - timedelta(microseconds=1)).date()
        return min(self.first_monday + timedelta(weeks=week, days=6), last)


def overlap_cliques(starts: np.ndarray, ends: np.ndarray) -> list[list[int]]:
    """Maximal sets of mutually overlapping sessions ([start, end) intervals, ≥ 2 members).

    In an interval graph every overlapping pair lies in one of these, so "at most one per
    clique" is the same as all pairwise ``x_i + x_j ≤ 1`` constraints, with fewer, tighter rows.
    """
    order = np.argsort(starts, kind="stable")
    active: list[int] = []
    cliques: list[list[int]] = []
    for pos, i in enumerate(order):
        active = [j for j in active if ends[j] > starts[i]]
        active.append(int(i))
        nxt = starts[order[pos + 1]] if pos + 1 < len(order) else None
        if len(active) >= 2 and (nxt is None or nxt >= min(ends[j] for j in active)):
            cliques.append(sorted(active))
    return cliques


@dataclass(frozen=True)
class Slot:
    """One selected course to lay out.

    ``week``/``end_week`` are the buckets of a scheduled session's start/end (None when
    self-paced); ``prereqs`` are selected keys it must come after; ``first`` puts it in the
    first pass (compulsory courses and what they need).
    """

    key: int
    hours: float
    week: int | None = None
    end_week: int | None = None
    prereqs: tuple[int, ...] = ()
    first: bool = False


@dataclass
class Layout:
    """Hours per week of every placed course and the keys that could not be placed."""

    weeks: dict[int, dict[int, float]] = field(default_factory=dict)
    failed: set[int] = field(default_factory=set)
    load: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def first_week(self, key: int) -> int:
        return min(self.weeks[key])

    def last_week(self, key: int) -> int:
        return max(self.weeks[key])


def _deadlines(slots: dict[int, Slot], n_weeks: int) -> dict[int, int]:
    """Latest week a self-paced course may still occupy, given what depends on it."""
    deps: dict[int, list[int]] = {k: [] for k in slots}
    for s in slots.values():
        for p in s.prereqs:
            if p in deps:
                deps[p].append(s.key)
    memo: dict[int, int] = {}

    def latest(k: int, seen: frozenset[int]) -> int:
        if k in memo:
            return memo[k]
        s = slots[k]
        if s.week is not None:
            value = s.week  # a scheduled course's own week
        else:
            value = n_weeks - 1
            for d in deps[k]:
                if d in seen:  # a cycle: nothing in it can be placed
                    return -1
                dl = latest(d, seen | {k})
                value = min(value, dl - 1)
        memo[k] = value
        return value

    return {k: latest(k, frozenset()) for k in slots if slots[k].week is None}


def lay_out(slots: Sequence[Slot], cal: Calendar) -> Layout:
    """Place courses week by week under the weekly budget; list those that do not fit.

    Scheduled sessions go first (in the given priority order), then self-paced courses in
    two passes (``first`` ones, then the rest), each earliest-deadline-first among those
    whose prerequisites are placed. A course whose prerequisite failed fails too.
    """
    n, budget = cal.n_weeks, cal.budget
    by_key = {s.key: s for s in slots}
    out = Layout(load=np.zeros(n))
    for s in slots:
        if s.week is None:
            continue
        if 0 <= s.week < n and out.load[s.week] + s.hours <= budget + TOL:
            out.load[s.week] += s.hours
            out.weeks[s.key] = {s.week: s.hours}
        else:
            out.failed.add(s.key)
    deadline = _deadlines(by_key, n)
    rank = {s.key: i for i, s in enumerate(slots)}
    for first in (True, False):
        todo = {s.key for s in slots if s.week is None and s.first == first}
        while todo:
            ready = [k for k in todo if all(p not in todo for p in by_key[k].prereqs)]
            if not ready:  # a prerequisite cycle
                out.failed |= todo
                break
            k = min(ready, key=lambda k: (deadline[k], rank[k]))
            todo.discard(k)
            _place(by_key[k], deadline[k], out, by_key, budget)
    _propagate_failures(by_key, out, cal)
    return out


def _place(s: Slot, deadline: int, out: Layout, by_key: dict[int, Slot], budget: float) -> None:
    release = 0
    for p in s.prereqs:
        if p not in by_key:
            continue
        if p in out.failed or p not in out.weeks:
            out.failed.add(s.key)
            return
        pre = by_key[p]
        release = max(release, (pre.end_week if pre.week is not None else out.last_week(p)) + 1)
    left, alloc = s.hours, {}
    for w in range(max(release, 0), deadline + 1):
        take = min(budget - out.load[w], left)
        if take > TOL:
            alloc[w] = float(take)
            left -= take
        if left <= TOL:
            break
    if left > TOL:
        out.failed.add(s.key)
        return
    for w, h in alloc.items():
        out.load[w] += h
    out.weeks[s.key] = alloc


def _propagate_failures(by_key: dict[int, Slot], out: Layout, cal: Calendar) -> None:
    """A course whose prerequisite failed, or ends up not before it, fails as well."""
    changed = True
    while changed:
        changed = False
        for s in by_key.values():
            if s.key in out.failed:
                continue
            for p in s.prereqs:
                if p not in by_key:
                    continue
                bad = p in out.failed
                if not bad and s.week is not None and by_key[p].week is None:
                    bad = out.last_week(p) >= s.week
                if bad:
                    out.failed.add(s.key)
                    changed = True
                    break
    for k in out.failed:
        if k in out.weeks:
            for w, h in out.weeks.pop(k).items():
                out.load[w] -= h


# ---------------------------------------------------------------- eligibility (hard filters)

_SPLIT = re.compile("[" + re.escape(LIST_SEPARATORS) + "]")
#: why a course cannot be planned, checked in this order ('' = eligible)
REASONS = (
    "invalid",
    "inactive",
    "completed",
    "audience",
    "no_session",
    "year",
    "windows",
    "capacity",
    "weekly_budget",
    "prerequisites",
)


def split_list(value: object) -> list[str]:
    """Items of a list-valued cell such as ``a|b；c``."""
    if not isinstance(value, str) or not value.strip():
        return []
    return [s.strip() for s in _SPLIT.split(value) if s.strip()]


@dataclass
class PlanCatalog:
    """Per-course arrays for one menu request; ``reason`` is '' for an eligible course."""

    ids: np.ndarray
    titles: np.ndarray
    categories: np.ndarray
    formats: np.ndarray
    topics: np.ndarray
    instructors: np.ndarray
    hours: np.ndarray
    raw: np.ndarray  # the caller's score, NaN where missing
    rel: np.ndarray  # score rescaled to [0.1, 1] over eligible courses, 0 where missing
    preferred: np.ndarray
    compulsory: np.ndarray  # compulsory for this cadre's audience
    scheduled: np.ndarray
    start: pd.DatetimeIndex
    end: pd.DatetimeIndex
    week: np.ndarray  # bucket of a session's start (-1 when self-paced)
    end_week: np.ndarray
    prereqs: list[tuple[int, ...]]  # positions of prerequisites not yet completed
    reason: np.ndarray


def _column(df: pd.DataFrame, name: str, default: object) -> pd.Series:
    return df[name] if name in df else pd.Series([default] * len(df), index=df.index)


def _times(df: pd.DataFrame, name: str) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(pd.to_datetime(_column(df, name, pd.NaT), errors="coerce"))
    idx = idx.tz_localize(None) if idx.tz is not None else idx
    return idx.as_unit("ns")  # one resolution, so .asi8 values compare across columns


def build_catalog(
    courses: pd.DataFrame,
    scores: pd.Series,
    *,
    cadre: Mapping[str, Any],
    completed: Collection[str],
    enrolled_counts: Mapping[str, int],
    cal: Calendar,
    windows: Sequence[str],
    formats: Sequence[str],
    rules: TrainingRules,
) -> PlanCatalog:
    """Arrays of the catalog with the first hard constraint each course breaks."""
    df = courses.drop_duplicates(C.COURSE_ID, keep="first").reset_index(drop=True)
    ids = df[C.COURSE_ID].astype(str).to_numpy(dtype=object)
    text = {
        k: _column(df, k, "")
        .astype(object)
        .where(lambda s: s.notna(), "")
        .astype(str)
        .to_numpy(dtype=object)
        for k in (C.TITLE, C.CATEGORY, C.FORMAT, C.TAGS, C.INSTRUCTOR, C.AUDIENCE, C.PREREQUISITES)
    }
    hours = pd.to_numeric(_column(df, C.CREDIT_HOURS, np.nan), errors="coerce").to_numpy(float)
    start, end = _times(df, C.SESSION_START), _times(df, C.SESSION_END)
    scheduled = ~start.isna()
    by_hours = start + pd.to_timedelta(np.nan_to_num(hours), unit="h")
    end = pd.DatetimeIndex(np.where(scheduled & ~(end > start), by_hours, end)).as_unit("ns")
    done = {str(c) for c in completed}
    tags = audience_tags(dict(cadre), rules.rank_band(str(cadre.get(C.RANK) or "")))
    aud_ok = np.array([audience_matches(split_list(a), tags) for a in text[C.AUDIENCE]], bool)
    cap = pd.to_numeric(_column(df, C.CAPACITY, np.nan), errors="coerce").to_numpy(float)
    taken = np.array([float(enrolled_counts.get(i, 0)) for i in ids]) if enrolled_counts else 0.0
    win = session_windows(
        start, day_start_hour=rules.day_start_hour, evening_start_hour=rules.evening_start_hour
    )
    checks = {
        "invalid": ~(hours > 0),
        "inactive": ~_column(df, C.ACTIVE, True).fillna(True).astype(bool).to_numpy(),
        "completed": np.isin(ids, list(done)),
        "audience": ~aud_ok,
        "no_session": np.isin(text[C.FORMAT], SCHEDULED_FORMATS) & ~scheduled,
        "year": scheduled & ~((start >= cal.start) & (end <= cal.end)),
        "windows": scheduled & ~np.isin(win, list(windows)),
        "capacity": ~np.isnan(cap) & (taken >= cap),
        "weekly_budget": scheduled & (hours > cal.budget + TOL),
    }
    reason = np.full(len(df), "", dtype=object)
    for code, mask in checks.items():
        reason[(reason == "") & np.asarray(mask, bool)] = code
    pos = {c: i for i, c in enumerate(ids)}
    prereqs = _prerequisites(text[C.PREREQUISITES], pos, done, reason)
    _prerequisite_feasibility(prereqs, reason, scheduled, start, end)
    raw = _scores(scores, ids)
    return PlanCatalog(
        ids=ids,
        titles=text[C.TITLE],
        categories=text[C.CATEGORY],
        formats=text[C.FORMAT],
        topics=np.array([(split_list(t) or [""])[0] for t in text[C.TAGS]], dtype=object),
        instructors=np.array([s.strip() for s in text[C.INSTRUCTOR]], dtype=object),
        hours=np.nan_to_num(hours),
        raw=raw,
        rel=_rescale(raw, reason == ""),
        preferred=np.isin(text[C.FORMAT], list(formats)),
        compulsory=_column(df, C.COMPULSORY, False).fillna(False).astype(bool).to_numpy() & aud_ok,
        scheduled=scheduled,
        start=start,
        end=end,
        week=_weeks(start, cal),
        end_week=_weeks(end - pd.Timedelta(1, "ns"), cal),
        prereqs=prereqs,
        reason=reason,
    )


def _weeks(times: pd.DatetimeIndex, cal: Calendar) -> np.ndarray:
    days = (times.normalize() - pd.Timestamp(cal.first_monday)).days
    return np.where(times.isna(), -1, np.asarray(days.fillna(-7)) // 7).astype(np.int64)


def _scores(scores: pd.Series, ids: np.ndarray) -> np.ndarray:
    s = pd.Series(
        pd.to_numeric(scores, errors="coerce").to_numpy(float), index=scores.index.astype(str)
    )
    s = s.groupby(level=0).max()
    return s.reindex(ids).to_numpy(dtype=float)


def _rescale(raw: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Scores to [0.1, 1] over eligible courses; a missing score counts as the lowest (0)."""
    ok = eligible & np.isfinite(raw)
    out = np.zeros(len(raw))
    if ok.any():
        lo, hi = raw[ok].min(), raw[ok].max()
        out[ok] = 1.0 if hi - lo < 1e-12 else 0.1 + 0.9 * (raw[ok] - lo) / (hi - lo)
    return out


def _prerequisites(
    cells: np.ndarray, pos: Mapping[str, int], done: set[str], reason: np.ndarray
) -> list[tuple[int, ...]]:
    """Positions of each course's uncompleted prerequisites; unknown ones make it ineligible."""
    out: list[tuple[int, ...]] = []
    for i, cell in enumerate(cells):
        pres = [p for p in split_list(cell) if p not in done]
        found = tuple(pos[p] for p in pres if p in pos and pos[p] != i)
        if len(found) < len(pres) and not reason[i]:
            reason[i] = "prerequisites"
        out.append(found)
    return out


def _prerequisite_feasibility(
    prereqs: list[tuple[int, ...]],
    reason: np.ndarray,
    scheduled: np.ndarray,
    start: pd.DatetimeIndex,
    end: pd.DatetimeIndex,
) -> None:
    """Mark courses whose prerequisites are ineligible, in a cycle, or (both sessions) later."""
    deps = [i for i, p in enumerate(prereqs) if p]
    good: set[int] = set()
    bad: set[int] = set()

    def acyclic(i: int, stack: set[int]) -> bool:
        if i in good or i in bad or i in stack:
            return i in good
        stack.add(i)
        ok = all(acyclic(j, stack) for j in prereqs[i])
        stack.discard(i)
        (good if ok else bad).add(i)
        return ok

    for i in deps:
        if not reason[i] and not acyclic(i, set()):
            reason[i] = "prerequisites"
    changed = True
    while changed:
        changed = False
        for i in deps:
            if reason[i]:
                continue
            if any(
                reason[j] or (scheduled[i] and scheduled[j] and end[j] > start[i])
                for j in prereqs[i]
            ):
                reason[i] = "prerequisites"
                changed = True
