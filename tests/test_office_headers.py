"""Headers, messages and lines as county offices and platforms write them (red-team findings).

Catalog headers such as 授课时间, 主讲教师, 教学板块 and hints such as 学时（小时）,
公民身份号码（18位） are read; a missing column is named in Chinese first; a header repeated on
every page of a platform export and its 导出时间 footer are skipped, not rejected; the rejects
file the office opens in Excel has Chinese headers.
"""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from recommender.data.identity import TEST_ID_SECRET, id_checksum, mask_id_card
from recommender.data.loading import MissingColumnError, load_dataset, load_table
from recommender.data.rejects import format_load_report
from recommender.data.schema import CADRES, COMPLETIONS, COURSES
from recommender.data.schema import Columns as C
from recommender.data.sheets import HEADER_SCAN_ROWS


def id_card(n: int) -> str:
    """A valid 18-digit 身份证号 (a 1985 birth date, sequence ``n``)."""
    first = f"429125198503{(n % 28) + 1:02d}{n:03d}"
    return first + id_checksum(first)


def write_csv(path: Path, rows: list[list[object]], encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as fh:
        csv.writer(fh).writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)
    return path


def catalog(headers: dict[str, str]) -> list[list[object]]:
    """A three-course catalog; ``headers`` renames the default header of a field."""
    names = {
        C.COURSE_ID: "课程编号",
        C.TITLE: "课程名称",
        C.CATEGORY: "课程类别",
        C.CREDIT_HOURS: "学时",
        C.INSTRUCTOR: "授课教师",
        C.SESSION_START: "开课时间",
        **headers,
    }
    rows = [
        ["QS001", "党章学习", "党性教育", "2", "王老师", "2026-03-02 09:00"],
        ["QS002", "应急管理实务", "应急管理", "3", "李老师", "2026-04-08 14:30"],
        ["QS003", "乡村振兴", "乡村振兴", "1.5", "张老师", ""],
    ]
    return [list(names.values()), *rows]


# --- 1. header spellings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {C.SESSION_START: "授课时间", C.INSTRUCTOR: "授课人"},
        {C.SESSION_START: "上课时间", C.INSTRUCTOR: "主讲教师", C.CATEGORY: "教学板块"},
        {C.CATEGORY: "课程类型"},
        {C.CREDIT_HOURS: "学时（小时）"},
        {C.CREDIT_HOURS: "学时(小时)"},
        {C.CREDIT_HOURS: "学时数（学时）"},
        {C.CREDIT_HOURS: "学时\n（小时）"},  # a wrapped header cell
        {C.CREDIT_HOURS: "学分（必填）", C.CATEGORY: "课程类别【必填】"},
    ],
)
def test_catalog_headers_as_counties_write_them(tmp_path: Path, headers: dict[str, str]) -> None:
    path = write_xlsx(tmp_path / "课程目录.xlsx", [["2026年度课程目录"], *catalog(headers)])
    load = load_table(path, COURSES)
    frame = load.frame
    assert frame[C.CATEGORY].tolist() == ["党性教育", "应急管理", "乡村振兴"]
    assert frame[C.CREDIT_HOURS].tolist() == [2.0, 3.0, 1.5]
    assert frame[C.INSTRUCTOR].tolist() == ["王老师", "李老师", "张老师"]
    assert frame[C.SESSION_START].iloc[1] == pd.Timestamp("2026-04-08 14:30")
    assert not any(w.startswith("忽略未知列") for w in load.warnings), load.warnings


@pytest.mark.parametrize("header", ["公民身份号码（18位）", "身份证号码（18位）", "身份证号(必填)"])
def test_roster_keyed_by_an_id_card_header_with_a_hint(tmp_path: Path, header: str) -> None:
    ids = [id_card(i) for i in range(1, 4)]
    rows = [["序号", "姓名", header, "工作单位"]]
    rows += [[i + 1, name, ids[i], "县委组织部"] for i, name in enumerate(["张三", "李四", "王五"])]
    load = load_table(write_csv(tmp_path / "名册.csv", rows), CADRES, id_secret=TEST_ID_SECRET)
    assert len(load.frame) == 3 and load.identity["source"] == header
    assert load.frame[C.ID_MASKED].tolist() == [mask_id_card(i) for i in ids]
    assert load.frame[C.CADRE_ID].str.startswith("pid_").all()
    assert not any(i in load.frame.to_csv() + "\n".join(load.warnings) for i in ids)


def test_an_exact_header_wins_over_one_read_without_its_hint(tmp_path: Path) -> None:
    """身份证号（脱敏） is the masked column, never a 身份证号 to hash; 课程代码（旧） beside
    课程编号 is an old code, not the course id, whichever comes first."""
    ids = [id_card(i) for i in range(1, 3)]
    rows = [
        ["干部编号", "身份证号码（脱敏）", "身份证号（脱敏）"],
        *[[f"G{i}", mask_id_card(x), mask_id_card(x)] for i, x in enumerate(ids)],
    ]
    load = load_table(write_csv(tmp_path / "名册.csv", rows), CADRES, id_secret=TEST_ID_SECRET)
    assert load.identity is None and load.rejects.empty
    assert load.frame[C.ID_MASKED].tolist() == [mask_id_card(x) for x in ids]
    old = catalog({})
    old = [[*old[0][:1], "课程代码（旧）", *old[0][1:]]]
    old += [[r[0], f"OLD{n}", *r[1:]] for n, r in enumerate(catalog({})[1:])]
    moved = [[r[1], r[0], *r[2:]] for r in old]  # the old code first
    for rows in (old, moved):
        load = load_table(write_csv(tmp_path / "课程.csv", rows), COURSES)
        assert load.frame[C.COURSE_ID].tolist() == ["QS001", "QS002", "QS003"]
        assert "忽略未知列：课程代码（旧）" in load.warnings


def test_aliases_are_per_table(tmp_path: Path) -> None:
    """类别 is a catalog's 课程类别 and a roster's 职位类别, with or without a hint."""
    for header in ("类别", "类别（必填）"):
        courses = load_table(
            write_csv(tmp_path / "课程.csv", catalog({C.CATEGORY: header})), COURSES
        )
        assert courses.frame[C.CATEGORY].iloc[0] == "党性教育"
        roster = [["干部编号", header], ["G1", "综合管理类"]]
        cadres = load_table(write_csv(tmp_path / "名册.csv", roster), CADRES)
        assert cadres.frame[C.POSITION_CATEGORY].tolist() == ["综合管理类"]


# --- 2. the missing-column message -------------------------------------------------------------


def test_missing_column_is_named_in_chinese_first(tmp_path: Path) -> None:
    rows = [catalog({C.COURSE_ID: "学时\n（小时）"})[0]]  # no 课程编号; wrapped header cells
    rows[0][3] = "备\n注"
    rows += [["x", "课", "党性教育", "", "王", ""]]
    with pytest.raises(MissingColumnError) as info:
        load_table(write_csv(tmp_path / "课程.csv", rows), COURSES)
    text = str(info.value)
    assert info.value.column == C.COURSE_ID
    assert "缺少必填列“课程编号”（也可写作：课程ID、课程代码；程序代码 course_id）" in text
    assert "\n" not in text and "备 注" in text
    assert text.count("course_id") == 1 and "'" not in text  # the code only beside its name


@pytest.mark.parametrize("spec", [CADRES, COMPLETIONS])
def test_missing_cadre_id_says_an_id_card_column_would_do(tmp_path: Path, spec) -> None:
    rows = [["姓名", "课程编号", "报名时间"], ["张三", "QS001", "2026-03-01"]]
    with pytest.raises(MissingColumnError) as info:
        load_table(write_csv(tmp_path / "表.csv", rows), spec)
    text = str(info.value)
    assert "缺少必填列“干部编号”（也可写作：" in text and "程序代码 cadre_id）" in text
    assert "没有干部编号时，有身份证号列（“身份证号”" in text
    # and it does: the same file with a 身份证号 column loads
    rows = [["身份证号", *rows[0]], [id_card(1), *rows[1]]]
    load = load_table(write_csv(tmp_path / "表.csv", rows), spec, id_secret=TEST_ID_SECRET)
    assert load.frame[C.CADRE_ID].str.startswith("pid_").all()


def test_missing_enrolled_at_says_a_completion_time_would_do(tmp_path: Path) -> None:
    rows = [["干部编号", "课程编号", "学时"], ["G1", "QS001", "2"]]
    with pytest.raises(MissingColumnError) as info:
        load_table(write_csv(tmp_path / "记录.csv", rows), COMPLETIONS)
    assert "缺少必填列“报名时间”" in str(info.value)
    assert "没有报名时间时，有“完成时间”列也可以" in str(info.value)


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_a_header_below_the_scanned_rows_is_said_to_be_missing(tmp_path: Path, suffix) -> None:
    preamble = [[f"第{i}段说明：本目录按中组部要求编制"] for i in range(HEADER_SCAN_ROWS + 2)]
    rows = [["青山县委党校2026年度干部教育培训课程目录"], *preamble, *catalog({})]
    write = write_xlsx if suffix == ".xlsx" else write_csv
    with pytest.raises(MissingColumnError) as info:
        load_table(write(tmp_path / f"课程目录{suffix}", rows), COURSES)
    text = str(info.value)
    assert f"前 {HEADER_SCAN_ROWS} 行中没有找到表头" in text
    assert "“课程编号”（course_id）" in text and "unnamed" not in text


def test_a_wrapped_header_is_shown_on_one_line(tmp_path: Path) -> None:
    rows = catalog({C.CREDIT_HOURS: "学时\n（小时）"})
    rows[2][3] = "待定"
    load = load_table(write_xlsx(tmp_path / "课程.xlsx", rows), COURSES)
    assert load.rejects["column"].tolist() == ["学时 （小时）"]
    report = format_load_report([load.summary()])
    assert not any("\n" in line for line in report)
    assert "列“学时 （小时）”不是数字（not_a_number），例：第 3 行" in report[1]


# --- 3. warnings name columns as the file does -------------------------------------------------


def test_warnings_do_not_show_internal_names(tmp_path: Path) -> None:
    rows = catalog({})
    rows[0] += ["课时", "", "备注"]  # 课时 repeats 学时; a column without a header
    rows[1:] = [[*r, "9", "x", ""] for r in rows[1:]]
    load = load_table(write_csv(tmp_path / "课程.csv", rows), COURSES)
    text = "\n".join(load.warnings)
    assert "列“课时”与“学时”重复（都表示学时），只读取前者“学时”" in text
    assert "忽略未知列：课时、第 8 列（无表头）" in text
    assert "credit_hours" not in text and "unnamed" not in text


# --- 4. a platform export: header on every page, a footer --------------------------------------


def export_rows() -> list[list[str]]:
    header = ["身份证号", "姓名", "课程编号", "学时", "完成时间", "学习进度"]
    page = [
        [id_card(i), f"学员{i}", "QS001", "2", f"2026-03-{i:02d} 10:00", "100%"] for i in (1, 2)
    ]
    page2 = [[id_card(3), "学员3", "QS002", "3", "2026-04-01 10:00", "100%"]]
    footer = [["合计", "", "", "7", "", ""], ["导出时间：2026-11-30 17:02:11"], ["导出人：admin"]]
    return [header, *page, header, *page2, *footer]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_repeated_header_and_export_footer_are_skipped(tmp_path: Path, suffix: str) -> None:
    write = write_xlsx if suffix == ".xlsx" else write_csv
    path = write(tmp_path / f"学时记录{suffix}", export_rows())
    load = load_table(path, COMPLETIONS, id_secret=TEST_ID_SECRET)
    assert len(load.frame) == 3 and load.rows_in == 3 and load.problems().empty
    assert load.skipped["header_lines"] == 1 and load.skipped["note_lines"] == 2
    assert [w for w in load.warnings if "重复的表头" in w] == [
        "跳过 1 行重复的表头（第 4 行，多为分页导出时每页都带表头），不计入数据"
    ]
    report = "\n".join(format_load_report([load.summary()]))
    assert "另跳过（不计入读入行数）：合计行 1 行、注释/说明行 2 行、重复的表头行 1 行" in report


def test_a_data_row_naming_one_header_is_still_data(tmp_path: Path) -> None:
    """A course titled 课程名称 is a course: only a row of headers is a header."""
    rows = catalog({})
    rows.append(["QS004", "课程名称", "业务知识", "2", "赵老师", ""])
    load = load_table(write_csv(tmp_path / "课程.csv", rows), COURSES)
    assert len(load.frame) == 4 and not load.skipped.get("header_lines")


# --- 5. the rejects file is for people ---------------------------------------------------------


def test_rejects_file_has_chinese_headers_and_actions(tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "rejects"
    data.mkdir()
    rows = catalog({})
    rows[2][3] = "待定"
    write_csv(data / "课程.csv", rows)
    write_csv(data / "干部.csv", [["干部编号", "姓名"], ["G1", "张三"]])
    write_csv(
        data / "学习记录.csv", [["干部编号", "课程编号", "报名时间"], ["G1", "QS001", "2026-03-01"]]
    )
    load_dataset(data, rejects_dir=out)
    written = pd.read_csv(out / "courses.rejects.csv", dtype=str, encoding="utf-8-sig")
    assert list(written.columns) == [
        "文件",
        "行号",
        "列",
        "原值",
        "原因",
        "原因代码",
        "处理",
        "字段代码",
    ]
    line = written.iloc[0]
    assert (line["行号"], line["列"], line["原值"], line["处理"]) == (
        "3",
        "学时",
        "待定",
        "拒收该行",
    )
    assert line["原因"] == "不是数字：'待定'" and line["原因代码"] == "not_a_number"
