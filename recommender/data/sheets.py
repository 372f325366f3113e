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


def _count_rows(path: Path, part: str, stop: int) -> int:
    """Row elements in a sheet's XML, counted on the compressed stream without parsing it
    (a second or two for hundreds of MB); stops counting past ``stop``."""
    count, tail = 0, b""
    with zipfile.ZipFile(path) as zf, zf.open(part) as fh:
        while chunk := fh.read(1 << 22):
            data = tail + chunk
            cut = data.rfind(b"<")  # a tag split across chunks is counted with the next one
            cut = len(data) if cut < 0 else cut
            count += len(_ROW_TAG.findall(data, 0, cut))
            if count > stop:
                break
            tail = data[cut:]
    return count + len(_ROW_TAG.findall(tail))


def _check_row_counts(path: Path, max_rows: int) -> None:
    """Refuse a workbook with a sheet over the row cap before openpyxl touches it (openpyxl
    parses a whole sheet just to size it when the sheet has no dimension tag)."""
    stop = max_rows + HEADER_SCAN_ROWS + 1
    with zipfile.ZipFile(path) as zf:
        parts = [n for n in zf.namelist() if re.fullmatch(r"xl/worksheets/[^/]+\.xml", n)]
        names = _sheet_names(zf)
    for part in parts:
        if _count_rows(path, part, stop) > stop:
            raise _cap_error(path, names.get(part, part.rsplit("/", 1)[-1]), max_rows)


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
        _check_row_counts(path, max_rows)
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
        grid = _collect(path, name, book[name].iter_rows(values_only=True), max_rows)
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
