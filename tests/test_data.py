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
    assert load.rows_in == len(load.frame) + load.rows_rejected


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
    assert load.warnings == ["ignored unknown columns: 备注"]


def test_missing_required_column_names_file_and_column(tmp_path: Path) -> None:
    with pytest.raises(MissingColumnError) as info:
        load_csv(tmp_path, courses_raw().drop(columns=[C.CREDIT_HOURS]))
    err = info.value
    assert err.column == C.CREDIT_HOURS and err.path.name == "courses.csv"
    assert "courses.csv" in str(err) and "'credit_hours'" in str(err) and "title" in str(err)


# --- rejects -----------------------------------------------------------------------------------


def test_duplicate_id_keeps_first(tmp_path: Path) -> None:
    raw = courses_raw()
    raw.loc[2, C.COURSE_ID] = "C2"
    load = load_csv(tmp_path, raw)
    assert reject_lines(load) == [
        ("courses.csv", 4, C.COURSE_ID, "duplicate course_id (first at row 3)")
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
        ("completions.csv", 2, C.COURSE_ID, "unknown course_id 'C999'"),
        ("completions.csv", 4, C.CADRE_ID, "unknown cadre_id 'K9'"),
    ]
    assert load.frame[C.COURSE_ID].tolist() == ["C2"]
    assert_invariant(load)


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        (C.CREDIT_HOURS, "-2", "must be > 0, got -2"),
        (C.CREDIT_HOURS, "0", "must be > 0, got 0"),
        (C.CREDIT_HOURS, "abc", "not a number: 'abc'"),
        (C.CREDIT_HOURS, "", "required value missing"),
        (C.TITLE, "  ", "required value missing"),
        (C.CAPACITY, "2.5", "not an integer: '2.5'"),
        (C.PUBLISHED_AT, "2025-13-45", "unparseable datetime: '2025-13-45'"),
        (C.PUBLISHED_AT, "下周", "unparseable datetime: '下周'"),
        (C.FORMAT, "tv", "not one of video|micro|article|live|face_to_face|special_class: 'tv'"),
        (C.COMPULSORY, "maybe", "not a yes/no value: 'maybe'"),
        (C.SESSION_END, "2025-02-28", "session_end before session_start (2025-03-01 09:00:00)"),
    ],
)
def test_bad_value_rejects_its_row(tmp_path: Path, column: str, value: str, reason: str) -> None:
    raw = courses_raw()
    raw.loc[2, column] = value
    load = load_csv(tmp_path, raw)
    assert reject_lines(load) == [("courses.csv", 4, column, reason)]
    assert load.rejects["value"].tolist() == [value.strip()]
    assert load.frame[C.COURSE_ID].tolist() == ["C1", "C2"]
    assert_invariant(load)


def test_several_problems_in_one_row_count_once(tmp_path: Path) -> None:
    raw = courses_raw()
    raw.loc[0, [C.CREDIT_HOURS, C.FORMAT]] = ["abc", "tv"]
    load = load_csv(tmp_path, raw)
    assert len(load.rejects) == 2 and load.rows_rejected == 1
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
    assert written.columns[0] == "file"  # the BOM is not part of the first header
    assert written["reason"].tolist() == ["not a number: 'abc'"]
    # the completion of the rejected course C2 is rejected in turn
    assert ds.loads["completions"].rejects["reason"].tolist() == ["unknown course_id 'C2'"]
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
        ["completions", 3, 2, 1],
    ]
    reasons = ds.rejects_by_reason()
    assert reasons[["table", "column", "rule", "rows"]].values.tolist() == [
        ["completions", C.PROGRESS, "out_of_range", 1]
    ]
    assert reasons["example"].tolist() == ["must be <= 1, got 7"]
    assert (out / "completions.rejects.csv").exists()
    assert any("1 cadre(s) have an empty profile" in w and "K2" in w for w in ds.warnings)
    assert any("1 course(s) have an empty description: C2" in w for w in ds.warnings)
    assert len(ds.completions) == 2 and ds.courses is ds.loads["courses"].frame


# --- edge cases of files and values ------------------------------------------------------------


def test_zero_byte_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "courses.csv"
    path.write_bytes(b"")
    with pytest.raises(UnreadableFileError, match=r"courses\.csv.*empty") as info:
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
    with pytest.raises(UnreadableFileError, match="not found"):
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
    assert any("very long text in column description, row 3" in w for w in load.warnings)


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
        assert load.rejects["reason"].tolist() == [f"not a number: {value!r}"]
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
    assert reject_lines(load) == [("courses.csv", 5, C.CREDIT_HOURS, "not a number: 'abc'")]
    assert load.rows_in == 3 and "skipped 2 blank row(s)" in load.warnings


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
    cells=st.lists(st.lists(CELL, min_size=20, max_size=20), min_size=0, max_size=6),
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
