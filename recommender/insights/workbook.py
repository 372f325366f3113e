"""Workbook layout for planners: number formats, print setup, chart sheets, matrix sheets.

Shares show as percentages, counts as whole numbers; every sheet prints landscape on A4,
fitted to the page width with the header row repeated on every page; each chart gets a sheet
of its own, scaled to one printed page. Cells are written by
:mod:`recommender.data.spreadsheet` (text never becomes a formula); this module only formats.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pandas as pd

from recommender.data.spreadsheet import fit_columns, print_setup, set_cell, write_frame

if TYPE_CHECKING:  # pragma: no cover
    from openpyxl.workbook import Workbook
    from openpyxl.worksheet.worksheet import Worksheet

__all__ = [
    "COUNT_COLUMNS",
    "SHARE_COLUMNS",
    "add_chart_sheet",
    "add_matrix_sheet",
    "add_table_sheet",
    "print_setup",
]

#: columns holding a share of 1 (shown as %)
SHARE_COLUMNS = frozenset(
    {
        "demand_share",
        "supply_share",
        "gap",
        "enrolment_share",
        "recommended_share",
        "share",
        "completion_rate",
        "course_share",
        "completion_share",
        "reachable_share",
    }
)
#: columns holding a count (shown and stored as whole numbers)
COUNT_COLUMNS = frozenset(
    {
        "cadres",
        "courses",
        "seats",
        "enrolments",
        "completions",
        "ratings",
        "recommended",
        "group_cadres",
        "sessions",
    }
)
#: other numeric columns and their format
OTHER_FORMATS = {"topic": "0", "mean_rating": "0.00", "gap_ratio": "0.0", "urgency": "0.000"}
PERCENT = "0.0%"
GAP_PERCENT = "+0.0%;-0.0%;0.0%"
INTEGER = "#,##0"
DECIMAL = "#,##0.0"
#: printable area of an A4 landscape page at the default margins, in pixels at 96 dpi
PAGE_PX = (980, 620)


def _format(key: str) -> str:
    if key == "gap":
        return GAP_PERCENT
    if key in SHARE_COLUMNS:
        return PERCENT
    if key in COUNT_COLUMNS:
        return INTEGER
    return OTHER_FORMATS.get(key, DECIMAL)


def _format_columns(ws: Worksheet, keys: list[str], frame: pd.DataFrame) -> None:
    """Number formats by English column key; counts stored as integers."""
    for j, key in enumerate(keys, start=1):
        if not pd.api.types.is_numeric_dtype(frame.iloc[:, j - 1]):
            continue
        fmt = _format(key)
        for (cell,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
            if isinstance(cell.value, float) and key in COUNT_COLUMNS:
                cell.value = round(cell.value)
            cell.number_format = fmt


def add_table_sheet(book: Workbook, name: str, frame: pd.DataFrame, keys: list[str]) -> Worksheet:
    """A sheet holding ``frame`` (Chinese headers; ``keys`` its English column keys), formatted
    and set up for print."""
    ws = book.create_sheet(name)
    write_frame(ws, frame)
    _format_columns(ws, keys, frame)
    fit_columns(ws, max_width=50, sample_rows=200)
    ws.freeze_panes = "A2"
    print_setup(ws)
    return ws


def add_matrix_sheet(book: Workbook, name: str, pivot: pd.DataFrame, corner: str) -> Worksheet:
    """Groups × topics of a gap pivot as numbers (%) under a red–white–blue colour scale."""
    from openpyxl.formatting.rule import ColorScaleRule
    from openpyxl.utils import get_column_letter

    frame = pivot.reset_index()
    frame.columns = [corner, *map(str, pivot.columns)]
    ws = add_table_sheet(book, name, frame, ["", *["gap"] * pivot.shape[1]])
    last = f"{get_column_letter(frame.shape[1])}{frame.shape[0] + 1}"
    limit = float(pivot.abs().max().max()) if pivot.size else 0.0
    rule = ColorScaleRule(
        start_type="num",
        start_value=-limit,
        start_color="2166AC",
        mid_type="num",
        mid_value=0,
        mid_color="FFFFFF",
        end_type="num",
        end_value=limit,
        end_color="B2182B",
    )
    ws.conditional_formatting.add(f"B2:{last}", rule)
    ws.freeze_panes = "B2"
    return ws


def add_chart_sheet(book: Workbook, name: str, png: bytes, title: str) -> Worksheet:
    """A sheet holding one chart, scaled to fit one landscape page, under a title."""
    from openpyxl.drawing.image import Image

    ws = book.create_sheet(name)
    set_cell(ws, 1, 1, title)
    image = Image(io.BytesIO(png))
    scale = min(1.0, PAGE_PX[0] / image.width, PAGE_PX[1] / image.height)
    image.width, image.height = int(image.width * scale), int(image.height * scale)
    ws.add_image(image, "A2")
    print_setup(ws, one_page=True)
    return ws
