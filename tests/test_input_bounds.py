"""Tiny inputs that would cost hours or gigabytes are refused before any parsing (issue 20).

Each attack is a small file built by hand: an xlsx whose ``<dimension>`` declares
A1:XFD1048576, one whose second row sits at r=1048576, one with a cell in column XFD, one
with a cell longer than Excel allows (in the sheet or in the shared strings), and a Parquet
file with more rows than the cap. Every refusal is a non-empty Chinese message naming the file.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pytest

from recommender.data.errors import UnreadableFileError
from recommender.data.loading import load_table
from recommender.data.readers import read_table
from recommender.data.schema import COURSES

XML = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
SML = b"application/vnd.openxmlformats-officedocument.spreadsheetml."
PKG = b"http://schemas.openxmlformats.org/package/2006/"
DOC = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships"
CONTENT_TYPES = b"".join([
    XML, b'<Types xmlns="', PKG, b'content-types">',
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    b'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>',
    b'<Override PartName="/xl/workbook.xml" ContentType="', SML, b'sheet.main+xml"/>',
    b'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="', SML, b'worksheet+xml"/>',
    b'<Override PartName="/xl/sharedStrings.xml" ContentType="', SML,
    b'sharedStrings+xml"/></Types>',
])  # fmt: skip
RELS = b"".join([
    XML, b'<Relationships xmlns="', PKG, b'relationships"><Relationship Id="rId1" Type="', DOC,
    b'/officeDocument" Target="xl/workbook.xml"/></Relationships>',
])  # fmt: skip
WORKBOOK = b"".join([
    XML, b'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    b'xmlns:r="', DOC, b'"><sheets><sheet name="', "课程".encode(),
    b'" sheetId="1" r:id="rId1"/></sheets></workbook>',
])  # fmt: skip
WORKBOOK_RELS = b"".join([
    XML, b'<Relationships xmlns="', PKG, b'relationships">',
    b'<Relationship Id="rId1" Type="', DOC, b'/worksheet" Target="worksheets/sheet1.xml"/>',
    b'<Relationship Id="rId2" Type="', DOC, b'/sharedStrings" Target="sharedStrings.xml"/>',
    b"</Relationships>",
])  # fmt: skip
HEAD = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"""
END = b"</sheetData></worksheet>"
HEADER_ROW = (
    b'<row r="1"><c r="A1" t="inlineStr"><is><t>course_id</t></is></c>'
    b'<c r="B1" t="inlineStr"><is><t>title</t></is></c>'
    b'<c r="C1" t="inlineStr"><is><t>category</t></is></c>'
    b'<c r="D1" t="inlineStr"><is><t>credit_hours</t></is></c></row>'
)


def write_xlsx(path: Path, sheet: Iterable[bytes], shared: Iterable[bytes] = (b"<sst/>",)) -> Path:
    """A minimal workbook; ``sheet`` and ``shared`` are streamed (a part may be huge)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in (
            ("[Content_Types].xml", CONTENT_TYPES),
            ("_rels/.rels", RELS),
            ("xl/workbook.xml", WORKBOOK),
            ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
        ):
            zf.writestr(name, data)
        for name, parts in (("xl/worksheets/sheet1.xml", sheet), ("xl/sharedStrings.xml", shared)):
            with zf.open(name, "w", force_zip64=True) as fh:
                for part in parts:
                    fh.write(part)
    return path


def refused(path: Path, match: str, seconds: float = 5.0) -> str:
    start = time.perf_counter()
    with pytest.raises(UnreadableFileError) as info:
        load_table(path, COURSES)
    elapsed = time.perf_counter() - start
    message = str(info.value)
    assert elapsed < seconds, f"took {elapsed:.1f} s"
    assert message.strip() and path.name in message and match in message, message
    return message


def test_a_normal_small_workbook_still_loads(tmp_path: Path) -> None:
    row = (
        b'<row r="2"><c r="A2" t="inlineStr"><is><t>K1</t></is></c>'
        b'<c r="B2" t="inlineStr"><is><t>\xe5\xae\x89\xe5\x85\xa8</t></is></c>'
        b'<c r="C2" t="inlineStr"><is><t>x</t></is></c><c r="D2"><v>2</v></c></row>'
    )
    sheet = [HEAD, b'<dimension ref="A1:D2"/><sheetData>', HEADER_ROW, row, END]
    path = write_xlsx(tmp_path / "ok.xlsx", sheet)
    load = load_table(path, COURSES)
    assert load.frame["course_id"].tolist() == ["K1"] and load.frame["title"].tolist() == ["安全"]


def test_declared_dimension_a1_xfd1048576_is_refused_in_seconds(tmp_path: Path) -> None:
    sheet = [
        HEAD,
        b'<dimension ref="A1:XFD1048576"/><sheetData>',
        HEADER_ROW,
        b'<row r="1048576"><c r="A1048576"><v>1</v></c></row>',
        b"</sheetData></worksheet>",
    ]
    path = write_xlsx(tmp_path / "sparse.xlsx", sheet)
    assert path.stat().st_size < 3_000
    refused(path, "1,048,576")


def test_second_row_at_r_1048576_without_a_dimension_is_refused(tmp_path: Path) -> None:
    far = b'<row r="1048576"><c r="A1048576"><v>1</v></c></row>'
    sheet = [HEAD, b"<sheetData>", HEADER_ROW, far, END]
    refused(write_xlsx(tmp_path / "far.xlsx", sheet), "超过行数上限")


def test_a_cell_in_column_xfd_is_refused(tmp_path: Path) -> None:
    sheet = [HEAD, b"<sheetData>", HEADER_ROW, b'<row r="2"><c r="XFD2"><v>1</v></c></row>', END]
    refused(write_xlsx(tmp_path / "wide.xlsx", sheet), "16,384 列")


def test_a_shared_string_longer_than_excel_allows_is_refused(tmp_path: Path) -> None:
    shared = [b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>',
              b"a" * 1_000_000, b"</t></si></sst>"]  # fmt: skip
    sheet = [
        HEAD,
        b"<sheetData>",
        HEADER_ROW,
        b'<row r="2"><c r="A2" t="s"><v>0</v></c></row>',
        END,
    ]
    refused(write_xlsx(tmp_path / "long.xlsx", sheet, shared), "32,767")


@pytest.mark.slow
def test_a_300_mb_cell_is_refused_with_a_message(tmp_path: Path) -> None:
    chunk = b"a" * (1 << 20)
    sheet = [HEAD, b"<sheetData>", HEADER_ROW,
             b'<row r="2"><c r="A2" t="inlineStr"><is><t>', *([chunk] * 300),
             b"</t></is></c></row></sheetData></worksheet>"]  # fmt: skip
    path = write_xlsx(tmp_path / "huge_cell.xlsx", sheet)
    assert path.stat().st_size < 2_000_000
    message = refused(path, "32,767", seconds=20.0)
    assert "单元格" in message


def test_parquet_rows_are_checked_from_its_metadata(tmp_path: Path) -> None:
    path = tmp_path / "courses.parquet"
    n = 50
    pd.DataFrame(
        {
            "course_id": [f"K{i}" for i in range(n)],
            "title": ["t"] * n,
            "category": ["c"] * n,
            "credit_hours": ["2"] * n,
        }
    ).to_parquet(path)
    with pytest.raises(UnreadableFileError, match="Parquet 文件有 50 行，超过上限 10 行"):
        read_table(path, COURSES, max_rows=10)
    assert len(read_table(path, COURSES, max_rows=100).frame) == n
