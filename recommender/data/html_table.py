"""A web page saved as ``.xls``: how many 干部网络学院 platforms export a table.

The file is an HTML ``<table>`` (often with Excel's ``mso-number-format`` styles) under an
Excel name; Excel opens it with a warning, python-calamine cannot. :func:`html_rows` reads
the biggest table of the page as rows of text: ``<br>`` is a line break inside a cell, and a
``colspan``/``rowspan`` cell fills every cell it covers, as a merged cell does in a workbook.
The standard library's tolerant parser reads the sloppy markup such exports have (cells
never closed, tables without ``<tbody>``); every value stays text, so a 身份证号 or a course
code with leading zeros is read exactly as written.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

#: bytes a file starts with (after a BOM and blanks) when it is a web page, not a workbook
HTML_STARTS = (b"<!doctype html", b"<html", b"<table", b"<?xml", b"<head", b"<meta", b"<body")
#: white space of the markup (not a <br>): one space, as a browser shows it
_BLANKS = re.compile(r"[ \t\r\n\f]+")
#: a workbook's own signatures: OLE2 (.xls) and zip (.xlsx)
WORKBOOK_STARTS = (b"\xd0\xcf\x11\xe0", b"PK\x03\x04")


def kind_of(head: bytes) -> str:
    """'workbook', 'html' or 'text' for the first bytes of a file named ``.xls``."""
    if head.startswith(WORKBOOK_STARTS):
        return "workbook"
    text = head.lstrip(b"\xef\xbb\xbf\xff\xfe \t\r\n").lower()
    if text.startswith(HTML_STARTS) or (b"<table" in text and b"<tr" in text):
        return "html"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16: decode first, then look again
        return kind_of(head.decode("utf-16", errors="ignore").encode("utf-8"))
    return "text"


class _Tables(HTMLParser):
    """Every table's rows; a cell's text with its spans."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[tuple[str, int, int]]]] = []
        self._stack: list[list[list[tuple[str, int, int]]]] = []
        self._cell: list[str] | None = None
        self._spans = (1, 1)

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "table":
            self._end_cell()
            self._stack.append([])
        elif not self._stack:
            return
        elif tag == "tr":
            self._end_cell()
            self._stack[-1].append([])
        elif tag in ("td", "th"):
            self._end_cell()
            if not self._stack[-1]:
                self._stack[-1].append([])
            found = dict(attrs)
            self._spans = (_span(found.get("rowspan")), _span(found.get("colspan")))
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th", "tr"):
            self._end_cell()
        elif tag == "table" and self._stack:
            self._end_cell()
            self.tables.append(self._stack.pop())

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(_BLANKS.sub(" ", data))

    def _end_cell(self) -> None:
        if self._cell is not None and self._stack and self._stack[-1]:
            text = "".join(self._cell).replace("\xa0", " ")
            text = "\n".join(line.strip() for line in text.split("\n")).strip()
            self._stack[-1][-1].append((text, *self._spans))
        self._cell = None

    def close(self) -> None:
        super().close()
        self._end_cell()
        while self._stack:
            self.tables.append(self._stack.pop())


def _span(value: str | None) -> int:
    try:
        return max(1, min(int(str(value).strip()), 1000))
    except ValueError:
        return 1


def _grid(rows: list[list[tuple[str, int, int]]]) -> list[list[str]]:
    """Rows of text with every spanned cell filled by its value."""
    grid: list[list[str]] = []
    taken: dict[tuple[int, int], str] = {}  # (row, column) → value of a rowspan from above
    for r, cells in enumerate(rows):
        row: list[str] = []
        queue = iter(cells)
        c = 0
        while True:
            if (r, c) in taken:
                row.append(taken.pop((r, c)))
                c += 1
                continue
            cell = next(queue, None)
            if cell is None:
                break
            text, down, across = cell
            for dc in range(across):
                row.append(text)
                for dr in range(1, down):
                    taken[(r + dr, c + dc)] = text
            c += across
        grid.append(row)
    return grid


def html_rows(text: str) -> list[list[str]]:
    """The rows of the page's biggest table (most cells) as text; [] when it has none."""
    parser = _Tables()
    parser.feed(text)
    parser.close()
    if not parser.tables:
        return []
    biggest = max(parser.tables, key=lambda t: sum(len(r) for r in t))
    return _grid(biggest)
