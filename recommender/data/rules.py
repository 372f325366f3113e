"""Training rules: annual 学时 targets per rank band and the personal-menu defaults.

Everything lives in one settings file, ``recommender/resources/training_rules.toml``;
:func:`load_rules` reads it (or another file with the same layout: the one named by
``XUANXUE_RULES`` when no path is given) into a frozen :class:`TrainingRules`. An academy
whose catalog names its categories differently maps them onto the rules' groups in
``[category_groups]``; :meth:`TrainingRules.catalog_warnings` says (in Chinese) what a rule
names that the catalog lacks.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from recommender.data.cells import VALUE_LABELS
from recommender.data.schema import FORMATS, WINDOWS

#: environment variable naming the rules file when no path is given
RULES_ENV = "XUANXUE_RULES"
#: the two parts of an annual target that has a centralised/online split
SPLIT_PARTS = ("centralised", "online")
PART_LABELS = {"centralised": "集中培训", "online": "网络学习"}
_FORMAT_CLASSES = {
    "centralised": ("face_to_face", "special_class"),
    "online": ("video", "micro", "article", "live"),
}


_BRACKETS = re.compile(r"[（(][^）)]*[）)]")


class RulesError(ValueError):
    """A training-rules file that is missing, unreadable or inconsistent."""


@dataclass(frozen=True)
class SolverWeights:
    """Trade-off weights and limits of the menu optimiser (see the settings file)."""

    relevance: float = 1.0
    format_bonus: float = 0.2
    course_cost: float = 0.05
    shortfall_per_hour: float = 100.0
    overshoot_per_hour: float = 5.0
    category_slack_per_hour: float = 20.0
    candidates: int = 150
    group_candidates: int = 50
    time_limit: float = 0.04


@dataclass(frozen=True)
class TrainingRules:
    """Annual targets, rank bands and menu defaults.

    Parameters
    ----------
    annual_hours
        学时 a year per rank band (乡科级 140 = 90 centralised + 50 online; 县处级 110 = 550/5).
    default_band
        Band of a cadre whose rank is empty or not recognised.
    rank_bands
        Exact rank → band.
    band_keywords
        Ordered (band, keywords) fallback: the first band with a keyword inside the rank.
    category_minimums
        Share of the remaining target per '+'-joined rule group.
    category_groups
        Catalog category → rule group (a category not listed is its own group).
    hour_split
        Band → {centralised, online} 学时 a year (乡科级 90 + 50); bands without one have none.
    format_classes
        centralised / online → the course formats that count towards that part.
    half_day_hours, day_hours, minutes_per_hour
        学时 of a course written 半天 / 一天 (两天 = 2 days, 一周 = 5 days) and the minutes of one
        学时 (a course written 90分钟), from ``[hours]``.
    weekly_hours_budget, windows, day_start_hour, evening_start_hour
        Menu defaults and the window boundaries; a session given as a date only runs from
        ``day_start_hour`` to ``evening_start_hour`` that day.
    next_year_from
        (month, day) from which a menu asked for no year plans next year whole (1 October).
    organisations
        Endings of a 授课教师 cell that names an organisation or platform (中国干部网络学院,
        县委党校 …), not a person: such courses do not count toward ``max_per_instructor``.
    outside_catalog_part
        The split part ('online', 'centralised' or '') that records of courses outside the
        catalog (platform 专题网班) count toward in a cadre's 学时档案.
    solver
        Objective weights of the menu optimiser.
    """

    annual_hours: Mapping[str, float]
    default_band: str = "乡科级"
    rank_bands: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    band_keywords: tuple[tuple[str, tuple[str, ...]], ...] = ()
    category_minimums: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType({"政治理论+党性教育": 0.3})
    )
    category_groups: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    hour_split: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    format_classes: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType(_FORMAT_CLASSES)
    )
    weekly_hours_budget: float = 4.0
    half_day_hours: float = 3.0
    day_hours: float = 6.0
    minutes_per_hour: float = 45.0
    windows: tuple[str, ...] = WINDOWS
    day_start_hour: float = 8.0
    evening_start_hour: float = 18.0
    next_year_from: tuple[int, int] = (10, 1)
    organisations: tuple[str, ...] = ()
    outside_catalog_part: str = "online"
    solver: SolverWeights = field(default_factory=SolverWeights)

    def rank_band(self, rank: str | None) -> str:
        """乡科级 / 县处级 / 厅局级 for a rank such as 一级主任科员 or 副处."""
        text = str(rank or "").strip().replace(" ", "")
        if not text:
            return self.default_band
        if text in self.rank_bands:
            return self.rank_bands[text]
        for band, words in self.band_keywords:
            if any(w in text for w in words):
                return band
        return self.default_band

    def default_target(self, rank: str | None) -> float:
        """Annual 学时 target for a rank (the default band's when the band has none)."""
        band = self.rank_band(rank)
        return float(self.annual_hours.get(band, self.annual_hours[self.default_band]))

    def split_for(self, rank: str | None) -> dict[str, float]:
        """{centralised, online} 学时 a year for a rank's band ({} when the band has none)."""
        return dict(self.hour_split.get(self.rank_band(rank), {}))

    def plan_year(self, day: date) -> int:
        """The year a menu is planned for on ``day``: next year from ``next_year_from`` on."""
        return day.year + ((day.month, day.day) >= self.next_year_from)

    def is_organisation(self, instructor: str) -> bool:
        """True when a 授课教师 cell names an organisation or platform rather than a person
        (its text without bracketed notes ends with one of ``organisations``; a one-character
        ending such as 局 or 科 only past three characters, as 王科 is a name)."""
        text = _BRACKETS.sub("", str(instructor or "")).strip()
        short = 2 if len(text) < 4 else 1  # 王科, 欧阳科: names, not offices
        return any(text.endswith(o) and len(o) >= short for o in self.organisations if o)

    def rule_group(self, category: str) -> str:
        """The rule group a catalog category counts towards (itself when not mapped)."""
        return self.category_groups.get(category, category)

    def format_labels(self, part: str) -> str:
        """'面授、专题班' for a split part, for messages."""
        return "、".join(VALUE_LABELS.get(f, f) for f in self.format_classes.get(part, ()))

    def catalog_warnings(self, categories: Collection[str], formats: Collection[str]) -> list[str]:
        """Chinese warnings for rules that name categories or formats the catalog lacks."""
        cats = {str(c) for c in categories}
        groups = {self.rule_group(c) for c in cats}
        out = [
            f"规则 [category_groups] 中的目录类别“{c}”在课程目录中不存在"
            for c in self.category_groups
            if c not in cats
        ]
        for key in self.category_minimums:
            for g in key.split("+"):
                if g not in groups:
                    out.append(
                        f"规则 [menu.category_minimums] “{key}”中的“{g}”在课程目录中没有对应类别"
                        f"，该最低学时要求无法满足；请在规则文件 [category_groups] 中把目录类别"
                        f"映射到“{g}”（目录类别：{'、'.join(sorted(cats)) or '无'}）"
                    )
        for part in SPLIT_PARTS:
            needed = [b for b, split in self.hour_split.items() if split.get(part, 0) > 0]
            if needed and not set(self.format_classes.get(part, ())) & {str(f) for f in formats}:
                out.append(
                    f"课程目录中没有{PART_LABELS[part]}形式（{self.format_labels(part)}）的课程，"
                    f"{'、'.join(needed)}的{PART_LABELS[part]}学时要求无法满足"
                )
        return out


def _default_path() -> Path:
    return Path(str(resources.files("recommender") / "resources" / "training_rules.toml"))


def _section(doc: Mapping[str, Any], name: str, path: Path) -> Mapping[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, Mapping):
        raise RulesError(f"{path}: [{name}] must be a table, found {type(value).__name__}")
    return value


def _split(targets: Mapping[str, Any], annual: Mapping[str, float], path: Path) -> dict:
    """[targets.split.<band>]: centralised / online 学时 a year, both ≥ 0, band known."""
    out = {}
    for band, parts in _section(targets, "split", path).items():
        if band not in annual:
            raise RulesError(f"{path}: targets.split.{band} names a band without annual_hours")
        if not isinstance(parts, Mapping) or set(parts) - set(SPLIT_PARTS):
            raise RulesError(f"{path}: targets.split.{band} takes only {SPLIT_PARTS}")
        hours = {p: float(parts.get(p, 0.0)) for p in SPLIT_PARTS}
        if min(hours.values()) < 0:
            raise RulesError(f"{path}: targets.split.{band} must be ≥ 0, found {hours}")
        out[band] = MappingProxyType(hours)
    return out


def _format_classes(doc: Mapping[str, Any], path: Path) -> dict[str, tuple[str, ...]]:
    """[formats]: which course formats are centralised and which online (disjoint, known)."""
    given = _section(doc, "formats", path)
    if unknown := set(given) - {*SPLIT_PARTS, "outside_catalog"}:
        raise RulesError(f"{path}: [formats] has unknown keys {sorted(unknown)}")
    out = {p: tuple(str(f) for f in given.get(p, _FORMAT_CLASSES[p])) for p in SPLIT_PARTS}
    if bad := {f for fs in out.values() for f in fs} - set(FORMATS):
        raise RulesError(f"{path}: [formats] has unknown formats {sorted(bad)}; use {FORMATS}")
    if both := set(out["centralised"]) & set(out["online"]):
        raise RulesError(f"{path}: [formats] lists {sorted(both)} as both centralised and online")
    return out


def _parse(doc: Mapping[str, Any], path: Path) -> TrainingRules:
    targets = _section(doc, "targets", path)
    annual = {str(k): float(v) for k, v in _section(targets, "annual_hours", path).items()}
    default_band = str(targets.get("default_band", "乡科级"))
    if default_band not in annual:
        raise RulesError(f"{path}: targets.default_band {default_band!r} has no annual_hours entry")
    if any(v < 0 for v in annual.values()):
        raise RulesError(f"{path}: targets.annual_hours must be ≥ 0, found {annual}")
    bands = {str(k): str(v) for k, v in _section(doc, "rank_bands", path).items()}
    keywords = tuple(
        (str(b), tuple(str(w) for w in ws))
        for b, ws in _section(doc, "band_keywords", path).items()
    )
    menu = _section(doc, "menu", path)
    mins = {str(k): float(v) for k, v in _section(menu, "category_minimums", path).items()}
    if any(not 0.0 <= v <= 1.0 for v in mins.values()):
        raise RulesError(f"{path}: menu.category_minimums shares must be in [0, 1], found {mins}")
    windows = tuple(menu.get("windows", WINDOWS))
    if unknown := set(windows) - set(WINDOWS):
        raise RulesError(f"{path}: menu.windows has unknown {sorted(unknown)}; use {WINDOWS}")
    known = {f.name for f in fields(SolverWeights)}
    solver = _section(doc, "solver", path)
    if unknown := set(solver) - known:
        raise RulesError(f"{path}: [solver] has unknown keys {sorted(unknown)}")
    hours = _section(doc, "hours", path)
    if unknown := set(hours) - {"half_day", "day", "minutes_per_hour"}:
        raise RulesError(f"{path}: [hours] has unknown keys {sorted(unknown)}")
    conv = {k: float(hours.get(k, d)) for k, d in (("half_day", 3.0), ("day", 6.0),
                                                   ("minutes_per_hour", 45.0))}  # fmt: skip
    if min(conv.values()) <= 0:
        raise RulesError(f"{path}: [hours] values must be > 0, found {conv}")
    return TrainingRules(
        **_menu_extras(doc, menu, path),
        annual_hours=MappingProxyType(annual),
        half_day_hours=conv["half_day"],
        day_hours=conv["day"],
        minutes_per_hour=conv["minutes_per_hour"],
        default_band=default_band,
        rank_bands=MappingProxyType(bands),
        band_keywords=keywords,
        category_minimums=MappingProxyType(mins),
        category_groups=MappingProxyType(
            {str(k): str(v) for k, v in _section(doc, "category_groups", path).items()}
        ),
        hour_split=MappingProxyType(_split(targets, annual, path)),
        format_classes=MappingProxyType(_format_classes(doc, path)),
        weekly_hours_budget=float(menu.get("weekly_hours_budget", 4.0)),
        windows=windows,
        day_start_hour=float(menu.get("day_start_hour", 8.0)),
        evening_start_hour=float(menu.get("evening_start_hour", 18.0)),
        solver=SolverWeights(**solver),
    )


def _menu_extras(doc: Mapping[str, Any], menu: Mapping[str, Any], path: Path) -> dict:
    """[menu] next_year_from = "MM-DD", [instructors] organisations, [formats]
    outside_catalog (checked: a real day, a list of text, a split part or '')."""
    raw = str(menu.get("next_year_from", "10-01"))
    try:
        cut = date(2000, *(int(x) for x in raw.split("-")))  # 2000: a leap year
    except (TypeError, ValueError):
        raise RulesError(f"{path}: menu.next_year_from must be 'MM-DD', found {raw!r}") from None
    orgs = _section(doc, "instructors", path).get("organisations", [])
    if not isinstance(orgs, list) or not all(isinstance(o, str) and o for o in orgs):
        raise RulesError(f"{path}: instructors.organisations must be a list of text")
    part = str(_section(doc, "formats", path).get("outside_catalog", "online"))
    if part not in ("", *SPLIT_PARTS):
        raise RulesError(f"{path}: formats.outside_catalog must be one of {SPLIT_PARTS} or ''")
    return {"next_year_from": (cut.month, cut.day), "organisations": tuple(orgs),
            "outside_catalog_part": part}  # fmt: skip


@lru_cache(maxsize=8)
def _load(path: Path) -> TrainingRules:
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise RulesError(f"training rules file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{path}: not valid TOML ({exc})") from exc
    return _parse(doc, path)


def rules_path(path: str | Path | None = None) -> Path:
    """The rules file to read: ``path``, else ``$XUANXUE_RULES``, else the packaged one."""
    chosen = path if path is not None else os.environ.get(RULES_ENV) or None
    return Path(chosen).resolve() if chosen is not None else _default_path()


def load_rules(path: str | Path | None = None) -> TrainingRules:
    """Read the training rules (``XUANXUE_RULES``, else the packaged ``training_rules.toml``,
    when no path is given)."""
    return _load(rules_path(path))


def rules_fingerprint(path: str | Path | None = None) -> dict[str, str]:
    """Which rules file a model was trained with, and its SHA-256 (kept in the metadata)."""
    import hashlib

    resolved = rules_path(path)
    digest = hashlib.sha256(resolved.read_bytes()).hexdigest()
    return {"path": str(resolved), "sha256": digest}


def rank_band(rank: str | None, rules: TrainingRules | None = None) -> str:
    """Rank band of ``rank`` under ``rules`` (the packaged rules by default)."""
    return (rules or load_rules()).rank_band(rank)
