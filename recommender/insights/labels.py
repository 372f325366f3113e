"""Chinese names for the codes planners see in tables and charts, and the order of unit levels.

One place for them, so the workbook, the charts and the notebooks say the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable

from recommender.data.cells import VALUE_LABELS
from recommender.data.schema import FORMATS as SCHEMA_FORMATS
from recommender.data.schema import UNIT_LEVELS as SCHEMA_UNIT_LEVELS
from recommender.data.schema import WINDOWS
from recommender.insights.catalog_health import ISSUES

__all__ = [
    "CONSTRAINT_LABELS",
    "FORMATS",
    "GOAL_LABELS",
    "GROUP_NAMES",
    "ISSUE_LABELS",
    "UNIT_LEVELS",
    "WINDOW_LABELS",
    "level_rank",
    "unit_level_name",
]

#: unit level code → Chinese, in hierarchy order (省级 → 市级 → 县级 → 乡镇 → 村（社区）)
UNIT_LEVELS: dict[str, str] = {v: VALUE_LABELS[v] for v in SCHEMA_UNIT_LEVELS}
#: cadre segment column → Chinese
GROUP_NAMES: dict[str, str] = {
    "system": "系统",
    "unit_level": "单位层级",
    "rank": "职级",
    "region": "地区",
}
#: dead-catalog issue code → Chinese
ISSUE_LABELS = dict(
    zip(ISSUES, ("从未有人学", "很少有人学", "从未被推荐", "评分低但报名多"), strict=True)
)
#: menu constraint code → Chinese (from the one label table)
CONSTRAINT_LABELS = {
    c: VALUE_LABELS[c]
    for c in (
        "compulsory",
        "catalog",
        "windows",
        "capacity",
        "prerequisites",
        "weekly_budget",
        "max_per_topic",
        "max_per_instructor",
        "max_courses",
        "combination",
    )
}
#: menu goal code → Chinese (from the one label table)
GOAL_LABELS = {
    g: VALUE_LABELS[g]
    for g in ("hours", "compulsory", "category_minimum", "centralised_hours", "online_hours")
}
#: study window code → Chinese
WINDOW_LABELS = {w: VALUE_LABELS[w] for w in WINDOWS}
#: course format code → Chinese
FORMATS = {f: VALUE_LABELS[f] for f in SCHEMA_FORMATS}


_RANK = {name: i for i, pair in enumerate(UNIT_LEVELS.items()) for name in pair}


def unit_level_name(value: object) -> object:
    """Chinese name of a unit level code; anything else unchanged."""
    return UNIT_LEVELS.get(value, value) if isinstance(value, str) else value


def level_rank(values: Iterable[object]) -> list[int]:
    """Sort keys putting unit levels (codes or Chinese names) in hierarchy order, others last."""
    last = len(UNIT_LEVELS)
    return [_RANK.get(v, last) if isinstance(v, str) else last for v in values]
