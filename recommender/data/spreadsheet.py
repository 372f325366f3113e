"""Spreadsheet-safe output: nothing we write to a CSV or a workbook runs as a formula.

Cells come from data we do not control (an export's course titles, a rejected raw value,
cadre ids), and the files are opened in Excel or WPS. OWASP's CSV-injection rule: a text cell
that starts with ``= + - @``, a tab or a carriage return gets a leading apostrophe, so the
spreadsheet shows it as text instead of evaluating it (``=HYPERLINK(...)``, ``@SUM(...)``,
DDE payloads). Text that is just a number (``-5``, ``+1.5``) is left alone — it cannot be a
formula — and numbers stored as numbers are never touched.

Workbooks written with openpyxl get explicit text cells instead (``data_type 's'``, plus
Excel's hidden quote prefix for the risky ones), so the value reads exactly as it was and
nothing becomes a formula (``data_type 'f'``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from openpyxl.worksheet.worksheet import Worksheet

#: first characters that make a spreadsheet evaluate a cell (OWASP CSV injection)
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def is_risky(value: object) -> bool:
    """True for text a spreadsheet could evaluate as a formula."""
    return (
        isinstance(value, str) and value.startswith(TRIGGERS) and not _PLAIN_NUMBER.fullmatch(value)
    )


def neutralise(value: Any) -> Any:
    """One cell: risky text gets a leading apostrophe; anything else is returned as is."""
    return "'" + value if is_risky(value) else value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` for ``to_csv``: text cells (and the header) neutralised.

    Only object/string columns are looked at, so numeric columns keep their dtype.
    """
    out = frame.copy()
    for col in out.columns:
        series = out[col]
        if pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
            out[col] = series.map(neutralise, na_action="ignore")
    out.columns = [neutralise(c) if isinstance(c, str) else c for c in out.columns]
    return out


def write_csv(
    frame: pd.DataFrame, path: str | Path, *, encoding: str = "utf-8", private: bool = False
) -> None:
    """``frame`` (no index) as a spreadsheet-safe CSV, written through the one safe writer
    (:mod:`recommender.data.safe_write`: no symlink followed; ``private``: 0600).

    Cells are neutralised and rows end in CRLF (RFC 4180), so a cell holding a bare CR is
    quoted too: Excel would otherwise start a new row there, and the text after the CR
    (``"ok\r=1+1"``) would land in a cell of its own, as a formula.
    """
    from recommender.data.safe_write import open_output

    with open_output(path, private=private) as fh:
        safe_frame(frame).to_csv(fh, index=False, encoding=encoding, lineterminator="\r\n")


def _plain(value: Any) -> Any:
    """A value openpyxl can store: numpy scalars unwrapped, NaN/NaT empty, tz dropped."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.replace(tzinfo=None)
    if isinstance(value, bool | int | float | datetime | date | time):
        return value
    return str(value)


def set_cell(ws: Worksheet, row: int, column: int, value: Any):
    """Write one cell; text always becomes a text cell, never a formula."""
    value = _plain(value)
    cell = ws.cell(row=row, column=column)
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"  # openpyxl would otherwise turn "=…" into a formula
        if is_risky(value):
            cell.quotePrefix = True  # Excel keeps it text even when the cell is edited
    return cell


def write_rows(ws: Worksheet, rows: Iterable[Iterable[Any]], *, start_row: int = 1) -> int:
    """Write rows of values from ``start_row``; returns the next free row."""
    r = start_row
    for r, row in enumerate(rows, start=start_row):
        for c, value in enumerate(row, start=1):
            set_cell(ws, r, c, value)
    return r + 1


def write_frame(ws: Worksheet, frame: pd.DataFrame, *, bold_header: bool = True) -> None:
    """``frame`` with its header into ``ws`` from A1, as ``DataFrame.to_excel(index=False)``."""
    from openpyxl.styles import Font

    write_rows(ws, [list(map(str, frame.columns))])
    if bold_header:
        for cell in ws[1]:
            cell.font = Font(bold=True)
    write_rows(ws, frame.itertuples(index=False, name=None), start_row=2)


def display_width(value: object) -> int:
    """Columns a cell's text takes on screen (CJK characters count double; empty and NaN 0),
    for sizing spreadsheet columns."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in str(value))


def fit_columns(ws: Worksheet, *, max_width: int = 60, sample_rows: int | None = None) -> None:
    """Size every column to its widest cell (CJK characters count double): 8 to ``max_width``
    characters. ``sample_rows`` reads only the header and that many rows below it (a long
    table's first rows tell its widths)."""
    from openpyxl.utils import get_column_letter

    last = ws.max_row if sample_rows is None else min(ws.max_row, 1 + sample_rows)
    widths: dict[int, int] = {}
    for row in ws.iter_rows(min_row=1, max_row=last, values_only=True):
        for j, value in enumerate(row, start=1):
            widths[j] = max(widths.get(j, 0), display_width(value))
    for j, width in widths.items():
        ws.column_dimensions[get_column_letter(j)].width = min(max_width, max(8, width + 2))


def print_setup(ws: Worksheet, *, one_page: bool = False) -> None:
    """How an office prints a sheet: landscape A4, centred, fitted to the page width (and
    height, for ``one_page``); a table's header row repeats on every printed page."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 1 if one_page else 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    if not one_page:
        ws.print_title_rows = "1:1"
