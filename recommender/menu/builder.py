"""Personal course menu: pick courses for one cadre and year under hard and soft constraints.

Hard constraints are never broken (active, not completed, audience, inside the year and the
cadre's windows, no overlapping sessions, prerequisites first, free seats, weekly budget,
diversity caps). Soft goals are traded off in one objective (see ``training_rules.toml``):
relevance, the hour target, category minimums, the centralised/online split of ranks that
have one, preferred formats, few courses. A MILP
(HiGHS) picks the courses, :mod:`recommender.menu.schedule` lays them out week by week,
and whatever misses the target is reported in ``Menu.unmet`` with the hours it costs.

This module holds the public API (the request and output dataclasses, :func:`build_menu`)
and resolves a request's defaults; the hard filters and the shortfall accounting live in
:mod:`recommender.menu.eligibility`, the selection itself in :mod:`recommender.menu.solver`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import pandas as pd

from recommender.data.catalog import Catalog, split_list
from recommender.data.rules import SPLIT_PARTS, TrainingRules, load_rules
from recommender.data.schema import WINDOWS
from recommender.data.schema import Columns as C
from recommender.menu.eligibility import build_catalog, diagnose
from recommender.menu.schedule import Calendar, Layout
from recommender.menu.solver import Selector
from recommender.menu.types import (
    Menu,
    MenuConstraints,
    MenuError,
    MenuItem,
    PlanCatalog,
    Request,
    Solver,
)


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
        raise MenuError(
            f"windows: 未知的学习时段 {sorted(bad)}；可选 {list(WINDOWS)}", field="windows"
        )
    formats = mc.formats if mc.formats is not None else _listed(cadre.get(C.PREFERRED_FORMATS))
    minimums = dict(
        mc.category_minimums if mc.category_minimums is not None else rules.category_minimums
    )
    if any(not 0.0 <= v <= 1.0 for v in minimums.values()):
        raise MenuError(
            f"category_minimums: 类别最低比例须在 0 到 1 之间，收到 {minimums}",
            field="category_minimums",
        )
    split = _split(cadre, mc, rules)
    if (
        min(target, budget, mc.hours_credited) < 0
        or min(mc.max_courses, mc.max_per_topic, mc.max_per_instructor) < 0
    ):
        raise MenuError(
            "target_hours: 目标学时、每周可学学时、已获学时和各项上限都不能为负数",
            field="target_hours",
        )
    remaining = max(float(target) - float(mc.hours_credited), 0.0)
    cal = Calendar.for_year(mc.year, mc.start, budget)
    return Request(
        float(target), remaining, float(budget), windows, tuple(formats), minimums, split, cal, mc
    )


def _split(cadre: Mapping[str, Any], mc: MenuConstraints, rules: TrainingRules) -> dict:
    """The centralised/online split: the request's, else the rules' for the rank band."""
    if mc.format_split is None:
        return rules.split_for(str(cadre.get(C.RANK) or ""))
    split = {str(k): float(v) for k, v in mc.format_split.items()}
    if bad := set(split) - set(SPLIT_PARTS):
        raise MenuError(
            f"format_split: 未知的分项 {sorted(bad)}；可选 {list(SPLIT_PARTS)}",
            field="format_split",
        )
    if any(not v >= 0 for v in split.values()):
        raise MenuError(f"format_split: 学时不能为负数，收到 {split}", field="format_split")
    return split if sum(split.values()) > 0 else {}


def build_menu(
    courses: pd.DataFrame | Catalog,
    scores: pd.Series | np.ndarray,
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

    ``courses`` is a catalog frame or an already parsed :class:`Catalog` (then
    ``scores`` may be an array aligned with it, NaN = no score).

    ``solver='greedy'`` skips the MILP (for comparison); ``'exhaustive'`` enumerates every
    subset of the candidates (tiny catalogs only, a reference for tests).
    """
    if solver not in ("milp", "greedy", "exhaustive"):
        raise MenuError(
            f"solver: 求解器须为 'milp'、'greedy' 或 'exhaustive'，收到 {solver!r}",
            field="solver",
        )
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
    sel = Selector(cat, req, rules.solver)
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
            -(it.score if it.score == it.score else -np.inf),  # NaN (no score) last
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
    groups = [g for g in req.minimums if cat.groups[i] in g.split("+")]
    if groups and not cat.compulsory[i]:
        parts.append(f"计入{groups[0]}学时要求")
    if cat.preferred[i]:
        parts.append("偏好的学习形式")
    return "；".join([*parts, given] if given else parts)
