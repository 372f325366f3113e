"""Demand gaps: what cadres need that the catalog lacks, per topic, segment and quarter.

Every function is pure and returns a DataFrame with English snake_case columns; the report layer
(:mod:`recommender.insights.report`) translates headers. Topic weights come from
:func:`recommender.insights.topics.fit_topics`. ``declared_needs`` snippets appear in
:func:`gaps` as examples for planners (survey answers, not names); they are never logged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from recommender.data.schema import SCHEDULED_FORMATS
from recommender.data.schema import Columns as C
from recommender.insights.catalog_health import (
    course_stats,
    credited_hours,
    dead_catalog,
    schedule_fit,
    summarize_underserved,
    supply_by,
    underserved,
    underserved_cadres,
)
from recommender.insights.labels import level_rank
from recommender.insights.topics import TopicModel, fit_topics

__all__ = [
    "course_stats",
    "credited_hours",
    "dead_catalog",
    "demand",
    "fit_topics",
    "gaps",
    "gaps_by",
    "latest_year",
    "pivot_gaps",
    "remaining_hours",
    "schedule_fit",
    "summarize_underserved",
    "supply",
    "supply_by",
    "trends",
    "underserved",
    "underserved_cadres",
]

GroupBy = Literal["system", "unit_level", "rank", "region"]
MISSING_GROUP = "(未填)"
#: a cadre counts towards a topic's head count when at least this share of its profile is on it
MIN_WEIGHT = 0.25
#: supply share below which a topic counts as unsupplied (ratio and urgency divide by it)
SUPPLY_FLOOR = 0.005


def _shares(values: np.ndarray) -> np.ndarray:
    total = float(values.sum())
    return values / total if total > 0 else np.zeros_like(values, dtype=float)


def _weighted(
    weights: pd.DataFrame, ids: pd.Series, values: np.ndarray | None = None
) -> np.ndarray:
    """Σ over rows of ``ids`` of their topic share vectors (× ``values``); unknown ids skipped."""
    mat = weights.reindex(ids.astype(str)).fillna(0.0).to_numpy()
    if values is not None:
        mat = mat * np.nan_to_num(np.asarray(values, dtype=float))[:, None]
    return mat.sum(axis=0) if len(mat) else np.zeros(weights.shape[1])


def latest_year(completions: pd.DataFrame | None) -> int | None:
    """Year of the most recent completion (or enrolment); None without data."""
    if completions is None or completions.empty:
        return None
    times = completions[C.COMPLETED_AT].dropna()
    times = times if len(times) else completions[C.ENROLLED_AT].dropna()
    return int(times.max().year) if len(times) else None


def remaining_hours(
    cadres: pd.DataFrame, completions: pd.DataFrame | None = None, *, year: int | None = None
) -> pd.Series:
    """annual_hours_target − hours credited in ``year`` (default: the latest year), floored at 0.

    A missing target takes the median target. When no target is known at all, or every cadre
    has met it, each cadre counts 1 (plain head count) so demand stays defined.
    """
    ids = cadres[C.CADRE_ID].astype(str)
    target = pd.to_numeric(cadres[C.ANNUAL_HOURS_TARGET], errors="coerce")
    if target.isna().all():
        return pd.Series(1.0, index=ids.to_numpy(), name="remaining_hours")
    target = target.fillna(target.median()).to_numpy(float)
    year = latest_year(completions) if year is None else year
    done = credited_hours(completions, year).reindex(ids).fillna(0.0).to_numpy(float)
    left = np.clip(target - done, 0.0, None)
    if left.sum() <= 0:
        left = np.ones_like(left)
    return pd.Series(left, index=ids.to_numpy(), name="remaining_hours")


def demand(
    topics: TopicModel,
    cadres: pd.DataFrame,
    completions: pd.DataFrame | None = None,
    recommendations: pd.DataFrame | None = None,
    *,
    year: int | None = None,
) -> pd.DataFrame:
    """Demand per topic: profile weight × remaining hours, head count, enrolments, exposure.

    Columns: topic, label, cadres, demand_hours, demand_share, enrolments, enrolment_share,
    recommended, recommended_share (the last four are 0 without completions/recommendations).
    """
    ids = cadres[C.CADRE_ID].astype(str)
    left = remaining_hours(cadres, completions, year=year)
    weights = topics.cadre_topics.reindex(ids).fillna(0.0)
    hours = _weighted(weights, ids, left.reindex(ids).to_numpy())
    heads = (weights.to_numpy() >= MIN_WEIGHT).sum(axis=0)
    k = topics.n_topics
    enrol = (
        _weighted(topics.course_topics, completions[C.COURSE_ID])
        if completions is not None
        else np.zeros(k)
    )
    recs = (
        _weighted(topics.course_topics, recommendations[C.COURSE_ID])
        if recommendations is not None
        else np.zeros(k)
    )
    return pd.DataFrame(
        {
            "topic": topics.topics["topic"].to_numpy(),
            "label": topics.topics["label"].to_numpy(),
            "cadres": heads.astype(int),
            "demand_hours": hours.round(1),
            "demand_share": _shares(hours),
            "enrolments": enrol.round(1),
            "enrolment_share": _shares(enrol),
            "recommended": recs.round(1),
            "recommended_share": _shares(recs),
        }
    )


def course_ratings(courses: pd.DataFrame, completions: pd.DataFrame | None) -> pd.Series:
    """Mean learner rating per course, falling back to the instructor rating."""
    ids = courses[C.COURSE_ID].astype(str)
    inst = pd.to_numeric(courses[C.INSTRUCTOR_RATING], errors="coerce").to_numpy(float)
    out = pd.Series(inst, index=ids.to_numpy())
    if completions is not None and not completions.empty:
        learner = completions.dropna(subset=[C.RATING]).groupby(C.COURSE_ID)[C.RATING].mean()
        out = learner.astype(float).reindex(out.index).fillna(out)
    return out


def supply(
    topics: TopicModel,
    courses: pd.DataFrame,
    completions: pd.DataFrame | None = None,
    *,
    basis: Literal["courses", "hours"] = "courses",
) -> pd.DataFrame:
    """Supply per topic over **active** courses.

    Columns: topic, label, courses (share-weighted count, rounded to whole courses),
    credit_hours, seats (capacity of scheduled sessions), mean_rating, supply_share (of
    ``basis``: courses or credit hours, from the unrounded counts).
    """
    active = courses[courses[C.ACTIVE].fillna(True).astype(bool)]
    ids = active[C.COURSE_ID].astype(str)
    weights = topics.course_topics.reindex(ids).fillna(0.0)
    count = weights.to_numpy().sum(axis=0)
    hours = _weighted(weights, ids, active[C.CREDIT_HOURS].to_numpy(float))
    scheduled = active[C.FORMAT].isin(SCHEDULED_FORMATS) & active[C.SESSION_START].notna()
    seats_per = pd.to_numeric(active[C.CAPACITY], errors="coerce").where(scheduled, 0.0)
    seats = _weighted(weights, ids, seats_per.fillna(0.0).to_numpy(float))
    rating = course_ratings(active, completions).reindex(ids).to_numpy(float)
    rated = weights.to_numpy() * ~np.isnan(rating)[:, None]
    mass = rated.sum(axis=0)
    mean_rating = np.divide(
        (rated * np.nan_to_num(rating)[:, None]).sum(axis=0),
        mass,
        out=np.full(topics.n_topics, np.nan),
        where=mass > 0,
    )
    return pd.DataFrame(
        {
            "topic": topics.topics["topic"].to_numpy(),
            "label": topics.topics["label"].to_numpy(),
            "courses": count.round().astype(int),
            "credit_hours": hours.round(1),
            "seats": seats.round().astype(int),
            "mean_rating": mean_rating.round(2),
            "supply_share": _shares(count if basis == "courses" else hours),
        }
    )


_CLAUSES = re.compile(r"[。；;！!？?\n]+")


def _snippet(text: str, terms: Sequence[str], width: int = 30) -> str:
    """The clause of a survey answer that names a topic word, shortened ('' if none does)."""
    clauses = [s.strip(" ，,、") for s in _CLAUSES.split(text) if s.strip(" ，,、")]
    low = [t.lower() for t in terms if t]
    hit = next((s for s in clauses if any(t in s.lower() for t in low)), "")
    return hit if len(hit) <= width else hit[: width - 1] + "…"


def example_needs(
    topics: TopicModel, cadres: pd.DataFrame, topic: int, n: int = 3, width: int = 30
) -> list[str]:
    """Distinct declared-needs snippets naming one of the topic's top words, from the cadres
    weighing most on ``topic``."""
    needs = cadres.set_index(cadres[C.CADRE_ID].astype(str))[C.DECLARED_NEEDS].fillna("")
    order = topics.cadre_topics[topic].sort_values(ascending=False)
    order = order[order >= MIN_WEIGHT]
    terms = topics.topics.loc[topics.topics["topic"] == topic, "terms"].iloc[0].split("，")
    out: list[str] = []
    for cid in order.index:
        text = needs.get(cid, "")
        snip = _snippet(text, terms, width) if isinstance(text, str) and text else ""
        if snip and snip not in out:
            out.append(snip)
        if len(out) >= n:
            break
    return out


def gaps(
    topics: TopicModel,
    courses: pd.DataFrame,
    cadres: pd.DataFrame,
    completions: pd.DataFrame | None = None,
    recommendations: pd.DataFrame | None = None,
    *,
    n_examples: int = 3,
    basis: Literal["courses", "hours"] = "courses",
) -> pd.DataFrame:
    """Demand share − supply share per topic, most urgent first.

    ``urgency`` = gap ÷ √(supply share), supply floored at :data:`SUPPLY_FLOOR` (the Pearson
    residual of demand against supply): the same gap weighs more where the catalog offers
    less, so a field with demand and hardly any course ranks above a gap of equal size on a
    well-stocked shelf. Columns: topic, label, category, terms, cadres, demand_hours,
    demand_share, courses, credit_hours, seats, mean_rating, supply_share, gap, gap_ratio
    (demand ÷ supply share), urgency, enrolment_share, recommended_share, example_needs.
    """
    d = demand(topics, cadres, completions, recommendations)
    s = supply(topics, courses, completions, basis=basis).drop(columns="label")
    out = d.merge(s, on="topic").merge(topics.topics[["topic", "category", "terms"]], on="topic")
    out["gap"] = out["demand_share"] - out["supply_share"]
    floored = out["supply_share"].clip(lower=SUPPLY_FLOOR)
    out["gap_ratio"] = (out["demand_share"] / floored).round(2)
    out["urgency"] = (out["gap"] / np.sqrt(floored)).round(3)
    out["example_needs"] = [
        " / ".join(example_needs(topics, cadres, int(t), n_examples)) for t in out["topic"]
    ]
    cols = [
        "topic",
        "label",
        "category",
        "terms",
        "cadres",
        "demand_hours",
        "demand_share",
        "courses",
        "credit_hours",
        "seats",
        "mean_rating",
        "supply_share",
        "gap",
        "gap_ratio",
        "urgency",
        "enrolment_share",
        "recommended_share",
        "example_needs",
    ]
    out = out[cols].sort_values("urgency", ascending=False, kind="stable").reset_index(drop=True)
    for col in ("demand_share", "supply_share", "gap", "enrolment_share", "recommended_share"):
        out[col] = out[col].round(4)
    return out


def gaps_by(
    topics: TopicModel,
    courses: pd.DataFrame,
    cadres: pd.DataFrame,
    completions: pd.DataFrame | None = None,
    *,
    by: GroupBy = "system",
    pivot: bool = False,
    labels: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Gap per (group, topic): the group's demand share − the catalog's supply share.

    Long form columns: <by>, group_cadres, topic, label, cadres, demand_hours, demand_share,
    supply_share, gap (unit levels in hierarchy order). With ``pivot=True``:
    :func:`pivot_gaps` of it.
    """
    if by not in ("system", "unit_level", "rank", "region"):
        raise ValueError(f"by must be system, unit_level, rank or region, not {by!r}")
    s = supply(topics, courses, completions)[["topic", "supply_share"]]
    groups = cadres[by].fillna("").astype(str).replace("", MISSING_GROUP)
    parts = []
    for value, members in cadres.groupby(groups.to_numpy(), sort=False):
        d = demand(topics, members, completions)[
            ["topic", "label", "cadres", "demand_hours", "demand_share"]
        ]
        parts.append(d.assign(**{by: value, "group_cadres": len(members)}))
    cols = [
        by,
        "group_cadres",
        "topic",
        "label",
        "cadres",
        "demand_hours",
        "demand_share",
        "supply_share",
        "gap",
    ]
    if not parts:
        return pd.DataFrame(columns=cols)
    out = pd.concat(parts, ignore_index=True).merge(s, on="topic")
    out["gap"] = (out["demand_share"] - out["supply_share"]).round(4)
    out["demand_share"] = out["demand_share"].round(4)
    out["supply_share"] = out["supply_share"].round(4)
    out = (
        out[cols]
        .sort_values([by, "gap"], ascending=[True, False], kind="stable", key=_group_key)
        .reset_index(drop=True)
    )
    return pivot_gaps(out, by, labels) if pivot else out


def _group_key(column: pd.Series) -> pd.Series:
    """Sort key: unit levels in hierarchy order, other columns as they are."""
    if column.name != "unit_level":
        return column
    return pd.Series(level_rank(column), index=column.index)


def pivot_gaps(long: pd.DataFrame, by: str, labels: Sequence[str] | None = None) -> pd.DataFrame:
    """Groups × topic labels of ``gap`` from a long :func:`gaps_by` table (for a heatmap).

    Unit levels come in hierarchy order (省级 → 村（社区）), other groups largest first; topics
    by mean gap, or just ``labels`` in that order.
    """
    if long.empty:
        return pd.DataFrame()
    table = long.pivot(index=by, columns="label", values="gap")
    sizes = long.groupby(by)["group_cadres"].first()
    if by == "unit_level":
        rows = sorted(sizes.index, key=lambda v: level_rank([v])[0])
    else:
        rows = list(sizes.sort_values(ascending=False, kind="stable").index)
    order = long.groupby("label")["gap"].mean().sort_values(ascending=False).index
    if labels is not None:
        order = [lb for lb in labels if lb in table.columns]
    return table.loc[rows, list(order)]


def trends(topics: TopicModel, completions: pd.DataFrame, cadres: pd.DataFrame) -> pd.DataFrame:
    """Demand and uptake per topic per quarter (one row per topic × quarter, zeros filled).

    ``demand`` is the summed profile weight of the cadres who enrolled in anything that quarter
    (the need of the active population); ``enrolments`` / ``completions`` are enrolments started
    / finished that quarter weighted by course topic shares; ``*_share`` are within-quarter.
    """
    known = completions[completions[C.CADRE_ID].astype(str).isin(cadres[C.CADRE_ID].astype(str))]
    enrol_q = known[C.ENROLLED_AT].dt.to_period("Q")
    done_q = known[C.COMPLETED_AT].dt.to_period("Q")
    quarters = pd.concat([enrol_q, done_q]).dropna()
    cols = [
        "quarter",
        "topic",
        "label",
        "demand",
        "demand_share",
        "enrolments",
        "completions",
        "completion_share",
        "hours_awarded",
    ]
    if quarters.empty:
        return pd.DataFrame(columns=cols)
    span = pd.period_range(quarters.min(), quarters.max(), freq="Q")
    rows = []
    for q in span:
        in_q, done = known[enrol_q == q], known[done_q == q]
        need = _weighted(topics.cadre_topics, pd.Series(in_q[C.CADRE_ID].unique()))
        comp = _weighted(topics.course_topics, done[C.COURSE_ID])
        rows.append(
            pd.DataFrame(
                {
                    "quarter": str(q),
                    "topic": topics.topics["topic"].to_numpy(),
                    "label": topics.topics["label"].to_numpy(),
                    "demand": need.round(2),
                    "demand_share": _shares(need).round(4),
                    "enrolments": _weighted(topics.course_topics, in_q[C.COURSE_ID]).round(2),
                    "completions": comp.round(2),
                    "completion_share": _shares(comp).round(4),
                    "hours_awarded": _weighted(
                        topics.course_topics,
                        done[C.COURSE_ID],
                        done[C.CREDIT_HOURS_AWARDED].to_numpy(float),
                    ).round(1),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)[cols]
