"""Cell parsers of contract tables: strings → numbers, datetimes, yes/no and enum values.

:mod:`recommender.data.loading` applies :func:`parse_column` per typed column of the frames that
:mod:`recommender.data.readers` reads (strings, '' for empty); each parser is vectorised with a
per-cell fallback and reports ``{position: (reason, rule)}`` for the cells it rejects.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable

import numpy as np
import pandas as pd

from recommender.data.schema import Field

#: placeholders that mean "no value" in typed (non-text) columns of SQL / Excel exports
EMPTY_TOKENS = frozenset({"", "nan", "null", "none", "n/a", "#n/a", "-", "--", "—", "/"})
TRUE_TOKENS = frozenset(
    {"true", "t", "1", "yes", "y", "on", "是", "√", "✓", "✔", "必修", "有效", "在用", "上架"}
)
FALSE_TOKENS = frozenset(
    {"false", "f", "0", "no", "n", "off", "否", "×", "✗", "✘", "选修", "无效", "停用", "下架"}
)
#: Chinese (and spelling-variant) names of enum values
ENUM_ALIASES = {
    "视频": "video", "视频课": "video", "微课": "micro", "文章": "article", "图文": "article",
    "直播": "live", "面授": "face_to_face", "专题班": "special_class",
    "讲授": "lecture", "案例": "case", "研究": "research", "模拟": "simulation",
    "体验": "experiential",
    "省": "province", "省级": "province", "市": "city", "市级": "city", "地市": "city",
    "县": "county", "县级": "county", "区县": "county", "乡镇": "township", "乡": "township",
    "镇": "township", "村": "village",
    "组织调训": "assigned", "指定": "assigned", "自主选学": "self_selected",
    "推荐": "recommended",
}  # fmt: skip
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?")
_ISO_FAST = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?")
_DATE = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:(?:\s+|T)(\d{1,2})\s*[:时]\s*(\d{1,2})\s*(?:[:分]\s*(\d{1,2}(?:\.\d+)?)\s*秒?)?)?"
)
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)


def clip(text: str, limit: int = 60) -> str:
    """Shorten long values for rejects lines and messages."""
    return text if len(text) <= limit else text[:limit] + "…"


def show(value: object) -> str:
    """A quoted, shortened rendering of a cell value for reasons."""
    return repr(clip(str(value)))


def is_empty(text: str) -> bool:
    """True when a typed cell holds nothing (or an export's 'no value' placeholder)."""
    return text.strip().lower() in EMPTY_TOKENS


def empty_values(col: pd.Series) -> list[str]:
    """The distinct (already stripped) cells of ``col`` that mean no value."""
    return [v for v in col[col.str.lower().isin(EMPTY_TOKENS)].unique()]


def parse_number(text: str) -> float:
    """'32', '32.0', '３２', '1,200', '85%' → float; ValueError otherwise (also inf/nan)."""
    t = unicodedata.normalize("NFKC", text).replace(" ", "")
    scale = 1.0
    if t.endswith("%"):
        t, scale = t[:-1], 0.01
    if _GROUPED.fullmatch(t):
        t = t.replace(",", "")
    if not _NUMBER.fullmatch(t):
        raise ValueError(text)
    return float(t) * scale


def parse_datetime(text: str) -> dt.datetime:
    """ISO, '2025/03/01', '2025年3月1日 9:30', '20250301', Excel serials → naive datetime."""
    t = unicodedata.normalize("NFKC", text).strip()
    if m := _DATE.fullmatch(t):
        y, mo, d, h, mi, s = m.groups()
        sec = float(s or 0)
        return dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(sec)) + (
            dt.timedelta(seconds=sec % 1)
        )
    if re.fullmatch(r"\d{8}", t):
        return dt.datetime.strptime(t, "%Y%m%d")
    if _NUMBER.fullmatch(t) and 20_000 < float(t) < 80_000:  # Excel serial, 1954–2119
        return _EXCEL_EPOCH + dt.timedelta(days=float(t))
    value = dt.datetime.fromisoformat(t)
    return value.replace(tzinfo=None)  # keep wall-clock time: exports are local time


def _bounds_reason(f: Field, x: float) -> str | None:
    if f.min is not None and (x <= f.min if f.min_exclusive else x < f.min):
        return f"must be {'>' if f.min_exclusive else '>='} {f.min:g}, got {x:g}"
    if f.max is not None and x > f.max:
        return f"must be <= {f.max:g}, got {x:g}"
    return None


def _numbers(f: Field, col: pd.Series) -> tuple[pd.Series, dict[int, tuple[str, str]]]:
    errors: dict[int, tuple[str, str]] = {}
    missing = (col == "").to_numpy()
    numeric = pd.to_numeric(col.where(~missing, None), errors="coerce")
    values = numeric.to_numpy("float64", copy=True)
    for i in np.flatnonzero(~np.isfinite(values) & ~missing):
        try:
            values[i] = parse_number(col.iloc[i])
        except ValueError:
            values[i] = np.nan
            errors[int(i)] = (f"not a number: {show(col.iloc[i])}", "not_a_number")
    with np.errstate(invalid="ignore"):
        suspect = ~np.isnan(values) & (
            (values <= f.min if f.min_exclusive else values < f.min) if f.min is not None else False
        )
        suspect |= (values > f.max) if f.max is not None else False
        if f.kind == "int":
            suspect |= ~np.isnan(values) & (values != np.round(values))
    for i in np.flatnonzero(suspect):
        x = float(values[i])
        if f.kind == "int" and not x.is_integer():
            errors[int(i)] = (f"not an integer: {show(col.iloc[i])}", "not_an_integer")
        elif reason := _bounds_reason(f, x):
            errors[int(i)] = (reason, "out_of_range")
    if f.default is not None:
        values[missing] = float(f.default)
    values[list(errors)] = np.nan
    if f.kind == "int":
        return pd.Series(np.round(values)).astype("Int64"), errors
    return pd.Series(values, dtype="float64"), errors


def _datetimes(f: Field, col: pd.Series) -> tuple[pd.Series, dict[int, tuple[str, str]]]:
    errors: dict[int, tuple[str, str]] = {}
    fast_ok = col.str.fullmatch(_ISO_FAST.pattern).fillna(False).astype(bool)
    fast = pd.to_datetime(col.where(fast_ok, None), format="ISO8601", errors="coerce")
    values = fast.to_numpy("datetime64[ns]").copy()
    for i in np.flatnonzero(np.isnat(values) & (col != "").to_numpy()):
        try:
            parsed = parse_datetime(col.iloc[i])
            if not 1678 <= parsed.year <= 2261:
                raise ValueError(col.iloc[i])
            values[i] = np.datetime64(parsed, "ns")
        except (ValueError, OverflowError):
            errors[int(i)] = (f"unparseable datetime: {show(col.iloc[i])}", "bad_datetime")
    return pd.Series(values, dtype="datetime64[ns]"), errors


def _by_unique(
    col: pd.Series, decide: Callable[[str], tuple[object, str | None]], rule: str, dtype
) -> tuple[pd.Series, dict[int, tuple[str, str]]]:
    """Map each distinct cell once (columns repeat few values), then broadcast."""
    decisions = {text: decide(text) for text in col.unique()}
    values = col.map({k: v for k, (v, _) in decisions.items()})
    bad = {k: reason for k, (_, reason) in decisions.items() if reason}
    errors = {}
    if bad:
        reasons = col.map(bad)
        for i in np.flatnonzero(reasons.notna().to_numpy()):
            errors[int(i)] = (reasons.iloc[i], rule)
    return values.astype(dtype), errors


def _bools(f: Field, col: pd.Series) -> tuple[pd.Series, dict[int, tuple[str, str]]]:
    default = bool(f.default) if f.default is not None else False

    def decide(text: str) -> tuple[bool, str | None]:
        key = unicodedata.normalize("NFKC", text).strip().lower()
        if key in TRUE_TOKENS or key == "1.0":
            return True, None
        if key in FALSE_TOKENS or key == "0.0":
            return False, None
        return default, (f"not a yes/no value: {show(text)}" if key else None)

    return _by_unique(col, decide, "bad_bool", bool)


def _enums(f: Field, col: pd.Series) -> tuple[pd.Series, dict[int, tuple[str, str]]]:
    default = str(f.default) if f.default is not None else ""

    def decide(text: str) -> tuple[str, str | None]:
        key = unicodedata.normalize("NFKC", text).strip()
        key = ENUM_ALIASES.get(key, "_".join(key.lower().replace("-", " ").split()))
        if not key:
            return default, None
        if key in f.values:
            return key, None
        return "", f"not one of {'|'.join(f.values)}: {show(text)}"

    return _by_unique(col, decide, "bad_enum", str)


def parse_column(f: Field, col: pd.Series) -> tuple[pd.Series, dict[int, tuple[str, str]]]:
    """Typed values of a non-text column ('' = missing) and ``{position: (reason, rule)}``."""
    col = col.reset_index(drop=True)
    if f.kind in ("float", "int"):
        return _numbers(f, col)
    if f.kind == "datetime":
        return _datetimes(f, col)
    if f.kind == "bool":
        return _bools(f, col)
    if f.kind == "enum":
        return _enums(f, col)
    raise ValueError(f"field {f.name!r}: unknown kind {f.kind!r}")
