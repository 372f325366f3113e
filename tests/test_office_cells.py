"""学时 and 开课时间 cells as county party schools write them (red-team findings).

A 学时 of 1天半, 三学时, 2学分, 1小时30分钟 or 3学时（半天） is read (a written number wins over a
duration beside it); an 开课时间 written as a range (3月5日-3月7日), with a time range, a weekday,
上午/下午/晚上 or without a year gives the session's start and end. What still cannot be read is
cleared with a reason naming the row and the column, as before.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from recommender.data import cells
from recommender.data.loading import load_table
from recommender.data.rules import load_rules
from recommender.data.schema import COURSES
from recommender.data.schema import Columns as C


def catalog(tmp_path: Path, column: str, values: list[str], extra: str = "") -> Path:
    """A catalog CSV whose courses K1, K2 … carry ``values`` in ``column``."""
    head = f"课程编号,课程名称,课程类别,{column}{',' + extra if extra else ''}"
    if column != "学时":
        head = head.replace("课程类别,", "课程类别,学时,")
    lines = [head]
    for i, v in enumerate(values, 1):
        hours = "" if column == "学时" else "2,"
        lines.append(f'K{i},课程{i},政治理论,{hours}"{v}"')
    path = tmp_path / "courses.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- 学时 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "hours"),
    [
        ("3学时（半天）", 3.0),  # the written number wins, in front of the brackets too
        ("半天（4学时）", 4.0),
        ("1.5学时（90分钟）", 1.5),
        ("4课时(180分钟)", 4.0),
        ("1天半", 9.0),  # a day and a half day: 6 + 3
        ("一天半", 9.0),
        ("两天半", 15.0),
        ("三学时", 3.0),
        ("十二学时", 12.0),
        ("两课时", 2.0),
        ("半学时", 0.5),
        ("1小时30分钟", 2.0),  # 90 minutes, as 90分钟
        ("2学分", 2.0),  # 学分 is read 1:1 as 学时, as a bare number under a 学分 header
        ("1.5 学分", 1.5),
        ("6（线上2+线下4）", 6.0),  # a written number and a remark
    ],
)
def test_hour_cells_offices_write(cell: str, hours: float) -> None:
    assert cells.parse_hours(cell) == hours


@pytest.mark.parametrize("cell", ["待定", "2学时/次", "3学时（4学时）", "天半", "1小时30", "三"])
def test_hour_cells_that_still_cannot_be_read(cell: str) -> None:
    with pytest.raises(ValueError):
        cells.parse_hours(cell)


def test_a_day_and_a_half_follows_the_rules_conversion() -> None:
    assert cells.parse_hours("1天半", (4.0, 8.0, 45.0)) == 12.0
    assert cells.parse_hours("1小时30分钟", (3.0, 6.0, 60.0)) == 1.5


def test_hour_spellings_are_accepted_in_a_catalog(tmp_path: Path) -> None:
    values = ["3学时（半天）", "1.5学时（90分钟）", "4课时(180分钟)", "1天半", "一天半", "三学时",
              "1小时30分钟", "2学分", "待定"]  # fmt: skip
    load = load_table(catalog(tmp_path, "学时", values), COURSES)
    rules = load_rules()
    day_and_half = rules.day_hours + rules.half_day_hours
    assert load.frame[C.CREDIT_HOURS].tolist() == [
        3.0, 1.5, 4.0, day_and_half, day_and_half, 3.0, 90 / rules.minutes_per_hour, 2.0
    ]  # fmt: skip
    assert load.rejects[["row", "column", "rule"]].values.tolist() == [[10, "学时", "not_a_number"]]


def test_a_credit_header_reads_a_written_credit_as_a_bare_number(tmp_path: Path) -> None:
    path = tmp_path / "courses.csv"
    path.write_text("课程编号,课程名称,课程类别,学分\nK1,a,b,2\nK2,c,d,2学分\n", encoding="utf-8")
    assert load_table(path, COURSES).frame[C.CREDIT_HOURS].tolist() == [2.0, 2.0]


# -- 开课时间 ---------------------------------------------------------------------------------


def at(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


FULL = (at("2026-03-05 08:00"), at("2026-03-07 18:00"))


@pytest.mark.parametrize(
    ("cell", "start", "end"),
    [
        ("2026年3月5日-3月7日", *FULL),
        ("2026年3月5日-7日", *FULL),
        ("2026.3.5-3.7", *FULL),
        ("2026-03-05 至 2026-03-07", *FULL),
        ("2026/3/5～2026/3/7", *FULL),
        ("2026年3月5日14:30-17:30", at("2026-03-05 14:30"), at("2026-03-05 17:30")),
        ("2026年3月5日（周四）", at("2026-03-05 08:00"), at("2026-03-05 18:00")),
        ("2026年3月5日 星期四", at("2026-03-05 08:00"), at("2026-03-05 18:00")),
        ("2026年3月5日上午", at("2026-03-05 08:00"), at("2026-03-05 12:00")),
        ("2026年3月5日下午", at("2026-03-05 14:00"), at("2026-03-05 18:00")),
        ("2026年3月5日晚上", at("2026-03-05 18:00"), at("2026-03-05 21:00")),
        ("2026年3月5日9:30", at("2026-03-05 09:30"), pd.NaT),
        ("2026年3月5日 下午2:30", at("2026-03-05 14:30"), pd.NaT),
        ("2026年3月5日下午2:30-5:00", at("2026-03-05 14:30"), at("2026-03-05 17:00")),
        ("2026年3月5日上午-3月6日下午", at("2026-03-05 08:00"), at("2026-03-06 18:00")),
        ("2026年12月30日-1月2日", at("2026-12-30 08:00"), at("2027-01-02 18:00")),
        ("3月5日-3月7日", *FULL),  # the catalog's year, from the other dated sessions
        ("3月5日", at("2026-03-05 08:00"), at("2026-03-05 18:00")),
        ("20260305", at("2026-03-05 08:00"), at("2026-03-05 18:00")),  # a date only, too
        ("46086", at("2026-03-05 08:00"), at("2026-03-05 18:00")),  # a date cell as a number
    ],
)
def test_session_cells_offices_write(tmp_path: Path, cell: str, start, end) -> None:
    load = load_table(catalog(tmp_path, "开课时间", [cell, "2026-04-01"]), COURSES)
    row = load.frame.iloc[0]
    assert (row[C.SESSION_START], row[C.SESSION_END]) == (start, end) or (
        row[C.SESSION_START] == start and pd.isna(end) and pd.isna(row[C.SESSION_END])
    )
    assert load.cleared.empty


def test_a_range_keeps_the_end_the_table_gives(tmp_path: Path) -> None:
    path = catalog(tmp_path, "开课时间", ["2026年3月5日-3月7日", "3月5日-3月7日"], "结课时间")
    path.write_text(
        path.read_text(encoding="utf-8").replace('"\n', '",2026-03-06 17:00\n', 1), "utf-8"
    )
    frame = load_table(path, COURSES).frame
    assert frame[C.SESSION_END].tolist() == [at("2026-03-06 17:00"), at("2026-03-07 18:00")]


def test_a_date_without_a_year_takes_the_catalogs_year_and_says_so(tmp_path: Path) -> None:
    values = ["3月5日", "2027年4月1日", "2027-05-01", "2026-09-01"]
    load = load_table(catalog(tmp_path, "开课时间", values), COURSES)
    assert load.frame[C.SESSION_START].iloc[0] == at("2027-03-05 08:00")
    assert any("没有年份" in w and "2027" in w for w in load.warnings), load.warnings


def test_a_date_without_a_year_in_a_catalog_without_years_takes_this_year(tmp_path: Path) -> None:
    load = load_table(catalog(tmp_path, "开课时间", ["3月5日", "待定"]), COURSES)
    this_year = dt.date.today().year
    assert load.frame[C.SESSION_START].iloc[0] == pd.Timestamp(this_year, 3, 5, 8)
    assert any("没有年份" in w and "今年" in w for w in load.warnings), load.warnings


def test_session_cells_follow_the_rules_day(tmp_path: Path, monkeypatch) -> None:
    from recommender.data.rules import rules_path

    text = rules_path().read_text(encoding="utf-8")
    assert "day_start_hour = 8.0" in text and "evening_start_hour = 18.0" in text
    text = text.replace("day_start_hour = 8.0", "day_start_hour = 8.5").replace(
        "evening_start_hour = 18.0", "evening_start_hour = 17.5"
    )
    (tmp_path / "rules.toml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("XUANXUE_RULES", str(tmp_path / "rules.toml"))
    load = load_table(
        catalog(tmp_path, "开课时间", ["2026年3月5日-7日", "2026年3月5日下午"]), COURSES
    )
    assert load.frame[C.SESSION_START].tolist() == [at("2026-03-05 08:30"), at("2026-03-05 14:00")]
    assert load.frame[C.SESSION_END].tolist() == [at("2026-03-07 17:30"), at("2026-03-05 17:30")]


@pytest.mark.parametrize(
    ("cell", "rule"),
    [
        ("2026年2月30日-3月2日", "bad_datetime"),  # no such day
        ("2026年3月7日-3月5日", "bad_datetime"),  # ends before it starts
        ("2026年3月5日25:00", "bad_datetime"),
        ("3月上旬", "unscheduled"),
        ("2026.03", "unscheduled"),  # a month, not a day
        ("每周三", "unscheduled"),
        ("明天", "bad_datetime"),
    ],
)
def test_session_cells_that_cannot_be_read_are_cleared_with_row_and_column(
    tmp_path: Path, cell: str, rule: str
) -> None:
    load = load_table(catalog(tmp_path, "开课时间", ["2026-04-01", cell]), COURSES)
    assert pd.isna(load.frame[C.SESSION_START].iloc[1]) and len(load.frame) == 2
    assert load.cleared[["row", "column", "value", "rule"]].values.tolist() == [
        [3, "开课时间", cell, rule]
    ]


def test_instants_in_any_datetime_column() -> None:
    assert cells.parse_datetime("2026年3月5日9:30") == dt.datetime(2026, 3, 5, 9, 30)
    assert cells.parse_datetime("2026年3月5日 下午2:30") == dt.datetime(2026, 3, 5, 14, 30)
    assert cells.parse_datetime("2026年3月5日晚上7:00") == dt.datetime(2026, 3, 5, 19, 0)
    assert cells.parse_datetime("2026年3月5日 上午9:30") == dt.datetime(2026, 3, 5, 9, 30)
    with pytest.raises(ValueError):
        cells.parse_datetime("2026年3月5日上午")  # a part of a day is no instant


# -- text typed with Alt+Enter ----------------------------------------------------------------


def test_one_line_fields_lose_the_line_breaks_typed_in_them() -> None:
    col = pd.Series(
        ["党章党规\n学习", "王建国\n（县委党校副教授）", "AI\n赋能 基层治理", "数字  政府",
         "中国共产党历史专题\r\n——专题辅导", "平常的课程", "党\n校\n干\n部", "王\u3000芳", ""],
        dtype=str,
    )  # fmt: skip
    assert cells.single_line(col).tolist() == [
        "党章党规学习", "王建国（县委党校副教授）", "AI 赋能 基层治理", "数字 政府",
        "中国共产党历史专题——专题辅导", "平常的课程", "党校干部", "王芳", "",
    ]  # fmt: skip
    clean = pd.Series(["平常的课程"] * 3, dtype=str)
    assert cells.single_line(clean) is clean  # nothing to do: the column itself


def test_a_title_typed_with_alt_enter_loads_as_one_line_and_a_description_keeps_its_lines(
    tmp_path,
):
    from recommender.data.loading import validate_frame
    from recommender.data.readers import read_table
    from recommender.data.schema import COURSES

    path = tmp_path / "课程.csv"
    path.write_text(
        "课程编号,课程名称,课程类别,学时,课程简介\n"
        'K1,"党章党规\n学习",党性 教育,2,"第一行\n第二行"\n',
        encoding="utf-8",
    )
    table = read_table(path, COURSES)
    loaded = validate_frame(table.frame, COURSES, path=path, table=table)
    row = loaded.frame.iloc[0]
    assert row[C.TITLE] == "党章党规学习" and row[C.CATEGORY] == "党性 教育"
    assert row[C.DESCRIPTION] == "第一行\n第二行"
