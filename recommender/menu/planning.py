"""Glue between the model and the menu planner: score, then select under constraints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from recommender.data.schema import Columns as C
from recommender.menu.builder import Menu, MenuConstraints, build_menu
from recommender.menu.eligibility import catalog_arrays
from recommender.menu.ledger import plan_day, year_hours
from recommender.ranking.candidates import EVERYTHING
from recommender.ranking.model import RecommenderModel, Scored


def plan_menu(
    model: RecommenderModel,
    cadre_id: str | None = None,
    *,
    profile: Mapping[str, Any] | None = None,
    completed: Sequence[str] = (),
    year: int | None = None,
    as_of: date | datetime | None = None,
    start: datetime | None = None,
    target_hours: float | None = None,
    hours_credited: float | None = None,
    weekly_hours_budget: float | None = None,
    windows: Sequence[str] | None = None,
    formats: Sequence[str] | None = None,
    category_minimums: Mapping[str, float] | None = None,
    format_split: Mapping[str, float] | None = None,
    max_per_topic: int = 2,
    max_per_instructor: int = 2,
    events: pd.DataFrame | None = None,
    enrolled_counts: Mapping[str, int] | None = None,
    solver: str = "milp",
) -> Menu:
    """A personal course menu for a known cadre (``cadre_id``) or a new one (``profile``).

    Scores come from the hybrid (with ``events`` newer than the model counted at once);
    every selected course gets the same explanation a recommendation would. The rules
    (targets, category groups, the centralised/online split) are ``model.rules``.

    ``as_of`` is the day the plan is made (default: ``model.as_of`` when set, else today);
    ``year`` defaults to its calendar year, planned from ``as_of`` on — or, from the rules'
    ``next_year_from`` day on (1 October), to the next year. Another ``year`` is planned
    whole, from 1 January (``start`` overrides the first day either way).

    ``hours_credited`` defaults to the 学时 the cadre earned in ``year`` by the records (the
    model's hours ledger and ``events``; 0 for a profile); the menu's ``hours_earned`` always
    carries that figure.
    """
    if cadre_id is not None:
        query = model.query(cadre_id, events=events)
    elif profile is not None:
        query = model.query_profile(profile, completed=completed)
    else:
        raise ValueError("give a cadre_id or a profile")
    when = plan_day(model, as_of)
    year = year or model.rules.plan_year(when.date())
    earned, goals = year_hours(model, cadre_id, year, events=events) if cadre_id else (0.0, None)
    by_goal = None  # an explicit figure has no breakdown: goals split what is left
    if hours_credited is None:
        hours_credited, by_goal = earned, goals
    if start is None:
        start = when if when.year == year else datetime(year, 1, 1)
    scored = model.score(query, filters=EVERYTHING)  # the menu decides what is taken/compulsory
    table, rows = model.course_table()
    mask = scored.candidates.mask
    aligned = np.where(mask[rows], scored.scores[rows], np.nan)  # no score = not for this cadre
    completed_ids = set(model.course_ids[query.history].astype(str)) | {str(c) for c in completed}
    constraints = MenuConstraints(
        year=year,
        target_hours=target_hours,
        hours_credited=hours_credited,
        start=start,
        category_minimums=category_minimums,
        format_split=format_split,
        weekly_hours_budget=weekly_hours_budget,
        windows=tuple(windows) if windows else None,
        formats=tuple(formats) if formats else None,
        max_per_topic=max_per_topic,
        max_per_instructor=max_per_instructor,
        credited_by_goal=by_goal,
    )
    cadre = dict(query.profile)
    cadre.setdefault(C.CADRE_ID, cadre_id or "")
    menu = build_menu(
        table,  # courses still open: past sessions belong to past plans
        aligned,
        cadre=cadre,
        completed=completed_ids,
        enrolled_counts=enrolled_counts,
        constraints=constraints,
        rules=model.rules,
        solver=solver,
    )
    return _explain(model, scored, replace(menu, hours_earned=round(earned, 6)))


def warm_up(model: RecommenderModel) -> None:
    """Pay before serving what the first menu would (~0.7 s on the large model): the parsed
    catalog of open courses, its per-catalog arrays and the solver's import."""
    import highspy  # noqa: F401  (imported by the solver on first use)

    table, _ = model.course_table()
    catalog_arrays(table, model.rules)


def _explain(model: RecommenderModel, scored: Scored, menu: Menu) -> Menu:
    positions = [model.course_index(item.course_id) for item in menu.items]
    explained = model.explain(scored.query, positions, scored.components)
    items = []
    for item, reasons in zip(menu.items, explained, strict=True):
        text = "；".join(r.text for r in reasons)
        items.append(replace(item, reason=text if not item.reason else f"{item.reason}；{text}"))
    return replace(menu, items=items)
