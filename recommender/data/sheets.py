"""Workbooks and header rows: which sheet, which row is the header, read with caps.

Academy exports are made by hand: a 填表说明 sheet before the data, a title row (or three)
above the header, `.xls` from old systems. :func:`header_row` finds the header among the first
:data:`HEADER_SCAN_ROWS` rows by matching the contract's header aliases; :func:`pick_sheet`
takes the first sheet whose header holds the required columns. `.xlsx`/`.xlsm` are streamed
with openpyxl (read-only) under a row cap and an unpacked-size cap, so a small file that
unpacks to millions of rows is refused quickly; `.xls`/`.ods` are read with python-calamine.
"""

from __future__ import annotations

import logging
import re
import unicodedata
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from recommender.data.cells import cell_to_str
from recommender.data.errors import DataError, UnreadableFileError
from recommender.data.schema import TableSpec

logger = logging.getLogger(__name__)

#: the header is looked for among this many rows at the top of a sheet or CSV
HEADER_SCAN_ROWS = 10
#: data rows read from one sheet at most (bigger tables belong in CSV or Parquet)
MAX_SHEET_ROWS = 500_000
#: uncompressed bytes of an .xlsx's parts at most (a zip bomb unpacks to gigabytes)
MAX_UNPACKED_BYTES = 512 * 2**20
#: Excel's own row limit: a sheet with more rows was not written by Excel
EXCEL_ROW_LIMIT = 1_048_576
#: invisible characters stripped from headers and from the ends of values
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"

Grid = list[list[str]]


def normalize_header(name: object) -> str:
    """NFKC, strip spaces/zero-width/'*' markers; English names lower snake_case."""
    text = unicodedata.normalize("NFKC", str(name)).strip(" \t\r\n" + ZERO_WIDTH + "*")
    text = "".join(ch for ch in text if ch not in ZERO_WIDTH and (ch >= " " or ch in "\t\n\r"))
    if text.isascii():
        return "_".join(text.lower().replace("-", " ").split())
    return "".join(text.split())


def alias_table(spec: TableSpec) -> dict[str, str]:
    """Map every normalised canonical name and alias of ``spec`` to its canonical name."""
    table: dict[str, str] = {}
    for f in spec.all_fields:
        for name in (f.name, *f.aliases):
            table.setdefault(normalize_header(name), f.name)
    return table


def _score(row: Sequence[object], aliases: dict[str, str], required: list[str]) -> tuple:
    found = {aliases.get(normalize_header(v)) for v in row if str(v).strip()} - {None}
    return all(r in found for r in required), len(found)


def header_row(rows: Sequence[Sequence[object]], spec: TableSpec | None) -> int:
    """Index of the header among the first rows: the first holding every required column,
    else the one naming the most contract columns; 0 when nothing matches (or no spec)."""
    if spec is None:
        return 0
    aliases = alias_table(spec)
    scores = [_score(r, aliases, spec.required) for r in rows[:HEADER_SCAN_ROWS]]
    complete = [i for i, (ok, _) in enumerate(scores) if ok]
    if complete:
        return complete[0]
    best = max(range(len(scores)), key=lambda i: scores[i][1], default=0)
    return best if scores and scores[best][1] > 0 else 0


def pick_sheet(
    path: Path,
    names: list[str],
    head: Callable[[str], Grid],
    spec: TableSpec | None,
    wanted: str | None,
) -> tuple[str, list[str]]:
    """The sheet to read and warnings: ``wanted`` if given, else the first sheet whose top
    rows hold the required columns (a 填表说明 sheet is skipped), else the first sheet."""
    if not names:
        raise UnreadableFileError(f"{path}：工作簿中没有工作表", path=path)
    if wanted is not None:
        match = [n for n in names if normalize_header(n) == normalize_header(wanted)]
        if not match:
            raise DataError(
                f"{path}：没有名为“{wanted}”的工作表；现有工作表：{'、'.join(names)}", path=path
            )
        return match[0], []
    if spec is None or len(names) == 1:
        return names[0], []
    aliases = alias_table(spec)
    for i, name in enumerate(names):
        rows = head(name)
        if any(_score(r, aliases, spec.required)[0] for r in rows):
            skipped = names[:i]
            note = f"读取工作表“{name}”（跳过：{'、'.join(skipped)}）" if skipped else ""
            return name, [note] if note else []
    return names[0], []


def _cap_error(path: Path, sheet: str, cap: int) -> UnreadableFileError:
    return UnreadableFileError(
        f"{path}：工作表“{sheet}”超过行数上限 {cap:,} 行，已停止读取；"
        "请拆分文件或另存为 CSV/Parquet 后再导入",
        path=path,
    )


def _size(n: int) -> str:
    return f"{n / 2**20:,.0f} MB" if n >= 2**20 else f"{n:,} 字节"


def _check_unpacked_size(path: Path, cap: int) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            total = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnreadableFileError(
            f"{path}：不是有效的 Excel 工作簿（{exc}）；请在 Excel 中另存为 .xlsx", path=path
        ) from exc
    if total > cap:
        raise UnreadableFileError(
            f"{path}：工作簿解压后 {_size(total)}，超过上限 {_size(cap)}，"
            "已拒绝读取；请拆分文件或另存为 CSV/Parquet 后再导入",
            path=path,
        )


_ROW_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s/>]")
_ROW_NUM = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row\s[^>]*?\br=\"(\d+)\"")
_WIDE_CELL = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c\s[^>]*?\br=\"([A-Z]{2,})\d+\"")
_DIMENSION = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?dimension\s[^>]*?ref=\"([A-Z]*)(\d*):?([A-Z]*)(\d*)\""
)
_MERGE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?mergeCell\s[^>]*?ref=\"([A-Z]+)(\d+):([A-Z]+)(\d+)\"")
#: columns of one sheet at most (Excel allows 16,384; an office table has a few dozen)
MAX_SHEET_COLUMNS = 1_000
#: Excel's own limit of characters in one cell; a longer cell was not written by Excel
EXCEL_CELL_CHARS = 32_767
#: bytes of text between two XML tags at most: a full cell in UTF-8 with escapes, and slack
MAX_CELL_BYTES = EXCEL_CELL_CHARS * 6 + 4096
#: merged ranges of one sheet at most
MAX_MERGES = 100_000


def column_number(letters: str) -> int:
    """'A' → 1, 'Z' → 26, 'AA' → 27, 'XFD' → 16384."""
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


@dataclass
class SheetScan:
    """What a worksheet part holds, read from its bytes before any parser sees it."""

    rows: int = 0  # <row> elements
    last_row: int = 0  # the largest r= of a row
    last_column: int = 0  # the largest column of a cell with two or more letters (else 0)
    dimension: tuple[int, int] | None = None  # (rows, columns) the sheet declares
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)  # r1, c1, r2, c2


class _RunLength:
    """Longest run of bytes without a '<' (a cell's text) over a stream of chunks."""

    def __init__(self, path: Path, where: str) -> None:
        self.run = self.longest = 0
        self.path, self.where = path, where

    def feed(self, chunk: bytes) -> None:
        import numpy as np

        arr = np.frombuffer(chunk, np.uint8)
        pos = np.flatnonzero(arr == 60)
        if len(pos) == 0:
            self.run += len(chunk)
            self.longest = max(self.longest, self.run)
        else:
            self.longest = max(self.longest, self.run + int(pos[0]))
            if len(pos) > 1:
                self.longest = max(self.longest, int(np.diff(pos).max()) - 1)
            self.run = len(chunk) - int(pos[-1]) - 1
        if self.longest > MAX_CELL_BYTES:
            raise UnreadableFileError(
                f"{self.path}：{self.where}中有单元格文本超过 Excel 的上限 "
                f"{EXCEL_CELL_CHARS:,} 个字符（至少 {_size(self.longest)}），已拒绝读取；"
                "这样的文件不是 Excel 写出的，请检查来源",
                path=self.path,
            )


def _scan_part(path: Path, zf: zipfile.ZipFile, part: str, where: str, stop: int) -> SheetScan:
    """Rows, row numbers, wide cells, the declared dimension and merged ranges of a sheet,
    on the decompressed stream without parsing it; cell text longer than Excel allows raises.
    Stops counting rows past ``stop``."""
    scan, tail, lengths = SheetScan(), b"", _RunLength(path, where)
    with zf.open(part) as fh:
        while chunk := fh.read(1 << 22):
            lengths.feed(chunk)
            data = tail + chunk
            cut = data.rfind(b"<")  # a tag split across chunks is read with the next one
            cut = len(data) if cut < 0 else cut
            _scan_text(scan, data[:cut])
            if scan.rows > stop or scan.last_row > stop:
                return scan
            tail = data[cut:]
    _scan_text(scan, tail)
    return scan


def _scan_text(scan: SheetScan, data: bytes) -> None:
    scan.rows += len(_ROW_TAG.findall(data))
    numbers = _ROW_NUM.findall(data)
    if numbers:
        scan.last_row = max(scan.last_row, max(int(n) for n in numbers))
    wide = set(_WIDE_CELL.findall(data))
    if wide:
        scan.last_column = max(scan.last_column, max(column_number(w.decode()) for w in wide))
    if scan.dimension is None and (m := _DIMENSION.search(data)):
        c1, r1, c2, r2 = (g.decode() for g in m.groups())
        rows, cols = int(r2 or r1 or 1), column_number(c2 or c1 or "A")
        scan.dimension = (rows, cols)
    if len(scan.merges) <= MAX_MERGES:
        for c1, r1, c2, r2 in _MERGE.findall(data):
            scan.merges.append(
                (int(r1), column_number(c1.decode()), int(r2), column_number(c2.decode()))
            )


def _bounds_error(path: Path, sheet: str, what: str) -> UnreadableFileError:
    return UnreadableFileError(
        f"{path}：工作表“{sheet}”{what}，已拒绝读取；"
        "请在 Excel 中删除多余的行列后另存，或另存为 CSV/Parquet 后再导入",
        path=path,
    )


def check_bounds(path: Path, max_rows: int) -> dict[str, SheetScan]:
    """Refuse a workbook before openpyxl touches it when a sheet declares or holds more rows
    or columns than the caps, or a cell longer than Excel allows (a 2 KB file can declare
    A1:XFD1048576 and cost hours to read). Returns sheet name → its scan."""
    stop = max_rows + HEADER_SCAN_ROWS + 1
    out = {}
    with zipfile.ZipFile(path) as zf:
        parts = [n for n in zf.namelist() if re.fullmatch(r"xl/worksheets/[^/]+\.xml", n)]
        names = _sheet_names(zf)
        if "xl/sharedStrings.xml" in zf.namelist():
            lengths = _RunLength(path, "共享字符串")
            with zf.open("xl/sharedStrings.xml") as fh:
                while chunk := fh.read(1 << 22):
                    lengths.feed(chunk)
        for part in parts:
            sheet = names.get(part, part.rsplit("/", 1)[-1])
            scan = _scan_part(path, zf, part, f"工作表“{sheet}”", stop)
            if scan.dimension and scan.dimension[0] > stop:
                raise _bounds_error(
                    path,
                    sheet,
                    f"超过行数上限 {max_rows:,} 行（声明的范围有 {scan.dimension[0]:,} 行）",
                )
            if scan.rows > stop or scan.last_row > stop:
                raise _cap_error(path, sheet, max_rows)
            columns = max(scan.last_column, scan.dimension[1] if scan.dimension else 0)
            if columns > MAX_SHEET_COLUMNS:
                raise _bounds_error(
                    path, sheet, f"有 {columns:,} 列，超过上限 {MAX_SHEET_COLUMNS:,} 列"
                )
            if len(scan.merges) > MAX_MERGES:
                raise _bounds_error(path, sheet, f"合并单元格超过 {MAX_MERGES:,} 处")
            out[sheet] = scan
    return out


def fill_merged(grid: Grid, merges: list[tuple[int, int, int, int]]) -> int:
    """Fill every cell of a merged range with its top-left value (a vertically merged 课程类别
    means the category of every row beside it), within the rows and columns read. Returns the
    number of cells filled."""
    filled = 0
    for r1, c1, r2, c2 in merges:
        if r1 > len(grid) or (r1, c1) == (r2, c2):
            continue
        top = grid[r1 - 1]
        value = top[c1 - 1] if c1 - 1 < len(top) else ""
        if not value:
            continue
        for r in range(r1, min(r2, len(grid)) + 1):
            row = grid[r - 1]
            if not row and r > r1:  # a blank row inside a merge: the merge covers it
                row.extend([""] * c2)
            for c in range(c1, min(c2, max(len(row), c1)) + 1):
                if c - 1 < len(row) and not row[c - 1]:
                    row[c - 1] = value
                    filled += 1
    return filled


def _sheet_names(zf: zipfile.ZipFile) -> dict[str, str]:
    """Worksheet part → sheet name, from workbook.xml and its relationships (best effort)."""
    from xml.etree import ElementTree

    try:
        book = ElementTree.fromstring(zf.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError):
        return {}
    targets = {r.get("Id"): r.get("Target", "") for r in rels}
    out = {}
    for sheet in book.iter():
        rid = next((v for k, v in sheet.attrib.items() if k.endswith("}id")), None)
        if sheet.tag.endswith("}sheet") and rid in targets:
            target = targets[rid].lstrip("/")
            out[target if target.startswith("xl/") else f"xl/{target}"] = sheet.get("name", "")
    return out


def _check_row_counts(path: Path, max_rows: int) -> None:
    """Refuse a workbook with a sheet over the row cap (kept for callers; see check_bounds)."""
    check_bounds(path, max_rows)


def _collect(path: Path, sheet: str, rows, max_rows: int) -> Grid:
    """Rows as strings; trailing blank rows dropped; more than ``max_rows`` filled rows (or
    more rows than Excel allows) stops the read with an error naming the cap."""
    out: Grid = []
    blanks = seen = filled = 0
    for row in rows:
        seen += 1
        if seen > EXCEL_ROW_LIMIT:
            raise _cap_error(path, sheet, EXCEL_ROW_LIMIT)
        cells = [cell_to_str(v) for v in row]
        if not any(c.strip() for c in cells):
            blanks += 1  # kept only when a filled row follows (row numbers stay true)
            continue
        filled += 1
        if filled > max_rows + HEADER_SCAN_ROWS:
            raise _cap_error(path, sheet, max_rows)
        out.extend([[] for _ in range(blanks)])
        blanks = 0
        out.append(cells)
    return out


def read_xlsx(
    path: Path,
    spec: TableSpec | None,
    *,
    sheet: str | None = None,
    max_rows: int = MAX_SHEET_ROWS,
    max_bytes: int = MAX_UNPACKED_BYTES,
) -> tuple[Grid, str, list[str]]:
    """Rows of the chosen sheet of an .xlsx/.xlsm (streamed), its name and warnings."""
    import openpyxl

    _check_unpacked_size(path, max_bytes)
    try:
        scans = check_bounds(path, max_rows)
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except DataError:
        raise
    except Exception as exc:  # zip, zlib, XML and openpyxl errors alike: a damaged workbook
        raise UnreadableFileError(
            f"{path}：不是有效的 .xlsx 工作簿（{exc}）；请在 Excel 中重新保存", path=path
        ) from exc
    name = ""
    try:

        def head(n: str) -> Grid:
            rows = book[n].iter_rows(max_row=HEADER_SCAN_ROWS, values_only=True)
            return [[cell_to_str(v) for v in r] for r in rows]

        name, warnings = pick_sheet(path, book.sheetnames, head, spec, sheet)
        scan = scans.get(name, SheetScan())
        columns = max(scan.last_column, scan.dimension[1] if scan.dimension else 0, 26)
        last = max(scan.last_row, scan.rows, scan.dimension[0] if scan.dimension else 0)
        rows = book[name].iter_rows(max_row=last or None, max_col=columns, values_only=True)
        grid = _collect(path, name, rows, max_rows)
        if n := fill_merged(grid, scan.merges):
            warnings.append(f"工作表“{name}”有合并单元格，已按合并区域的首格值填充 {n} 格")
    except DataError:
        raise
    except Exception as exc:  # a damaged part raises XML, zlib, zip or openpyxl errors alike
        where = f"工作表“{name}”" if name else "工作簿"
        raise UnreadableFileError(
            f"{path}：{where}已损坏，无法读取（{type(exc).__name__}: {exc}）；"
            "请在 Excel 中打开并重新保存",
            path=path,
        ) from exc
    finally:
        book.close()
    return grid, name, warnings


def read_calamine(
    path: Path, spec: TableSpec | None, *, sheet: str | None = None, max_rows: int = MAX_SHEET_ROWS
) -> tuple[Grid, str, list[str]]:
    """Rows of the chosen sheet of an .xls/.ods (python-calamine), its name and warnings."""
    try:
        from python_calamine import CalamineWorkbook
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise UnreadableFileError(
            f"{path}：读取 {path.suffix} 需要 python-calamine（pip install python-calamine）",
            path=path,
        ) from exc
    name = ""
    try:
        book = CalamineWorkbook.from_path(str(path))

        def head(n: str) -> Grid:
            rows = book.get_sheet_by_name(n).to_python(
                skip_empty_area=False, nrows=HEADER_SCAN_ROWS
            )
            return [[cell_to_str(v) for v in r] for r in rows]

        name, warnings = pick_sheet(path, list(book.sheet_names), head, spec, sheet)
        found = book.get_sheet_by_name(name)
        if found.height > max_rows + HEADER_SCAN_ROWS + 1:
            raise _cap_error(path, name, max_rows)
        rows = found.to_python(skip_empty_area=False)
        return _collect(path, name, rows, max_rows), name, warnings
    except DataError:
        raise
    except Exception as exc:  # calamine raises its own error types for damaged files
        where = f"工作表“{name}”" if name else "工作簿"
        raise UnreadableFileError(
            f"{path}：{where}无法读取（{type(exc).__name__}: {exc}）；请在 Excel 中重新保存",
            path=path,
        ) from exc
