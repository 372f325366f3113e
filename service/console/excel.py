"""The menu as an Excel workbook, with every text cell safe to open.

Course titles and reasons come from imported catalogs; a cell whose text starts with
``= + - @``, a tab or a carriage return would be evaluated by Excel, LibreOffice or WPS.
Every cell goes through :func:`recommender.data.spreadsheet.set_cell`: text is stored as an
explicit string (type ``s``), the risky ones with Excel's quote prefix — shown unchanged,
never evaluated.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from recommender import VALUE_LABELS, fit_columns, print_setup
from recommender import set_cell as put
from service.console.data import FORMAT_LABELS, label

_GOALS = {
    "hours": "学时目标",
    "compulsory": "必修课",
    "category_minimum": "类别最低学时",
    "centralised_hours": "集中培训学时",
    "online_hours": "网络学习学时",
}


#: 姓名 and the masked 身份证号 (never the full number), for rosters that have them
PERSON_ROWS = (("name", "姓名"), ("id_masked", "身份证号（脱敏）"))


def _goal_label(constraint: str) -> str:
    """Chinese name of an unmet constraint (``category_minimum:<group>`` names its group)."""
    code, _, group = constraint.partition(":")
    label = _GOALS.get(code) or VALUE_LABELS.get(code, constraint)
    return f"{label}（{group}）" if group else label


def write_table(ws: Worksheet, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Header in bold, rows below, columns sized to their content (CJK counts double), header
    frozen; printed landscape on A4, one page wide, the header on every page."""
    bold = Font(bold=True)
    for j, name in enumerate(header, start=1):
        put(ws, 1, j, name).font = bold
    for i, row in enumerate(rows, start=2):
        for j, value in enumerate(row, start=1):
            put(ws, i, j, value)
    fit_columns(ws)
    ws.freeze_panes = "A2"
    print_setup(ws)


def menu_workbook(menu: dict[str, Any], *, model_version: str, cadre: dict[str, str]) -> bytes:
    """``menu`` is ``Menu.to_dict()`` (what POST /v1/cadres/{id}/menu answers)."""
    wb = Workbook()
    ws = wb.active
    ws.title = "课程菜单"
    write_table(
        ws,
        [
            "序号",
            "课程编号",
            "课程名称",
            "类别",
            "形式",
            "学时",
            "必修",
            "开始周次",
            "开课时间",
            "推荐理由",
        ],
        (
            [
                n,
                it["course_id"],
                it["title"],
                it["category"],
                label(it["format"], FORMAT_LABELS),
                it["credit_hours"],
                "是" if it["compulsory"] else "",
                it["week"],
                (it["session_start"] or "")[:16].replace("T", " "),
                it["reason"],
            ]
            for n, it in enumerate(menu["items"], start=1)
        ),
    )
    write_table(
        wb.create_sheet("按类别"),
        ["类别", "学时"],
        sorted(menu["totals_by_category"].items(), key=lambda kv: -kv[1]),
    )
    write_table(
        wb.create_sheet("按形式"),
        ["形式", "学时"],
        [(label(k, FORMAT_LABELS), v) for k, v in menu["totals_by_format"].items()],
    )
    write_table(
        wb.create_sheet("未满足"),
        ["目标", "缺口学时", "原因"],
        [(_goal_label(u["constraint"]), u["shortfall_hours"], u["message"]) for u in menu["unmet"]],
    )
    write_table(
        wb.create_sheet("说明"),
        ["项目", "内容"],
        [
            ("干部编号", menu["cadre_id"]),
            *[(name, cadre[key]) for key, name in PERSON_ROWS if cadre.get(key)],
            ("单位", cadre.get("unit", "")),
            ("岗位", cadre.get("job_title", "")),
            ("年度", menu["year"]),
            ("目标学时", menu["target_hours"]),
            ("已获学时", menu["hours_credited"]),
            ("计划学时", menu["planned_hours"]),
            ("是否全部满足", "是" if menu["met"] else "否"),
            ("求解方法", VALUE_LABELS.get(menu["solver"], menu["solver"])),
            ("模型版本", model_version),
        ],
    )
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
