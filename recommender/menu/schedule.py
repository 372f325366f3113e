"""Time side of the menu: session windows, week buckets, overlaps and the week-by-week layout.

Weeks are Monday-based buckets from the week of the plan start to the week holding
31 December; a partial first or last week still gets the full weekly budget. A scheduled
session occupies the week it starts in (a centralised one without using the weekly budget:
it is work-time training); a self-paced course is spread over the earliest
weeks with budget left, after everything it depends on and before any scheduled course
that depends on it. Which courses may be planned at all (the hard filters) lives in
:mod:`recommender.menu.eligibility`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np

from recommender.data.schema import WINDOWS

TOL = 1e-6
WEEKDAY_DAYTIME, WEEKDAY_EVENING, WEEKEND = WINDOWS


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

    def week_start(self, week: int) -> date:
        """First plannable day of a bucket (the start date for the first one)."""
        return max(self.first_monday + timedelta(weeks=week), self.start.date())


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
    first pass (compulsory courses and what they need); ``budgeted`` is False for a
    centralised session, held in work time rather than the cadre's weekly study hours.
    """

    key: int
    hours: float
    week: int | None = None
    end_week: int | None = None
    prereqs: tuple[int, ...] = ()
    first: bool = False
    budgeted: bool = True


@dataclass
class Layout:
    """Hours per week of every placed course and the keys that could not be placed."""

    weeks: dict[int, dict[int, float]] = field(default_factory=dict)
    failed: set[int] = field(default_factory=set)
    load: np.ndarray = field(default_factory=lambda: np.zeros(0))

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
        load = s.hours if s.budgeted else 0.0
        if 0 <= s.week < n and out.load[s.week] + load <= budget + TOL:
            out.load[s.week] += load
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
                out.load[w] -= h if by_key[k].budgeted else 0.0
