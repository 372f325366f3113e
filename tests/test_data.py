"""Data contract loading: encodings, formats, header aliases, rejects with exact reasons."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender.data.loading import (
    DataError,
    MissingColumnError,
    TableLoad,
    UnreadableFileError,
    find_table_file,
    fingerprint,
    load_dataset,
    load_table,
    read_raw,
    split_list,
    validate_frame,
)
from recommender.data.schema import CADRES, COMPLETIONS, COURSES, TABLES
from recommender.data.schema import Columns as C


def courses_raw() -> pd.DataFrame:
    return pd.DataFrame(
        {
            C.COURSE_ID: ["C1", "C2", "C3"],
            C.TITLE: ["习近平新时代中国特色社会主义思想", "乡村振兴战略", "应急管理实务"],
            C.DESCRIPTION: ["深入学习", "", "突发事件应对"],
            C.CATEGORY: ["政治理论", "乡村振兴", "应急管理"],
            C.TAGS: ["理论|思想", "乡村振兴；基层治理", ""],
            C.CREDIT_HOURS: ["2", "1.5", "32"],
            C.FORMAT: ["video", "micro", "special_class"],
            C.COMPULSORY: ["true", "false", "false"],
            C.SESSION_START: ["", "", "2025-03-01 09:00:00"],
            C.SESSION_END: ["", "", "2025-03-05 17:00:00"],
            C.CAPACITY: ["", "", "40"],
            C.PREREQUISITES: ["", "C1", "C1|C2"],
            C.PUBLISHED_AT: ["2024-01-01", "2024-06-01", "2025-01-15"],
        }
    )


def cadres_raw() -> pd.DataFrame:
    return pd.DataFrame(
        {
            C.CADRE_ID: ["K1", "K2"],
            C.UNIT: ["某县农业农村局", "某市应急管理局"],
            C.UNIT_LEVEL: ["county", "city"],
            C.JOB_TITLE: ["科员", ""],
            C.JOB_DESCRIPTION: ["负责乡村振兴项目", ""],
            C.DECLARED_NEEDS: ["", ""],
            C.YEARS_IN_POST: ["3", ""],
            C.WEEKLY_HOURS_BUDGET: ["4", "2"],
        }
    )


def completions_raw() -> pd.DataFrame:
    return pd.DataFrame(
        {
            C.CADRE_ID: ["K1", "K1", "K2"],
            C.COURSE_ID: ["C1", "C2", "C3"],
            C.ENROLLED_AT: ["2025-01-02", "2025-01-03 08:00", "2025-02-01"],
            C.COMPLETED_AT: ["2025-01-05", "", ""],
            C.PROGRESS: ["1", "0.5", ""],
            C.RATING: ["5", "", ""],
            C.SOURCE: ["assigned", "self_selected", ""],
        }
    )


RAW = {"courses": courses_raw, "cadres": cadres_raw, "completions": completions_raw}


def write_csv(frame: pd.DataFrame, path: Path, encoding: str = "utf-8") -> Path:
    frame.to_csv(path, index=False, encoding=encoding)
    return path


def load_csv(tmp_path: Path, frame: pd.DataFrame, spec=COURSES, **kw) -> TableLoad:
    return load_table(write_csv(frame, tmp_path / f"{spec.name}.csv"), spec, **kw)


def assert_invariant(load: TableLoad) -> None:
    assert load.rows_in == len(load.frame) + len(load.external) + load.rows_rejected


def reject_lines(load: TableLoad) -> list[tuple]:
    return list(
        load.rejects[["file", "row", "column", "reason"]].itertuples(index=False, name=None)
    )


# --- formats and encodings -------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_encodings_load_identically(tmp_path: Path, encoding: str) -> None:
    reference = load_table(write_csv(courses_raw(), tmp_path / "ref.csv"), COURSES)
    load = load_table(write_csv(courses_raw(), tmp_path / "x.csv", encoding), COURSES)
    pd.testing.assert_frame_equal(load.frame, reference.frame)
    assert load.rejects.empty and len(load.frame) == 3


@pytest.mark.parametrize("suffix", ["xlsx", "parquet"])
def test_xlsx_and_parquet_load_identically(tmp_path: Path, suffix: str) -> None:
    reference = load_table(write_csv(courses_raw(), tmp_path / "ref.csv"), COURSES)
    path = tmp_path / f"courses.{suffix}"
    getattr(courses_raw(), f"to_{'excel' if suffix == 'xlsx' else suffix}")(path, index=False)
    pd.testing.assert_frame_equal(load_table(path, COURSES).frame, reference.frame)


@pytest.mark.parametrize("suffix", ["xlsx", "parquet"])
def test_native_numbers_dates_and_bools_become_contract_values(tmp_path: Path, suffix) -> None:
    reference = load_table(write_csv(courses_raw(), tmp_path / "ref.csv"), COURSES)
    native = courses_raw().assign(
        credit_hours=[2.0, 1.5, 32.0],
        compulsory=[True, False, False],
        capacity=[np.nan, np.nan, 40.0],
        published_at=pd.to_datetime(["2024-01-01", "2024-06-01", "2025-01-15"]),
        session_start=[None, None, dt.datetime(2025, 3, 1, 9)],
    )
    path = tmp_path / f"courses.{suffix}"
    if suffix == "xlsx":
        native.to_excel(path, index=False)
    else:
        native.to_parquet(path, index=False)
    assert read_raw(path)[C.CREDIT_HOURS].tolist() == ["2", "1.5", "32"]
    pd.testing.assert_frame_equal(load_table(path, COURSES).frame, reference.frame)


def test_output_dtypes_and_defaults(tmp_path: Path) -> None:
    frame = load_csv(tmp_path, courses_raw()).frame
    assert list(frame.columns) == COURSES.columns
    assert list(frame.index) == [0, 1, 2]
    assert frame[C.CREDIT_HOURS].dtype == np.float64
    assert frame[C.CAPACITY].dtype == "Int64"
    assert frame[C.COMPULSORY].dtype == bool
    assert frame[C.SESSION_START].dtype == "datetime64[ns]"
    assert frame[C.ACTIVE].tolist() == [True, True, True]  # absent column → Field.default
    assert frame[C.METHOD].tolist() == ["", "", ""]  # optional enum, missing
    assert frame[C.INSTRUCTOR].tolist() == ["", "", ""]
    assert frame[C.CAPACITY].isna().tolist() == [True, True, False]
    assert frame[C.SESSION_END].iloc[2] == pd.Timestamp("2025-03-05 17:00")
    done = load_table(write_csv(completions_raw(), tmp_path / "completions.csv"), COMPLETIONS).frame
    assert done[C.PROGRESS].tolist() == [1.0, 0.5, 0.0]  # Field.default fills the empty one
    assert done[C.RATING].dtype == "Int64"


# --- headers -----------------------------------------------------------------------------------

ALIASES = [
    (spec.name, f.name, alias)
    for spec in TABLES.values()
    for f in spec.fields
    for alias in f.aliases
]


@pytest.mark.parametrize(("table", "column", "alias"), ALIASES)
def test_every_header_alias_maps_to_its_column(tmp_path: Path, table, column, alias) -> None:
    raw = RAW[table]()
    raw[column] = raw.get(column, "x")
    path = write_csv(raw.rename(columns={column: alias}), tmp_path / f"{table}.csv")
    got = read_raw(path, TABLES[table])
    assert list(got.columns) == list(raw.columns)
    assert got[column].tolist() == raw[column].tolist()


@pytest.mark.parametrize("table", sorted(TABLES))
def test_all_alias_headers_load_like_canonical_ones(tmp_path: Path, table: str) -> None:
    spec = TABLES[table]
    reference = load_table(write_csv(RAW[table](), tmp_path / "ref.csv"), spec).frame
    for k in range(max(len(f.aliases) for f in spec.fields)):
        renames = {f.name: f.aliases[k] for f in spec.fields if len(f.aliases) > k}
        path = write_csv(RAW[table]().rename(columns=renames), tmp_path / f"alias{k}.csv")
        load = load_table(path, spec)
        assert load.warnings == [], renames
        pd.testing.assert_frame_equal(load.frame, reference)


def test_headers_are_nfkc_normalised_and_case_insensitive(tmp_path: Path) -> None:
    raw = courses_raw().rename(
        columns={C.COURSE_ID: " Course ID ", C.TITLE: "TITLE", C.CATEGORY: "\ufeff类别\u3000"}
    )
    raw = raw.rename(columns={C.CREDIT_HOURS: "学时＊"})
    load = load_csv(tmp_path, raw)
    assert len(load.frame) == 3 and load.frame[C.COURSE_ID].tolist() == ["C1", "C2", "C3"]


def test_unknown_columns_are_a_warning(tmp_path: Path) -> None:
    load = load_csv(tmp_path, courses_raw().assign(备注=["a", "b", "c"]))
    assert len(load.frame) == 3
    assert load.warnings == ["忽略未知列：备注"]


def test_missing_required_column_names_file_and_column(tmp_path: Path) -> None:
    with pytest.raises(MissingColumnError) as info:
        load_csv(tmp_path, courses_raw().drop(columns=[C.CREDIT_HOURS]))
    err = info.value
    assert err.column == C.CREDIT_HOURS and err.path.name == "courses.csv"
    assert "courses.csv" in str(err) and "title" in str(err)  # the file's own headers
    text = str(err)
    assert "缺少必填列“学时”（也可写作：课程学时、学分" in text
    assert "程序代码 credit_hours）" in text


# --- rejects -----------------------------------------------------------------------------------


def test_duplicate_id_keeps_first(tmp_path: Path) -> None:
    raw = courses_raw()
    raw.loc[2, C.COURSE_ID] = "C2"
    load = load_csv(tmp_path, raw)
    assert reject_lines(load) == [
        ("courses.csv", 4, C.COURSE_ID, "重复的course_id 'C2'（首次出现在第 3 行）")
    ]
    assert load.frame[C.TITLE].tolist() == ["习近平新时代中国特色社会主义思想", "乡村振兴战略"]
    assert_invariant(load)


def test_unknown_course_and_cadre_in_completions(tmp_path: Path) -> None:
    raw = completions_raw()
    raw.loc[0, C.COURSE_ID] = "C999"
    raw.loc[2, C.CADRE_ID] = "K9"
    known = {C.CADRE_ID: {"K1", "K2"}, C.COURSE_ID: {"C1", "C2", "C3"}}
    load = load_csv(tmp_path, raw, COMPLETIONS, known_ids=known)
    assert reject_lines(load) == [
        ("completions.csv", 2, C.COURSE_ID, "course_id 'C999' 不在课程表中"),
        ("completions.csv", 4, C.CADRE_ID, "cadre_id 'K9' 不在干部表中"),
    ]
    assert load.frame[C.COURSE_ID].tolist() == ["C2"]
    assert_invariant(load)


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        (C.CREDIT_HOURS, "-2", "应大于 0，实为 -2"),
        (C.CREDIT_HOURS, "0", "应大于 0，实为 0"),
        (C.CREDIT_HOURS, "abc", "不是数字：'abc'"),
        (C.CREDIT_HOURS, "", "必填项为空"),
        (C.TITLE, "  ", "必填项为空"),
    ],
)
def test_bad_required_value_rejects_its_row(tmp_path: Path, column, value, reason) -> None:
    raw = courses_raw()
    raw.loc[2, column] = value
    load = load_csv(tmp_path, raw)
    assert reject_lines(load) == [("courses.csv", 4, column, reason)]
    assert load.rejects["value"].tolist() == [value.strip()]
    assert load.rejects["action"].tolist() == ["row_rejected"]
    assert load.frame[C.COURSE_ID].tolist() == ["C1", "C2"]
    assert load.cleared.empty
    assert_invariant(load)


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        (C.CAPACITY, "2.5", "不是整数：'2.5'"),
        (C.CAPACITY, "1e19", "应不大于 1,000,000，实为 1e+19"),
        (C.PUBLISHED_AT, "2025-13-45", "无法识别的日期时间：'2025-13-45'"),
        (C.PUBLISHED_AT, "下周", "无法识别的日期时间：'下周'"),
        (C.FORMAT, "tv", "不是可选值（视频|微课|图文|直播|面授|专题班）之一：'tv'"),
        (C.COMPULSORY, "maybe", "不是“是/否”值：'maybe'"),
        (C.SESSION_END, "2025-02-28", "结束时间早于开始时间（2025-03-01 09:00:00）"),
    ],
)
def test_bad_optional_value_is_cleared_and_the_row_kept(tmp_path: Path, column, value, reason):
    raw = courses_raw()
    raw.loc[2, column] = value
    load = load_csv(tmp_path, raw)
    assert load.rejects.empty and load.frame[C.COURSE_ID].tolist() == ["C1", "C2", "C3"]
    assert list(load.cleared[["file", "row", "column", "rule"]].itertuples(index=False)) == [
        ("courses.csv", 4, column, load.cleared["rule"].iloc[0])
    ]
    assert load.cleared["reason"].tolist() == [f"{reason}；已按空值处理，保留该行"]
    assert load.cleared["action"].tolist() == ["cell_cleared"]
    default = COURSES.field(column).default
    got = load.frame.loc[2, column]
    assert (got == default) if default is not None else (pd.isna(got) or got == "")
    assert any(f"列“{column}”有 1 格无效" in w for w in load.warnings) or column == C.SESSION_END
    assert_invariant(load)


def test_several_problems_in_one_row_count_once(tmp_path: Path) -> None:
    raw = courses_raw()
    raw.loc[0, [C.CREDIT_HOURS, C.CATEGORY, C.FORMAT]] = ["abc", "", "tv"]
    load = load_csv(tmp_path, raw)
    assert len(load.rejects) == 2 and load.rows_rejected == 1 and len(load.cleared) == 1
    assert len(load.problems()) == 3
    assert_invariant(load)


def test_rejects_are_written_and_stale_ones_removed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    courses = courses_raw()
    courses.loc[1, C.CREDIT_HOURS] = "abc"
    write_csv(courses, data / "courses.csv")
    write_csv(cadres_raw(), data / "cadres.csv")
    write_csv(completions_raw(), data / "completions.csv")
    ds = load_dataset(data)
    written = pd.read_csv(data / "courses.rejects.csv", dtype=str, encoding="utf-8")
    assert (data / "courses.rejects.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert written.columns[0] == "文件"  # the BOM is not part of the first header
    assert written["原因"].tolist() == ["不是数字：'abc'"]
    assert written["原因代码"].tolist() == ["not_a_number"]
    # the completion of the rejected course C2 is rejected in turn, saying why
    assert ds.loads["completions"].rejects["reason"].tolist() == [
        "course_id 'C2' 不在课程表中（该行在加载时被拒收：courses.csv 第 3 行："
        "列“credit_hours”不是数字：'abc'）"
    ]
    assert ds.rejected_ids() == {
        C.COURSE_ID: {"C2": "courses.csv 第 3 行：列“credit_hours”不是数字：'abc'"}
    }
    assert not (data / "cadres.rejects.csv").exists()
    write_csv(courses_raw(), data / "courses.csv")
    load_dataset(data)
    assert not (data / "courses.rejects.csv").exists()


def test_dataset_summary_reasons_and_warnings(tmp_path: Path) -> None:
    for name, make in RAW.items():
        write_csv(make(), tmp_path / f"{name}.csv")
    out = tmp_path / "rejects"
    raw = completions_raw()
    raw.loc[1, C.PROGRESS] = "7"
    write_csv(raw, tmp_path / "completions.csv")
    ds = load_dataset(tmp_path, rejects_dir=out)
    summary = ds.summary()
    assert summary[["table", "rows_in", "accepted", "rejected"]].values.tolist() == [
        ["courses", 3, 3, 0],
        ["cadres", 2, 2, 0],
        ["completions", 3, 3, 0],  # an optional progress of 7 is cleared, the row kept
    ]
    reasons = ds.rejects_by_reason()
    assert reasons[["table", "column", "rule", "action", "rows"]].values.tolist() == [
        ["completions", C.PROGRESS, "out_of_range", "cell_cleared", 1]
    ]
    assert reasons["example"].tolist() == ["应不大于 1，实为 7；已按空值处理，保留该行"]
    assert ds.completions[C.PROGRESS].tolist() == [1.0, 0.0, 0.0]  # cleared → the default
    assert (out / "completions.rejects.csv").exists()
    assert any("1 名干部画像为空" in w and "K2" in w for w in ds.warnings)
    assert any("1 门课程没有简介：C2" in w for w in ds.warnings)
    assert len(ds.completions) == 3 and ds.courses is ds.loads["courses"].frame
    lines = ds.report_lines()
    assert lines[2] == "学习记录表 completions.csv：读入 3 行，接受 3 行，拒收 0 行，清空 1 格"
    assert "清空该格 1 格：列“progress”超出范围（out_of_range），例：第 3 行" in lines[3]


# --- edge cases of files and values ------------------------------------------------------------


def test_zero_byte_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "courses.csv"
    path.write_bytes(b"")
    with pytest.raises(UnreadableFileError, match=r"courses\.csv.*文件为空") as info:
        load_table(path, COURSES)
    assert info.value.path == path


def test_header_only_file_is_valid_with_no_rows(tmp_path: Path) -> None:
    load = load_csv(tmp_path, courses_raw().iloc[:0])
    assert load.rows_in == 0 and load.frame.empty and list(load.frame.columns) == COURSES.columns
    assert load.frame[C.CREDIT_HOURS].dtype == np.float64


@pytest.mark.parametrize(
    ("name", "content"),
    [("courses.xlsx", b"not a zip"), ("courses.parquet", b"PAR1garbage"), ("courses.txt", b"a")],
)
def test_corrupt_or_unsupported_files_are_unreadable(tmp_path: Path, name, content) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(UnreadableFileError, match=name):
        load_table(tmp_path / name, COURSES)


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError, match=r"nope\.csv：文件不存在"):
        load_table(tmp_path / "nope.csv", COURSES)


def test_undecodable_bytes_fall_back_to_detection(tmp_path: Path) -> None:
    path = tmp_path / "courses.csv"
    text = courses_raw().to_csv(index=False)
    path.write_bytes(text.encode("utf-16"))
    assert len(load_table(path, COURSES).frame) == 3


def test_megabyte_text_cell_loads_with_warning(tmp_path: Path) -> None:
    raw = courses_raw()
    raw.loc[1, C.DESCRIPTION] = "乡村振兴" * 262_144  # 1 Mi characters
    load = load_csv(tmp_path, raw)
    assert len(load.frame.loc[1, C.DESCRIPTION]) == 1_048_576
    assert any("列“description”第 3 行文本很长" in w for w in load.warnings)


def test_emoji_traditional_and_full_width_text_is_kept_verbatim(tmp_path: Path) -> None:
    raw = courses_raw()
    text = "鄉村振興👨‍👩‍👧 ＡＢＣ１２３"
    raw.loc[0, C.TITLE] = f"\u200b  {text}\u3000"
    assert load_csv(tmp_path, raw).frame.loc[0, C.TITLE] == text


@pytest.mark.parametrize(
    ("value", "expected"), [("３２", 32.0), ("32.0", 32.0), ("1，2", None), ("1,2", None)]
)
def test_full_width_digits_and_grouping(tmp_path: Path, value: str, expected) -> None:
    raw = courses_raw()
    raw.loc[0, C.CREDIT_HOURS] = value
    load = load_csv(tmp_path, raw)
    if expected is None:
        assert load.rejects["reason"].tolist() == [f"不是数字：{value!r}"]
    else:
        assert load.frame.loc[0, C.CREDIT_HOURS] == expected


def test_thousands_separator_is_accepted(tmp_path: Path) -> None:
    raw = cadres_raw()
    raw.loc[0, C.YEARS_IN_POST] = "１２"
    raw[C.ANNUAL_HOURS_TARGET] = ["1,000", "90"]
    frame = load_csv(tmp_path, raw, CADRES).frame
    assert frame[C.ANNUAL_HOURS_TARGET].tolist() == [1000.0, 90.0]
    assert frame[C.YEARS_IN_POST].iloc[0] == 12.0


def test_chinese_enum_and_bool_values(tmp_path: Path) -> None:
    raw = courses_raw()
    raw[C.FORMAT] = ["视频", "面授", "专题班"]
    raw[C.METHOD] = ["讲授", "案例", "体验"]
    raw[C.COMPULSORY] = ["必修", "选修", "否"]
    raw[C.ACTIVE] = ["是", "√", "N"]
    frame = load_csv(tmp_path, raw).frame
    assert frame[C.FORMAT].tolist() == ["video", "face_to_face", "special_class"]
    assert frame[C.METHOD].tolist() == ["lecture", "case", "experiential"]
    assert frame[C.COMPULSORY].tolist() == [True, False, False]
    assert frame[C.ACTIVE].tolist() == [True, True, False]
    cadres = cadres_raw().assign(unit_level=["乡镇", "省级"])
    assert load_csv(tmp_path, cadres, CADRES).frame[C.UNIT_LEVEL].tolist() == [
        "township",
        "province",
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025/03/01", "2025-03-01"),
        ("2025年3月1日", "2025-03-01"),
        ("2025年3月1日 14:30", "2025-03-01 14:30"),
        ("2025-03-01T14:30:05", "2025-03-01 14:30:05"),
        ("2025.3.1", "2025-03-01"),
        ("20250301", "2025-03-01"),
        ("45717", "2025-03-01"),
        ("45717.5", "2025-03-01 12:00"),
        ("NULL", None),
    ],
)
def test_datetime_forms(tmp_path: Path, value: str, expected) -> None:
    raw = courses_raw()
    raw.loc[0, C.PUBLISHED_AT] = value
    got = load_csv(tmp_path, raw).frame.loc[0, C.PUBLISHED_AT]
    assert (got is pd.NaT) if expected is None else got == pd.Timestamp(expected)


def test_blank_rows_are_skipped_and_numbering_kept(tmp_path: Path) -> None:
    path = tmp_path / "courses.csv"
    text = courses_raw().to_csv(index=False).splitlines()
    text[2:2] = ["", ",,,,,,,,,,,,"]
    bad = text[4].replace(",1.5,", ",abc,")
    text[4] = bad
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    load = load_table(path, COURSES)
    assert reject_lines(load) == [("courses.csv", 5, C.CREDIT_HOURS, "不是数字：'abc'")]
    assert load.rows_in == 3 and "跳过 2 行空行" in load.warnings


# --- helpers -----------------------------------------------------------------------------------


def test_split_list() -> None:
    assert split_list("理论|思想；基层治理, 应急 、") == ["理论", "思想", "基层治理", "应急"]
    assert split_list("") == [] and split_list(None) == []  # type: ignore[arg-type]


def test_find_table_file_and_fingerprint(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError, match="no courses table"):
        find_table_file(tmp_path, "courses")
    path = write_csv(courses_raw(), tmp_path / "courses.csv")
    assert find_table_file(tmp_path, "courses") == path
    fp = fingerprint(path)
    assert fp["rows"] == 3 and len(fp["sha256"]) == 64
    courses_raw().to_parquet(tmp_path / "courses.parquet")
    with pytest.raises(DataError, match="several courses tables"):
        find_table_file(tmp_path, "courses")


# --- property: nothing is lost, garbage never crashes -----------------------------------------

CELL = st.one_of(
    st.sampled_from(["", "1", "-1", "32.0", "abc", "是", "视频", "2025-01-01", "C1", "K1"]),
    st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=8),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    table=st.sampled_from(sorted(TABLES)),
    cells=st.lists(st.lists(CELL, min_size=22, max_size=22), min_size=0, max_size=6),
)
def test_rows_in_invariant_under_garbage(table: str, cells: list[list[str]]) -> None:
    spec = TABLES[table]
    raw = pd.DataFrame([row[: len(spec.columns)] for row in cells], columns=spec.columns)
    known = {C.CADRE_ID: {"K1"}, C.COURSE_ID: {"C1"}} if table == "completions" else None
    in_memory = validate_frame(raw.astype(str), spec, known_ids=known)
    assert_invariant(in_memory)
    with tempfile.TemporaryDirectory() as tmp:
        load = load_table(write_csv(raw, Path(tmp) / "t.csv"), spec, known_ids=known)
    assert_invariant(load)
    assert list(load.frame.columns) == spec.columns
    assert set(load.rejects["row"]) <= set(range(2, len(raw) + 2))


def test_validate_frame_accepts_native_values_in_memory(tmp_path: Path) -> None:
    reference = load_csv(tmp_path, completions_raw(), COMPLETIONS).frame
    native = completions_raw().assign(
        progress=[1.0, 0.5, None],
        rating=[5, None, None],
        enrolled_at=pd.to_datetime(
            ["2025-01-02", "2025-01-03 08:00", "2025-02-01"], format="ISO8601"
        ),
    )
    pd.testing.assert_frame_equal(validate_frame(native, COMPLETIONS).frame, reference)


# --- hand-made academy exports -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2学时", 2.0), ("0.5学时", 0.5), ("50学时", 50.0), ("1.5 课时", 1.5), ("2小时", 2.0),
     ("３学时", 3.0), ("2 h", 2.0)],
)  # fmt: skip
def test_hours_with_units(tmp_path: Path, value: str, expected: float) -> None:
    raw = courses_raw()
    raw.loc[0, C.CREDIT_HOURS] = value
    load = load_csv(tmp_path, raw)
    assert load.rejects.empty and load.frame.loc[0, C.CREDIT_HOURS] == expected


def test_a_unit_of_another_column_is_not_a_number(tmp_path: Path) -> None:
    raw = courses_raw()
    raw.loc[0, C.CREDIT_HOURS] = "2人"
    assert load_csv(tmp_path, raw).rejects["rule"].tolist() == ["not_a_number"]


def test_more_chinese_values(tmp_path: Path) -> None:
    raw = courses_raw().assign(format=["网络课程", "线下", "直播课"])
    assert load_csv(tmp_path, raw).frame[C.FORMAT].tolist() == ["video", "face_to_face", "live"]
    cadres = cadres_raw().assign(unit_level=["县直", "街道"]).rename(columns={C.JOB_TITLE: "职务"})
    frame = load_csv(tmp_path, cadres, CADRES).frame
    assert frame[C.UNIT_LEVEL].tolist() == ["county", "township"]
    assert frame[C.JOB_TITLE].tolist() == ["科员", ""]


def test_ragged_csv_row_is_rejected_alone_and_numbering_kept(tmp_path: Path) -> None:
    lines = courses_raw().to_csv(index=False).splitlines()
    lines[2] += ",多出来的,两格"  # C2
    lines[3] += ",,"  # C3: trailing empty fields are harmless
    path = tmp_path / "courses.csv"
    path.write_text("\n".join(lines) + "\n", encoding="gbk")
    load = load_table(path, COURSES)
    assert reject_lines(load) == [
        ("courses.csv", 3, "(整行)", "该行有 15 个字段，多于表头的 13 列"
         "（文本中可能有未加引号的逗号或分隔符）")
    ]  # fmt: skip
    assert load.rejects["rule"].tolist() == ["ragged_row"]
    assert load.frame[C.COURSE_ID].tolist() == ["C1", "C3"]
    assert_invariant(load)


def test_title_rows_above_the_csv_header_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "courses.csv"
    body = courses_raw().rename(columns={C.CREDIT_HOURS: "学时"}).to_csv(index=False)
    path.write_text("2025年课程目录\n导出时间：2025-03-01\n" + body, encoding="utf-8")
    load = load_table(path, COURSES)
    assert len(load.frame) == 3 and load.rejects.empty
    assert "表头在第 3 行，跳过上方 2 行标题" in load.warnings
    raw = courses_raw().rename(columns={C.CREDIT_HOURS: "学时"})
    raw.loc[1, "学时"] = "abc"
    path.write_text("2025年课程目录\n" + raw.to_csv(index=False), encoding="utf-8")
    assert reject_lines(load_table(path, COURSES)) == [
        ("courses.csv", 4, "学时", "不是数字：'abc'")
    ]


def _xlsx(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def _rows(frame: pd.DataFrame) -> list[list[object]]:
    return [list(frame.columns), *frame.astype(object).values.tolist()]


def test_sheet_is_picked_by_its_columns_or_by_name(tmp_path: Path) -> None:
    path = _xlsx(
        tmp_path / "courses.xlsx",
        {"填表说明": [["请按模板填写"], ["学时填数字"]], "课程": [["标题"], *_rows(courses_raw())]},
    )
    load = load_table(path, COURSES)
    assert len(load.frame) == 3 and load.sheet == "课程"
    assert "读取工作表“课程”（跳过：填表说明）" in load.warnings
    with pytest.raises(MissingColumnError, match="course_id"):
        load_table(path, COURSES, sheet="填表说明")
    with pytest.raises(DataError, match="没有名为“课表”的工作表；现有工作表：填表说明、课程"):
        load_table(path, COURSES, sheet="课表")


def test_truncated_xlsx_names_the_file(tmp_path: Path) -> None:
    import zipfile

    good = _xlsx(tmp_path / "good.xlsx", {"课程": _rows(courses_raw())})
    bad = tmp_path / "courses.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.startswith("xl/worksheets/sheet"):
                data = data[:500]
            dst.writestr(info, data)
    with pytest.raises(UnreadableFileError, match=r"courses\.xlsx：.*已损坏") as info:
        load_table(bad, COURSES)
    assert info.value.path == bad


def test_row_cap_stops_a_big_sheet_with_a_clear_error(tmp_path: Path) -> None:
    many = pd.concat([courses_raw()] * 10, ignore_index=True)
    many[C.COURSE_ID] = [f"C{i}" for i in range(len(many))]
    path = _xlsx(tmp_path / "courses.xlsx", {"课程": _rows(many)})
    assert len(load_table(path, COURSES, max_rows=30).frame) == 30
    with pytest.raises(UnreadableFileError, match=r"courses\.xlsx：工作表“课程”超过行数上限 5 行"):
        load_table(path, COURSES, max_rows=5)


def test_unpacked_size_cap(tmp_path: Path) -> None:
    from recommender.data import sheets

    path = _xlsx(tmp_path / "courses.xlsx", {"课程": _rows(courses_raw())})
    with pytest.raises(
        UnreadableFileError, match=r"courses\.xlsx：工作簿解压后 .*字节，超过上限 1,000 字节"
    ):
        sheets.read_xlsx(path, COURSES, max_bytes=1000)


def test_xls_loads_like_csv(tmp_path: Path) -> None:
    xlwt = pytest.importorskip("xlwt")
    reference = load_table(write_csv(courses_raw(), tmp_path / "ref.csv"), COURSES)
    book = xlwt.Workbook()
    guide = book.add_sheet("填表说明")
    guide.write(0, 0, "说明")
    sheet = book.add_sheet("课程")
    sheet.write(0, 0, "2025年课程目录")
    for r, row in enumerate(_rows(courses_raw()), start=1):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    path = tmp_path / "courses.xls"
    book.save(str(path))
    load = load_table(path, COURSES)
    assert load.sheet == "课程"
    pd.testing.assert_frame_equal(load.frame, reference.frame)


def test_corrupt_xls_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "courses.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0 not really a workbook")
    with pytest.raises(UnreadableFileError, match=r"courses\.xls："):
        load_table(path, COURSES)


def test_table_files_by_chinese_stem_or_explicit_path(tmp_path: Path) -> None:
    write_csv(courses_raw(), tmp_path / "课程.csv")
    write_csv(cadres_raw(), tmp_path / "cadres.csv")
    other = tmp_path / "elsewhere"
    other.mkdir()
    path = write_csv(completions_raw(), other / "学习记录2025.csv")
    ds = load_dataset(tmp_path, files={"completions": path})
    assert ds.summary()["accepted"].tolist() == [3, 2, 3]
    with pytest.raises(UnreadableFileError, match="--completions"):
        load_dataset(tmp_path)
