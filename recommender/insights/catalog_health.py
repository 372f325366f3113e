"""Catalog health: courses nobody takes, and cadres whose menu cannot reach their target.

Pure functions returning DataFrames (English snake_case columns; the report translates them).
Re-exported by :mod:`recommender.insights.gaps`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recommender.data.catalog import session_windows, split_list
from recommender.data.schema import WINDOWS
from recommender.data.schema import Columns as C

if TYPE_CHECKING:  # pragma: no cover
    from recommender.ranking.model import RecommenderModel

__all__ = [
    "ISSUES",
    "course_stats",
    "credited_hours",
    "dead_catalog",
    "schedule_fit",
    "summarize_underserved",
    "supply_by",
    "underserved",
    "underserved_cadres",
]

log = logging.getLogger(__name__)

#: issue codes of :func:`dead_catalog`, most serious first
ISSUES = ("never_taken", "rarely_taken", "never_recommended", "low_rated_popular")
#: profile columns copied next to each under-served cadre (segments, never free text)
SEGMENT_COLUMNS = (C.UNIT_LEVEL, C.SYSTEM, C.REGION, C.RANK)


def course_stats(
    courses: pd.DataFrame,
    completions: pd.DataFrame,
    recommendations: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per course (in ``courses`` order): enrolments, completions, ratings, mean_rating,
    completion_rate, recommended (NaN without recommendations)."""
    ids = courses[C.COURSE_ID].astype(str)
    comp = completions.assign(**{C.COURSE_ID: completions[C.COURSE_ID].astype(str)})
    grouped = comp.groupby(C.COURSE_ID)
    stats = pd.DataFrame(
        {
            "enrolments": grouped.size(),
            "completions": grouped[C.COMPLETED_AT].count(),
            "ratings": grouped[C.RATING].count(),
            "mean_rating": grouped[C.RATING].mean(),
        }
    ).reindex(ids)
    stats[["enrolments", "completions", "ratings"]] = (
        stats[["enrolments", "completions", "ratings"]].fillna(0).astype(int)
    )
    stats["completion_rate"] = (
        stats["completions"] / stats["enrolments"].where(lambda s: s > 0)
    ).round(3)
    stats["mean_rating"] = stats["mean_rating"].astype(float).round(2)
    if recommendations is not None:
        counts = recommendations[C.COURSE_ID].astype(str).value_counts()
        stats["recommended"] = counts.reindex(ids).fillna(0).astype(int).to_numpy()
    else:
        stats["recommended"] = np.nan
    return stats.reset_index(drop=True)


def dead_catalog(
    courses: pd.DataFrame,
    completions: pd.DataFrame,
    recommendations: pd.DataFrame | None = None,
    *,
    rare_quantile: float = 0.1,
    low_rating: float = 3.0,
    min_ratings: int = 5,
    popular_quantile: float = 0.75,
    grace_days: int = 90,
) -> pd.DataFrame:
    """Active courses that earn their place poorly, one row per course, worst first.

    Issues (``issue``, comma-separated codes of :data:`ISSUES`):
    ``never_taken`` no enrolment; ``rarely_taken`` enrolments at or below the ``rare_quantile``
    of the catalog; ``never_recommended`` never in ``recommendations`` (only when given) and
    taken no more than the median course (a popular course needs no pushing);
    ``low_rated_popular`` mean learner rating ≤ ``low_rating`` (≥ ``min_ratings`` ratings) while
    enrolments are in the top quarter — popular because assigned, not because good.
    Courses published less than ``grace_days`` before the latest enrolment are not blamed for
    low uptake. Columns: course_id, title, category, format, credit_hours, published_at,
    enrolments, completions, completion_rate, ratings, mean_rating, recommended, issue.
    """
    active = courses[courses[C.ACTIVE].fillna(True).astype(bool)].reset_index(drop=True)
    stats = course_stats(active, completions, recommendations)
    enrol = stats["enrolments"]
    as_of = completions[C.ENROLLED_AT].max() if len(completions) else pd.Timestamp.now()
    published = pd.to_datetime(active[C.PUBLISHED_AT])
    settled = ~(published > as_of - pd.Timedelta(days=grace_days)).to_numpy()
    rare_cut = max(1.0, float(enrol.quantile(rare_quantile))) if len(enrol) else 0.0
    flags = {
        "never_taken": settled & (enrol == 0).to_numpy(),
        "rarely_taken": settled & ((enrol > 0) & (enrol <= rare_cut)).to_numpy(),
        "never_recommended": ((stats["recommended"] == 0) & (enrol <= enrol.median())).to_numpy(),
        "low_rated_popular": (
            (stats["mean_rating"] <= low_rating)
            & (stats["ratings"] >= min_ratings)
            & (enrol >= enrol.quantile(popular_quantile))
        ).to_numpy(),
    }
    issue = [",".join(code for code in ISSUES if flags[code][i]) for i in range(len(active))]
    cols = [C.COURSE_ID, C.TITLE, C.CATEGORY, C.FORMAT, C.CREDIT_HOURS, C.PUBLISHED_AT]
    out = pd.concat([active[cols], stats], axis=1).assign(issue=issue)
    out = out[out["issue"] != ""]
    severity = out["issue"].str.split(",").str[0].map({c: i for i, c in enumerate(ISSUES)})
    out = out.assign(_s=severity).sort_values(["_s", "enrolments", C.COURSE_ID], kind="stable")
    return out.drop(columns="_s").reset_index(drop=True)


def supply_by(
    courses: pd.DataFrame, completions: pd.DataFrame, *, by: str = C.CATEGORY
) -> pd.DataFrame:
    """Active catalog per ``by`` (category, format, method …): courses, credit_hours, seats
    (scheduled), enrolments, completions, mean_rating, course_share, enrolment_share."""
    active = courses[courses[C.ACTIVE].fillna(True).astype(bool)].reset_index(drop=True)
    stats = course_stats(active, completions)
    frame = pd.concat([active[[C.CREDIT_HOURS, C.CAPACITY, C.SESSION_START]], stats], axis=1)
    frame["key"] = active[by].fillna("").astype(str).replace("", "(未填)").to_numpy()
    frame["seats"] = (
        pd.to_numeric(frame[C.CAPACITY], errors="coerce")
        .where(frame[C.SESSION_START].notna(), 0.0)
        .fillna(0.0)
    )
    frame["rating_sum"] = frame["mean_rating"].fillna(0) * frame["ratings"]
    out = frame.groupby("key").agg(
        courses=(C.CREDIT_HOURS, "size"),
        credit_hours=(C.CREDIT_HOURS, "sum"),
        seats=("seats", "sum"),
        enrolments=("enrolments", "sum"),
        completions=("completions", "sum"),
        ratings=("ratings", "sum"),
        rating_sum=("rating_sum", "sum"),
    )
    out["mean_rating"] = (out["rating_sum"] / out["ratings"].where(out["ratings"] > 0)).round(2)
    out["course_share"] = (out["courses"] / out["courses"].sum()).round(4)
    out["enrolment_share"] = (out["enrolments"] / max(out["enrolments"].sum(), 1)).round(4)
    out = out.drop(columns=["rating_sum", "ratings"]).rename_axis(by).reset_index()
    return out.sort_values("courses", ascending=False, kind="stable").reset_index(drop=True)


def schedule_fit(
    courses: pd.DataFrame, cadres: pd.DataFrame, *, by: str = C.UNIT_LEVEL
) -> pd.DataFrame:
    """Can cadres reach the scheduled sessions? Per course category × cadre group.

    For active live / face-to-face / special-class sessions, ``reachable_share`` is the share of
    (cadre, session) pairs whose session window (weekday daytime / evening / weekend) is one
    of the cadre's ``available_windows`` (cadres listing none count as available any time).
    Columns: category, <by>, sessions, seats, windows (session windows, counted), cadres,
    reachable_share. Lowest reachability first.
    """
    active = courses[courses[C.ACTIVE].fillna(True).astype(bool) & courses[C.SESSION_START].notna()]
    cols = [C.CATEGORY, by, "sessions", "seats", "windows", "cadres", "reachable_share"]
    if active.empty or cadres.empty:
        return pd.DataFrame(columns=cols)
    window = pd.Series(session_windows(active[C.SESSION_START]), index=active.index)
    listed = cadres[C.AVAILABLE_WINDOWS].map(lambda v: set(split_list(v)))
    avail = np.array([[not a or w in a for w in WINDOWS] for a in listed], dtype=float)
    groups = cadres[by].fillna("").astype(str).replace("", "(未填)").to_numpy()
    rows = []
    for cat, part in active.groupby(C.CATEGORY):
        counts = window.loc[part.index].value_counts()
        dist = np.array([counts.get(w, 0) for w in WINDOWS], dtype=float) / len(part)
        reach = avail @ dist  # per cadre: share of this category's sessions in their windows
        for group in pd.unique(groups):
            members = groups == group
            rows.append(
                {
                    C.CATEGORY: cat,
                    by: group,
                    "sessions": len(part),
                    "seats": int(pd.to_numeric(part[C.CAPACITY], errors="coerce").sum()),
                    "windows": "，".join(f"{k}×{v}" for k, v in counts.items() if k),
                    "cadres": int(members.sum()),
                    "reachable_share": round(float(reach[members].mean()), 3),
                }
            )
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(
        ["reachable_share", "cadres"], ascending=[True, False], kind="stable"
    ).reset_index(drop=True)


def credited_hours(completions: pd.DataFrame | None, year: int | None) -> pd.Series:
    """Hours credited per cadre (index: cadre_id) for courses completed in ``year``."""
    if completions is None or completions.empty or year is None:
        return pd.Series(dtype=float)
    done = completions[completions[C.COMPLETED_AT].dt.year == year]
    return done.groupby(done[C.CADRE_ID].astype(str))[C.CREDIT_HOURS_AWARDED].sum().astype(float)


def underserved_cadres(
    model: RecommenderModel,
    cadre_ids: Sequence[str] | None = None,
    *,
    year: int | None = None,
    sample: int | None = 300,
    seed: int = 0,
    completions: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Plan each cadre's menu for ``year`` and list what it cannot meet.

    ``year`` defaults to the planner's own default: the year after the data's latest activity,
    planned from 1 January (:func:`recommender.menu.planning.plan_menu`), so the whole year is open.

    ``cadre_ids`` default to all cadres of the model; at most ``sample`` of them (random,
    reproducible by ``seed``) are planned, as planning is the slow part. Hours already credited
    in ``year`` come from ``completions`` when given. One row per unmet goal, plus one row with
    an empty ``constraint`` for a cadre whose menu meets everything. Columns: cadre_id,
    unit_level, system, region, rank, target_hours, planned_hours, met, goal (hours /
    compulsory / category_minimum / centralised_hours / online_hours), constraint,
    shortfall_hours, message (the planner's Chinese explanation; no profile text).
    """
    from recommender.menu.planning import plan_menu

    ids = [str(c) for c in (cadre_ids if cadre_ids is not None else model.cadres[C.CADRE_ID])]
    if sample is not None and len(ids) > sample:
        rng = np.random.default_rng(seed)
        ids = [ids[i] for i in np.sort(rng.choice(len(ids), sample, replace=False))]
    if year is None:  # the planner's year, planned whole — not what is left of today's year
        year = (model.reference_time() + timedelta(days=7)).year
    credited = credited_hours(completions, year)
    rows, failures = [], 0
    for cid in ids:
        profile = model.cadre_profile(cid)
        segment = {col: profile.get(col, "") for col in SEGMENT_COLUMNS}
        try:
            # without completions, the model's hours ledger says what was earned in ``year``
            earned = None if completions is None else float(credited.get(cid, 0.0))
            menu = plan_menu(model, cid, year=year, hours_credited=earned)
        except ValueError:  # one unplannable profile must not sink the report
            failures += 1
            continue
        base = {
            C.CADRE_ID: cid,
            **segment,
            "target_hours": menu.target_hours,
            "planned_hours": menu.planned_hours,
            "met": menu.met,
        }
        if not menu.unmet:
            rows.append(
                {**base, "goal": "", "constraint": "", "shortfall_hours": 0.0, "message": ""}
            )
        for u in menu.unmet:
            rows.append(
                {
                    **base,
                    "goal": _goal(u.constraint),
                    "constraint": u.constraint,
                    "shortfall_hours": round(float(u.shortfall_hours), 2),
                    "message": u.message,
                }
            )
    if failures:
        log.warning("menu planning failed for %d of %d cadres", failures, len(ids))
    cols = [
        C.CADRE_ID,
        *SEGMENT_COLUMNS,
        "target_hours",
        "planned_hours",
        "met",
        "goal",
        "constraint",
        "shortfall_hours",
        "message",
    ]
    return pd.DataFrame(rows, columns=cols)


def _goal(constraint: str) -> str:
    """Which goal an unmet constraint blocks: the hour target, compulsory courses, a category
    minimum or a part of the centralised/online split."""
    if constraint in ("compulsory", "centralised_hours", "online_hours"):
        return constraint
    return "category_minimum" if constraint.startswith("category_minimum") else "hours"


def summarize_underserved(per_cadre: pd.DataFrame, *, by: str | None = None) -> pd.DataFrame:
    """Group :func:`underserved_cadres` rows by blocking constraint (and ``by``, e.g. unit_level).

    Columns: [by], goal, constraint, cadres, share (of the planned cadres [in the group]),
    mean_shortfall_hours, total_shortfall_hours, example (one planner message). Most cadres
    first.
    """
    keys = [by, "goal", "constraint"] if by else ["goal", "constraint"]
    cols = [*keys, "cadres", "share", "mean_shortfall_hours", "total_shortfall_hours", "example"]
    blocked = per_cadre[per_cadre["constraint"] != ""]
    if blocked.empty:
        return pd.DataFrame(columns=cols)
    planned = per_cadre.groupby(by)[C.CADRE_ID].nunique() if by else per_cadre[C.CADRE_ID].nunique()
    out = (
        blocked.groupby(keys, sort=False)
        .agg(
            cadres=(C.CADRE_ID, "nunique"),
            mean_shortfall_hours=("shortfall_hours", "mean"),
            total_shortfall_hours=("shortfall_hours", "sum"),
            example=("message", "first"),
        )
        .reset_index()
    )
    denom = out[by].map(planned) if by else planned
    out["share"] = (out["cadres"] / denom).round(3)
    out["mean_shortfall_hours"] = out["mean_shortfall_hours"].round(1)
    out["total_shortfall_hours"] = out["total_shortfall_hours"].round(1)
    order = [by, "cadres"] if by else ["cadres"]
    asc = [True, False] if by else [False]
    return out.sort_values(order, ascending=asc, kind="stable").reset_index(drop=True)[cols]


def underserved(
    model: RecommenderModel,
    cadre_ids: Sequence[str] | None = None,
    *,
    year: int | None = None,
    sample: int | None = 300,
    seed: int = 0,
    completions: pd.DataFrame | None = None,
    by: str | None = None,
) -> pd.DataFrame:
    """Cadres whose menu cannot meet its goals, grouped by the blocking constraint.

    Shorthand for ``summarize_underserved(underserved_cadres(...), by=by)``.
    """
    per_cadre = underserved_cadres(
        model, cadre_ids, year=year, sample=sample, seed=seed, completions=completions
    )
    return summarize_underserved(per_cadre, by=by)
