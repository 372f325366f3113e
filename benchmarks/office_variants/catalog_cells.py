"""Catalogs whose cells are typed the way offices type them: Excel 97-2003 .xls books, dates
as date cells (custom and built-in Chinese formats) and dates written every which way."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import xlwt

from benchmarks.office_variants.base import (
    CATALOG_OK,
    HEADER,
    County,
    Variant,
    blocks,
    course_values,
    save_book,
)
from benchmarks.office_variants.catalogs import TITLE, simple_book

DAY_FORMAT = 'yyyy"年"m"月"d"日"'
START = HEADER.index("开课时间")
HOURS = HEADER.index("学时")


def as_date(text: str) -> dt.datetime | None:
    """The fixture's 开课时间 text as a date (2027年3月9日, 2026-09-18 09:00), else None."""
    for fmt in ("%Y年%m月%d日", "%Y-%m-%d %H:%M"):
        try:
            return dt.datetime.strptime(text, fmt)
        except (TypeError, ValueError):
            pass
    return None


def xls_catalog(county: County, path: Path, *, merged: bool, typed: bool) -> Path:
    """An .xls catalog. ``merged``: a 填表说明 sheet, a merged title, 课程类别 merged down each
    block, 合计 and 注 lines (the fixture's layout); ``typed``: 开课时间 as date cells and 学时
    as numbers where they are plain numbers."""
    book = xlwt.Workbook(encoding="utf-8")
    if merged:
        guide = book.add_sheet("填表说明")
        guide.write(0, 0, "填表说明：")
        guide.write(1, 0, "1. 学时按实际填写，半天按3学时、一天按6学时计。")
    ws = book.add_sheet("课程目录")
    if merged:
        ws.write_merge(0, 0, 0, len(HEADER) - 1, "青山县委党校2026年度干部教育培训课程目录")
        ws.write(1, 0, "制表单位：县委党校教务科")
        ws.write(1, 7, "制表日期：2026年1月")
    else:
        ws.write(0, 0, TITLE)
    first = 2 if merged else 1
    for j, h in enumerate(HEADER):
        ws.write(first, j, h)
    day = xlwt.easyxf(num_format_str="yyyy-mm-dd" if merged else DAY_FORMAT)
    stamp = xlwt.easyxf(num_format_str="yyyy-mm-dd hh:mm")
    i = first + 1
    for category, courses in blocks(county.courses):
        start = i
        for c in courses:
            for j, v in enumerate(course_values(c, c["序号"])):
                if v is None or (merged and j == 1):
                    continue
                when = as_date(v) if typed and j == START else None
                if when is not None:
                    ws.write(i, j, when, stamp if when.hour else day)
                elif typed and j == HOURS and re.fullmatch(r"\d+(\.\d+)?", str(v)):
                    ws.write(i, j, float(v))
                else:
                    ws.write(i, j, v)
            i += 1
        if merged and i - 1 > start:
            ws.write_merge(start, i - 1, 1, 1, category)
        elif merged:
            ws.write(start, 1, category)
    if merged:
        ws.write_merge(i + 1, i + 1, 0, 3, "合计")
        ws.write(i + 1, HOURS, f"共{len(county.courses)}门")
        ws.write_merge(i + 2, i + 2, 0, len(HEADER) - 1, "注：1. 开课时间以县委党校通知为准。")
    book.save(str(path))
    return path


DATES = [dt.datetime(2026, 3, 5), dt.datetime(2026, 3, 5, 14, 30), dt.date(2026, 3, 5),
         "2026年3月5日", "2026.3.5", "2026/03/05", "3月5日", "3月5日-3月7日", "2026年3月5日-7日",
         "2026.3.5-3.7", "2026年上半年", "全年", "2026年3月5日 9:30", "2026年3月5日9:30",
         "2026年3月5日上午", "2026年3月5日（周四）", "2026-3-5 9:00", "2026年3月", "2026.03",
         "3月上旬", "2026年3月5日14:30-17:30", "2026/3/5 14:30", "20260305", "46086",
         "2026年03月05日", "2026年3月5日 下午2:30", "2026年３月５日", "每周三", "第一季度",
         "2026-03-05 至 2026-03-07"]  # fmt: skip


def dates_as_written(county: County, path: Path) -> Path:
    data = [course_values(c, n) for n, c in enumerate(county.courses, 1)]
    for row, when in zip(data, DATES, strict=False):
        row[START] = when
        row[HEADER.index("授课形式")] = "专题讲座"  # a face-to-face class, so the date matters
    book = simple_book(HEADER, data)
    book.active["H3"].number_format = DAY_FORMAT
    book.active["H4"].number_format = "yyyy/m/d h:mm"
    return save_book(book, path)


def date_cells(county: County, path: Path, *, builtin: bool) -> Path:
    """开课时间 as date cells in 2026年3月5日 format: a custom format, or the built-in id 31
    that Chinese Excel and WPS write for it (which openpyxl alone cannot)."""
    data = [course_values(c, n) for n, c in enumerate(county.courses, 1)]
    for row in data:
        row[START] = as_date(row[START]) or row[START]
    book = simple_book(HEADER, data)
    for (cell,) in book.active.iter_rows(min_row=3, min_col=START + 1, max_col=START + 1):
        if isinstance(cell.value, dt.datetime):
            cell.number_format = DAY_FORMAT
    return save_book(book, path, _builtin_31 if builtin else None)


def _builtin_31(name: str, data: bytes) -> bytes:
    if name != "xl/styles.xml":
        return data
    found = re.search(rb'<numFmt numFmtId="(\d+)" formatCode="yyyy&quot;[^"]*" ?/>', data)
    if found is None:
        return data
    data = data.replace(found.group(0), b"")
    data = re.sub(
        rb'<numFmts count="(\d+)"',
        lambda m: b'<numFmts count="%d"' % (int(m.group(1)) - 1),
        data,
    )
    return data.replace(b'numFmtId="' + found.group(1) + b'"', b'numFmtId="31"')


def build(county: County, out: Path) -> list[Variant]:
    def v(key: str, label: str, path: Path, expect=CATALOG_OK) -> Variant:
        return Variant(key, label, {"courses": path}, expect)

    return [
        v("K01", "旧版 .xls，课程类别竖向合并（填表说明页、标题行、合计与注）",
          xls_catalog(county, out / "K01_xls_类别合并.xls", merged=True, typed=False)),
        v("K02", "旧版 .xls，类别合并，开课时间存为日期单元格、学时存为数字",
          xls_catalog(county, out / "K02_xls_日期单元格.xls", merged=True, typed=True)),
        v("K03", "旧版 .xls，无合并，开课时间为“yyyy年m月d日”日期单元格",
          xls_catalog(county, out / "K03_xls_无合并日期.xls", merged=False, typed=True)),
        v("K07", "开课时间写法五花八门（2026.3.5、3月5日-3月7日、上半年、每周三、46086…）",
          dates_as_written(county, out / "K07_开课时间写法.xlsx")),
        v("K08", "开课时间为日期单元格，自定义格式 yyyy\"年\"m\"月\"d\"日\"",
          date_cells(county, out / "K08_日期单元格_自定义格式.xlsx", builtin=False)),
        v("K09", "开课时间为日期单元格，内置格式 31（中文 Excel/WPS 存的“2026年3月5日”）",
          date_cells(county, out / "K09_日期单元格_内置31.xlsx", builtin=True)),
    ]  # fmt: skip
