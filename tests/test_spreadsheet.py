"""Spreadsheet-safe output: no value we write to a CSV or a workbook runs as a formula."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from recommender.data.spreadsheet import is_risky, neutralise, safe_frame, write_frame

PAYLOADS = [
    '=HYPERLINK("http://x","点此")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\t=1+1",
    "\r=1+1",
    "=cmd|' /C calc'!A0",
]


def read_csv_cells(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return [cell for row in csv.reader(fh) for cell in row]


def assert_neutralised(cells: list[str], *, stripped: bool = False) -> None:
    """Every payload present with its apostrophe (``stripped``: as the loader trimmed it)."""
    for payload in PAYLOADS:
        payload = payload.strip() if stripped else payload
        assert payload not in cells, f"{payload!r} written raw"
        assert "'" + payload in cells, f"{payload!r} missing"
    assert not [c for c in cells if is_risky(c)]


# ---------------------------------------------------------------- the helper
@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_get_an_apostrophe(payload):
    assert neutralise(payload) == "'" + payload


@pytest.mark.parametrize("value", ["-5", "+1.5", "-0.25", "1e5", "乡村振兴", "a=b", "", "'=x"])
def test_plain_text_and_plain_numbers_are_left_alone(value):
    assert neutralise(value) == value


@pytest.mark.parametrize("value", [-5, -2.5, 0, None, float("nan"), True])
def test_non_text_is_never_touched(value):
    assert neutralise(value) is value


def test_safe_frame_keeps_numbers_numeric():
    frame = pd.DataFrame({"=bad header": PAYLOADS, "n": range(-3, 4), "x": [-1.5] * 7})
    out = safe_frame(frame)
    assert list(out.columns) == ["'=bad header", "n", "x"]
    assert out["n"].dtype == frame["n"].dtype and out["x"].tolist() == [-1.5] * 7
    assert out.iloc[:, 0].tolist() == ["'" + p for p in PAYLOADS]
    assert frame.iloc[0, 0] == PAYLOADS[0]  # the input is not modified


def test_write_frame_never_writes_a_formula(tmp_path):
    book = openpyxl.Workbook()
    frame = pd.DataFrame({"text": PAYLOADS, "neg": [-2.5] * len(PAYLOADS)})
    write_frame(book.active, frame)
    book.save(tmp_path / "x.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "x.xlsx").active
    cells = [c for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    # shown exactly as written, as text (XML turns a bare CR into LF)
    assert [c.value for c in ws["A"][1:]] == [p.replace("\r", "\n") for p in PAYLOADS]
    assert all(c.quotePrefix for c in ws["A"][1:])
    assert {(c.value, c.data_type) for c in ws["B"][1:]} == {(-2.5, "n")}


# ---------------------------------------------------------------- every output
def test_rejects_csv_is_neutralised(tmp_path):
    from recommender.data.loading import load_dataset

    d = tmp_path / "data"
    d.mkdir()
    bad_hours = [*PAYLOADS, "-5"]
    courses = pd.DataFrame(
        {
            "course_id": ["C1", *[f"X{i}" for i in range(len(bad_hours))]],
            "title": ["好课", *["课"] * len(bad_hours)],
            "category": "政治理论",
            "credit_hours": ["2", *bad_hours],
        }
    )
    courses.to_csv(d / "courses.csv", index=False, lineterminator="\r\n")  # a bare CR quoted
    pd.DataFrame({"cadre_id": ["G1"]}).to_csv(d / "cadres.csv", index=False)
    pd.DataFrame({"cadre_id": ["G1"], "course_id": ["C1"], "enrolled_at": ["2025-01-01"]}).to_csv(
        d / "completions.csv", index=False
    )
    load_dataset(d)
    rejects = d / "courses.rejects.csv"
    cells = read_csv_cells(rejects)
    assert_neutralised(cells, stripped=True)  # the loader trims cells before checking them
    assert "-5" in cells  # a plain negative number stays readable
    frame = pd.read_csv(rejects, encoding="utf-8-sig")
    assert pd.api.types.is_integer_dtype(frame["行号"])  # row numbers stay numbers


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_batch_recommend_output_is_neutralised(tiny_models, tmp_path, monkeypatch, suffix):
    from typer.testing import CliRunner

    from recommender.cli import app
    from recommender.ranking.model import Ranked, Recommendation, RecommenderModel

    n = len(PAYLOADS)
    fake = [Recommendation(p, p, p, "video", 2.0, -0.5, i) for i, p in enumerate(PAYLOADS, start=1)]
    monkeypatch.setattr(RecommenderModel, "has_cadre", lambda self, c: True)
    monkeypatch.setattr(  # the batch path (vectorised) with payloads as titles and ids
        RecommenderModel,
        "recommend_many",
        lambda self, ids, k, **kw: ({cid: Ranked(fake) for cid in ids}, []),
    )
    ids = tmp_path / "ids.txt"
    ids.write_text("G1\n", encoding="utf-8")
    out = tmp_path / f"recs{suffix}"
    args = ["recommend", "--model", str(tiny_models), "--cadres", str(ids), "--output", str(out)]
    args += ["--columns", "en"]  # machine headers: the assertions below read them
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    if suffix == ".csv":
        assert_neutralised(read_csv_cells(out))
        frame = pd.read_csv(out)
    else:
        cells = [c for row in openpyxl.load_workbook(out).active.iter_rows() for c in row]
        assert not [c.coordinate for c in cells if c.data_type == "f"]
        frame = pd.read_excel(out, engine="openpyxl")
    assert frame["score"].tolist() == [-0.5] * n and frame["rank"].tolist() == list(range(1, n + 1))


def test_gap_workbook_has_no_formula_cells(tiny_data, tmp_path, monkeypatch):
    from benchmarks.bench_artifacts import poisoned_gap_tables
    from recommender.insights import report

    injected: list[str] = []
    monkeypatch.setattr(
        report, "gap_tables", poisoned_gap_tables(report.gap_tables, PAYLOADS, injected)
    )
    path = report.write_gap_report(tiny_data, tmp_path / "gaps.xlsx")
    book = openpyxl.load_workbook(path)
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row]
    assert injected and not [c.coordinate for c in cells if c.data_type == "f"]
    text = {c.value for c in cells if c.data_type == "s"}
    assert {p.replace("\r", "\n") for p in injected} <= text  # as text, as they were
    numbers = [c.value for c in cells if c.data_type == "n" and c.value is not None]
    assert numbers and all(isinstance(v, int | float) for v in numbers)
