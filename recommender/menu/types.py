"""The menu's request and result types, defined once (the CLI and the service reuse them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

from recommender.menu.schedule import Calendar

Solver = Literal["milp", "greedy", "exhaustive"]


class MenuError(ValueError):
    """Invalid menu request (unknown solver, window or format, bad numbers); ``field`` names
    the request field at fault (``None`` when it is not one field)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class MenuConstraints:
    """What the menu must respect; ``None`` falls back to the cadre profile, then the rules."""

    year: int
    target_hours: float | None = None
    hours_credited: float = 0.0
    start: datetime | None = None
    compulsory_first: bool = True
    category_minimums: Mapping[str, float] | None = None
    #: {centralised, online} 学时 a year; None = the rules' split for the cadre's rank band
    format_split: Mapping[str, float] | None = None
    weekly_hours_budget: float | None = None
    windows: tuple[str, ...] | None = None
    formats: tuple[str, ...] | None = None
    max_per_topic: int = 2
    max_per_instructor: int = 2
    max_courses: int = 40
    #: 学时 already earned towards each goal ('centralised', 'online', a category-minimum
    #: key); None = unknown: goals are then shares of what is left of the target
    credited_by_goal: Mapping[str, float] | None = None


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
    #: 学时 earned in ``year`` by the records (``hours_credited`` unless the request set it)
    hours_earned: float = 0.0

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
    split: dict[str, float]  # {centralised, online} 学时 a year ({} = no split)
    calendar: Calendar
    constraints: MenuConstraints


@dataclass
class PlanCatalog:
    """Per-course arrays for one menu request; ``reason`` is '' for an eligible course."""

    ids: np.ndarray
    titles: np.ndarray
    categories: np.ndarray
    groups: np.ndarray  # the rule group each category counts towards
    formats: np.ndarray
    parts: np.ndarray  # 'centralised', 'online' or '' (see the rules' [formats])
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
    start_ns: np.ndarray  # session start/end as int64 ns (NaT = min int64) for fast compares
    end_ns: np.ndarray
    id_rank: np.ndarray  # position of each course id in string order (breaks score ties)
