"""Outputs for many cadres at once: a unit's menus as one workbook, batch recommendations.

A planner asks for every cadre of a unit (or a list of cadre ids) and gets one long sheet of
planned courses and one summary row per cadre with a totals row; batch recommendations carry
titles, categories, formats, hours and reasons besides ids and scores. Every cell is written
through :mod:`recommender.data.spreadsheet`, so nothing from a catalog runs as a formula.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from tqdm.auto import tqdm

from recommender.data.cells import VALUE_LABELS
from recommender.data.safe_write import save_workbook
from recommender.data.schema import Columns as C
from recommender.data.spreadsheet import fit_columns, print_setup, write_csv, write_frame
from recommender.menu.planning import plan_menu
from recommender.ranking.candidates import Filters

if TYPE_CHECKING:  # pragma: no cover
    from recommender.menu.types import Menu, MenuItem
    from recommender.ranking.model import RecommenderModel

#: columns of the batch recommendations table (ids and scores first, as before)
BATCH_COLUMNS = [
    C.CADRE_ID,
    "rank",
    C.COURSE_ID,
    "score",
    C.TITLE,
    C.CATEGORY,
    C.FORMAT,
    C.CREDIT_HOURS,
    "reason",
]


class UnitError(ValueError):
    """A unit or cadre list that selects no cadre the model knows."""


def unit_cadres(model: RecommenderModel, unit: str) -> list[str]:
    """Cadre ids of a unit: its exact 单位 name, else every unit whose name contains it."""
    units = model.cadres[C.UNIT].fillna("").astype(str)
    wanted = unit.strip()
    mask = units == wanted
    if not mask.any() and wanted:
        mask = units.str.contains(wanted, regex=False)
    if not mask.any():
        raise UnitError(f"训练数据中没有单位“{unit}”（按完整名称和名称片段都未找到）")
    return model.cadres.loc[mask, C.CADRE_ID].astype(str).tolist()


def _bar(items: Sequence[str], progress: bool, desc: str) -> Iterable[str]:
    return tqdm(items, desc=desc, unit="人", disable=not progress, file=sys.stderr)


def plan_menus(
    model: RecommenderModel,
    cadre_ids: Sequence[str],
    *,
    progress: bool = False,
    **options: Any,
) -> list[Menu]:
    """One menu per cadre (``options`` as :func:`~recommender.menu.planning.plan_menu`)."""
    return [plan_menu(model, cid, **options) for cid in _bar(cadre_ids, progress, "课程菜单")]


def recommendation_table(
    model: RecommenderModel,
    cadre_ids: Sequence[str],
    k: int,
    *,
    events=None,
    include_compulsory: bool = False,
    progress: bool = False,
    people: bool = False,
) -> pd.DataFrame:
    """Batch recommendations with titles, categories, formats, hours and reasons, scored in
    vectorised chunks (:meth:`RecommenderModel.recommend_many`). Ids the model does not know
    are skipped and listed in ``frame.attrs["unknown"]``. ``people``: add 姓名 and the masked
    id after ``cadre_id`` when the roster has them (:func:`with_person_columns`; files for
    staff, not the fixed schema of the Spark batch)."""
    ids = list(cadre_ids)
    lists: dict = {}
    unknown: list[str] = []
    step = 512
    for start in _bar(range(0, len(ids), step), progress, "推荐"):
        part, missing = model.recommend_many(
            ids[start : start + step],
            k,
            filters=Filters(include_compulsory=include_compulsory),
            events=events,
            explain=True,
        )
        lists.update(part)
        unknown += missing
    rows = [_rec_row(cid, r) for cid, recs in lists.items() for r in recs]
    frame = pd.DataFrame(rows, columns=BATCH_COLUMNS)
    frame = with_person_columns(model, frame) if people else frame
    frame.attrs["unknown"] = unknown
    return frame


def person_columns(model: RecommenderModel) -> list[str]:
    """姓名 and the masked 身份证号 when the roster has them (never the full number)."""
    cadres = model.cadres
    return [
        c
        for c in (C.NAME, C.ID_MASKED)
        if c in cadres and cadres[c].fillna("").astype(str).ne("").any()
    ]


def with_person_columns(model: RecommenderModel, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (with a ``cadre_id`` column) with :func:`person_columns` right after it."""
    cols = person_columns(model)
    if not cols or C.CADRE_ID not in frame:
        return frame
    people = model.cadres.set_index(C.CADRE_ID)[cols].fillna("").astype(str)
    found = people.reindex(frame[C.CADRE_ID].astype(str)).fillna("")
    out = frame.copy()
    at = out.columns.get_loc(C.CADRE_ID) + 1
    for n, col in enumerate(cols):
        out.insert(at + n, col, found[col].to_numpy())
    return out


def _rec_row(cadre_id: str, r) -> list[Any]:
    return [cadre_id, r.rank, r.course_id, r.score, r.title, r.category, r.format,
            r.credit_hours, r.reason_text]  # fmt: skip


def write_table(frame: pd.DataFrame, path: str | Path, *, sheet: str = "推荐") -> Path:
    """``frame`` as a spreadsheet-safe ``.csv`` or ``.xlsx`` (by the file's suffix)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        write_csv(frame, path, private=True)
    elif suffix == ".xlsx":
        _save_workbook({sheet: frame}, path)
    else:
        raise UnitError(f"{path}：输出文件须为 .csv 或 .xlsx，而不是“{path.suffix or '无扩展名'}”")
    return path


def menus_frames(model: RecommenderModel, menus: Sequence[Menu]) -> dict[str, pd.DataFrame]:
    """The unit workbook's sheets: 课程菜单 (one row per planned course) and 汇总 (one row
    per cadre, then a 合计 row)."""
    items, summary = [], []
    people = person_columns(model)
    for menu in menus:
        who = _who(model, menu.cadre_id, people)
        items += [[*who, menu.year, n, *_item_row(it)] for n, it in enumerate(menu.items, 1)]
        summary.append([*who, *_summary_row(model, menu)])
    who_cols = ["干部编号", *(PERSON_HEADERS[c] for c in people), "单位", "职级"]
    item_cols = [*who_cols, "年度", "序号", "课程编号", "课程名称", "类别"]
    item_cols += ["形式", "学时", "必修", "安排", "推荐理由"]
    sum_cols = [*who_cols, "年度", "目标学时", "已获学时", "计划学时"]
    sum_cols += ["其中集中培训学时", "其中网络学习学时", "课程数", "是否达标", "未满足说明"]
    table = pd.DataFrame(summary, columns=sum_cols)
    return {
        "课程菜单": pd.DataFrame(items, columns=item_cols),
        "汇总": pd.concat([table, _totals(table)], ignore_index=True),
    }


def write_menus_workbook(model: RecommenderModel, menus: Sequence[Menu], path: str | Path) -> Path:
    """The unit's menus as one ``.xlsx`` (see :func:`menus_frames`)."""
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise UnitError(f"{path}：单位课程菜单须写入 .xlsx 文件")
    _save_workbook(menus_frames(model, menus), path)
    return path


#: Chinese headers of :func:`person_columns`
PERSON_HEADERS = {C.NAME: "姓名", C.ID_MASKED: "身份证号（脱敏）"}


def _who(model: RecommenderModel, cadre_id: str, people: Sequence[str] = ()) -> list[str]:
    profile = model.cadre_profile(cadre_id)
    person = [str(profile.get(c) or "") for c in people]
    return [cadre_id, *person, str(profile.get(C.UNIT) or ""), str(profile.get(C.RANK) or "")]


def _item_row(it: MenuItem) -> list[Any]:
    if it.session_start is not None:
        when = f"{it.session_start:%Y-%m-%d %H:%M} 开课"
    else:
        when = f"自学，{min(it.weeks)} 起" if it.weeks else "自学"
    fmt = VALUE_LABELS.get(it.format, it.format)
    return [it.course_id, it.title, it.category, fmt, it.credit_hours,
            "是" if it.compulsory else "", when, it.reason]  # fmt: skip


def _summary_row(model: RecommenderModel, menu: Menu) -> list[Any]:
    classes = model.rules.format_classes
    by_part = {
        part: sum(h for f, h in menu.totals_by_format.items() if f in fmts)
        for part, fmts in classes.items()
    }
    unmet = "；".join(u.message for u in menu.unmet)
    return [menu.year, menu.target_hours, menu.hours_credited, menu.planned_hours,
            by_part.get("centralised", 0.0), by_part.get("online", 0.0), len(menu.items),
            "是" if menu.met else "否", unmet]  # fmt: skip


def _totals(table: pd.DataFrame) -> pd.DataFrame:
    """The 合计 row: sums of the hour and course columns, and how many cadres met their goals."""
    row: dict[str, Any] = dict.fromkeys(table.columns, "")
    row["干部编号"] = f"合计（{len(table)} 人）"
    hours = ["目标学时", "已获学时", "计划学时", "其中集中培训学时", "其中网络学习学时"]
    row.update({col: float(table[col].sum()) for col in hours})
    row["课程数"] = int(table["课程数"].sum())
    row["是否达标"] = f"达标 {int((table['是否达标'] == '是').sum())} 人"
    return pd.DataFrame([row])


def _save_workbook(sheets: dict[str, pd.DataFrame], path: Path) -> None:
    """Sheets in order, header frozen, columns sized, printed landscape on A4 one page wide
    with the header on every page."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, frame in sheets.items():
        ws = wb.create_sheet(name)
        write_frame(ws, frame)
        ws.freeze_panes = "A2"
        fit_columns(ws)
        print_setup(ws)
    save_workbook(wb, path, private=True)  # names and ids of cadres: 0600, no symlink followed
