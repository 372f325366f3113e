"""Raw reading of contract tables: CSV (UTF-8 / UTF-8-BOM / GBK / GB18030), XLSX, Parquet.

Every reader returns a frame of strings ('' for empty cells) with normalised headers, so the
typed validation in :mod:`recommender.data.loading` sees one representation whatever the source.
Headers are NFKC-normalised (full-width → half-width) and mapped to canonical names through
the aliases declared in :mod:`recommender.data.schema`; cell values are left as they are.
The cell parsers (numbers, datetimes, yes/no, enum aliases) live in :mod:`recommender.data.cells`
and are re-exported here for existing imports.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import io
import logging
import math
import unicodedata
import zipfile
from pathlib import Path

import charset_normalizer
import numpy as np
import pandas as pd

# the cell parsers moved to recommender.data.cells; re-exported for `recommender.data.readers` callers
from recommender.data.cells import EMPTY_TOKENS as EMPTY_TOKENS
from recommender.data.cells import ENUM_ALIASES as ENUM_ALIASES
from recommender.data.cells import FALSE_TOKENS as FALSE_TOKENS
from recommender.data.cells import TRUE_TOKENS as TRUE_TOKENS
from recommender.data.cells import clip as clip
from recommender.data.cells import empty_values as empty_values
from recommender.data.cells import is_empty as is_empty
from recommender.data.cells import parse_column as parse_column
from recommender.data.cells import parse_datetime as parse_datetime
from recommender.data.cells import parse_number as parse_number
from recommender.data.cells import show as show
from recommender.data.schema import TableSpec

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
