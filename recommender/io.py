"""Raw reading of contract tables: CSV (UTF-8 / UTF-8-BOM / GBK / GB18030), XLSX, Parquet.

Every reader returns a frame of strings ('' for empty cells) with normalised headers, so the
typed validation in :mod:`recommender.data` sees one representation whatever the source.
Headers are NFKC-normalised (full-width → half-width) and mapped to canonical names through
the aliases declared in :mod:`recommender.schema`; cell values are left as they are.
The second half holds the cell parsers (numbers, datetimes, yes/no, enum aliases) that
:mod:`recommender.data` applies per column, vectorised with a per-cell fallback.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import io
import logging
import math
import re
import unicodedata
import zipfile
from collections.abc import Callable
from pathlib import Path

import charset_normalizer
import numpy as np
import pandas as pd

from recommender.schema import Field, TableSpec

logger = logging.getLogger(__name__)

SUFFIXES = (".csv", ".xlsx", ".parquet")
#: invisible characters stripped from headers and from the ends of values
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"


class DataError(Exception):
    """Base class for data-contract problems; ``path`` names the offending file."""

    def __init__(self, message: str, *, path: Path | str | None = None) -> None:
        super().__init__(message)
        self.path = Path(path) if path is not None else None


class UnreadableFileError(DataError):
    """The file is missing, empty, undecodable or not a valid CSV/XLSX/Parquet file."""


class MissingColumnError(DataError):
    """A required column of the contract is absent from the file."""

    def __init__(self, message: str, *, path: Path | str, column: str) -> None:
        super().__init__(message, path=path)
        self.column = column


def normalize_header(name: object) -> str:
    """NFKC, strip spaces/zero-width/'*' markers; English names lower snake_case."""
    text = unicodedata.normalize("NFKC", str(name)).strip(" \t\r\n" + ZERO_WIDTH + "*")
    text = "".join(ch for ch in text if ch not in ZERO_WIDTH)
    if text.isascii():
        return "_".join(text.lower().replace("-", " ").split())
    return "".join(text.split())


def alias_table(spec: TableSpec) -> dict[str, str]:
    """Map every normalised canonical name and alias of ``spec`` to its canonical name."""
    table: dict[str, str] = {}
    for f in spec.fields:
        for name in (f.name, *f.aliases):
            table.setdefault(normalize_header(name), f.name)
    return table


def rename_headers(columns: list[str], spec: TableSpec) -> tuple[list[str], list[str]]:
    """Canonical names for ``columns``; later duplicates of a canonical name keep their header.

    Returns the new names and warnings about duplicated columns.
    """
    aliases = alias_table(spec)
    seen: dict[str, str] = {}
    names, warnings = [], []
    for col in columns:
        canonical = aliases.get(col)
        if canonical is None:
            names.append(col)
        elif canonical in seen:
            warnings.append(
                f"column {col!r} duplicates {seen[canonical]!r} (both mean {canonical!r}); "
                "the first one is used"
            )
            names.append(col)
        else:
            seen[canonical] = col
            names.append(canonical)
    return names, warnings


def cell_to_str(value: object) -> str:
    """Render a native cell (Excel/Parquet) as the text a CSV export would hold."""
    if value is None or value is pd.NaT:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
        if value is pd.NaT:
            return ""
    if isinstance(value, dt.datetime):
        if value == dt.datetime.combine(value.date(), dt.time()):
            return value.date().isoformat()
        return value.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    if hasattr(value, "item"):  # numpy scalar → Python scalar
        return cell_to_str(value.item())
    return str(value)


def decode_bytes(data: bytes, path: Path) -> str:
    """Decode CSV bytes: UTF-8(-BOM) strictly, then GB18030, then charset-normalizer's guess."""
    utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    for encoding in ("utf-16", "utf-8-sig", "gb18030")[0 if utf16 else 1 :]:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise UnreadableFileError(
            f"{path}: cannot decode the file as UTF-8, GBK/GB18030 or any detected encoding; "
            "re-save it as UTF-8 CSV",
            path=path,
        )
    logger.info("%s decoded as %s", path.name, best.encoding)
    return str(best)


def _sniff_separator(text: str) -> str:
    first = text.split("\n", 1)[0]
    counts = {sep: first.count(sep) for sep in (",", "\t", ";")}
    return max(counts, key=counts.__getitem__) if any(counts.values()) else ","


def _read_csv(path: Path) -> pd.DataFrame:
    data = path.read_bytes()
    if not data:
        raise UnreadableFileError(
            f"{path}: the file is empty (0 bytes); expected a header row", path=path
        )
    text = decode_bytes(data, path)
    if not text.strip(" \t\r\n" + ZERO_WIDTH):
        raise UnreadableFileError(f"{path}: the file has no header row", path=path)
    try:
        return pd.read_csv(
            io.StringIO(text),
            sep=_sniff_separator(text),
            header=None,
            dtype=str,
            na_filter=False,
            skip_blank_lines=False,
        ).fillna("")
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UnreadableFileError(f"{path}: not a valid CSV file: {exc}", path=path) from exc


def _read_xlsx(path: Path) -> pd.DataFrame:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise UnreadableFileError(
            f"{path}: not a valid .xlsx workbook ({exc}); re-save it from Excel", path=path
        ) from exc
    try:
        sheet = book.worksheets[0]
        rows = [[cell_to_str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()
    width = max((len(r) for r in rows), default=0)
    return pd.DataFrame([r + [""] * (width - len(r)) for r in rows], dtype=str)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
        raise UnreadableFileError(f"{path}: not a valid Parquet file ({exc})", path=path) from exc
    header = pd.DataFrame([[str(c) for c in frame.columns]], dtype=str)
    body = pd.DataFrame(
        {i: frame[c].astype(object).map(cell_to_str) for i, c in enumerate(frame.columns)},
        dtype=str,
    )
    body.columns = range(len(frame.columns))
    return pd.concat([header, body], ignore_index=True)


def _read_grid(path: Path) -> pd.DataFrame:
    """The file as a grid of strings, header included as row 0, columns 0..n-1."""
    if not path.is_file():
        raise UnreadableFileError(f"{path}: file not found", path=path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        grid = _read_csv(path)
    elif suffix == ".xlsx":
        grid = _read_xlsx(path)
    elif suffix == ".parquet":
        grid = _read_parquet(path)
    else:
        raise UnreadableFileError(
            f"{path}: unsupported file type {suffix!r}; expected one of {', '.join(SUFFIXES)}",
            path=path,
        )
    if grid.empty or not any(str(v).strip() for v in grid.iloc[0]):
        raise UnreadableFileError(f"{path}: the file has no header row", path=path)
    return grid


def read_raw(path: Path | str, spec: TableSpec | None = None) -> pd.DataFrame:
    """Read a table as strings ('' for empty) with normalised, alias-mapped headers.

    Row ``i`` of the result is spreadsheet row ``i + 2`` (the header is row 1); blank rows
    are kept so that numbering stays true. Columns with an empty header and no values are
    dropped. With ``spec`` given, headers are mapped to its canonical names.
    """
    return read_raw_with_warnings(path, spec)[0]


def read_raw_with_warnings(
    path: Path | str, spec: TableSpec | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """:func:`read_raw` plus warnings about duplicated header columns."""
    path = Path(path)
    warnings: list[str] = []
    grid = _read_grid(path)
    headers = [normalize_header(h) for h in grid.iloc[0]]
    body = grid.iloc[1:].reset_index(drop=True)
    keep = [i for i, h in enumerate(headers) if h or (body.iloc[:, i] != "").any()]
    headers = [headers[i] or f"unnamed_{i + 1}" for i in keep]
    body = body.iloc[:, keep]
    if spec is not None:
        headers, warnings = rename_headers(headers, spec)
    body.columns = _dedupe(headers)
    return body, warnings


def _dedupe(headers: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for h in headers:
        seen[h] = seen.get(h, 0) + 1
        out.append(h if seen[h] == 1 else f"{h}.{seen[h] - 1}")
    return out


def find_table_file(directory: Path | str, name: str) -> Path:
    """The one ``name.csv|.xlsx|.parquet`` file in ``directory``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UnreadableFileError(f"{directory}: data directory not found", path=directory)
    found = [p for p in sorted(directory.iterdir()) if p.is_file() and _matches(p, name)]
    if not found:
        raise UnreadableFileError(
            f"{directory}: no {name} table; expected one of "
            + ", ".join(name + s for s in SUFFIXES),
            path=directory / name,
        )
    if len(found) > 1:
        raise DataError(
            f"{directory}: several {name} tables ({', '.join(p.name for p in found)}); "
            "keep exactly one",
            path=found[0],
        )
    return found[0]


def _matches(path: Path, name: str) -> bool:
    return path.stem == name and path.suffix.lower() in SUFFIXES


def fingerprint(path: Path | str) -> dict[str, object]:
    """``{'sha256': hex digest of the file bytes, 'rows': non-blank data rows}``."""
    path = Path(path)
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    raw = read_raw(path)
    rows = int((raw.apply(lambda col: col.str.strip() != "")).any(axis=1).sum()) if len(raw) else 0
    return {"sha256": digest.hexdigest(), "rows": rows}


# --- cell parsing: strings → typed values --------------------------------------------------

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
