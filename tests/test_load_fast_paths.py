"""Loading's fast paths (issue 22: 2 M records loaded in seconds) give what the straightforward
code they replace gave: the same grid, cleaned cells, skipped lines, typed values and rejects."""

from __future__ import annotations

import csv
import io
import unicodedata

import numpy as np
import pandas as pd
import pytest

from recommender.data import cells, office
from recommender.data import loading as ld
from recommender.data import readers as rio
from recommender.data.identity import TEST_ID_SECRET
from recommender.data.schema import COMPLETIONS

PANDAS_OPTIONS = dict(header=None, skiprows=0, dtype=str, na_filter=False, skip_blank_lines=False)


def _pandas_grid(text: str, sep: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), sep=sep, **PANDAS_OPTIONS).fillna("")


@pytest.mark.parametrize(
    "text",
    [
        "a,b,c\n1,2,3\n4,5,6\n",
        "a,b,c\r\n1,2,3\r\n4, 5 ,6\r\n",
        "a,b\n1,2",
        "a,b\n1,2\n\n3,4\n",
        "a,b\n1,2\n\n",
        "a,b,c\n,,\n1,,\n",
        "编号,名称\nC1,\u3000乡村振兴\u3000\nC2,\u200b党建\x01\n",
        "a,b\n\x0b1,2\x7f\n",
        "a\n1\n\n2\n",
        "a\n 1 \n",
        "a\tb\n1\t2\n",
        "a;b\n1;2\n",
        "a,b\n",
        "a,b\n#1,2\n",
    ],
)
def test_arrow_reader_gives_pandas_grid(text):
    sep = rio._sniff_separator(text)
    width = len(next(csv.reader(io.StringIO(text), delimiter=sep)))
    fast = rio._read_plain_csv(text, sep, width)
    assert fast is not None
    pd.testing.assert_frame_equal(fast, _pandas_grid(text, sep))


@pytest.mark.parametrize(
    "text", ['a,b\n"1,2",3\n', "a,b,c\n1,2\n", "a,b\n1,2,3\n", "a,b\n1\x002,3\n"]
)
def test_arrow_reader_leaves_quotes_and_ragged_rows_to_pandas(text):
    assert rio._read_plain_csv(text, ",", len(text.split("\n")[0].split(","))) is None


def _hash_duplicates(raw: pd.DataFrame) -> np.ndarray:
    hashed = pd.util.hash_pandas_object(raw, index=False)
    candidates = hashed.duplicated(keep=False).to_numpy()
    out = np.zeros(len(raw), bool)
    if candidates.any():
        out[candidates] = raw.loc[candidates].duplicated(keep="first").to_numpy()
    return out


def _first_cells(raw: pd.DataFrame) -> pd.Series:
    first = pd.Series("", index=raw.index, dtype=object)
    for col in reversed(raw.columns):
        cell = raw[col]
        first = cell.where(cell != "", first)
    return first


def _line_kinds(raw: pd.DataFrame) -> np.ndarray:
    out = np.full(len(raw), "", dtype=object)
    first = _first_cells(raw)
    maybe = first.str.match(r"\s*[合总小共注备附说填制审\uff10-\uffef]").fillna(False)
    maybe = maybe.to_numpy(bool)
    if not maybe.any():
        return out
    text = first[maybe].map(lambda s: unicodedata.normalize("NFKC", s))
    idx = np.flatnonzero(maybe)
    out[idx[text.str.match(office.TOTAL_LINE.pattern).to_numpy(bool)]] = "total"
    out[idx[text.str.match(office.NOTE_LINE.pattern).to_numpy(bool)]] = "note"
    return out


def _clean_all(col: pd.Series) -> tuple[pd.Series, int]:
    if pd.api.types.is_string_dtype(col) and not col.isna().any():
        col = col.astype(str)
    else:
        col = col.astype(object).map(rio.cell_to_str).astype(str)
    col, controls = office.strip_controls(col)
    col = col.str.replace("[\u200b\u2060\ufeff]", "", regex=True)
    return col.str.strip().str.strip(rio.ZERO_WIDTH).str.strip(), controls


CELLS = ["", "a", "b", "合计", " 合计", "\u3000合 计", "注：见附件", "\t注1", "小计", "ｘ", "a "]


@pytest.mark.parametrize("seed", range(40))
def test_duplicates_and_total_lines_as_before(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 60)), int(rng.integers(1, 5))
    raw = pd.DataFrame({j: rng.choice(CELLS[: 3 + seed % 9], size=n) for j in range(k)}, dtype=str)
    raw.index = rng.permutation(n) + 7
    assert (office.exact_duplicates(raw) == _hash_duplicates(raw)).all()
    pd.testing.assert_series_equal(office._first_cells(raw), _first_cells(raw))
    assert (office.line_kinds(raw) == _line_kinds(raw)).all()
    mixed = raw.astype(object)
    mixed.iloc[0, 0] = 5  # a frame built in memory may hold native values
    mixed.iloc[-1, 0] = "合计"
    assert (office.exact_duplicates(mixed) == _hash_duplicates(mixed)).all()
    assert (office.line_kinds(mixed) == _line_kinds(mixed)).all()


EDGES = list("ab乡 \t\n\r\x01\x0b\x1c\x7f\x85\xa0\u3000\u200b\u200c\u2060\ufeff\u2028\u180e,")


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("dtype", [str, object])
def test_clean_only_touches_what_cleaning_changes(seed, dtype):
    rng = np.random.default_rng(seed)
    values = ["".join(rng.choice(EDGES, size=rng.integers(0, 6))) for _ in range(40)]
    if seed % 4 == 0:
        values = [v.strip() or "x" for v in values]  # nothing to clean
    col = pd.Series(values, dtype=dtype, index=rng.permutation(40))
    got, controls = ld._clean(col)
    want, want_controls = _clean_all(col)
    pd.testing.assert_series_equal(got, want)
    assert controls == want_controls


def test_every_whitespace_strip_removes_is_an_edge():
    """The edge class must hold every character Python's or Arrow's strip removes."""
    import re

    spaces = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF and chr(c).isspace()]
    edge = re.compile(ld._EDGE)
    assert all(edge.fullmatch(ch) for ch in spaces)
    arrow = pd.Series([f"{ch}x" for ch in spaces], dtype=str).str.strip()
    assert (arrow == "x").all()


@pytest.mark.parametrize("name", ["progress", "credit_hours_awarded", "rating"])
def test_numbers_parsed_per_distinct_cell_as_cell_by_cell(name):
    f = next(f for f in COMPLETIONS.fields if f.name == name)
    pool = ["1.0", "0.5", "", "abc", "2学时", "半天", "-1", "600", "1,200", "８", "4.5", "3分"]
    col = pd.Series(np.random.default_rng(0).choice(pool, size=cells.DISTINCT_MIN), dtype=str)
    got, errors = cells.parse_column(f, col, hours=(3.0, 6.0, 45.0))
    want, want_errors = cells._parse(f, col, (3.0, 6.0, 45.0))
    pd.testing.assert_series_equal(got, want)
    assert errors == want_errors and errors


def _table(rows: list[list[str]], *, quoted: bool) -> str:
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL if quoted else csv.QUOTE_MINIMAL).writerows(rows)
    return out.getvalue()


def test_large_messy_table_loads_the_same_through_either_reader(tmp_path):
    """One table, written plain (Arrow's reader) and fully quoted (pandas' reader): the same
    accepted rows, cleared cells, rejects, skipped lines and warnings."""
    rng = np.random.default_rng(1)
    n = 3 * cells.DISTINCT_MIN
    header = ["cadre_id", "course_id", "enrolled_at", "completed_at", "progress", "学时", "rating"]
    rows = [
        [
            f"G{rng.integers(0, 300):04d}",
            f"C{rng.integers(0, 40):03d}",
            f"2025-0{rng.integers(1, 10)}-1{rng.integers(0, 10)} 0{rng.integers(0, 10)}:15:00",
            rng.choice(["", "2025-10-01 09:00:00", "2025年10月2日", "明天"]),
            rng.choice(["1.0", "0.5", "", "2", "abc"]),
            rng.choice(["8", "半天", "2学时", "", "-3"]),
            rng.choice(["", "4", "5", "6", "4.5"]),
        ]
        for _ in range(n)
    ]
    rows[10] = rows[9]  # an exact duplicate
    rows[20][0] = "\u3000" + rows[20][0] + "\u200b"  # cleaned to a known id
    rows[30][0] = "G9999"  # an unknown cadre
    rows[40] = ["合计", "", "", "", "", "", ""]
    rows[50][2] = "某天"  # a required time that is no time: the row is rejected
    courses = "course_id,title,category,format,credit_hours\n" + "".join(
        f"C{i:03d},课程{i},党性教育,video,2\n" for i in range(40)
    )
    cadres = "cadre_id,unit,rank\n" + "".join(f"G{i:04d},某县,科员\n" for i in range(300))
    loads = []
    for quoted in (False, True):
        d = tmp_path / ("quoted" if quoted else "plain")
        d.mkdir()
        (d / "courses.csv").write_text(courses, encoding="utf-8")
        (d / "cadres.csv").write_text(cadres, encoding="utf-8")
        (d / "completions.csv").write_text(_table([header, *rows], quoted=quoted), "utf-8")
        loads.append(ld.load_dataset(d, write_rejects=False, id_secret=TEST_ID_SECRET))
    plain, quoted = loads
    assert rio._read_plain_csv(_table([header, *rows], quoted=False), ",", 7) is not None
    pd.testing.assert_frame_equal(plain.completions, quoted.completions)
    a, b = plain.loads["completions"], quoted.loads["completions"]
    pd.testing.assert_frame_equal(a.rejects.drop(columns="file"), b.rejects.drop(columns="file"))
    pd.testing.assert_frame_equal(a.cleared.drop(columns="file"), b.cleared.drop(columns="file"))
    assert a.skipped == b.skipped == {"blank": 0, "total_lines": 1, "note_lines": 0,
                                      "header_lines": 0, "section_lines": 0,
                                      "duplicates": 1}  # fmt: skip
    assert plain.warnings == quoted.warnings
    assert set(a.rejects["rule"]) == {"unknown_id", "bad_datetime"}
    assert {"not_a_number", "out_of_range", "bad_datetime"} <= set(a.cleared["rule"])
    assert "G9999" not in set(plain.completions["cadre_id"])
    assert rows[20][0].strip(" \u3000\u200b") in set(plain.completions["cadre_id"])
