"""Catalog layouts as county party schools draw them: category section rows (一、政治理论)
merged across the table, 小计 rows inside a vertically merged 课程类别 block, and a header over
two rows (学时 merged over 线上 | 线下). Workbooks are written here with openpyxl, merges
included, as the red-team's catalogs were."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from recommender.data import office
from recommender.data.loading import load_table
from recommender.data.schema import COURSES

HEADER = ["序号", "课程类别", "课程编号", "课程名称", "授课形式", "学时"]


def _book(path: Path, rows: list[list[object]], merges: tuple[str, ...] = ()) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "课程目录"
    for row in rows:
        sheet.append(row)
    for ref in merges:
        sheet.merge_cells(ref)
    book.save(path)
    return path


def _sectioned(path: Path, *, category: bool) -> Path:
    header = HEADER if category else [h for h in HEADER if h != "课程类别"]
    width = "ABCDEF"[len(header) - 1]

    def course(n: int, cat: str, cid: str, title: str) -> list[object]:
        row = [n, cat, cid, title, "专题讲座", 3]
        return row if category else row[:1] + row[2:]

    rows = [
        ["青山县委党校2026年度课程目录"],
        header,
        ["一、政治理论（2门）"],
        course(1, "政治理论", "QS001", "一、学习贯彻党的二十大精神"),  # a course, not a section
        course(2, "政治理论", "QS002", "习近平新时代中国特色社会主义思想"),
        ["（二）党性教育"],
        course(3, "党性教育", "QS003", "党章学习"),
        ["第三部分 业务知识"],
        course(4, "业务知识", "QS004", "乡村振兴政策"),
    ]
    merges = tuple(f"A{r}:{width}{r}" for r in (3, 6, 8))
    return _book(path, rows, merges)


@pytest.mark.parametrize("category", [True, False])
def test_section_rows_are_skipped_not_rejected(tmp_path, category):
    load = load_table(_sectioned(tmp_path / "c.xlsx", category=category), COURSES)
    assert load.rows_rejected == 0 and load.rows_in == 4
    assert load.frame["course_id"].tolist() == ["QS001", "QS002", "QS003", "QS004"]
    assert load.frame["title"].iloc[0] == "一、学习贯彻党的二十大精神"
    assert load.skipped["section_lines"] == 3
    assert "跳过 3 行分类标题行（第 3、6、8 行，如“一、政治理论”），不计入数据" in load.warnings
    assert load.summary()["skipped"] == {"section_lines": 3}


def test_without_a_category_column_section_titles_name_the_category(tmp_path):
    load = load_table(_sectioned(tmp_path / "c.xlsx", category=False), COURSES)
    assert load.frame["category"].tolist() == ["政治理论", "政治理论", "党性教育", "业务知识"]
    assert any(
        w.startswith("没有“课程类别”列：按分类标题行（如第 3 行“一、政治理论（2门）”）")
        and "共 3 类（政治理论、党性教育、业务知识）" in w
        for w in load.warnings
    )


def test_rows_above_the_first_section_have_no_category_and_are_rejected(tmp_path):
    rows = [
        ["课程编号", "课程名称", "学时"],
        ["QS000", "开班动员", 1],
        ["一、政治理论"],
        ["QS001", "党的理论", 3],
    ]
    load = load_table(_book(tmp_path / "c.xlsx", rows, ("A3:C3",)), COURSES)
    assert load.frame["category"].tolist() == ["政治理论"]
    bad = load.rejects.iloc[0]
    assert (bad["row"], bad["field"]) == (2, "category")
    assert bad["column"] == "课程类别（取自分类标题行）"


def test_no_sections_still_names_the_missing_category_column(tmp_path):
    from recommender.data.readers import MissingColumnError

    rows = [["课程编号", "课程名称", "学时"], ["QS001", "党的理论", 3]]
    with pytest.raises(MissingColumnError, match="课程类别"):
        load_table(_book(tmp_path / "c.xlsx", rows), COURSES)


def test_subtotal_inside_a_merged_category_block_is_a_total_line(tmp_path):
    rows = [
        HEADER,
        [1, "政治理论", "QS001", "党的理论", "专题讲座", 3],
        [2, None, "QS002", "党史", "专题讲座", 3],
        [None, None, None, "小计", None, "2门"],
        [3, "党性教育", "QS003", "党章", "专题讲座", 3],
        [None, None, None, "小　计", None, "1门"],
        ["合计", None, None, None, None, "3门"],
    ]
    load = load_table(_book(tmp_path / "c.xlsx", rows, ("B2:B4", "B5:B6")), COURSES)
    assert load.rows_rejected == 0 and len(load.frame) == 3
    assert load.skipped["total_lines"] == 3
    assert "跳过 3 行合计行（第 4、6、7 行），不计入数据" in load.warnings


def test_total_beside_needs_an_empty_id():
    raw = pd.DataFrame(
        {
            "category": ["政治理论", "政治理论", "政治理论", "党性"],
            "course_id": ["", "QS001", "", ""],
            "title": ["小计", "小计", "合计算法导论", "本类小计："],
        }
    )
    kinds = office.line_kinds(raw, key="course_id")
    assert kinds.tolist() == ["total", "", "", "total"]
    assert office.line_kinds(raw).tolist() == ["", "", "", ""]  # no id column named: as before


def test_section_rows_need_the_title_alone_on_its_row():
    raw = pd.DataFrame(
        {
            "no": ["一、政治理论", "", "（二）党性", "一、政治理论", "3.现场教学需提前报名。"],
            "course_id": ["一、政治理论", "", "", "QS001", ""],
            "title": ["一、政治理论", "第三部分 业务知识", "", "党的理论", ""],
        }
    )
    assert office.line_kinds(raw, key="course_id").tolist() == [
        "section",
        "section",
        "section",
        "",
        "",
    ]
    assert office.section_title("十一、基层治理（共5门，15学时）") == "基层治理"


def _two_row_header(path: Path, *, both: bool = False) -> Path:
    rows = [
        ["青山县委党校2026年度课程目录"],
        ["课程类别", "课程编号", "课程名称", "授课形式", "学时", None, "备注"],
        [None, None, None, None, "线上", "线下", None],
        ["政治理论", "QS001", "党的理论", "网络课程", 2, None, None],
        ["政治理论", "QS002", "党史", "专题讲座", None, 3, None],
        ["党性教育", "QS003", "党章", "网络课程", 1 if both else None, 3 if both else None, None],
    ]
    merges = ("E2:F2", *(f"{c}2:{c}3" for c in "ABCDG"))
    return _book(path, rows, merges)


def test_header_over_two_rows_reads_the_filled_hours(tmp_path):
    load = load_table(_two_row_header(tmp_path / "c.xlsx"), COURSES)
    assert load.problems()["field"].tolist() == ["credit_hours"]  # QS003 has no hours at all
    assert load.problems()["row"].tolist() == [6]  # row numbers as in Excel
    assert load.frame["credit_hours"].tolist() == [2.0, 3.0]
    assert any(
        "表头占两行（第 2–3 行），合并为一行读取：学时·线上、学时·线下；"
        "“学时”取“线上”“线下”中填写的一格" in w
        for w in load.warnings
    )
    assert not any("重复" in w for w in load.warnings)


def test_header_over_two_rows_sums_parts_when_both_are_filled(tmp_path):
    load = load_table(_two_row_header(tmp_path / "c.xlsx", both=True), COURSES)
    assert load.rows_rejected == 0
    assert load.frame["credit_hours"].tolist() == [2.0, 3.0, 4.0]
    assert any("（1 行填了不止一格，按各格之和计）" in w for w in load.warnings)


def test_a_data_row_under_the_header_is_not_a_second_header(tmp_path):
    rows = [
        ["课程类别", "课程编号", "课程名称", "学时", None],
        ["政治理论", "QS001", "线上", "线下", None],  # odd values, but a course id: data
    ]
    load = load_table(_book(tmp_path / "c.xlsx", rows, ("D1:E1",)), COURSES)
    assert load.frame["course_id"].tolist() == [] and load.rows_rejected == 1
    assert not any("表头占两行" in w for w in load.warnings)
