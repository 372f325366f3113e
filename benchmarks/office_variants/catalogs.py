"""Catalog workbooks (课程目录) as county academies' offices lay them out: each replaces the
fixture's ``courses`` file. Dates and the older .xls format are in ``catalog_cells``."""

from __future__ import annotations

from pathlib import Path

import openpyxl
from openpyxl.styles import Alignment

from benchmarks.office_variants.base import (
    CATALOG_OK,
    HEADER,
    ONLINE,
    County,
    Expect,
    Variant,
    blocks,
    course_values,
    save_book,
)

TITLE = "青山县委党校2026年度课程目录"
NUMERALS = "一二三四五六七八九十"


def simple_book(header: list, data: list[list], *, title: str = TITLE, sheet: str = "课程目录"):
    """A title row, the header, the rows: the plainest catalog an office sends."""
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    ws.append([title])
    ws.append(header)
    for row in data:
        ws.append(row)
    return book


def _rows(county: County) -> list[list]:
    return [course_values(c, n) for n, c in enumerate(county.courses, 1)]


def two_row_header(county: County, out: Path, *, key: str, subtotal: bool) -> Path:
    """Two title rows, a two-row header with 学时 over 线上/线下, a hidden old-code column,
    blank rows between category blocks (and a 小计 after each), 合计, notes, signatures."""
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "课程目录"
    top = ["序号", "课程类别", "课程编号", "课程代码（旧）", "课程名称", "授课教师", "授课形式",
           "学时", None, "开课时间", "适用对象", "备注"]  # fmt: skip
    width = len(top)
    hours = top.index("学时")
    ws.append(["中共青山县委党校"])
    ws.append(["2026年度干部教育培训课程目录"])
    ws.append(["制表单位：县委党校教务科", *[None] * (width - 3), "制表日期：2026年1月15日"])
    ws.append(top)
    ws.append(
        [("线上" if j == hours else "线下" if j == hours + 1 else None) for j in range(width)]
    )
    for r in (1, 2):
        ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=width)
    for j, h in enumerate(top, 1):
        if h == "学时":
            ws.merge_cells(start_row=4, start_column=j, end_row=4, end_column=j + 1)
        elif h is not None:
            ws.merge_cells(start_row=4, start_column=j, end_row=5, end_column=j)
    r, n = 6, 0
    for category, courses in blocks(county.courses):
        start = r
        for c in courses:
            n += 1
            online = c["授课形式"] in (*ONLINE, "直播")
            ws.append([n, category, c["课程编号"], "OLD" + c["课程编号"][-3:], c["课程名称"],
                       c["授课教师"], c["授课形式"], c["学时"] if online else None,
                       None if online else c["学时"], c["开课时间"] or None, c["适用对象"],
                       c["备注"] or None])  # fmt: skip
            r += 1
        end = r - 1
        if subtotal:
            ws.cell(r, top.index("课程名称") + 1, "小计")
            ws.cell(r, hours + 1, f"{len(courses)}门")
            end, r = r, r + 1
        if end > start:
            ws.merge_cells(start_row=start, start_column=2, end_row=end, end_column=2)
            ws.cell(start, 2).alignment = Alignment(vertical="center")
        r += 1  # a blank row between blocks
    ws.cell(r, 1, "合计")
    ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=4)
    ws.cell(r, hours + 1, f"共{n}门")
    ws.cell(r + 1, 1, "注：1.开课时间以通知为准；2.网络课程学时由平台自动认定。")
    ws.cell(r + 2, 1, "3.现场教学需提前报名。")
    ws.cell(r + 4, 1, "填表人：王某某")
    ws.cell(r + 4, 6, "审核人：李某某")
    ws.column_dimensions["D"].hidden = True
    return save_book(book, out / f"{key}_两行表头{'_小计' if subtotal else ''}.xlsx")


HOURS = ["3学时", "3 学时", "1.5", 1.5, "半天", "一天", "两天", "2天", "90分钟", "3课时", "３",
         "３学时", None, "2小时", "0.5天", "1天半", "一天半", "3学时（半天）", "半天（3学时）",
         "2学分", "三学时", "1小时30分钟", "4课时(180分钟)", "3\n学时", "3学时 ",
         "6（线上2+线下4）", "2h", "45分钟", "一周", "2.5 课时", "１.５学时", "3个学时", "待定",
         "0", "2学时/次", "1.5学时（90分钟）"]  # fmt: skip


def hours_as_written(county: County, out: Path, key: str) -> Path:
    data = _rows(county)
    for row, hours in zip(data, HOURS, strict=False):
        row[HEADER.index("学时")] = hours
    return save_book(simple_book(HEADER, data), out / f"{key}_学时写法.xlsx")


def messy_text(county: County, out: Path, key: str) -> Path:
    """Teachers joined by 、, line breaks in cells, stray spaces, full-width course codes."""
    data = _rows(county)
    for n, v in enumerate(data, 1):
        if n % 5 == 0:
            v[4] = "张三、李四"
        if n % 7 == 0:
            v[4] = "王建国\n（县委党校副教授）"
        if n % 6 == 0:
            v[3] += "\n——专题辅导"
        if n % 4 == 0:
            v[2] += " "
        if n % 9 == 0:
            v[1] += " "
        if n % 8 == 0:
            v[3] = f"  {v[3]}  "
        if n % 10 == 0:
            v[8] = "村（社区）干部"
        if n % 11 == 0:
            v[2] = v[2].replace("QS", "ＱＳ")
    header = ["序号", "课程\n类别", "课程编号", "课程名称 ", *HEADER[4:]]
    return save_book(simple_book(header, data), out / f"{key}_文字杂乱.xlsx")


def old_year_first(county: County, out: Path, key: str) -> Path:
    """A cover sheet, last year's catalog (40 courses), then this year's."""
    book = openpyxl.Workbook()
    cover = book.active
    cover.title = "封面"
    cover["A1"] = TITLE
    cover["A3"] = "县委党校教务科 编"
    old = book.create_sheet("2025年目录")
    old.append(["青山县委党校2025年度课程目录"])
    old.append(HEADER)
    for v in _rows(county)[:40]:
        v[2] = v[2].replace("2026", "2025")
        old.append(v)
    new = book.create_sheet("2026年目录")
    new.append([TITLE])
    new.append(HEADER)
    for v in _rows(county):
        new.append(v)
    return save_book(book, out / f"{key}_旧年度在前.xlsx")


def two_sheets(county: County, out: Path, key: str) -> Path:
    book = openpyxl.Workbook()
    face = book.active
    face.title = "面授课程"
    face.append(["2026年度面授课程目录"])
    face.append(HEADER)
    online = book.create_sheet("网络课程")
    online.append(["2026年度网络课程目录"])
    online.append(HEADER)
    for c, v in zip(county.courses, _rows(county), strict=True):
        (online if c["授课形式"] in ONLINE else face).append(v)
    return save_book(book, out / f"{key}_面授网络分表.xlsx")


def section_rows(county: County, out: Path, key: str, *, with_column: bool) -> Path:
    """Categories as section heading rows (一、政治理论（9门）), with or without the column."""
    header = HEADER if with_column else [h for h in HEADER if h != "课程类别"]
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "课程目录"
    ws.append([TITLE])
    ws.append(header)
    n = 0
    for k, (category, courses) in enumerate(blocks(county.courses)):
        numeral = NUMERALS[k] if k < 10 else "十" + NUMERALS[k - 10]
        ws.append([f"{numeral}、{category}" + ("" if with_column else f"（{len(courses)}门）")])
        ws.merge_cells(
            start_row=ws.max_row, start_column=1, end_row=ws.max_row, end_column=len(header)
        )
        for c in courses:
            n += 1
            v = course_values(c, n)
            if not with_column:
                del v[1]
            ws.append(v)
    name = "分节标题行_有类别列" if with_column else "分节标题行_无类别列"
    return save_book(book, out / f"{key}_{name}.xlsx")


def hidden_rows(county: County, out: Path, key: str) -> Path:
    book = simple_book([*HEADER, "辅助列"], [
        [*v, f"{c['课程编号']}|{c['学时']}"]
        for c, v in zip(county.courses, _rows(county), strict=True)
    ])  # fmt: skip
    ws = book.active
    for r in range(10, 15):
        ws.row_dimensions[r].hidden = True
    ws.column_dimensions["K"].hidden = True
    return save_book(book, out / f"{key}_隐藏行列.xlsx")


def renamed_header(county: County, out: Path, key: str, names: dict[str, str]) -> Path:
    header = [names.get(h, h) for h in HEADER]
    return save_book(
        simple_book(header, _rows(county)), out / f"{key}_表头{'_'.join(names.values())}.xlsx"
    )


def no_course_code(county: County, out: Path, key: str) -> Path:
    data = [[v for j, v in enumerate(row) if j != 2] for row in _rows(county)]
    return save_book(
        simple_book([h for h in HEADER if h != "课程编号"], data), out / f"{key}_无课程编号.xlsx"
    )


def numeric_codes(county: County, out: Path, key: str) -> Path:
    data = _rows(county)
    for n, row in enumerate(data, 1):
        row[2] = n
    return save_book(simple_book(HEADER, data), out / f"{key}_数字课程编号.xlsx")


def long_preamble(county: County, out: Path, key: str) -> Path:
    """Title, unit, eight lines of 填表说明 and a blank row: the header is on row 12."""
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "课程目录"
    for line in ["青山县委党校2026年度干部教育培训课程目录", "制表单位：县委党校教务科", "说明：",
                 "1. 学时按实际填写，半天按3学时、一天按6学时计；",
                 "2. 网络课程按课件时长折算（45分钟为1学时）；",
                 "3. 授课形式填写：专题讲座、现场教学、研讨、案例教学、网络课程、直播、微课；",
                 "4. 开课时间未确定的填写计划时段；", "5. 适用对象填写全体学员、领导干部等；",
                 "6. 现场教学需提前报名；", "7. 本目录由县委党校负责解释。"]:  # fmt: skip
        ws.append([line])
    ws.append([])
    ws.append(HEADER)
    for v in _rows(county):
        ws.append(v)
    return save_book(book, out / f"{key}_长说明.xlsx")


def empty_template_first(county: County, out: Path, key: str) -> Path:
    book = openpyxl.Workbook()
    book.active.title = "Sheet1"
    book.active.append(HEADER)  # a leftover template: the header and nothing else
    ws = book.create_sheet("课程目录")
    ws.append([TITLE])
    ws.append(HEADER)
    for v in _rows(county):
        ws.append(v)
    return save_book(book, out / f"{key}_空模板在前.xlsx")


def build(county: County, out: Path) -> list[Variant]:
    def v(key: str, label: str, path: Path, expect: tuple[Expect, ...] = CATALOG_OK) -> Variant:
        return Variant(key, label, {"courses": path}, expect)

    all_read = (Expect("courses", "rows_in", "==", 115),)
    renames = {
        "K16": ("表头写成“授课时间”“授课人”", {"开课时间": "授课时间", "授课教师": "授课人"}),
        "K17": ("表头写成“课程类型”", {"课程类别": "课程类型"}),
        "K18": ("表头写成“学时（小时）”", {"学时": "学时（小时）"}),
        "K19": ("表头写成“教学板块”“上课时间”“主讲教师”",
                {"课程类别": "教学板块", "开课时间": "上课时间", "授课教师": "主讲教师"}),
    }  # fmt: skip
    return [
        v("K04", "两行表头（学时分线上/线下两列），类别间空行，隐藏旧编号列",
          two_row_header(county, out, key="K04", subtotal=False)),
        v("K05", "同上，每类末尾另有一行“小计”",
          two_row_header(county, out, key="K05", subtotal=True)),
        v("K06", "学时写法五花八门（3 学时、半天、1天半、90分钟、３、待定、0…）",
          hours_as_written(county, out, "K06"), all_read),
        v("K10", "单元格内换行、首尾空格、全角编号 ＱＳ、表头“课程↵类别”",
          messy_text(county, out, "K10")),
        v("K11", "封面页和 2025 年目录页在前，2026 年目录在后", old_year_first(county, out, "K11")),
        v("K12", "网络课程、面授课程分两个工作表", two_sheets(county, out, "K12")),
        v("K13", "没有课程类别列，类别写成分节标题行（一、政治理论（9门））",
          section_rows(county, out, "K13", with_column=False), all_read),
        v("K14", "分节标题行，另有课程类别列", section_rows(county, out, "K14", with_column=True)),
        v("K15", "隐藏了 5 行课程和一个辅助列（仍属目录）", hidden_rows(county, out, "K15")),
        *(v(key, label, renamed_header(county, out, key, names))
          for key, (label, names) in renames.items()),
        v("K20", "没有课程编号列，只有序号", no_course_code(county, out, "K20"), ()),
        v("K21", "课程编号是纯数字（1、2、3…）", numeric_codes(county, out, "K21")),
        v("K22", "表头前 11 行标题和填表说明（表头在第 12 行）", long_preamble(county, out, "K22")),
        v("K23", "第一个工作表是只有表头的空模板", empty_template_first(county, out, "K23")),
    ]  # fmt: skip
