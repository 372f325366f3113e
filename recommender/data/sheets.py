"""Workbooks and header rows: which sheet, which row is the header, read with caps.

Academy exports are made by hand: a 填表说明 sheet before the data, a title row (or three)
above the header, `.xls` from old systems. :func:`header_row` finds the header among the first
:data:`HEADER_SCAN_ROWS` rows by matching the contract's header aliases; :func:`read_sheets`
reads every sheet whose header holds the required columns (a catalog split into 面授/网络
sheets is stacked; of sheets named for different years, or copies, one is read; a sheet with
only a header is skipped). Merged cells are filled, hidden rows named, a header over two rows
(学时 over 线上 | 线下) read as one (:func:`two_row_header`). `.xlsx`/`.xlsm` are streamed
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

from recommender.data.cells import CJK_DATE_FORMAT_IDS, cell_to_str, parse_number
from recommender.data.errors import DataError, UnreadableFileError
from recommender.data.schema import TABLES, TableSpec, match_header

logger = logging.getLogger(__name__)

#: the header is looked for among this many rows at the top of a sheet or CSV
HEADER_SCAN_ROWS = 20
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
    # 学时（小时）, 公民身份号码（18位）: a header with a trailing hint names its column too
    found = {match_header(aliases, normalize_header(v)) for v in row if str(v).strip()} - {None}
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


#: a sub-header cell: a short label (线上, 线下, 集中, 网络); a data row holds ids and dates
_LABEL = re.compile(r"[^\d]{1,8}")
#: a part that is the whole already: 学时 over 线上 | 线下 | 合计
_WHOLE_PART = re.compile(r"合计|小计|总计|共计|总学时|总课时|合|总")


def _spans(top: list[str]) -> list[list[int]]:
    """Runs of columns under one header cell: a merged cell (filled: its text repeated) or a
    cell followed by empty ones."""
    spans, j = [], 0
    while j < len(top):
        k = j + 1
        while top[j] and k < len(top) and top[k] in ("", top[j]):
            k += 1
        spans.append(list(range(j, k)))
        j = k
    return spans


def _labels(cells: list[str], owner: str) -> bool:
    return all(c and _LABEL.fullmatch(c) and c != owner for c in cells) and len(set(cells)) == len(
        cells
    )


def _sub_header(top: list[str], sub: list[str], spec: TableSpec) -> list[list[int]]:
    """The spans a second header row splits (学时 over 线上 | 线下), or [] when ``sub`` is not
    one: outside those spans it holds only the header again (merged over both rows), nothing,
    or short labels — never a value under a required column (a course id)."""
    spans = [sp for sp in _spans(top) if len(sp) > 1 and _labels([sub[j] for j in sp], top[sp[0]])]
    inside = {j for sp in spans for j in sp}
    aliases = alias_table(spec)
    for j, (t, v) in enumerate(zip(top, sub, strict=True)):
        if j in inside or not v or normalize_header(v) == normalize_header(t):
            continue
        if match_header(aliases, normalize_header(t)) in spec.required or not _LABEL.fullmatch(v):
            return []
    return spans


def _number(text: str, units: Sequence[str]) -> float | None:
    try:
        return parse_number(text, tuple(units))
    except ValueError:
        return None


def _whole(parts: list[str], units: Sequence[str]) -> tuple[str, bool]:
    """One value of a number split over columns (学时 线上 | 线下): the filled part, or the
    sum of several (True); parts that are not plain numbers are joined with ' + ' (and the
    cell is then rejected as not a number, naming them)."""
    filled = [p.strip() for p in parts if p.strip()]
    if len(filled) <= 1:
        return (filled[0] if filled else ""), False
    numbers = [_number(p, units) for p in filled]
    if any(n is None for n in numbers):
        return " + ".join(filled), True
    return f"{sum(numbers):g}", True


def two_row_header(grid: Grid, spec: TableSpec | None) -> str:
    """Read a header over two rows (学时 merged over 线上 | 线下 in the row below) as one, in
    place; returns a warning, or '' when the row under the header is not a second header.

    The split columns are named 学时·线上, 学时·线下. A number (学时, 名额) gets one more
    column with its whole: the part named 合计 if there is one, else the filled part (the sum
    when several are filled). Another split column keeps its name on its first part. The
    joined header takes the lower row (the upper one is left blank, so row numbers stay)."""
    if spec is None or not grid:
        return ""
    h = header_row(grid, spec)
    if h + 1 >= len(grid) or not grid[h + 1]:
        return ""
    width = max(len(grid[h]), len(grid[h + 1]))
    top, sub = ([c.strip() for c in r] + [""] * (width - len(r)) for r in grid[h : h + 2])
    spans = _sub_header(top, sub, spec)
    if not spans:
        return ""
    aliases = alias_table(spec)
    names, said, added, both = [t or v for t, v in zip(top, sub, strict=True)], [], [], 0
    for span in spans:
        owner = top[span[0]]
        parts = "”“".join(sub[j] for j in span)
        for j in span:
            names[j] = f"{owner}·{sub[j]}"
        name = match_header(aliases, normalize_header(owner))
        f = spec.field(name) if name else None
        whole = [j for j in span if _WHOLE_PART.fullmatch(sub[j])]
        if whole:
            names[whole[0]] = owner
            said.append(f"“{owner}”取“{sub[whole[0]]}”一格")
        elif f is not None and f.kind in ("float", "int"):
            added.append((span, f.units))
            names.append(owner)
            said.append(f"“{owner}”取“{parts}”中填写的一格")
        elif f is not None:
            names[span[0]] = owner
            said.append(f"“{owner}”取“{sub[span[0]]}”一格")
    for row in grid[h + 2 :] if added else []:
        values = [_whole([row[j] if j < len(row) else "" for j in sp], u) for sp, u in added]
        both += any(summed for _, summed in values)
        if row or any(v for v, _ in values):
            row.extend([""] * (width - len(row)))
            row.extend(v for v, _ in values)
    at = h + 1 if h + 1 < HEADER_SCAN_ROWS else h  # the header must stay among the rows scanned
    grid[at], grid[2 * h + 1 - at] = names, []
    split = "、".join(names[j] for sp in spans for j in sp)
    note = f"表头占两行（第 {h + 1}–{h + 2} 行），合并为一行读取：{split}"
    note += f"；{'；'.join(said)}" if said else ""
    return note + (f"（{both} 行填了不止一格，按各格之和计）" if both else "")


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
    for name in sorted(names, key=is_instructions):  # a 填表说明 sheet only when nothing else
        rows = head(name)
        if any(_score(r, aliases, spec.required)[0] for r in rows):
            skipped = names[: names.index(name)]
            note = f"读取工作表“{name}”（跳过：{'、'.join(skipped)}）" if skipped else ""
            return name, [note] if note else []
    return names[0], []


#: sheet names of instructions (填表说明, 使用说明, 填报须知 …): they may list the column names
_INSTRUCTIONS = re.compile(r"说明|须知|指南|填表|填报要求|readme|instructions?", re.IGNORECASE)


def is_instructions(name: str) -> bool:
    """True for a sheet named as instructions (its rows may name every column of a table)."""
    return bool(_INSTRUCTIONS.search(str(name)))


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
_HIDDEN_ROW = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row\s[^>]*?\bhidden=\"(?:1|true)\"[^>]*>")
_R_ATTR = re.compile(rb"\br=\"(\d+)\"")
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
    hidden: list[int] = field(default_factory=list)  # numbers of rows hidden in Excel


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
    if b'hidden="' in data:  # rows hidden by hand, by grouping or by a filter
        tags = (_R_ATTR.search(t) for t in _HIDDEN_ROW.findall(data))
        scan.hidden.extend(int(m.group(1)) for m in tags if m)
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
    means the category of every row beside it), within the rows and columns read; a row with
    nothing of its own stays blank. Returns the number of cells filled."""
    filled = 0
    blank = {i for i, row in enumerate(grid, start=1) if not any(row)}
    for r1, c1, r2, c2 in merges:
        if r1 > len(grid) or (r1, c1) == (r2, c2):
            continue
        top = grid[r1 - 1]
        value = top[c1 - 1] if c1 - 1 < len(top) else ""
        if not value:
            continue
        for r in range(r1, min(r2, len(grid)) + 1):
            if r in blank:  # a blank row inside a merged 课程类别 stays blank (not a course)
                continue
            row = grid[r - 1]
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


SheetReader = Callable[[str], tuple[Grid, list[str]]]
#: words in a sheet name that mark an older copy (旧版, 备份, 副本 …)
_OLD_NAME = re.compile(r"旧|原|备份|副本|作废|废弃|草稿|old|bak|copy", re.IGNORECASE)
_YEAR = re.compile(r"(?<!\d)(19[89]\d|20\d\d)(?!\d)")


def _merged_note(sheet: str, n: int) -> str:
    return f"工作表“{sheet}”有合并单元格，已按合并区域的首格值填充 {n} 格"


def _row_ranges(rows: list[int], limit: int = 5) -> str:
    """[10, 11, 12, 20] → '10–12、20' (at most ``limit`` runs, then '…')."""
    runs: list[list[int]] = []
    for r in sorted(set(rows)):
        if runs and r == runs[-1][1] + 1:
            runs[-1][1] = r
        else:
            runs.append([r, r])
    text = "、".join(f"{a}–{b}" if a != b else f"{a}" for a, b in runs[:limit])
    return text + ("…" if len(runs) > limit else "")


def hidden_note(sheet: str, grid: Grid, hidden: list[int]) -> str:
    """A warning naming the filled rows Excel hides (by hand, grouping or a filter): they are
    read like the others, and the office may have hidden them to mean 'cancelled'."""
    rows = [r for r in hidden if r <= len(grid) and any(c.strip() for c in grid[r - 1])]
    if not rows:
        return ""
    return (
        f"工作表“{sheet}”有 {len(rows)} 行在 Excel 中被隐藏或被筛选掉"
        f"（第 {_row_ranges(rows)} 行），仍已读取；"
        "如这些行不应导入（如已取消的课程），请在 Excel 中删除后再导入"
    )


@dataclass
class _Part:
    """A sheet holding the required columns: its header row, header cells and rows."""

    name: str
    header: int
    columns: list[str]
    grid: Grid = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def filled(self) -> int:
        return sum(1 for r in self.grid[self.header + 1 :] if any(c.strip() for c in r))


def _slot(column: str, j: int, aliases: dict[str, str]) -> str:
    """What a header cell stands for across sheets: its canonical name, its text, or (unnamed)
    its position."""
    return aliases.get(column, column) if column else f"\0{j}"


def _same_table(a: list[str], b: list[str], spec: TableSpec, aliases: dict[str, str]) -> bool:
    """Headers of one table: the same cells, except the table's own columns (an online-course
    sheet without 开课时间) and columns no table knows (序号, 备注); a column of another table
    (课程编号 in a 学习记录 sheet beside 干部) tells another table."""
    own = set(aliases.values())
    others = {
        name for other in TABLES.values() if other.name != spec.name for name in alias_table(other)
    }
    cols_a = {_slot(c, 0, aliases) for c in a if c}
    cols_b = {_slot(c, 0, aliases) for c in b if c}
    return all(c in own or c not in others for c in cols_a ^ cols_b)


def _keys(part: _Part, key: str, aliases: dict[str, str]) -> set[str]:
    cols = [j for j, c in enumerate(part.columns) if aliases.get(c) == key]
    if not cols:
        return set()
    j = cols[0]
    return {r[j].strip() for r in part.grid[part.header + 1 :] if j < len(r) and r[j].strip()}


def _copies(parts: list[_Part], spec: TableSpec, aliases: dict[str, str]) -> bool:
    """True when two sheets share most of their keys: versions of one table, not parts."""
    if not spec.key:
        return False
    keys = [_keys(p, spec.key, aliases) for p in parts]
    return any(
        len(a & b) * 2 >= min(len(a), len(b)) > 0 for i, a in enumerate(keys) for b in keys[i + 1 :]
    )


def _year(name: str) -> int | None:
    found = _YEAR.findall(unicodedata.normalize("NFKC", name))
    return max(map(int, found)) if found else None


def _drop_versions(
    parts: list[_Part], spec: TableSpec, aliases: dict[str, str]
) -> tuple[list[_Part], str]:
    """The sheets to read when some look like versions of one table, and a warning: of sheets
    named for different years the latest year's; of copies sharing their keys one not named
    旧/备份/副本 (else the first)."""
    keep, why = parts, []
    years = {p.name: _year(p.name) for p in parts}
    if len({y for y in years.values() if y}) > 1:
        latest = max(y for y in years.values() if y)
        keep, why = [p for p in parts if years[p.name] == latest], ["名称中的年份最新"]
    if len(keep) > 1 and _copies(keep, spec, aliases):
        keep = [min(keep, key=lambda p: bool(_OLD_NAME.search(p.name)))]
        why.append("各工作表的编号大多相同，像同一张表的不同版本")
    if len(keep) == len(parts):
        return parts, ""
    skipped = "”“".join(p.name for p in parts if p not in keep)
    read = "”“".join(p.name for p in keep)
    return keep, (
        f"工作簿中有多个版本（{'；'.join(why)}）：读取“{read}”，未读取“{skipped}”；"
        "如要读取其他工作表，请用 --sheet 工作表名 指定"
    )


def _stack(path: Path, parts: list[_Part], aliases: dict[str, str], max_rows: int) -> Grid:
    """The first sheet's rows, then each further sheet's rows below its header, its columns
    put under the first sheet's header (new ones appended); rows are numbered on."""
    grid, first = parts[0].grid, parts[0]
    header = grid[first.header]
    slots = {_slot(c, j, aliases): j for j, c in enumerate(first.columns)}
    for part in parts[1:]:
        width = max(len(r) for r in part.grid)
        names = part.columns + [""] * (width - len(part.columns))
        where = []
        for j, c in enumerate(names):
            k = _slot(c, j, aliases) if c else f"\0{part.name}\0{j}"
            if k not in slots:
                slots[k] = len(header)
                header.append(part.grid[part.header][j] if j < len(part.columns) else "")
            where.append(slots[k])
        for row in part.grid[part.header + 1 :]:
            out = [""] * (max(where[: len(row)], default=-1) + 1)
            for j, value in enumerate(row):
                out[where[j]] = value
            grid.append(out if row else [])
    if sum(1 for r in grid if r) > max_rows + HEADER_SCAN_ROWS:
        raise _cap_error(path, "、".join(p.name for p in parts), max_rows)
    return grid


def _stack_note(parts: list[_Part]) -> str:
    spans, at = [], len(parts[0].grid)
    for part in parts[1:]:
        first, last = part.header + 2, len(part.grid)
        offset = at - part.header - 1
        spans.append(f"“{part.name}”第 {first}–{last} 行记为第 {first + offset}–{last + offset} 行")
        at += last - part.header - 1
    return (
        f"数据分在 {len(parts)} 个工作表中，已依次读取并合并："
        f"{'、'.join(p.name for p in parts)}；拒收明细中的行号按合并后的顺序连续编号："
        + "；".join(spans)
    )


def _with_layout(read: SheetReader, spec: TableSpec | None) -> SheetReader:
    """``read``, then a header over two rows joined into one."""

    def read_joined(name: str) -> tuple[Grid, list[str]]:
        grid, notes = read(name)
        note = two_row_header(grid, spec)
        return grid, notes + ([f"工作表“{name}”{note}"] if note else [])

    return read_joined


def read_sheets(
    path: Path,
    names: list[str],
    head: Callable[[str], Grid],
    read: SheetReader,
    spec: TableSpec | None,
    wanted: str | None,
    max_rows: int = MAX_SHEET_ROWS,
) -> tuple[Grid, str, list[str]]:
    """Rows, the sheet name(s) and warnings. ``wanted`` names one sheet; otherwise every sheet
    holding the table (the required columns under one header) is read and stacked in workbook
    order — a sheet with only a header is skipped, and of versions (sheets named for different
    years, copies sharing their keys) only one is read. A header over two rows is read as
    one (:func:`two_row_header`)."""
    read = _with_layout(read, spec)
    if wanted is not None or spec is None or len(names) <= 1:
        return _read_one(path, names, head, read, spec, wanted)
    aliases = alias_table(spec)
    parts = []
    for name in names:
        rows = head(name)
        if any(_score(r, aliases, spec.required)[0] for r in rows):
            i = header_row(rows, spec)
            parts.append(_Part(name, i, [normalize_header(c) for c in rows[i]]))
    if any(not is_instructions(p.name) for p in parts):
        parts = [p for p in parts if not is_instructions(p.name)]
    first = parts[0].columns if parts else []
    same = [p for p in parts if _same_table(first, p.columns, spec, aliases)]
    if len(same) <= 1:
        return _read_one(path, names, head, read, spec, None)
    for part in same:
        part.grid, part.notes = read(part.name)
        part.header = header_row(part.grid, spec)
        part.columns = [normalize_header(c) for c in part.grid[part.header]] if part.grid else []
    filled = [p for p in same if p.filled()]
    if not filled:
        return _read_one(path, names, head, read, spec, None)
    warnings = [f"工作表“{p.name}”只有表头、没有数据行，未读取" for p in same if not p.filled()]
    keep, note = _drop_versions(filled, spec, aliases)
    last = names.index(keep[-1].name)
    skipped = [n for n in names[:last] if n not in {p.name for p in keep}]
    if skipped:
        read_names = "”“".join(p.name for p in keep)
        warnings.insert(0, f"读取工作表“{read_names}”（跳过：{'、'.join(skipped)}）")
    warnings += [note] if note else []
    for part in keep:
        warnings += part.notes
    if len(keep) == 1:
        return keep[0].grid, keep[0].name, warnings
    warnings.append(_stack_note(keep))
    return _stack(path, keep, aliases, max_rows), "、".join(p.name for p in keep), warnings


def _read_one(
    path: Path,
    names: list[str],
    head: Callable[[str], Grid],
    read: SheetReader,
    spec: TableSpec | None,
    wanted: str | None,
) -> tuple[Grid, str, list[str]]:
    name, warnings = pick_sheet(path, names, head, spec, wanted)
    grid, notes = read(name)
    return grid, name, warnings + notes


def _mark_cjk_dates(book) -> None:
    """Make openpyxl read cells in a CJK built-in date format (CJK_DATE_FORMAT_IDS) as dates.
    openpyxl decides per cell style from its set ``_date_formats``, filled from the formats it
    knows; there is no public hook, so the missing ids are added to that set."""
    styles, dates = getattr(book, "_cell_styles", None), getattr(book, "_date_formats", None)
    if styles is None or not isinstance(dates, set):
        return
    ids = (getattr(st, "numFmtId", None) for st in styles)
    dates.update(i for i, n in enumerate(ids) if n in CJK_DATE_FORMAT_IDS)


def read_xlsx(
    path: Path,
    spec: TableSpec | None,
    *,
    sheet: str | None = None,
    max_rows: int = MAX_SHEET_ROWS,
    max_bytes: int = MAX_UNPACKED_BYTES,
) -> tuple[Grid, str, list[str]]:
    """Rows of the chosen sheet(s) of an .xlsx/.xlsm (streamed), the name(s) and warnings."""
    import openpyxl

    _check_unpacked_size(path, max_bytes)
    try:
        scans = check_bounds(path, max_rows)
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        _mark_cjk_dates(book)
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

        def read(n: str) -> tuple[Grid, list[str]]:
            nonlocal name
            name, scan = n, scans.get(n, SheetScan())
            columns = max(scan.last_column, scan.dimension[1] if scan.dimension else 0, 26)
            last = max(scan.last_row, scan.rows, scan.dimension[0] if scan.dimension else 0)
            rows = book[n].iter_rows(max_row=last or None, max_col=columns, values_only=True)
            grid = _collect(path, n, rows, max_rows)
            notes = [_merged_note(n, filled)] if (filled := fill_merged(grid, scan.merges)) else []
            hidden = hidden_note(n, grid, scan.hidden)
            return grid, notes + ([hidden] if hidden else [])

        grid, picked, warnings = read_sheets(
            path, book.sheetnames, head, read, spec, sheet, max_rows
        )
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
    return grid, picked, warnings


def _calamine_merges(sheet) -> list[tuple[int, int, int, int]]:
    """Merged ranges of a python-calamine sheet as 1-based (r1, c1, r2, c2); none for a format
    or version that does not report them."""
    ranges = getattr(sheet, "merged_cell_ranges", None) or []
    return [(r1 + 1, c1 + 1, r2 + 1, c2 + 1) for (r1, c1), (r2, c2) in ranges]


def read_calamine(
    path: Path, spec: TableSpec | None, *, sheet: str | None = None, max_rows: int = MAX_SHEET_ROWS
) -> tuple[Grid, str, list[str]]:
    """Rows of the chosen sheet(s) of an .xls/.ods (python-calamine), the name(s) and warnings;
    merged cells are filled as for .xlsx."""
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

        def read(n: str) -> tuple[Grid, list[str]]:
            nonlocal name
            name, found = n, book.get_sheet_by_name(n)
            if found.height > max_rows + HEADER_SCAN_ROWS + 1:
                raise _cap_error(path, n, max_rows)
            merges = _calamine_merges(found)
            if len(merges) > MAX_MERGES:
                raise _bounds_error(path, n, f"合并单元格超过 {MAX_MERGES:,} 处")
            grid = _collect(path, n, found.to_python(skip_empty_area=False), max_rows)
            filled = fill_merged(grid, merges)
            return grid, [_merged_note(n, filled)] if filled else []

        return read_sheets(path, list(book.sheet_names), head, read, spec, sheet, max_rows)
    except DataError:
        raise
    except Exception as exc:  # calamine raises its own error types for damaged files
        where = f"工作表“{name}”" if name else "工作簿"
        raise UnreadableFileError(
            f"{path}：{where}无法读取（{type(exc).__name__}: {exc}）；请在 Excel 中重新保存",
            path=path,
        ) from exc
