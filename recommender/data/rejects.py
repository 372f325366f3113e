"""Problems found while loading a table, and their report in Chinese.

Two outcomes, one record: a broken **required** field (or a duplicate key, an unknown id, a
ragged CSV row) rejects the row; an invalid **optional** cell is cleared (read as empty) and
the row is kept. Both are written to ``<table>.rejects.csv`` — file, row, the file's own
column header, value, a Chinese reason, an English rule code, the action — and summed up per
table and reason by :func:`format_load_report` for ``recommender validate`` / ``train``.
The lines are kept under English column names (:data:`REJECT_COLUMNS`) for code; the file the
training office opens in Excel has Chinese headers and actions (:func:`for_people`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.data.cells import clip
from recommender.data.schema import TABLE_LABELS

REJECT_COLUMNS = ["file", "row", "column", "value", "reason", "rule", "action", "field"]
#: headers of the rejects file, which people open in Excel (docs/data.md names them)
REJECT_HEADERS = {
    "file": "文件",
    "row": "行号",
    "column": "列",
    "value": "原值",
    "reason": "原因",
    "rule": "原因代码",
    "action": "处理",
    "field": "字段代码",
}
#: action codes: the whole row left out / the cell read as empty, the row kept
ROW_REJECTED, CELL_CLEARED = "row_rejected", "cell_cleared"
ACTION_LABELS = {ROW_REJECTED: "拒收该行", CELL_CLEARED: "清空该格"}
#: what a rule code means, for summaries
RULE_LABELS = {
    "missing": "必填项为空",
    "not_a_number": "不是数字",
    "not_an_integer": "不是整数",
    "out_of_range": "超出范围",
    "bad_datetime": "日期时间无法识别",
    "bad_bool": "不是“是/否”",
    "bad_enum": "不是可选值",
    "session_order": "结束早于开始",
    "duplicate": "编号重复",
    "unknown_id": "编号不存在",
    "ragged_row": "字段数多于表头",
    "bad_id_card": "身份证号无效",
    "id_mangled_by_excel": "身份证号被 Excel 转成数字",
    "unscheduled": "开课时间未定",
}
SKIP_LABELS = {
    "blank": "空行",
    "total_lines": "合计行",
    "note_lines": "注释/说明行",
    "header_lines": "重复的表头行",
    "section_lines": "分类标题行",
    "duplicates": "完全重复的行",
}
WHOLE_ROW = "(整行)"


class Problems:
    """Collects problem lines while a table is validated; values are the raw cells.

    ``headers`` maps a contract field to the file's own header, used in the ``column``
    of every line; ``rows`` maps a frame position to its spreadsheet row number.
    """

    def __init__(
        self, file: str, rows: np.ndarray, cells: pd.DataFrame, headers: dict[str, str]
    ) -> None:
        self.file, self.rows, self.cells, self.headers = file, rows, cells, headers
        self.lines: list[tuple] = []
        self.bad: set[int] = set()
        #: keyed hash of a 身份证号 → its masked form: messages show the mask, never the hash
        self.masks: dict[str, str] = {}

    def header(self, field: str) -> str:
        return self.headers.get(field, field) if field else WHOLE_ROW

    def show(self, value: object) -> str:
        """A value for a reason: quoted, shortened, a hashed 身份证号 shown masked."""
        return repr(clip(str(self.masks.get(value, value))))  # type: ignore[call-overload]

    def reject(self, i: int, field: str, reason: str, rule: str, value: str | None = None) -> None:
        """The row at position ``i`` is left out."""
        self.bad.add(i)
        self._line(i, field, reason, rule, ROW_REJECTED, value)

    def clear(self, i: int, field: str, reason: str, rule: str) -> None:
        """The cell is read as empty; the row stays."""
        self._line(i, field, f"{reason}；已按空值处理，保留该行", rule, CELL_CLEARED, None)

    def _line(self, i: int, field: str, reason: str, rule: str, action: str, value) -> None:
        if value is None:
            value = self.cells[field].iloc[i] if field in self.cells else ""
            value = self.masks.get(value, value)
        row = int(self.rows[i])
        self.lines.append(
            (self.file, row, self.header(field), clip(value), reason, rule, action, field)
        )

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(lines of rejected rows, lines of cleared cells), each sorted by row."""
        out = pd.DataFrame(self.lines, columns=REJECT_COLUMNS)
        out["row"] = out["row"].astype("int64")
        out = out.sort_values(["row"], kind="stable").reset_index(drop=True)
        cleared = out["action"] == CELL_CLEARED
        return (
            out[~cleared].reset_index(drop=True),
            out[cleared].reset_index(drop=True),
        )


def for_people(lines: pd.DataFrame) -> pd.DataFrame:
    """Problem lines as the rejects file shows them: Chinese headers, the action in Chinese
    (拒收该行 / 清空该格); the codes stay in 原因代码 and 字段代码 for scripts."""
    out = lines[REJECT_COLUMNS].copy()
    out["action"] = out["action"].map(lambda a: ACTION_LABELS.get(a, a))
    return out.rename(columns=REJECT_HEADERS)


def summarise(name: str, file: str, sheet: str | None, rows_in: int, accepted: int,
              lines: pd.DataFrame) -> dict:  # fmt: skip
    """One table's load outcome as plain data (JSON-ready, stored in model metadata)."""
    reasons = []
    if len(lines):
        grouped = lines.groupby(["action", "column", "rule"], sort=False)
        for (action, column, rule), part in grouped:
            reasons.append(
                {
                    "action": action,
                    "column": column,
                    "rule": rule,
                    "lines": len(part),
                    "rows": int(part["row"].nunique()),
                    "example_row": int(part["row"].iloc[0]),
                    "example": str(part["reason"].iloc[0]),
                }
            )
        reasons.sort(key=lambda r: (r["action"] != ROW_REJECTED, -r["rows"]))
    rejected = lines.loc[lines["action"] == ROW_REJECTED, "row"].nunique() if len(lines) else 0
    cleared = int((lines["action"] == CELL_CLEARED).sum()) if len(lines) else 0
    return {
        "table": name,
        "file": file,
        "sheet": sheet,
        "rows_in": rows_in,
        "accepted": accepted,
        "rejected": int(rejected),
        "cleared_cells": cleared,
        "reasons": reasons,
    }


def format_load_report(tables: list[dict], *, rejects_dir: str | None = None) -> list[str]:
    """Chinese lines: per table, counts then one line per (action, column, reason)."""
    out = []
    for t in tables:
        label = TABLE_LABELS.get(t["table"], t["table"])
        where = t["file"] + (f"（工作表“{t['sheet']}”）" if t.get("sheet") else "")
        out.append(
            f"{label} {where}：读入 {t['rows_in']} 行，接受 {t['accepted']} 行，"
            f"拒收 {t['rejected']} 行，清空 {t['cleared_cells']} 格"
        )
        if skipped := t.get("skipped"):
            parts = "、".join(f"{SKIP_LABELS.get(k, k)} {v} 行" for k, v in skipped.items())
            out.append(f"  另跳过（不计入读入行数）：{parts}")
        if t.get("external"):
            out.append(
                f"  目录外课程的记录 {t['external']} 行（如平台专题网班）：计入已获学时，不参与推荐"
            )
        for r in t["reasons"]:
            count = f"{r['rows']} 行" if r["action"] == ROW_REJECTED else f"{r['lines']} 格"
            rule = RULE_LABELS.get(r["rule"], r["rule"])
            out.append(
                f"  {ACTION_LABELS.get(r['action'], r['action'])} {count}：列“{r['column']}”"
                f"{rule}（{r['rule']}），例：第 {r['example_row']} 行 {r['example']}"
            )
    if rejects_dir and any(t["rejected"] or t["cleared_cells"] for t in tables):
        out.append(f"逐行明细见 {rejects_dir} 下的 <表名>.rejects.csv")
    return out
