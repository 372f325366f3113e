"""Course selection for a menu: compulsory courses first, then a MILP, greedy or exhaustive pick.

:class:`Selector` chooses among the eligible courses of a
:class:`~recommender.menu.eligibility.PlanCatalog` under the hard constraints (no overlapping
sessions, prerequisites first, diversity caps, course count, weekly budget) and minimises
one objective over the soft goals (relevance, the hour target, category minimums, the
centralised/online split, preferred formats, few courses). The MILP is solved with HiGHS
(highspy) over a candidate pool pruned without changing its optimum; greedy is its fallback
and exhaustive enumeration a reference for tests.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import threading
from typing import TYPE_CHECKING

import numpy as np

from recommender.menu.schedule import TOL, Layout, Slot, lay_out, overlap_cliques
from recommender.menu.types import MenuError

if TYPE_CHECKING:  # pragma: no cover
    from recommender.data.rules import SolverWeights
    from recommender.menu.types import PlanCatalog, Request

log = logging.getLogger(__name__)


def goal_groups(cat: PlanCatalog, req: Request) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Courses and hours of each minimum the menu must reach, keyed by its unmet code:
    ``category_minimum:<group>`` (a share of the remaining target) and ``centralised_hours``
    / ``online_hours`` (the split's parts, in proportion to the remaining target).

    With the hours already earned per goal known (``credited_by_goal``: from the records),
    each goal is its share of the whole target less what was earned towards it instead."""
    groups, need = {}, {}
    earned = req.constraints.credited_by_goal
    for g, share in req.minimums.items():
        if share > 0:
            groups[f"category_minimum:{g}"] = np.isin(cat.groups, g.split("+"))
            need[f"category_minimum:{g}"] = (
                share * req.remaining
                if earned is None
                else max(share * req.target - earned.get(g, 0.0), 0.0)
            )
    total = sum(req.split.values())
    for part, hours in req.split.items():
        if hours > 0:
            groups[f"{part}_hours"] = cat.parts == part
            need[f"{part}_hours"] = (
                req.remaining * hours / total
                if earned is None
                else max(req.target * hours / total - earned.get(part, 0.0), 0.0)
            )
    return groups, need


class Selector:
    """Chooses courses among the eligible ones: compulsory first, then MILP or greedy."""

    def __init__(self, cat: PlanCatalog, req: Request, w: SolverWeights) -> None:
        self.cat, self.req, self.w = cat, req, w
        mc = req.constraints
        elig = np.flatnonzero(cat.reason == "")
        key = w.relevance * cat.rel + w.format_bonus * cat.preferred
        self.order = elig[np.lexsort((cat.id_rank[elig], -key[elig]))]
        self.rank = np.zeros(len(cat.ids), dtype=np.int64)  # position in ``order`` (0 if absent)
        self.rank[self.order] = np.arange(len(self.order))
        self.timed_out = False  # the MILP stopped at its time limit (not proven optimal)
        self._last_layout: tuple | None = None
        self.groups, self.need = goal_groups(cat, req)
        self.budgeted = cat.parts != "centralised"  # centralised sessions are work time
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
        key = (tuple(sel), frozenset(self.fixed.intersection(sel)))
        if self._last_layout is not None and self._last_layout[0] == key:
            return self._last_layout[1]  # settle() then run() lay out the same selection
        out = self._lay_out(sel)
        self._last_layout = (key, out)
        return out

    def _lay_out(self, sel: list[int]) -> Layout:
        c, chosen = self.cat, set(sel)
        slots = [
            Slot(
                i,
                float(c.hours[i]),
                int(c.week[i]) if c.scheduled[i] else None,
                int(c.end_week[i]) if c.scheduled[i] else None,
                tuple(p for p in c.prereqs[i] if p in chosen),
                i in self.fixed,
                bool(self.budgeted[i]),
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
        s, e = c.start_ns, c.end_ns
        for t in new:
            if c.scheduled[t] and any(
                j != t and c.scheduled[j] and s[t] < e[j] and s[j] < e[t] for j in sel
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

    def _add_all(self, sel: list[int], courses: list[int]) -> bool:
        """Force ``courses`` (with prerequisites) in at once when they all fit together: the
        same selection as adding them one by one, with one layout instead of one per course."""
        trial: list[int] = list(sel)
        for i in courses:
            trial += [j for j in self.closure(i) if j not in trial]
        new = trial[len(sel) :]
        if not new:
            return True
        if self._overlaps(new, trial):
            return False
        self.fixed.update(new)
        if self.layout(trial).failed:
            self.fixed.difference_update(new)
            return False
        sel[:] = trial
        return True

    def misses_goals(self, sel: list[int]) -> bool:
        """True if ``sel`` falls short of the hour target or of a category minimum: the only
        case where greedy beat a time-limited MILP incumbent in our measurements (it then
        won by a wide margin; otherwise the incumbent was better every time)."""
        if self.req.remaining - self.hours(sel) > TOL:
            return True
        idx = np.asarray(sel, dtype=int)
        return any(
            self.need[g] - float(self.cat.hours[idx][mask[idx]].sum()) > TOL
            for g, mask in self.groups.items()
        )

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
            compulsory = [int(i) for i in self.order[self.cat.compulsory[self.order]]]
            if not self._add_all(sel, compulsory):  # else one by one, dropping what won't fit
                for i in compulsory:
                    if i not in sel and not self.try_add(sel, i, forced=True):
                        self.failed_compulsory.append(i)
        self.over_cap = max(self.h_max, self.hours(sel) - self.req.remaining)
        used = solver
        if solver == "exhaustive":
            sel = self.exhaustive(sel)
        elif solver == "milp":
            forced = list(sel)
            picked = self.milp(sel)
            if picked is None:
                used, sel = "greedy", self.fill(sel)
            else:
                sel = self.settle(picked)
                if len(sel) < len(picked):  # the layout dropped something: top up greedily
                    sel = self.fill(sel)
                if self.timed_out and self.misses_goals(sel):  # an incumbent short of hours
                    alt = self.fill(forced)
                    if self.objective(alt) < self.objective(sel) - 1e-9:
                        used, sel = "greedy", alt
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
        sel = sorted(picked, key=lambda i: (i not in self.fixed, self.rank[i]))
        while failed := self.layout(sel).failed:
            log.debug("menu layout dropped %d course(s)", len(failed))
            sel = [i for i in sel if i not in failed]
        return sel

    def candidates(self, fixed: list[int], *, prune: bool = True) -> list[int]:
        """Top courses by score (more while their hours are short), group tops, prerequisites;
        with ``prune``, less what no optimal selection needs (see :meth:`_prune`)."""
        k, order, hours = self.w.candidates, self.order, self.cat.hours
        before = np.concatenate([[0.0], np.cumsum(hours[order])])[: len(order)]
        r = np.arange(len(order))  # before[r]: hours of the r better-scored courses
        stop = (r >= 3 * k) | ((r >= k) & (before >= 2 * self.req.remaining + self.h_max))
        parts = [
            np.asarray(fixed, dtype=np.int64),
            order[: int(np.argmax(stop)) if stop.any() else None],
        ]
        parts += [order[mask[order]][: self.w.group_candidates] for mask in self.groups.values()]
        out = np.unique(np.concatenate(parts))
        if any(self.cat.prereqs[i] for i in out):
            out = np.unique([j for i in out for j in self.closure(int(i))])
        out = out[np.argsort(self.rank[out], kind="stable")]
        return [int(i) for i in (self._prune(out, fixed) if prune else out)]

    def _prune(self, cand: np.ndarray, fixed: list[int]) -> np.ndarray:
        """Drop candidates that no optimal selection needs, so the MILP's optimum is unchanged.

        Two self-paced courses with the same hours, the same goals (category minimums, split
        part), both budgeted or not, the same capped topic and instructor (or none), and no
        prerequisite link are interchangeable in every constraint: swapping one for the other
        keeps a selection feasible. Of such a class a selection holds at most ``limit``
        courses (its hours fit ``remaining + over_cap``, the course count, the caps), so the
        ``limit`` cheapest in the objective are enough: any optimum using another one swaps it
        for an unused cheaper one at no higher cost."""
        c, w = self.cat, self.w
        pinned = np.isin(cand, np.asarray(fixed, dtype=np.int64))
        movable = ~pinned & ~c.scheduled[cand]
        if any(c.prereqs[i] for i in cand):
            linked = {p for i in cand for p in c.prereqs[i]} | {i for i in cand if c.prereqs[i]}
            movable &= ~np.isin(cand, list(linked))
        mv = np.flatnonzero(movable)
        if len(mv) < 2:
            return cand
        i_mv = cand[mv]
        room = self.req.remaining + self.over_cap - float(c.hours[cand[pinned]].sum())
        slots = max(self.n_max, len(self.fixed)) - int(pinned.sum())
        hours = c.hours[i_mv]
        limit = np.minimum(slots, np.floor(room / hours + TOL)).astype(np.int64)
        keys = [hours, self.budgeted[i_mv].astype(float)]
        keys += [mask[i_mv].astype(float) for mask in self.groups.values()]
        for name, values in (("topic", c.topics), ("instructor", c.instructors)):
            caps = self._cap_limits(cand, values, self.cap[name])
            if caps:  # a capped value is part of the class; the others are all alike
                code = {v: k + 1 for k, v in enumerate(caps)}
                left = np.array([caps.get(v, -1) for v in values[i_mv]], dtype=np.int64)
                limit = np.where(left >= 0, np.minimum(limit, left), limit)
                keys.append(np.array([code.get(v, 0) for v in values[i_mv]], dtype=float))
        _, cls = np.unique(np.column_stack(keys), axis=0, return_inverse=True)
        cls = cls.ravel()
        cost = w.course_cost - w.relevance * c.rel[i_mv] - w.format_bonus * c.preferred[i_mv]
        order = np.lexsort((mv, cost, cls))  # by class, cheapest first (then pool position)
        first = np.r_[0, np.flatnonzero(np.diff(cls[order])) + 1]
        within = np.arange(len(order)) - np.repeat(first, np.diff(np.r_[first, len(order)]))
        keep = ~movable
        keep[mv[order[within < limit[order]]]] = True
        return cand[keep]

    def _cap_limits(self, cand: np.ndarray, values: np.ndarray, cap: int) -> dict[str, int]:
        """Values with a cap row over ``cand`` → how many more of them a selection may hold."""
        named = cand[values[cand] != ""]
        if not len(named):
            return {}
        vals, counts = np.unique(values[named].astype(str), return_counts=True)
        out = {}
        for v in vals[counts > cap]:
            js = named[values[named] == v]
            n_fixed = sum(int(i) in self.fixed for i in js)
            if len(js) > max(cap, n_fixed):
                out[str(v)] = max(cap, n_fixed) - n_fixed
        return out

    def milp(self, fixed: list[int]) -> list[int] | None:
        """Solve the selection MILP over the candidates; None if HiGHS finds nothing.

        Columns: one binary per candidate, then the hour shortfall and overshoot, then one
        slack per goal; the matrix is built from index arrays, row by row in one pass."""
        c, w = self.cat, self.w
        cand = np.asarray(self.candidates(fixed), dtype=np.int64)
        m, groups = len(cand), list(self.groups)
        if m == 0:
            return []
        h, r, every = c.hours[cand], self.req.remaining, np.arange(m)
        rows = _Rows()
        rows.add(np.r_[every, m], np.r_[h, 1.0], r, np.inf)  # hours + short ≥ remaining
        rows.add(np.r_[every, m + 1], np.r_[h, -1.0], -np.inf, r)  # hours − over ≤ remaining
        for g_i, g in enumerate(groups):
            js = np.flatnonzero(self.groups[g][cand])
            rows.add(np.r_[js, m + 2 + g_i], np.r_[h[js], 1.0], self.need[g], np.inf)
        self._milp_rows(cand, rows)
        cost = np.concatenate(
            [
                w.course_cost - w.relevance * c.rel[cand] - w.format_bonus * c.preferred[cand],
                [w.shortfall_per_hour, w.overshoot_per_hour],
                np.full(len(groups), w.category_slack_per_hour),
            ]
        )
        lb = np.concatenate([np.isin(cand, fixed).astype(float), np.zeros(2 + len(groups))])
        ub = np.concatenate([np.ones(m), [r, self.over_cap], [self.need[g] for g in groups]])
        x, self.timed_out, message = _solve(cost, m, lb, ub, rows, self.w.time_limit)
        if x is None:
            log.warning("menu MILP found no solution (%s); using greedy", message)
            return None
        return [int(i) for i in cand[x[:m] > 0.5]]

    def _milp_rows(self, cand: np.ndarray, rows: _Rows) -> None:
        """Overlap cliques, prerequisites, diversity caps, course count, weekly budget (which
        centralised sessions do not use)."""
        c, m = self.cat, len(cand)
        sched = np.flatnonzero(c.scheduled[cand])
        for clique in overlap_cliques(c.start_ns[cand[sched]], c.end_ns[cand[sched]]):
            rows.add(sched[clique], np.ones(len(clique)), -np.inf, 1.0)
        where = {int(i): j for j, i in enumerate(cand)}
        for j, i in enumerate(cand):
            for p in c.prereqs[i]:
                rows.add(np.array([j, where[p]]), np.array([1.0, -1.0]), -np.inf, 0.0)
        for name, values in (("topic", c.topics), ("instructor", c.instructors)):
            members: dict[str, list[int]] = {}
            for j, i in enumerate(cand):
                if values[i]:
                    members.setdefault(values[i], []).append(j)
            for js in members.values():
                n_fixed = sum(int(cand[j]) in self.fixed for j in js)
                if len(js) > max(self.cap[name], n_fixed):
                    rows.add(np.array(js), np.ones(len(js)), -np.inf, max(self.cap[name], n_fixed))
        rows.add(np.arange(m), np.ones(m), -np.inf, max(self.n_max, len(self.fixed)))
        budget, h = self.req.calendar.budget, c.hours[cand]
        own = self.budgeted[cand]
        weekly = sched[own[sched]]
        weeks = c.week[cand[weekly]]
        for wk in dict.fromkeys(weeks.tolist()):  # first-seen order, as before
            js = weekly[weeks == wk]
            if h[js].sum() > budget + TOL:
                rows.add(js, h[js].astype(float), -np.inf, budget)
        total = budget * self.req.calendar.n_weeks
        js = np.flatnonzero(own)
        rows.add(js, h[js].astype(float), -np.inf, total + TOL)

    def exhaustive(self, fixed: list[int], limit: int = 16) -> list[int]:
        """Best feasible subset by enumeration (reference for tests; ≤ ``limit`` candidates)."""

        free = [i for i in self.candidates(fixed, prune=False) if i not in set(fixed)]
        if len(free) > limit:
            raise MenuError(f"exhaustive solver: {len(free)} candidates > {limit}", field="solver")
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


_BANNER_LOCK = threading.Lock()
_banner_shown = False


def _new_highs():
    """A ``highspy.Highs``. HiGHS ≥ 1.16 prints its banner on standard output when the first
    solver of a process is made, before any option can silence it: that line would break
    ``menu --json`` and every pipe that reads our output. The first one is made with
    standard output pointed at standard error (C buffers flushed before it is restored)."""
    global _banner_shown
    import highspy

    if _banner_shown:
        return highspy.Highs()
    with _BANNER_LOCK:
        if _banner_shown:
            return highspy.Highs()
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            os.dup2(2, 1)
            solver = highspy.Highs()
            ctypes.CDLL(None).fflush(None)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _banner_shown = True
        return solver


def _solve(
    cost: np.ndarray, n_int: int, lb: np.ndarray, ub: np.ndarray, rows: _Rows, time_limit: float
) -> tuple[np.ndarray | None, bool, str]:
    """HiGHS on the MILP (the first ``n_int`` columns integer): the solution (None if none
    was found), whether the time limit stopped it, and HiGHS's status in words.

    highspy rather than ``scipy.optimize.milp`` (the same HiGHS) for one option scipy does
    not pass: without the feasibility-jump heuristic these small models solve in about two
    thirds of the time (measured on 200 large-model menus), with the same optima."""
    import highspy

    n = len(cost)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, len(rows.lo)
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, lb, ub
    lp.row_lower_, lp.row_upper_ = np.asarray(rows.lo), np.asarray(rows.hi)
    indptr, indices, values = rows.arrays()
    a = lp.a_matrix_
    a.format_ = highspy.MatrixFormat.kRowwise
    a.num_col_, a.num_row_ = n, len(rows.lo)
    a.start_, a.index_, a.value_ = indptr, indices, values
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n_int + [
        highspy.HighsVarType.kContinuous
    ] * (n - n_int)
    solver = _new_highs()
    for key, value in (
        ("output_flag", False),
        ("time_limit", float(time_limit)),
        ("mip_rel_gap", 1e-6),
        ("mip_heuristic_run_feasibility_jump", False),
    ):
        solver.setOptionValue(key, value)
    solver.passModel(lp)
    solver.run()
    status = solver.getModelStatus()
    message = solver.modelStatusToString(status)
    timed_out = status == highspy.HighsModelStatus.kTimeLimit
    if solver.getInfo().primal_solution_status != 2:  # 2 = feasible
        return None, timed_out, message
    return np.asarray(solver.getSolution().col_value), timed_out, message


class _Rows:
    """Constraint rows of the MILP as (column indices, values) arrays and their bounds."""

    def __init__(self) -> None:
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.lo: list[float] = []
        self.hi: list[float] = []

    def add(self, cols: np.ndarray, vals: np.ndarray, lo: float, hi: float) -> None:
        self.cols.append(np.asarray(cols, dtype=np.int64))
        self.vals.append(np.asarray(vals, dtype=float))
        self.lo.append(float(lo))
        self.hi.append(float(hi))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row-wise (CSR) start, column index and value arrays."""
        counts = np.fromiter((len(c) for c in self.cols), dtype=np.int64, count=len(self.cols))
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        return indptr, np.concatenate(self.cols).astype(np.int32), np.concatenate(self.vals)
