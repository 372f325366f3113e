"""Workbooks as academies send them: .xls with merged cells, catalogs split over sheets, old
years' sheets and leftover templates beside the data, hidden rows, Chinese built-in date formats.

The .xls and date-format workbooks are in tests/fixtures/office_variants/ (rebuilt by
make_fixtures.py there); the others are written here with openpyxl.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from recommender.data.loading import load_table
from recommender.data.schema import CADRES, COURSES
from recommender.data.sheets import read_xlsx

FIXTURES = Path(__file__).parent / "fixtures" / "office_variants"
HEADER = ["序号", "课程类别", "课程编号", "课程名称", "学时", "开课时间"]


def _course(n: int, cid: str) -> list[object]:
    return [n, "政治理论", cid, f"课程{cid}", 3, "2026-03-05"]


def _xlsx(path: Path, sheets: dict[str, list[list[object]]], hidden: tuple[int, ...] = ()) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
        for r in hidden:
            sheet.row_dimensions[r].hidden = True
    book.save(path)
    return path


def test_xls_merged_category_is_filled_down_like_xlsx() -> None:
    load = load_table(FIXTURES / "merged_category.xls", COURSES)
    assert load.rows_rejected == 0 and len(load.frame) == 6
    assert load.frame["category"].tolist() == ["政治理论"] * 3 + ["党性教育"] * 3
    assert "工作表“课程目录”有合并单元格，已按合并区域的首格值填充 9 格" in load.warnings


def test_chinese_builtin_date_format_reads_like_the_custom_one() -> None:
    custom = load_table(FIXTURES / "dates_custom.xlsx", COURSES)
    builtin = load_table(FIXTURES / "dates_builtin31.xlsx", COURSES)
    pd.testing.assert_frame_equal(builtin.frame, custom.frame)
    assert builtin.warnings == custom.warnings
    first = builtin.frame.iloc[0]  # a date without a time: the whole day
    assert first["session_start"] == pd.Timestamp("2026-03-05 08:00")
    assert first["session_end"] == pd.Timestamp("2026-03-05 18:00")


def test_catalog_split_over_sheets_is_read_whole_with_true_row_numbers(tmp_path: Path) -> None:
    online = ["课程编号", "课程名称", "课程类别", "学时"]  # another order, no 开课时间
    path = _xlsx(
        tmp_path / "courses.xlsx",
        {
            "面授课程": [["2026年度面授课程"], HEADER, *(_course(i, f"M{i}") for i in (1, 2, 3))],
            "网络课程": [
                online,
                ["W1", "网课一", "政治理论", 2],
                ["W2", "网课二", "党性教育", "待定"],
            ],
        },
    )
    load = load_table(path, COURSES)
    assert load.sheet == "面授课程、网络课程"
    assert load.rows_in == 5 and load.frame["course_id"].tolist() == ["M1", "M2", "M3", "W1"]
    assert load.frame.set_index("course_id").loc["W1", "category"] == "政治理论"
    note = next(w for w in load.warnings if w.startswith("数据分在 2 个工作表中"))
    assert "面授课程、网络课程" in note and "“网络课程”第 2–3 行记为第 6–7 行" in note
    assert load.rejects["row"].tolist() == [7]  # 网络课程 row 3, numbered on as the note says


def test_sheets_of_different_years_are_not_stacked(tmp_path: Path) -> None:
    path = _xlsx(
        tmp_path / "courses.xlsx",
        {
            "封面": [["青山县委党校课程目录"]],
            "2025年目录": [HEADER, _course(1, "Y25A"), _course(2, "Y25B")],
            "2026年目录": [HEADER, _course(1, "Y26A"), _course(2, "Y26B"), _course(3, "Y26C")],
        },
    )
    load = load_table(path, COURSES)
    assert load.sheet == "2026年目录" and len(load.frame) == 3
    note = next(w for w in load.warnings if w.startswith("工作簿中有多个版本"))
    assert "读取“2026年目录”" in note and "未读取“2025年目录”" in note and "--sheet" in note
    assert len(load_table(path, COURSES, sheet="2025年目录").frame) == 2


def test_an_old_copy_of_the_same_catalog_is_not_stacked(tmp_path: Path) -> None:
    rows = [HEADER, _course(1, "C1"), _course(2, "C2"), _course(3, "C3")]
    path = _xlsx(tmp_path / "courses.xlsx", {"课程目录（旧）": rows[:3], "课程目录": rows})
    load = load_table(path, COURSES)
    assert load.sheet == "课程目录" and len(load.frame) == 3 and load.rows_rejected == 0
    assert any("未读取“课程目录（旧）”" in w for w in load.warnings)


def test_a_sheet_with_only_the_header_is_skipped(tmp_path: Path) -> None:
    path = _xlsx(
        tmp_path / "courses.xlsx",
        {"Sheet1": [HEADER], "课程目录": [["2026年度课程目录"], HEADER, _course(1, "C1")]},
    )
    load = load_table(path, COURSES)
    assert load.sheet == "课程目录" and len(load.frame) == 1
    assert "工作表“Sheet1”只有表头、没有数据行，未读取" in load.warnings


def test_hidden_rows_are_read_and_named(tmp_path: Path) -> None:
    rows = [HEADER, *(_course(i, f"C{i}") for i in range(1, 7))]
    path = _xlsx(tmp_path / "courses.xlsx", {"课程目录": rows}, hidden=(3, 4, 6))
    load = load_table(path, COURSES)
    assert len(load.frame) == 6
    assert (
        "工作表“课程目录”有 3 行在 Excel 中被隐藏或被筛选掉（第 3–4、6 行），仍已读取；"
        "如这些行不应导入（如已取消的课程），请在 Excel 中删除后再导入"
    ) in load.warnings


def test_other_tables_of_the_workbook_are_not_stacked(tmp_path: Path) -> None:
    path = _xlsx(
        tmp_path / "data.xlsx",
        {
            "干部": [["干部编号", "单位"], ["K1", "某县农业农村局"], ["K2", "某镇人民政府"]],
            "学习记录": [["干部编号", "课程编号", "报名时间"], ["K1", "C1", "2026-01-02"]],
        },
    )
    load = load_table(path, CADRES)
    assert load.sheet == "干部" and load.frame["cadre_id"].tolist() == ["K1", "K2"]
    assert not any("工作表" in w for w in load.warnings)


@pytest.mark.parametrize("fmt_id", [27, 30, 31, 36, 50, 57, 58])
def test_every_chinese_builtin_date_id_reads_as_a_date(tmp_path: Path, fmt_id: int) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(HEADER)
    book.active.append([*_course(1, "C1")[:5], dt.datetime(2026, 3, 5)])
    book.active["F2"].number_format = "yyyy-mm-dd"  # a custom format, id 165 …
    book.save(tmp_path / "src.xlsx")
    path = tmp_path / "courses.xlsx"
    with zipfile.ZipFile(tmp_path / "src.xlsx") as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/styles.xml":  # … made the built-in id, as zh-CN Excel saves
                data = data.replace(b'<xf numFmtId="165"', b'<xf numFmtId="%d"' % fmt_id)
            dst.writestr(info, data)
    grid, _, _ = read_xlsx(path, COURSES)
    assert grid[1][5] == "2026-03-05"


def test_a_blank_row_inside_a_merged_category_stays_blank():
    from recommender.data.sheets import fill_merged

    grid = [["政治理论", "QS1", "课一"], ["", "QS2", "课二"], ["", "", ""], [], ["", "QS3", "课三"]]
    assert fill_merged(grid, [(1, 1, 5, 1)]) == 2
    assert [r[:1] for r in grid] == [["政治理论"], ["政治理论"], [""], [], ["政治理论"]]
