"""Personal course menu: pick courses for one cadre and year under hard and soft constraints.

Hard constraints are never broken (active, not completed, audience, inside the year and the
cadre's windows, no overlapping sessions, prerequisites first, free seats, weekly budget,
diversity caps). Soft goals are traded off in one objective (see ``training_rules.toml``):
relevance, the hour target, category minimums, preferred formats, few courses. A MILP
(scipy/HiGHS) picks the courses, :mod:`recommender.schedule` lays them out week by week,
and whatever misses the target is reported in ``Menu.unmet`` with the hours it costs.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

from recommender.rules import SolverWeights, TrainingRules, load_rules
from recommender.schedule import (
    TOL,
    Calendar,
    Layout,
    PlanCatalog,
    Slot,
    build_catalog,
    lay_out,
    overlap_cliques,
    split_list,
)
from recommender.schema import WINDOWS
from recommender.schema import Columns as C

log = logging.getLogger(__name__)

Solver = Literal["milp", "greedy", "exhaustive"]


class MenuError(ValueError):
    """Invalid menu request (unknown solver, window or format, bad numbers)."""


@dataclass(frozen=True)
class MenuConstraints:
    """What the menu must respect; ``None`` falls back to the cadre profile, then the rules."""

    year: int
    target_hours: float | None = None
    hours_credited: float = 0.0
    start: datetime | None = None
    compulsory_first: bool = True
    category_minimums: Mapping[str, float] | None = None
    weekly_hours_budget: float | None = None
    windows: tuple[str, ...] | None = None
    formats: tuple[str, ...] | None = None
    max_per_topic: int = 2
    max_per_instructor: int = 2
    max_courses: int = 40


@dataclass(frozen=True)
class MenuItem:
    """One planned course; ``weeks`` maps the first plannable day of each week to its hours."""

    course_id: str
    title: str
    category: str
    format: str
    credit_hours: float
    score: float
    week: int | None
    session_start: datetime | None
    session_end: datetime | None
    reason: str
    compulsory: bool
    weeks: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Unmet:
    """A goal the menu misses: which constraint, by how many hours, why (in Chinese)."""

    constraint: str
    shortfall_hours: float
    message: str


@dataclass(frozen=True)
class Menu:
    """A cadre's course menu for one year."""

    cadre_id: str
    year: int
    target_hours: float
    hours_credited: float
    planned_hours: float
    items: list[MenuItem]
    totals_by_category: dict[str, float]
    totals_by_format: dict[str, float]
    met: bool
    unmet: list[Unmet]
    solver: str
    objective: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (datetimes as ISO strings, missing scores as None)."""
        return _jsonable(asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float | np.floating):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    return value


@dataclass(frozen=True)
class Request:
    """A menu request with every default resolved."""

    target: float
    remaining: float
    budget: float
    windows: tuple[str, ...]
    formats: tuple[str, ...]
    minimums: dict[str, float]
    calendar: Calendar
    constraints: MenuConstraints


def _number(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def _listed(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return tuple(split_list(value))


def resolve(cadre: Mapping[str, Any], mc: MenuConstraints, rules: TrainingRules) -> Request:
    """Fill the constraints' gaps from the cadre profile and the training rules."""
    target = mc.target_hours
    if target is None:
        target = _number(cadre.get(C.ANNUAL_HOURS_TARGET))
    if target is None:
        target = rules.default_target(str(cadre.get(C.RANK) or ""))
    budget = mc.weekly_hours_budget
    if budget is None:
        budget = _number(cadre.get(C.WEEKLY_HOURS_BUDGET))
    if budget is None:
        budget = rules.weekly_hours_budget
    windows = mc.windows if mc.windows is not None else _listed(cadre.get(C.AVAILABLE_WINDOWS))
    windows = tuple(w for w in windows if w in WINDOWS) or tuple(rules.windows)
    if mc.windows is not None and (bad := set(mc.windows) - set(WINDOWS)):
        raise MenuError(f"windows: unknown {sorted(bad)}; use {WINDOWS}")
    formats = mc.formats if mc.formats is not None else _listed(cadre.get(C.PREFERRED_FORMATS))
    minimums = dict(
        mc.category_minimums if mc.category_minimums is not None else rules.category_minimums
    )
    if any(not 0.0 <= v <= 1.0 for v in minimums.values()):
        raise MenuError(f"category_minimums: shares must be in [0, 1], found {minimums}")
    if (
        min(target, budget, mc.hours_credited) < 0
        or min(mc.max_courses, mc.max_per_topic, mc.max_per_instructor) < 0
    ):
        raise MenuError("target_hours, weekly_hours_budget, hours_credited and caps must be ≥ 0")
    remaining = max(float(target) - float(mc.hours_credited), 0.0)
    cal = Calendar.for_year(mc.year, mc.start, budget)
    return Request(
        float(target), remaining, float(budget), windows, tuple(formats), minimums, cal, mc
    )


def build_menu(
    courses: pd.DataFrame,
    scores: pd.Series,
    *,
    cadre: Mapping[str, Any],
    completed: Collection[str] = (),
    enrolled_counts: Mapping[str, int] | None = None,
    constraints: MenuConstraints,
    reasons: Mapping[str, str] | None = None,
    rules: TrainingRules | None = None,
    solver: Solver = "milp",
) -> Menu:
    """A personal course menu for ``cadre`` from ``courses`` ranked by ``scores``.

    ``solver='greedy'`` skips the MILP (for comparison); ``'exhaustive'`` enumerates every
    subset of the candidates (tiny catalogs only, a reference for tests).
    """
    if solver not in ("milp", "greedy", "exhaustive"):
        raise MenuError(f"solver must be 'milp', 'greedy' or 'exhaustive', not {solver!r}")
    rules = rules or load_rules()
    req = resolve(cadre, constraints, rules)
    cat = build_catalog(
        courses,
        scores,
        cadre=cadre,
        completed=completed,
        enrolled_counts=enrolled_counts or {},
        cal=req.calendar,
        windows=req.windows,
        formats=req.formats,
        rules=rules,
    )
    sel = _Selector(cat, req, rules.solver)
    chosen, layout, used = sel.run(solver)
    unmet = diagnose(cat, req, sel, chosen)
    return _assemble(
        cat, req, chosen, layout, unmet, used, sel.objective(chosen), cadre, reasons or {}
    )


def _assemble(
    cat: PlanCatalog,
    req: Request,
    chosen: list[int],
    layout: Layout,
    unmet: list,
    solver: str,
    objective: float,
    cadre: Mapping[str, Any],
    reasons: Mapping[str, str],
) -> Menu:
    items = [_item(cat, req, i, layout, reasons) for i in chosen]
    items.sort(
        key=lambda it: (
            not it.compulsory,
            min(it.weeks, default=""),
            -np.nan_to_num(it.score, nan=-np.inf),
            it.course_id,
        )
    )
    by_cat: dict[str, float] = {}
    by_fmt: dict[str, float] = {}
    for it in items:
        by_cat[it.category] = by_cat.get(it.category, 0.0) + it.credit_hours
        by_fmt[it.format] = by_fmt.get(it.format, 0.0) + it.credit_hours
    planned = float(sum(it.credit_hours for it in items))
    return Menu(
        cadre_id=str(cadre.get(C.CADRE_ID) or ""),
        year=req.constraints.year,
        target_hours=req.target,
        hours_credited=float(req.constraints.hours_credited),
        planned_hours=round(planned, 6),
        items=items,
        totals_by_category=by_cat,
        totals_by_format=by_fmt,
        met=not unmet,
        unmet=unmet,
        solver=solver,
        objective=round(float(objective), 6),
    )


def _item(
    cat: PlanCatalog, req: Request, i: int, layout: Layout, reasons: Mapping[str, str]
) -> MenuItem:
    cal = req.calendar
    alloc = layout.weeks.get(i, {})
    weeks = {cal.week_start(w).isoformat(): round(h, 6) for w, h in sorted(alloc.items())}
    if cat.scheduled[i]:
        start, end = cat.start[i].to_pydatetime(), cat.end[i].to_pydatetime()
        week = start.isocalendar().week
    else:
        start = end = None
        week = cal.week_start(min(alloc)).isocalendar().week if alloc else None
    return MenuItem(
        course_id=str(cat.ids[i]),
        title=str(cat.titles[i]),
        category=str(cat.categories[i]),
        format=str(cat.formats[i]),
        credit_hours=float(cat.hours[i]),
        score=float(cat.raw[i]),
        week=week,
        session_start=start,
        session_end=end,
        reason=_reason(cat, req, i, reasons),
        compulsory=bool(cat.compulsory[i]),
        weeks=weeks,
    )


def _reason(cat: PlanCatalog, req: Request, i: int, reasons: Mapping[str, str]) -> str:
    given = reasons.get(str(cat.ids[i]), "")
    parts = []
    if cat.compulsory[i]:
        parts.append("必修课")
    groups = [g for g in req.minimums if cat.categories[i] in g.split("+")]
    if groups and not cat.compulsory[i]:
        parts.append(f"计入{groups[0]}学时要求")
    if cat.preferred[i]:
        parts.append("偏好的学习形式")
    return "；".join([*parts, given] if given else parts)


# ---------------------------------------------------------------- selection


class _Selector:
    """Chooses courses among the eligible ones: compulsory first, then MILP or greedy."""

    def __init__(self, cat: PlanCatalog, req: Request, w: SolverWeights) -> None:
        self.cat, self.req, self.w = cat, req, w
        mc = req.constraints
        elig = np.flatnonzero(cat.reason == "")
        key = w.relevance * cat.rel + w.format_bonus * cat.preferred
        self.order = elig[np.lexsort((cat.ids[elig].astype(str), -key[elig]))]
        self.rank = {int(i): r for r, i in enumerate(self.order)}
        self.groups = {
            g: np.isin(cat.categories, g.split("+"))
            for g, share in req.minimums.items()
            if share > 0
        }
        self.need = {g: req.minimums[g] * req.remaining for g in self.groups}
        self.h_max = float(cat.hours[elig].max()) if len(elig) else 0.0
        self.fixed: set[int] = set()
        self.failed_compulsory: list[int] = []
        self.over_cap = self.h_max
        self.cap = {"topic": mc.max_per_topic, "instructor": mc.max_per_instructor}
        self.n_max = mc.max_courses

    # -- checks shared by every solver
    def closure(self, i: int) -> list[int]:
        """``i`` and its uncompleted prerequisites, prerequisites first."""
        out: list[int] = []

        def visit(j: int) -> None:
            if j not in out:
                for p in self.cat.prereqs[j]:
                    visit(p)
                out.append(j)

        visit(i)
        return out

    def layout(self, sel: list[int]) -> Layout:
        c, chosen = self.cat, set(sel)
        slots = [
            Slot(
                i,
                float(c.hours[i]),
                int(c.week[i]) if c.scheduled[i] else None,
                int(c.end_week[i]) if c.scheduled[i] else None,
                tuple(p for p in c.prereqs[i] if p in chosen),
                i in self.fixed,
            )
            for i in sel
        ]
        return lay_out(slots, self.req.calendar)

    def _caps_ok(self, sel: list[int]) -> bool:
        if len(sel) > max(self.n_max, len(self.fixed)):
            return False
        if self.hours(sel) - self.req.remaining > self.over_cap + TOL:
            return False
        for name, values in (("topic", self.cat.topics), ("instructor", self.cat.instructors)):
            counts: dict[str, int] = {}
            for i in sel:
                if values[i]:
                    counts[values[i]] = counts.get(values[i], 0) + 1
            fixed = {v: sum(values[j] == v for j in self.fixed) for v in counts}
            if any(n > max(self.cap[name], fixed[v]) for v, n in counts.items()):
                return False
        return True

    def _overlaps(self, new: list[int], sel: list[int]) -> bool:
        c = self.cat
        for t in new:
            if c.scheduled[t] and any(
                j != t and c.scheduled[j] and c.start[t] < c.end[j] and c.start[j] < c.end[t]
                for j in sel
            ):
                return True
        return False

    def try_add(self, sel: list[int], i: int, *, forced: bool = False) -> bool:
        """Add ``i`` (with its prerequisites) to ``sel`` if every hard constraint still holds."""
        chosen = set(sel)
        new = [j for j in self.closure(i) if j not in chosen]
        trial = sel + new
        if not new or self._overlaps(new, trial) or (not forced and not self._caps_ok(trial)):
            return False
        if forced:
            self.fixed.update(new)
        if self.layout(trial).failed:
            if forced:
                self.fixed.difference_update(new)
            return False
        sel[:] = trial
        return True

    def hours(self, sel: list[int]) -> float:
        return float(self.cat.hours[sel].sum()) if sel else 0.0

    def objective(self, sel: list[int]) -> float:
        """The minimised cost of a selection (same terms as the MILP)."""
        c, w, r = self.cat, self.w, self.req.remaining
        idx = np.asarray(sel, dtype=int)
        h = self.hours(sel)
        cost = float(
            (w.course_cost - w.relevance * c.rel[idx] - w.format_bonus * c.preferred[idx]).sum()
        )
        cost += w.shortfall_per_hour * max(r - h, 0.0) + w.overshoot_per_hour * max(h - r, 0.0)
        for g, mask in self.groups.items():
            cost += w.category_slack_per_hour * max(self.need[g] - c.hours[idx][mask[idx]].sum(), 0)
        return cost

    # -- solvers
    def run(self, solver: str) -> tuple[list[int], Layout, str]:
        sel: list[int] = []
        if self.req.constraints.compulsory_first:
            for i in self.order:
                if (
                    self.cat.compulsory[i]
                    and i not in sel
                    and not self.try_add(sel, int(i), forced=True)
                ):
                    self.failed_compulsory.append(int(i))
        self.over_cap = max(self.h_max, self.hours(sel) - self.req.remaining)
        used = solver
        if solver == "exhaustive":
            sel = self.exhaustive(sel)
        elif solver == "milp":
            picked = self.milp(sel)
            if picked is None:
                used, sel = "greedy", self.fill(sel)
            else:
                sel = self.settle(picked)
                if len(sel) < len(picked):  # the layout dropped something: top up greedily
                    sel = self.fill(sel)
        else:
            sel = self.fill(sel)
        return sel, self.layout(sel), used

    def fill(self, sel: list[int]) -> list[int]:
        """Greedy: top up each category minimum, then the hour target, by score."""
        sel = list(sel)
        for g, mask in self.groups.items():
            for i in self.order[mask[self.order]]:
                if self.cat.hours[sel][mask[sel]].sum() >= self.need[g] - TOL:
                    break
                if i not in sel:
                    self.try_add(sel, int(i))
        for strict in (True, False):
            for i in self.order:
                short, slots = self.req.remaining - self.hours(sel), self.n_max - len(sel)
                if short <= TOL or slots <= 0:
                    return sel
                # first pass: skip courses too short to reach the target within the course cap
                if i not in sel and (not strict or self.cat.hours[i] >= short / slots - TOL):
                    self.try_add(sel, int(i))
        return sel

    def settle(self, picked: list[int]) -> list[int]:
        """Lay out a selection, dropping what cannot be placed (and what depends on it)."""
        sel = sorted(picked, key=lambda i: (i not in self.fixed, self.rank.get(i, 0)))
        while failed := self.layout(sel).failed:
            log.debug("menu layout dropped %d course(s)", len(failed))
            sel = [i for i in sel if i not in failed]
        return sel

    def candidates(self, fixed: list[int]) -> list[int]:
        """Top courses by score (more while their hours are short), group tops, prerequisites."""
        k, out, hours = self.w.candidates, list(fixed), 0.0
        for r, i in enumerate(self.order):
            if r >= 3 * k or (r >= k and hours >= 2 * self.req.remaining + self.h_max):
                break
            out.append(int(i))
            hours += self.cat.hours[i]
        for mask in self.groups.values():
            out.extend(int(i) for i in self.order[mask[self.order]][: self.w.group_candidates])
        closed = [j for i in out for j in self.closure(i)]
        return sorted(set(closed), key=lambda i: self.rank.get(i, 0))

    def milp(self, fixed: list[int]) -> list[int] | None:
        """Solve the selection MILP over the candidates; None if HiGHS finds nothing."""
        from scipy.optimize import Bounds, LinearConstraint, milp
        from scipy.sparse import coo_array

        c, w, cand = self.cat, self.w, self.candidates(fixed)
        m, groups = len(cand), list(self.groups)
        if m == 0:
            return []
        h, r = c.hours[cand], self.req.remaining
        rows: list[tuple[dict[int, float], float, float]] = [
            ({**dict(enumerate(h)), m: 1.0}, r, np.inf),  # hours + short ≥ remaining
            ({**dict(enumerate(h)), m + 1: -1.0}, -np.inf, r),  # hours − over ≤ remaining
        ]
        for g_i, g in enumerate(groups):
            member = {j: h[j] for j in range(m) if self.groups[g][cand[j]]}
            rows.append(({**member, m + 2 + g_i: 1.0}, self.need[g], np.inf))
        rows += self._milp_rows(cand)
        cost = np.concatenate(
            [
                w.course_cost - w.relevance * c.rel[cand] - w.format_bonus * c.preferred[cand],
                [w.shortfall_per_hour, w.overshoot_per_hour],
                np.full(len(groups), w.category_slack_per_hour),
            ]
        )
        pos = set(fixed)
        lb = np.concatenate([[1.0 if i in pos else 0.0 for i in cand], np.zeros(2 + len(groups))])
        ub = np.concatenate([np.ones(m), [r, self.over_cap], [self.need[g] for g in groups]])
        ri, ci, vals = zip(
            *((k, j, v) for k, (row, _, _) in enumerate(rows) for j, v in row.items()), strict=True
        )
        a = coo_array((vals, (ri, ci)), shape=(len(rows), len(cost))).tocsr()
        res = milp(
            cost,
            integrality=np.r_[np.ones(m), np.zeros(2 + len(groups))],
            bounds=Bounds(lb, ub),
            constraints=LinearConstraint(a, [x[1] for x in rows], [x[2] for x in rows]),
            options={"time_limit": self.w.time_limit, "mip_rel_gap": 1e-6},
        )
        if res.x is None:
            log.warning("menu MILP found no solution (%s); using greedy", res.message)
            return None
        return [cand[j] for j in range(m) if res.x[j] > 0.5]

    def _milp_rows(self, cand: list[int]) -> list[tuple[dict[int, float], float, float]]:
        """Overlap cliques, prerequisites, diversity caps, course count, weekly budget."""
        c, m = self.cat, len(cand)
        where = {i: j for j, i in enumerate(cand)}
        rows = []
        sched = [j for j in range(m) if c.scheduled[cand[j]]]
        starts = c.start[[cand[j] for j in sched]].asi8
        ends = c.end[[cand[j] for j in sched]].asi8
        for clique in overlap_cliques(starts, ends):
            rows.append(({sched[k]: 1.0 for k in clique}, -np.inf, 1.0))
        for j, i in enumerate(cand):
            for p in c.prereqs[i]:
                rows.append(({j: 1.0, where[p]: -1.0}, -np.inf, 0.0))
        for name, values in (("topic", c.topics), ("instructor", c.instructors)):
            members: dict[str, list[int]] = {}
            for j, i in enumerate(cand):
                if values[i]:
                    members.setdefault(values[i], []).append(j)
            for js in members.values():
                n_fixed = sum(cand[j] in self.fixed for j in js)
                if len(js) > max(self.cap[name], n_fixed):
                    rows.append(({j: 1.0 for j in js}, -np.inf, max(self.cap[name], n_fixed)))
        rows.append(({j: 1.0 for j in range(m)}, -np.inf, max(self.n_max, len(self.fixed))))
        budget = self.req.calendar.budget
        weekly: dict[int, dict[int, float]] = {}
        for j in sched:
            weekly.setdefault(int(c.week[cand[j]]), {})[j] = float(c.hours[cand[j]])
        for row in weekly.values():
            if sum(row.values()) > budget + TOL:
                rows.append((row, -np.inf, budget))
        total = budget * self.req.calendar.n_weeks
        rows.append(({j: float(c.hours[i]) for j, i in enumerate(cand)}, -np.inf, total + TOL))
        return rows

    def exhaustive(self, fixed: list[int], limit: int = 16) -> list[int]:
        """Best feasible subset by enumeration (reference for tests; ≤ ``limit`` candidates)."""
        free = [i for i in self.candidates(fixed) if i not in set(fixed)]
        if len(free) > limit:
            raise MenuError(f"exhaustive solver: {len(free)} candidates > {limit}")
        best, best_cost = list(fixed), self.objective(fixed)
        for bits in range(1, 2 ** len(free)):
            sel = list(fixed) + [free[k] for k in range(len(free)) if bits >> k & 1]
            chosen = set(sel)
            if any(p not in chosen for i in sel for p in self.cat.prereqs[i]):
                continue
            extra = sel[len(fixed) :]
            if self._overlaps(extra, sel) or not self._caps_ok(sel) or self.layout(sel).failed:
                continue
            cost = self.objective(sel)
            if cost < best_cost - 1e-9:
                best, best_cost = sel, cost
        return best


# ---------------------------------------------------------------- what could not be met

_WHY = {
    "invalid": "学时无效",
    "inactive": "课程已下线",
    "completed": "已学过",
    "audience": "不面向该干部",
    "no_session": "尚未排定开课时间",
    "year": "开课时间不在本年度计划期内",
    "windows": "开课时间不在可学习时段内",
    "capacity": "名额已满",
    "weekly_budget": "单次学时超过每周可学学时",
    "prerequisites": "先修课程无法安排",
    "conflict": "与其他必修课时间冲突、超出每周可学学时或先修顺序无法满足",
}
_CATALOG = ("invalid", "inactive", "completed", "audience", "no_session", "year")


def diagnose(cat: PlanCatalog, req: Request, sel: _Selector, chosen: list[int]) -> list[Unmet]:
    """Every goal the menu misses, with the constraint responsible and the hours short."""
    out: list[Unmet] = []
    if req.constraints.compulsory_first:
        picked = set(chosen)
        for i in np.flatnonzero(cat.compulsory & (cat.reason != "completed")):
            if i not in picked and cat.reason[i] != "inactive":
                why = _WHY[cat.reason[i] or "conflict"]
                out.append(
                    Unmet(
                        "compulsory",
                        float(cat.hours[i]),
                        f"必修课《{cat.titles[i]}》（{cat.ids[i]}）无法安排：{why}",
                    )
                )
    short = req.remaining - sel.hours(chosen)
    if short > TOL:
        out += _attribute(cat, req, sel, chosen, short)
    for g, mask in sel.groups.items():
        have = float(cat.hours[chosen][mask[chosen]].sum()) if chosen else 0.0
        gap = sel.need[g] - have
        if gap > TOL:
            pool = float(cat.hours[mask & (cat.reason == "")].sum())
            why = (
                "可选课程不足" if pool < sel.need[g] - TOL else "受时间冲突、每周学时等其他约束限制"
            )
            out.append(
                Unmet(f"category_minimum:{g}", round(gap, 6), f"{g} 还差 {gap:.1f} 学时：{why}")
            )
    return out


def _bounds(cat: PlanCatalog, req: Request, sel: _Selector) -> list[tuple[str, float, str]]:
    """Upper bounds on plannable hours as the hard constraints are added one group at a time."""
    h, reason, cal = cat.hours, cat.reason, req.calendar
    u = float(h[~np.isin(reason, _CATALOG)].sum())
    out = [("catalog", u, f"有效且未学过的课程共 {u:.1f} 学时")]
    for code, text in (
        ("windows", f"可学习时段（{'、'.join(req.windows)}）内的课程不足"),
        ("capacity", "部分课程名额已满"),
        ("prerequisites", "部分课程的先修课程无法安排"),
    ):
        u -= float(h[reason == code].sum())
        out.append((code, u, text))
    u -= float(h[reason == "weekly_budget"].sum())
    cap = cal.budget * cal.n_weeks
    out.append(
        (
            "weekly_budget",
            min(u, cap),
            f"每周可学 {cal.budget:g} 学时 × 剩余 {cal.n_weeks} 周 = {cap:.1f} 学时",
        )
    )
    elig = sel.order
    for name, values, limit in (
        ("max_per_topic", cat.topics, sel.cap["topic"]),
        ("max_per_instructor", cat.instructors, sel.cap["instructor"]),
    ):
        taken: dict[str, int] = {}
        bound = 0.0
        for i in elig[np.argsort(-h[elig], kind="stable")]:
            v = values[i]
            if not v or i in sel.fixed or taken.get(v, 0) < limit:
                taken[v] = taken.get(v, 0) + (0 if i in sel.fixed else 1)
                bound += h[i]
        out.append(
            (
                name,
                min(out[-1][1], bound),
                f"每个{'专题' if 'topic' in name else '教师'}最多 {limit} 门",
            )
        )
    top = float(np.sort(h[elig])[::-1][: max(sel.n_max, len(sel.fixed))].sum())
    out.append(("max_courses", min(out[-1][1], top), f"课程数上限 {sel.n_max} 门"))
    return out


def _attribute(
    cat: PlanCatalog, req: Request, sel: _Selector, chosen: list[int], short: float
) -> list[Unmet]:
    """Split the hour shortfall over the constraints that cut the plannable hours below target."""
    r, prev, left, out = req.remaining, req.remaining, short, []
    for name, bound, text in _bounds(cat, req, sel):
        cut = min(prev - min(r, bound), left)
        prev = min(prev, bound)
        if cut > TOL:
            left -= cut
            out.append(
                Unmet(name, round(cut, 6), f"{text}，比剩余目标 {r:.1f} 学时少 {cut:.1f} 学时")
            )
    if left > TOL and len(chosen) >= sel.n_max:
        text = f"已达课程数上限 {sel.n_max} 门"
        out.append(Unmet("max_courses", round(left, 6), f"{text}，距剩余目标还差 {left:.1f} 学时"))
    elif left > TOL:
        text = "时间冲突、先修顺序、每周学时分布等约束共同作用"
        out.append(Unmet("combination", round(left, 6), f"{text}，距剩余目标还差 {left:.1f} 学时"))
    return out
