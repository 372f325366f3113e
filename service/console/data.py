"""What the console pages show, read from the loaded model (and the planners' gap report).

Nothing here renders HTML; the view functions pass these plain values to the templates.
"""

from __future__ import annotations

import unicodedata
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recommender import FORMATS, UNIT_LEVELS, VALUE_LABELS

#: contract value → Chinese label (the library's one table: the gap report says the same)
FORMAT_LABELS = {f: VALUE_LABELS[f] for f in FORMATS}
UNIT_LEVEL_LABELS = {u: VALUE_LABELS[u] for u in UNIT_LEVELS}
SEARCH_COLUMNS = ("cadre_id", "unit", "job_title")
GAP_SHEET = "主要缺口"
GAP_COLUMNS = ("主题", "课程类别", "需求占比", "供给占比", "缺口（需求−供给）", "需求/供给倍数")
GAPS_COMMAND = "recommender gaps --data data/sample --model models --out var/reports/需求缺口.xlsx"


def label(value: object, labels: Mapping[str, str]) -> str:
    text = "" if value is None else str(value)
    return labels.get(text, text)


def _norm(text: object) -> str:
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    return unicodedata.normalize("NFKC", str(text)).replace(" ", "").casefold()


_HAYSTACKS: weakref.WeakKeyDictionary[Any, np.ndarray] = weakref.WeakKeyDictionary()


def _haystack(model: Any) -> np.ndarray:
    """One normalised search string per cadre (id, unit, post), built once per model."""
    found = _HAYSTACKS.get(model)
    if found is None:
        cols = [c for c in SEARCH_COLUMNS if c in model.cadres.columns]
        rows = model.cadres[cols].to_numpy(dtype=object)
        found = np.array(["\x1f".join(_norm(v) for v in row) for row in rows], dtype=object)
        _HAYSTACKS[model] = found
    return found


def number_or_blank(value: object) -> float | str:
    """A profile number for a form field; '' when missing (None or NaN)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    return "" if np.isnan(number) else number


def cadre_summary(record: Mapping[str, Any]) -> dict[str, str]:
    """The profile fields a training administrator recognises a cadre by."""

    def text(key: str) -> str:
        value = record.get(key)
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return ""
        return str(value)

    return {
        "cadre_id": text("cadre_id"),
        "name": text("name"),  # 姓名 and the masked 身份证号, for rosters that have them
        "id_masked": text("id_masked"),
        "unit": text("unit"),
        "unit_level": label(text("unit_level"), UNIT_LEVEL_LABELS),
        "system": text("system"),
        "rank": text("rank"),
        "job_title": text("job_title"),
        "region": text("region"),
    }


def _hay_rows(model: Any, query: str) -> np.ndarray:
    """Rows whose id, unit or post contains every word of ``query``."""
    words = [_norm(w) for w in query.split() if _norm(w)]
    if not words:
        return np.zeros(0, dtype=int)
    hay = _haystack(model)
    hits = np.ones(len(hay), dtype=bool)
    for word in words:
        hits &= np.fromiter((word in h for h in hay), dtype=bool, count=len(hay))
    return np.flatnonzero(hits)


def search_cadres(
    model: Any, query: str, limit: int = 50, lookup: Any = None
) -> tuple[list[dict[str, str]], int]:
    """Cadres matching ``query``; (first ``limit``, total). With ``lookup``
    (:class:`recommender.CadreLookup`): a full 身份证号, 姓名 or part of it, unit or the masked
    id's digits first; then cadres whose id, unit or post contains every word."""
    rows = _hay_rows(model, query)
    if lookup is None:
        records = model.cadres.iloc[rows[:limit]].to_dict("records")
        return [cadre_summary(r) for r in records], len(rows)
    ids = model.cadres["cadre_id"].astype(str)
    first = lookup.search(query, limit=len(ids))["cadre_id"].astype(str).tolist()
    seen = set(first)
    found = first + [i for i in ids.iloc[rows] if i not in seen]
    return [cadre_summary(model.cadre_profile(i)) for i in found[:limit]], len(found)


def has_names(model: Any) -> bool:
    """True when the roster carries 姓名 (the console then searches and shows them)."""
    cadres = model.cadres
    return "name" in cadres and bool(cadres["name"].fillna("").astype(str).ne("").any())


def example_cadres(model: Any, n: int = 8) -> list[dict[str, str]]:
    """A few cadres to click on from the start page (evenly spread over the table)."""
    total = len(model.cadres)
    if total == 0:
        return []
    rows = np.unique(np.linspace(0, total - 1, num=min(n, total)).astype(int))
    return [cadre_summary(r) for r in model.cadres.iloc[rows].to_dict("records")]


def course_record(model: Any, course_id: str) -> dict[str, Any]:
    """A course's catalog row with display-ready values (raises UnknownIdError)."""
    row = model.courses.iloc[model.course_index(course_id)].to_dict()
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is None or (isinstance(value, float) and np.isnan(value)):
            value = ""
        elif hasattr(value, "isoformat") and not isinstance(value, str):
            value = "" if str(value) == "NaT" else str(value)[:16]
        out[key] = value
    out["format_label"] = label(out.get("format"), FORMAT_LABELS)
    return out


@dataclass(frozen=True)
class ModelBadge:
    """Header line: which model answers and when it was trained."""

    version: str
    trained_at: str
    loaded: bool


def model_badge(loaded: Any | None) -> ModelBadge:
    if loaded is None:
        return ModelBadge("（未加载模型）", "", False)
    meta = loaded.model.metadata or {}
    trained = str(meta.get("created_at") or "")
    return ModelBadge(str(loaded.version), trained[:19].replace("T", " "), True)


@dataclass(frozen=True)
class GapReport:
    """The top rows of the newest gap workbook (``recommender gaps``) in the reports dir."""

    path: Path
    columns: list[str]
    rows: list[list[str]]
    total: int


def _cell(value: Any, column: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if "占比" in column or column.startswith("缺口"):
            return f"{value:.1%}"
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def latest_gap_report(directory: Path, top: int = 15) -> GapReport | None:
    """The newest ``*.xlsx`` in ``directory`` holding a 主要缺口 sheet, or None."""
    from openpyxl import load_workbook

    if not directory.is_dir():
        return None
    books = sorted(directory.glob("*.xlsx"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in books:
        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception:  # a half-written or foreign file: try the next one
            continue
        try:
            if GAP_SHEET not in wb.sheetnames:
                continue
            rows = list(wb[GAP_SHEET].iter_rows(values_only=True))
        finally:
            wb.close()
        if not rows:
            continue
        header = [str(h or "") for h in rows[0]]
        keep = [i for i, h in enumerate(header) if h in GAP_COLUMNS] or list(range(len(header)))
        columns = [header[i] for i in keep]
        body = [[_cell(r[i], header[i]) for i in keep] for r in rows[1 : top + 1]]
        return GapReport(path, columns, body, len(rows) - 1)
    return None
