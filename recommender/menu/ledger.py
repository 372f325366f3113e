"""学时 a cadre already earned in a year, and their 学时档案.

Both read the trained model's hours ledger (:class:`recommender.data.ledger.HoursLedger`:
completed records, courses outside the catalog included) plus the events newer than the
model, so what a menu counts as earned and what the 学时档案 shows are the same figures from
Python, the CLI and HTTP. A course completed twice in one year counts once (its larger
hours), as :func:`recommender.data.features.hours_earned` counts them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recommender.data.display import label
from recommender.data.rules import SPLIT_PARTS, TrainingRules
from recommender.data.schema import Columns as C
from recommender.menu.types import _jsonable

if TYPE_CHECKING:  # pragma: no cover
    from recommender.ranking.model import RecommenderModel

#: columns of :func:`year_records`
RECORD_COLUMNS = [C.COURSE_ID, C.TITLE, C.CATEGORY, C.FORMAT, C.COMPLETED_AT, "hours", "in_catalog"]


def plan_year(model: RecommenderModel, as_of: date | datetime | None = None) -> int:
    """The year a menu asked for no year is planned for: the plan day's year, or the next
    one from the rules' ``next_year_from`` day on (default 1 October)."""
    return model.rules.plan_year(plan_day(model, as_of).date())


def plan_day(model: RecommenderModel, as_of: date | datetime | None = None) -> datetime:
    """The day a plan is made: ``as_of``, else the model's ``as_of``, else today."""
    if as_of is None:
        return model.reference_time() if model.as_of is not None else datetime.now()
    if isinstance(as_of, datetime):
        return as_of.replace(tzinfo=None)
    return datetime(as_of.year, as_of.month, as_of.day)


def year_records(
    model: RecommenderModel, cadre_id: str, year: int, *, events: Any = None
) -> pd.DataFrame:
    """The cadre's completed records of ``year`` (one per course), oldest first.

    ``events``: completions newer than the model (a frame, or an event store read for this
    cadre). Columns: course_id, title, category, format ('' for a course outside the catalog),
    completed_at, hours, in_catalog. Raises ``UnknownIdError`` for an unknown cadre.
    """
    model.cadre_profile(cadre_id)  # UnknownIdError for a cadre the model does not know
    if events is not None and hasattr(events, "for_cadre"):
        events = events.for_cadre(str(cadre_id))
    frames = [_from_ledger(model, model.cadre_map.index[str(cadre_id)], year)]
    if events is not None and len(events):
        frames.append(_from_events(model, events, year))
    both = pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)
    both = both.sort_values(["hours", C.COMPLETED_AT], ascending=[False, True], kind="stable")
    once = both.drop_duplicates(C.COURSE_ID)  # a course repeated in the year counts once
    return once.sort_values(C.COMPLETED_AT, kind="stable").reset_index(drop=True)


def hours_earned(model: RecommenderModel, cadre_id: str, year: int, *, events: Any = None) -> float:
    """学时 the cadre earned in ``year`` (see :func:`year_records`)."""
    return float(year_records(model, cadre_id, year, events=events)["hours"].sum())


def goal_hours(rules: TrainingRules, records: pd.DataFrame) -> dict[str, float]:
    """学时 of ``records`` towards each goal of the rules: the split's parts (``centralised``,
    ``online``; courses outside the catalog count toward ``outside_catalog_part``) and each
    category-minimum key (its rule groups)."""
    fmt = records[C.FORMAT].where(records["in_catalog"], "outside_catalog")
    out = {}
    for part in SPLIT_PARTS:
        fmts = set(rules.format_classes.get(part, ()))
        if rules.outside_catalog_part == part:
            fmts.add("outside_catalog")
        out[part] = float(records["hours"][fmt.isin(fmts)].sum())
    groups = records[C.CATEGORY].map(rules.rule_group)
    for key in rules.category_minimums:
        inside = groups.isin(key.split("+")) & records["in_catalog"]
        out[key] = float(records["hours"][inside].sum())
    return out


def year_hours(
    model: RecommenderModel, cadre_id: str, year: int, *, events: Any = None
) -> tuple[float, dict[str, float]]:
    """学时 the cadre earned in ``year`` and their split over the rules' goals: the figures of
    :func:`year_records` and :func:`goal_hours`, from the ledger's arrays alone when there
    are no newer events (a menu request's usual case; the frames cost more than the plan)."""
    if events is not None and hasattr(events, "for_cadre"):
        events = events.for_cadre(str(cadre_id))
    ledger = getattr(model, "ledger_", None)
    if ledger is None or (events is not None and len(events)):
        records = year_records(model, cadre_id, year, events=events)
        return float(records["hours"].sum()), goal_hours(model.rules, records)
    model.cadre_profile(cadre_id)  # UnknownIdError for a cadre the model does not know
    recs = ledger.of(model.cadre_map.index[str(cadre_id)])
    when = recs["completed_at"].to_numpy("datetime64[s]")
    this = when.astype("datetime64[Y]").astype(np.int64) + 1970 == year
    when, course = when[this], recs["course"].to_numpy(np.int64)[this]
    hours = recs["hours"].to_numpy(np.float64)[this]
    # one record per course (its larger hours, then the earlier), oldest first: as year_records
    best = np.lexsort((when, -hours))
    _, first = np.unique(course[best], return_index=True)
    seq = best[np.sort(first)]
    seq = seq[np.argsort(when[seq], kind="stable")]
    course, hours = course[seq], hours[seq]
    inside = course >= 0
    pos = np.where(inside, course, 0)
    fmt = np.where(inside, model.formats[pos], "outside_catalog")
    rules, out = model.rules, {}
    for part in SPLIT_PARTS:
        fmts = set(rules.format_classes.get(part, ()))
        if rules.outside_catalog_part == part:
            fmts.add("outside_catalog")
        out[part] = float(hours[np.isin(fmt, list(fmts))].sum())
    groups = np.array([rules.rule_group(c) for c in model.categories[pos]], dtype=object)
    for key in rules.category_minimums:
        out[key] = float(hours[np.isin(groups, key.split("+")) & inside].sum())
    return float(hours.sum()), out


def _from_ledger(model: RecommenderModel, row: int, year: int) -> pd.DataFrame:
    ledger = getattr(model, "ledger_", None)  # None: a model trained before the ledger
    if ledger is None:
        return _frame([], [], [], [], [], [], [])
    recs = ledger.of(row)
    recs = recs[recs["completed_at"].dt.year == year]
    course = recs["course"].to_numpy(np.int64)
    inside = course >= 0
    pos = np.where(inside, course, 0)
    out_pos = np.where(inside, 0, -1 - course)
    outside = ledger.outside

    def pick(catalog: np.ndarray, column: str) -> list[str]:
        other = outside[column].to_numpy(object) if len(outside) else np.array([""], object)
        return list(np.where(inside, catalog[pos], other[np.minimum(out_pos, len(other) - 1)]))

    blank = np.full(len(model.course_ids), "", dtype=object)
    return _frame(
        pick(model.course_ids, C.COURSE_ID),
        pick(model.titles, C.TITLE),
        list(np.where(inside, model.categories[pos], blank[pos])),
        list(np.where(inside, model.formats[pos], blank[pos])),
        recs["completed_at"].to_numpy("datetime64[s]"),
        recs["hours"].to_numpy(np.float64),
        inside,
    )


def _from_events(model: RecommenderModel, events: pd.DataFrame, year: int) -> pd.DataFrame:
    """Completed events of ``year``: the awarded hours, else the course's 学时; an event of a
    course outside the catalog counts only with awarded hours."""
    when = pd.to_datetime(events[C.COMPLETED_AT], errors="coerce")
    done = events[when.notna() & (when.dt.year == year)]
    if not len(done):
        return _frame([], [], [], [], [], [], [])
    cols = model.course_map.lookup(done[C.COURSE_ID])
    inside = cols >= 0
    pos = np.maximum(cols, 0)
    awarded = pd.to_numeric(done.get(C.CREDIT_HOURS_AWARDED), errors="coerce")
    awarded = np.asarray(awarded if awarded is not None else np.nan, float)
    awarded = np.broadcast_to(awarded, len(done))
    hours = np.where(awarded > 0, awarded, np.where(inside, model.hours[pos], 0.0))
    ids = done[C.COURSE_ID].astype(str).to_numpy(object)
    return _frame(
        list(ids),
        list(np.where(inside, model.titles[pos], "")),
        list(np.where(inside, model.categories[pos], "")),
        list(np.where(inside, model.formats[pos], "")),
        pd.to_datetime(done[C.COMPLETED_AT]).to_numpy("datetime64[s]"),
        np.nan_to_num(hours),
        inside,
    )[lambda f: f["hours"] > 0]


def _frame(ids, titles, cats, fmts, when, hours, inside) -> pd.DataFrame:
    return pd.DataFrame(
        {
            C.COURSE_ID: pd.Series(ids, dtype=object),
            C.TITLE: pd.Series(titles, dtype=object),
            C.CATEGORY: pd.Series(cats, dtype=object),
            C.FORMAT: pd.Series(fmts, dtype=object),
            C.COMPLETED_AT: pd.Series(np.asarray(when, "datetime64[s]")),
            "hours": pd.Series(np.asarray(hours, np.float64)),
            "in_catalog": pd.Series(np.asarray(inside, bool)),
        },
        columns=RECORD_COLUMNS,
    )


# ---------------------------------------------------------------- 学时档案


@dataclass(frozen=True)
class HoursLine:
    """Hours of one kind (a category, a format, a part of the split) with its Chinese label;
    ``target_hours`` is None where the rules set no target."""

    code: str
    label: str
    hours: float
    target_hours: float | None = None
    shortfall_hours: float | None = None


@dataclass(frozen=True)
class HoursEntry:
    """One credited record of the year."""

    course_id: str
    title: str
    category: str
    format: str
    completed_at: datetime
    hours: float
    in_catalog: bool


@dataclass(frozen=True)
class HoursRecord:
    """A cadre's 学时档案 for one year: earned against the annual target, by category and
    format, against the centralised/online split and the category minimums of the rules."""

    cadre_id: str
    year: int
    target_hours: float
    hours_earned: float
    remaining_hours: float
    by_category: list[HoursLine]
    by_format: list[HoursLine]
    parts: list[HoursLine]
    minimums: list[HoursLine]
    records: list[HoursEntry]
    met: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (datetimes as ISO strings)."""
        return _jsonable(asdict(self))


def hours_record(
    model: RecommenderModel,
    cadre_id: str,
    year: int | None = None,
    *,
    events: Any = None,
    as_of: date | datetime | None = None,
) -> HoursRecord:
    """The cadre's 学时档案 for ``year`` (default: the calendar year of the plan day).

    Targets come from the profile's annual target, else the rules for the rank; the split
    parts and category minimums are shares of that target, as the menu counts them. A record
    of a course outside the catalog counts toward the rules' ``outside_catalog`` part.
    """
    year = year or plan_day(model, as_of).year
    recs = year_records(model, cadre_id, year, events=events)
    profile = model.cadre_profile(cadre_id)
    rules = model.rules
    target = _number(profile.get(C.ANNUAL_HOURS_TARGET))
    target = target if target is not None else rules.default_target(profile.get(C.RANK))
    earned = float(recs["hours"].sum())
    fmt = recs[C.FORMAT].where(recs["in_catalog"], "outside_catalog")
    by_cat = recs["hours"].groupby(recs[C.CATEGORY].where(recs["in_catalog"], "outside_catalog"))
    by_fmt = recs["hours"].groupby(fmt).sum()
    have = goal_hours(rules, recs)
    split = rules.split_for(str(profile.get(C.RANK) or ""))
    total = sum(split.values())
    parts = [_line(p, have[p], target * split[p] / total) for p in split if total > 0]
    minimums = [
        _line(key, have[key], share * target, key) for key, share in rules.category_minimums.items()
    ]
    records = [HoursEntry(**row) for row in _entries(recs)]
    goals = [line.shortfall_hours or 0.0 for line in parts + minimums]
    return HoursRecord(
        cadre_id=str(cadre_id),
        year=int(year),
        target_hours=float(target),
        hours_earned=round(earned, 6),
        remaining_hours=round(max(target - earned, 0.0), 6),
        by_category=_lines(by_cat.sum()),
        by_format=_lines(by_fmt),
        parts=parts,
        minimums=minimums,
        records=records,
        met=earned >= target - 1e-6 and max(goals, default=0.0) <= 1e-6,
    )


def _number(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def _line(code: str, hours: float, target: float, shown: str | None = None) -> HoursLine:
    return HoursLine(
        code,
        shown or label(code),
        round(hours, 6),
        round(target, 6),
        round(max(target - hours, 0.0), 6),
    )


def _lines(sums: pd.Series) -> list[HoursLine]:
    ordered = sums.sort_values(ascending=False, kind="stable")
    return [HoursLine(str(k), label(k), round(float(v), 6)) for k, v in ordered.items()]


def _entries(recs: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in recs.to_dict("records"):
        row[C.COMPLETED_AT] = pd.Timestamp(row[C.COMPLETED_AT]).to_pydatetime()
        row["hours"] = float(row["hours"])
        row["in_catalog"] = bool(row["in_catalog"])
        out.append(row)
    return out
