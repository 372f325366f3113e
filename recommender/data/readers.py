"""Raw reading of contract tables: CSV (UTF-8 / UTF-8-BOM / GBK / GB18030), XLSX, XLS, ODS,
Parquet.

Every reader returns a frame of strings ('' for empty cells) with normalised headers, so the
typed validation in :mod:`recommender.data.loading` sees one representation whatever the source.
Headers are NFKC-normalised (full-width → half-width) and mapped to canonical names through
the aliases declared in :mod:`recommender.data.schema`; cell values are left as they are.
Workbooks (sheet choice, header row below title rows, caps) are :mod:`recommender.data.sheets`'
business; the cell parsers live in :mod:`recommender.data.cells`. Names are re-exported here for
existing imports.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import charset_normalizer
import pandas as pd

# cell parsers, errors and header helpers live in cells/errors/sheets; re-exported here
from recommender.data.cells import EMPTY_TOKENS as EMPTY_TOKENS
from recommender.data.cells import ENUM_ALIASES as ENUM_ALIASES
from recommender.data.cells import FALSE_TOKENS as FALSE_TOKENS
from recommender.data.cells import TRUE_TOKENS as TRUE_TOKENS
from recommender.data.cells import cell_to_str as cell_to_str
from recommender.data.cells import clip as clip
from recommender.data.cells import empty_values as empty_values
from recommender.data.cells import is_empty as is_empty
from recommender.data.cells import parse_column as parse_column
from recommender.data.cells import parse_datetime as parse_datetime
from recommender.data.cells import parse_number as parse_number
from recommender.data.cells import show as show
from recommender.data.errors import DataError as DataError
from recommender.data.errors import MissingColumnError as MissingColumnError
from recommender.data.errors import UnreadableFileError as UnreadableFileError
from recommender.data.schema import ID_CARD_ALIASES, TABLE_LABELS, TableSpec, match_header
from recommender.data.schema import Columns as C
from recommender.data.sheets import HEADER_SCAN_ROWS, MAX_SHEET_ROWS, header_row
from recommender.data.sheets import ZERO_WIDTH as ZERO_WIDTH
from recommender.data.sheets import alias_table as alias_table
from recommender.data.sheets import normalize_header as normalize_header

logger = logging.getLogger(__name__)

SUFFIXES = (".csv", ".xlsx", ".xlsm", ".xls", ".ods", ".parquet")
#: file stems a table may have in a data directory besides its own name
TABLE_STEMS = {
    "courses": ("courses", "课程", "课程目录", "课程信息", "课程表"),
    "cadres": ("cadres", "干部", "干部信息", "学员", "学员信息", "干部表"),
    "completions": ("completions", "学习记录", "选课记录", "学习情况", "学时记录"),
}
_RAGGED = "\x1eragged:"
#: a character other than whitespace and zero-width ones: a file holding none is empty
_SOMETHING = re.compile(f"[^ \t\r\n{ZERO_WIDTH}]")
#: rows of one Parquet table read by this (string-cell) reader at most; bigger tables are the
#: Spark engine's (``train --engine spark``)
MAX_PARQUET_ROWS = 2_000_000


@dataclass
class RawTable:
    """A table as read: string cells under canonical headers, and where they came from.

    Attributes
    ----------
    frame : data rows ('' for empty), columns renamed to canonical names where known.
    warnings : duplicated headers, skipped title rows, skipped sheets …
    headers : column of ``frame`` → the header as the file wrote it (学时 for credit_hours).
    first_row : spreadsheet row number of ``frame``'s first row (header row + 1).
    ragged : row of ``frame`` → number of fields, for CSV rows with more fields than the header.
    sheet : the sheet read, for workbooks.
    """

    frame: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    first_row: int = 2
    ragged: dict[int, int] = field(default_factory=dict)
    sheet: str | None = None


def rename_headers(columns: list[str], spec: TableSpec) -> tuple[list[str], list[str]]:
    """Canonical names for ``columns``; later duplicates of a canonical name keep their header.

    Returns the new names and warnings about duplicated columns.
    """
    aliases = alias_table(spec)
    exact = [aliases.get(col) for col in columns]
    # a header with a hint (学时（小时）) names a column only when no header names it exactly:
    # beside 课程编号, 课程代码（旧） stays an unknown column
    claimed = set(exact)
    loose = [match_header(aliases, col) for col in columns]
    found = [e or (m if m not in claimed else None) for e, m in zip(exact, loose, strict=True)]
    seen: dict[str, str] = {}
    names, warnings = [], []
    for col, canonical in zip(columns, found, strict=True):
        if canonical is None:
            names.append(col)
        elif canonical in seen:
            first = seen[canonical]
            label = spec.label(canonical)
            warnings.append(
                f"有两列表头都是“{col}”，只读取第一列"
                if col == first
                else f"列“{col}”与“{first}”重复（都表示{label}），只读取前者“{first}”"
            )
            names.append(col)
        else:
            seen[canonical] = col
            names.append(canonical)
    return names, warnings


def one_line(text: object) -> str:
    """A header as one line of a message ('学时\\n（小时）' → '学时 （小时）')."""
    return " ".join(str(text).split())


def missing_columns_message(
    spec: TableSpec,
    missing: list[str],
    present: list[str],
    headers: dict[str, str],
    *,
    sheet: str | None = None,
    scanned: bool = True,
) -> str:
    """Why a table cannot be read, in Chinese: each missing required column by its Chinese
    name, other accepted spellings and its code; a key it may be derived from (身份证号 for
    干部编号, 完成时间 for 报名时间); the file's columns. When no column of the file is one of
    the table's (``scanned``: the header was looked for in the top rows), that is said instead:
    the header was not found."""
    table = TABLE_LABELS[spec.name]
    if scanned and not any(c in spec.read_columns for c in present):
        where = f"工作表“{sheet}”" if sheet else table
        wanted = "、".join(f"“{spec.label(n)}”（{n}）" for n in spec.required)
        return (
            f"{where}的前 {HEADER_SCAN_ROWS} 行中没有找到表头：没有一行含有{table}的必填列"
            f"{wanted}；请确认表头在前 {HEADER_SCAN_ROWS} 行内（删去表头上方多余的标题、"
            "说明行），列名的写法见数据说明"
        )
    parts = []
    for name in missing:
        aliases = [a for a in spec.field(name).aliases[1:6] if a != spec.label(name)]
        also = f"也可写作：{'、'.join(aliases)}；" if aliases else ""
        parts.append(f"“{spec.label(name)}”（{also}程序代码 {name}）")
    text = f"{table}缺少必填列{'、'.join(parts)}"
    text += "".join(_alternatives(spec, missing))
    shown = [one_line(headers.get(c, c)) for c in present if not str(c).startswith("unnamed_")]
    return f"{text}；现有列：{'、'.join(shown) or '（无）'}"


def _alternatives(spec: TableSpec, missing: list[str]) -> list[str]:
    """Columns a missing one is derived from (see ``export_steps.derive_columns``)."""
    out = []
    if C.CADRE_ID in missing and C.ID_CARD in spec.read_columns:
        names = "、".join(f"“{a}”" for a in ID_CARD_ALIASES[:4])
        out.append(
            f"；没有干部编号时，有身份证号列（{names}等）也可以（按号码生成干部编号，号码本身不保存）"
        )
    if C.ENROLLED_AT in missing and C.COMPLETED_AT in spec.read_columns:
        out.append(f"；没有报名时间时，有“{spec.label(C.COMPLETED_AT)}”列也可以")
    return out


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
            f"{path}：无法按 UTF-8、GBK/GB18030 或其他可识别的编码解码；请另存为 UTF-8 CSV",
            path=path,
        )
    logger.info("%s decoded as %s", path.name, best.encoding)
    return str(best)


def _sniff_separator(text: str) -> str:
    lines = text.split("\n", HEADER_SCAN_ROWS)[:HEADER_SCAN_ROWS]
    counts = {sep: max(ln.count(sep) for ln in lines) for sep in (",", "\t", ";")}
    return max(counts, key=counts.__getitem__) if any(counts.values()) else ","


def _read_csv(path: Path, spec: TableSpec | None) -> tuple[pd.DataFrame, int, dict[int, int]]:
    """Grid from the header row on, the header's index in the file, ragged rows."""
    data = path.read_bytes()
    if not data:
        raise UnreadableFileError(f"{path}：文件为空（0 字节），至少需要一行表头", path=path)
    text = decode_bytes(data, path)
    if not _SOMETHING.search(text):  # (not text.strip(…): a copy of the whole file)
        raise UnreadableFileError(f"{path}：文件没有表头行", path=path)
    sep = _sniff_separator(text)
    try:
        top = list(itertools.islice(csv.reader(io.StringIO(text), delimiter=sep), HEADER_SCAN_ROWS))
    except csv.Error:
        top = []
    skip = header_row(top, spec)
    if skip == 0 and top and (grid := _read_plain_csv(text, sep, len(top[0]))) is not None:
        return grid, skip, {}
    options = dict(
        sep=sep, header=None, skiprows=skip, dtype=str, na_filter=False, skip_blank_lines=False
    )
    try:
        try:
            return pd.read_csv(io.StringIO(text), **options).fillna(""), skip, {}
        except pd.errors.ParserError:  # rows with more fields than the header: find them
            width = len(top[skip]) if len(top) > skip else 1
            grid, ragged = _read_ragged_csv(text, options, width)
            return grid, skip, ragged
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
        raise UnreadableFileError(f"{path}：不是有效的 CSV 文件（{exc}）", path=path) from exc


#: characters that send a CSV to pandas' parser: quoting (where the two parsers' handling of
#: malformed quotes could differ) and NUL
_NOT_PLAIN = ('"', "\x00")


def _read_plain_csv(text: str, sep: str, width: int) -> pd.DataFrame | None:
    """The grid pandas' parser would give, read by Arrow's multi-threaded CSV reader (2 M rows:
    ~1 s instead of ~4 s), for a file with no quotes whose every row has ``width`` fields;
    ``None`` otherwise (quotes, blank or ragged rows: pandas' parser reads it and says why)."""
    if any(c in text for c in _NOT_PLAIN) or width < 1:
        return None
    import pyarrow as pa
    import pyarrow.csv as pcsv

    names = [str(i) for i in range(width)]
    try:
        table = pcsv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            read_options=pcsv.ReadOptions(column_names=names, block_size=1 << 22),
            parse_options=pcsv.ParseOptions(
                delimiter=sep, quote_char=False, escape_char=False, ignore_empty_lines=False
            ),
            convert_options=pcsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeEncodeError):
        return None
    frame = table.to_pandas()
    frame.columns = range(width)
    return frame


def _read_ragged_csv(text: str, options: dict, width: int) -> tuple[pd.DataFrame, dict[int, int]]:
    """The python engine with a bad-line hook: a row with extra fields keeps its place (so row
    numbers stay true) and is reported, unless the extra fields are all empty."""
    bad: list[list[str]] = []

    def keep(line: list[str]) -> list[str]:
        bad.append(line)
        return [f"{_RAGGED}{len(bad) - 1}", *[""] * (width - 1)]

    grid = pd.read_csv(io.StringIO(text), engine="python", on_bad_lines=keep, **options)
    grid = grid.fillna("")
    ragged: dict[int, int] = {}
    first = grid.iloc[:, 0]
    for i in (first.str.startswith(_RAGGED)).to_numpy().nonzero()[0]:
        line = bad[int(first.iloc[i][len(_RAGGED) :])]
        grid.iloc[i, :] = line[: grid.shape[1]]  # (iloc[i] = list fails on one column)
        if any(v.strip() for v in line[grid.shape[1] :]):
            ragged[int(i) - 1] = len(line)  # frame row = grid row - 1 (the header)
    return grid, ragged


def _check_parquet(path: Path, max_rows: int) -> None:
    """Refuse a Parquet file whose metadata declares more rows or columns than the caps,
    before any row group is decompressed (a 3 MB file can hold 30 million rows)."""
    import pyarrow.parquet as pq

    from recommender.data.sheets import MAX_SHEET_COLUMNS

    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
        raise UnreadableFileError(f"{path}：不是有效的 Parquet 文件（{exc}）", path=path) from exc
    if meta.num_rows > max_rows:
        raise UnreadableFileError(
            f"{path}：Parquet 文件有 {meta.num_rows:,} 行，超过上限 {max_rows:,} 行，已拒绝读取；"
            "请拆分文件，或用 train --engine spark 训练",
            path=path,
        )
    if meta.num_columns > MAX_SHEET_COLUMNS:
        raise UnreadableFileError(
            f"{path}：Parquet 文件有 {meta.num_columns:,} 列，超过上限 {MAX_SHEET_COLUMNS:,} 列，"
            "已拒绝读取",
            path=path,
        )


def _read_parquet(path: Path, max_rows: int = MAX_PARQUET_ROWS) -> pd.DataFrame:
    _check_parquet(path, max_rows)
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
        raise UnreadableFileError(f"{path}：不是有效的 Parquet 文件（{exc}）", path=path) from exc
    header = pd.DataFrame([[str(c) for c in frame.columns]], dtype=str)
    body = pd.DataFrame(
        {i: frame[c].astype(object).map(cell_to_str) for i, c in enumerate(frame.columns)},
        dtype=str,
    )
    body.columns = range(len(frame.columns))
    return pd.concat([header, body], ignore_index=True)


def _grid_frame(rows: list[list[str]], spec: TableSpec | None) -> tuple[pd.DataFrame, int]:
    skip = header_row(rows, spec)
    rows = rows[skip:]
    width = max((len(r) for r in rows), default=0)
    return pd.DataFrame([r + [""] * (width - len(r)) for r in rows], dtype=str), skip


def _xls_kind(path: Path) -> str:
    """What a file named .xls really is: 'workbook', 'html' or 'text' (platform exports)."""
    from recommender.data.html_table import kind_of

    with path.open("rb") as fh:
        return kind_of(fh.read(4096))


def _read_disguised_xls(
    path: Path, spec: TableSpec | None, kind: str, max_rows: int
) -> tuple[pd.DataFrame, int, dict[int, int], list[str]]:
    """A web page or a text file saved under an Excel name, read as what it is."""
    if kind == "text":  # tab-separated text (often UTF-16): a CSV in all but name
        grid, skip, ragged = _read_csv(path, spec)
        return grid, skip, ragged, [f"{path.name} 实际是文本表格（制表符或逗号分隔），已按文本读入"]
    from recommender.data.html_table import html_rows

    rows = html_rows(decode_bytes(path.read_bytes(), path))
    if len(rows) > max_rows + HEADER_SCAN_ROWS + 1:
        raise UnreadableFileError(
            f"{path}：网页表格超过行数上限 {max_rows:,} 行，已停止读取；请导出为 CSV", path=path
        )
    if not rows:
        raise UnreadableFileError(
            f"{path}：扩展名为 .xls，实际是网页文件，但其中没有表格；请在平台上重新导出，"
            "或在 Excel 中打开后另存为 .xlsx",
            path=path,
        )
    grid, skip = _grid_frame(rows, spec)
    note = f"{path.name} 实际是网页（HTML）表格（平台导出常见），已按表格读入"
    return grid, skip, {}, [note]


def _read_grid(path: Path, spec: TableSpec | None, sheet: str | None, max_rows: int) -> RawTable:
    """The file as a grid of strings from its header row on (header = row 0)."""
    from recommender.data import sheets

    if not path.is_file():
        raise UnreadableFileError(f"{path}：文件不存在", path=path)
    suffix = path.suffix.lower()
    out = RawTable(pd.DataFrame())
    if suffix == ".csv":
        grid, skip, out.ragged = _read_csv(path, spec)
    elif suffix in (".xlsx", ".xlsm"):
        rows, out.sheet, out.warnings = sheets.read_xlsx(path, spec, sheet=sheet, max_rows=max_rows)
        grid, skip = _grid_frame(rows, spec)
    elif suffix == ".xls" and (kind := _xls_kind(path)) != "workbook":
        grid, skip, out.ragged, out.warnings = _read_disguised_xls(path, spec, kind, max_rows)
    elif suffix in (".xls", ".ods"):
        rows, out.sheet, out.warnings = sheets.read_calamine(
            path, spec, sheet=sheet, max_rows=max_rows
        )
        grid, skip = _grid_frame(rows, spec)
    elif suffix == ".parquet":
        cap = MAX_PARQUET_ROWS if max_rows == MAX_SHEET_ROWS else max_rows
        grid, skip = _read_parquet(path, cap), 0
    else:
        raise UnreadableFileError(
            f"{path}：不支持的文件类型 {suffix!r}；应为 {'、'.join(SUFFIXES)} 之一", path=path
        )
    if grid.empty or not any(str(v).strip() for v in grid.iloc[0]):
        raise UnreadableFileError(f"{path}：文件没有表头行", path=path)
    if skip:
        out.warnings.append(f"表头在第 {skip + 1} 行，跳过上方 {skip} 行标题")
    out.frame, out.first_row = grid, skip + 2
    return out


def read_raw(path: Path | str, spec: TableSpec | None = None) -> pd.DataFrame:
    """Read a table as strings ('' for empty) with normalised, alias-mapped headers.

    Row ``i`` of the result is spreadsheet row ``i + first_row`` (see :func:`read_table`);
    blank rows are kept so that numbering stays true. Columns with an empty header and no
    values are dropped. With ``spec`` given, headers are mapped to its canonical names.
    """
    return read_table(path, spec).frame


def read_table(
    path: Path | str,
    spec: TableSpec | None = None,
    *,
    sheet: str | None = None,
    max_rows: int = MAX_SHEET_ROWS,
) -> RawTable:
    """Read a table file: the sheet holding ``spec``'s required columns (or ``sheet``), the
    header found below any title rows, headers mapped to canonical names."""
    path = Path(path)
    table = _read_grid(path, spec, sheet, max_rows)
    grid = table.frame
    # as the file writes it, on one line (a wrapped 学时\n（小时） must not split a message)
    original = [one_line(str(h).strip(ZERO_WIDTH)).strip(ZERO_WIDTH) for h in grid.iloc[0]]
    headers = [normalize_header(h) for h in grid.iloc[0]]
    body = grid.iloc[1:].reset_index(drop=True)
    keep = [i for i, h in enumerate(headers) if h or (body.iloc[:, i] != "").any()]
    headers = [headers[i] or f"unnamed_{i + 1}" for i in keep]
    body = body.iloc[:, keep]
    if spec is not None:
        headers, duplicates = rename_headers(headers, spec)
        table.warnings.extend(duplicates)
    body.columns = names = _dedupe(headers)
    table.frame = body
    # a column with values but no header is named unnamed_N inside; people read "第 N 列"
    table.headers = {
        n: original[i] or f"第 {i + 1} 列（无表头）" for n, i in zip(names, keep, strict=True)
    }
    return table


def _dedupe(headers: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for h in headers:
        seen[h] = seen.get(h, 0) + 1
        out.append(h if seen[h] == 1 else f"{h}.{seen[h] - 1}")
    return out


def find_table_file(directory: Path | str, name: str) -> Path:
    """The one table file for ``name`` in ``directory`` (``courses.csv|.xlsx|.xls|…``, or a
    Chinese stem such as ``课程.xlsx``)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UnreadableFileError(f"{directory}：数据目录不存在", path=directory)
    found = [p for p in sorted(directory.iterdir()) if p.is_file() and _matches(p, name)]
    if not found:
        raise UnreadableFileError(
            f"{directory}：找不到{TABLE_LABELS.get(name, name)}（no {name} table）；应为 "
            + "、".join(name + s for s in SUFFIXES)
            + f" 之一，或用 --{name} 文件 指定",
            path=directory / name,
        )
    if len(found) > 1:
        raise DataError(
            f"{directory}：有多个{TABLE_LABELS.get(name, name)}（several {name} tables："
            f"{'、'.join(p.name for p in found)}），请只保留一个，或用 --{name} 文件 指定",
            path=found[0],
        )
    return found[0]


def _matches(path: Path, name: str) -> bool:
    stems = TABLE_STEMS.get(name, (name,))
    return path.stem in stems and path.suffix.lower() in SUFFIXES and not path.name.startswith("~$")


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
