"""What people read carries no bare code: the batch recommendation workbook, a unit's menus
workbook, the gap workbook and the console's pages name every constraint, solver, format,
level, window, source and table in Chinese (codes stay in `--columns en` and the API)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from recommender.data.cells import VALUE_LABELS
from recommender.data.rejects import RULE_LABELS

ROOT = Path(__file__).resolve().parents[1]
#: every code that has a Chinese label, plus the reject rule codes
CODES = sorted({*VALUE_LABELS, *RULE_LABELS, "category_minimum"}, key=len, reverse=True)
CODE = re.compile(r"(?<![A-Za-z_])(" + "|".join(map(re.escape, CODES)) + r")(?![A-Za-z_])")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "recommender", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def _workbook_text(path: Path) -> list[tuple[str, str]]:
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True)
    return [
        (f"{ws.title}!{i}", str(v))
        for ws in book
        if ws.sheet_state == "visible"
        for i, row in enumerate(ws.iter_rows(values_only=True), 1)
        for v in row
        if isinstance(v, str)
    ]


def _bare_codes(cells: list[tuple[str, str]]) -> list[str]:
    return [
        f"{where}: {m.group(1)!r} in {text[:80]!r}"
        for where, text in cells
        for m in CODE.finditer(text)
    ]


@pytest.fixture(scope="module")
def ids(tiny_model, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ids") / "名单.txt"
    cadres = tiny_model.cadres["cadre_id"].astype(str).tolist()[:12]
    path.write_text("\n".join(cadres), encoding="utf-8")
    return path


def test_batch_workbook_has_chinese_headers_and_no_bare_code(tiny_models, ids, tmp_path):
    out = tmp_path / "推荐.xlsx"
    _cli("recommend", "--model", str(tiny_models), "--cadres", str(ids), "-k", "5",
         "--output", str(out), "--events", "none", cwd=tmp_path)  # fmt: skip
    cells = _workbook_text(out)
    header = [text for where, text in cells if where.endswith("!1")]
    assert header[:4] == ["干部编号", "序号", "课程编号", "匹配度"]
    assert not _bare_codes(cells)
    machine = tmp_path / "recs.csv"
    _cli("recommend", "--model", str(tiny_models), "--cadres", str(ids), "-k", "5",
         "--output", str(machine), "--columns", "en", "--events", "none", cwd=tmp_path)  # fmt: skip
    first = machine.read_text(encoding="utf-8-sig").splitlines()[0]
    assert first.startswith("cadre_id,rank,course_id,score")


def test_menus_workbook_has_no_bare_code(tiny_models, ids, tmp_path):
    out = tmp_path / "菜单.xlsx"
    _cli("menus", "--model", str(tiny_models), "--cadres", str(ids), "--out", str(out),
         "--as-of", "2025-01-01", "--events", "none", cwd=tmp_path)  # fmt: skip
    cells = _workbook_text(out)
    assert any("学时" in t for _, t in cells)
    assert not _bare_codes(cells), _bare_codes(cells)[:5]


def test_gap_workbook_from_table_files_has_no_bare_code(tiny_data, tiny_models, tmp_path):
    out = tmp_path / "缺口.xlsx"
    files = [
        f"--{t}={next(tiny_data.glob(t + '.*'))}" for t in ("courses", "cadres", "completions")
    ]
    _cli("gaps", *files, "--model", str(tiny_models), "--out", str(out), cwd=tmp_path)
    cells = _workbook_text(out)
    assert not _bare_codes(cells), _bare_codes(cells)[:5]


def test_console_pages_have_no_bare_code(client, tiny_model):
    cadre = tiny_model.cadres["cadre_id"].astype(str).iloc[0]
    for path in (f"/console/cadres/{cadre}", f"/console/cadres/{cadre}/menu"):
        page = client.get(path)
        assert page.status_code == 200, path
        # scripts, styles and <code> (API paths shown for developers) are not prose
        body = re.sub(r"<(script|style|code)\b.*?</\1>", " ", page.text, flags=re.S)
        text = re.sub(r"<[^>]+>", " ", body)  # what a person reads, not attribute values
        found = [m.group(1) for m in CODE.finditer(text)]
        assert not found, (path, found[:5])


def test_gap_workbook_for_programs_keeps_codes(tiny_data, tmp_path):
    from openpyxl import load_workbook

    out = tmp_path / "gaps.xlsx"
    _cli("gaps", "--data", str(tiny_data), "--out", str(out), "--columns", "en", cwd=tmp_path)
    book = load_workbook(out, read_only=True)
    assert "top_gaps" in book.sheetnames and "gaps_by_unit_level" in book.sheetnames
    header = next(book["gaps_by_unit_level"].iter_rows(values_only=True))
    assert {"unit_level", "label", "gap"} <= set(header)
    levels = {
        row[header.index("unit_level")]
        for row in book["gaps_by_unit_level"].iter_rows(min_row=2, values_only=True)
    }
    assert levels <= {"province", "city", "county", "township", "village"}


def test_api_keeps_the_raw_score_and_adds_the_match(client, tiny_model):
    cadre = tiny_model.cadres["cadre_id"].astype(str).iloc[0]
    body = client.get(f"/v1/cadres/{cadre}/recommendations", params={"k": 5}).json()
    assert body["items"]
    for item in body["items"]:
        assert isinstance(item["score"], float) and 0 <= item["match"] <= 100
    matches = [item["match"] for item in body["items"]]
    assert matches == sorted(matches, reverse=True)  # the same order as the score
    schema = client.get("/openapi.json").json()["components"]["schemas"]["Recommendation"]
    assert (
        "match" in schema["properties"] and "匹配度" in schema["properties"]["match"]["description"]
    )
