"""Unit-level outputs: a unit's menus as one workbook, batch recommendations with titles."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from recommender.cli import app
from recommender.data.schema import Columns as C
from recommender.menu.unit import UnitError, unit_cadres
from tests.helpers import assert_prints_as_a_table


def rows(path: Path, sheet: str) -> list[dict]:
    ws = openpyxl.load_workbook(path)[sheet]
    values = list(ws.iter_rows(values_only=True))
    return [dict(zip(values[0], r, strict=True)) for r in values[1:]]


def test_unit_cadres_by_full_name_or_part(tiny_model):
    units = tiny_model.cadres[C.UNIT].astype(str)
    name = units.value_counts().index[0]
    assert set(unit_cadres(tiny_model, name)) == set(
        tiny_model.cadres.loc[units == name, C.CADRE_ID].astype(str)
    )
    with pytest.raises(UnitError, match="没有单位"):
        unit_cadres(tiny_model, "不存在的单位")


def test_menus_workbook_has_titles_hours_and_totals(tiny_model, tiny_models, tmp_path):
    ids = tiny_model.cadres[C.CADRE_ID].astype(str).tolist()[:4]
    (tmp_path / "ids.txt").write_text("\n".join(ids), encoding="utf-8")
    out = tmp_path / "菜单.xlsx"
    args = ["menus", "--model", str(tiny_models), "--cadres", str(tmp_path / "ids.txt")]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--as-of", "2026-01-01"])
    assert result.exit_code == 0, result.output
    assert "已写出 4 名干部的课程菜单" in result.output
    assert openpyxl.load_workbook(out).sheetnames == ["课程菜单", "汇总"]
    items, summary = rows(out, "课程菜单"), rows(out, "汇总")
    titles = dict(zip(tiny_model.course_ids, tiny_model.titles, strict=True))
    assert items and {r["干部编号"] for r in items} <= set(ids)
    for r in items:
        assert r["课程名称"] == titles[r["课程编号"]] and r["学时"] > 0 and r["类别"]
        assert r["安排"] and r["形式"] in {"视频", "微课", "图文", "直播", "面授", "专题班"}
    per_cadre, total = summary[:-1], summary[-1]
    assert [r["干部编号"] for r in per_cadre] == ids and total["干部编号"] == "合计（4 人）"
    for r in per_cadre:
        planned = sum(i["学时"] for i in items if i["干部编号"] == r["干部编号"])
        assert r["计划学时"] == pytest.approx(planned)
        assert r["其中集中培训学时"] + r["其中网络学习学时"] <= planned + 1e-6
        assert (r["是否达标"] == "是") == (not r["未满足说明"])
    for col in ("目标学时", "计划学时", "其中集中培训学时", "课程数"):
        assert total[col] == pytest.approx(sum(r[col] for r in per_cadre))
    assert total["课程数"] == len(items)
    for ws in openpyxl.load_workbook(out).worksheets:
        assert_prints_as_a_table(ws)
        widest = max(len(str(r["课程名称"])) for r in items)  # CJK: two columns a character
        if ws.title == "课程菜单":
            titles_col = next(c.column_letter for c in ws[1] if c.value == "课程名称")
            assert ws.column_dimensions[titles_col].width >= min(60, 2 * widest)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_batch_recommend_carries_titles_and_categories(tiny_model, tiny_models, tmp_path, suffix):
    ids = tiny_model.cadres[C.CADRE_ID].astype(str).tolist()[:3]
    (tmp_path / "ids.txt").write_text("\n".join(ids), encoding="utf-8")
    out = tmp_path / f"recs{suffix}"
    args = ["recommend", "--model", str(tiny_models), "--cadres", str(tmp_path / "ids.txt")]
    args += ["--columns", "en"]  # machine headers (people get Chinese ones by default)
    result = CliRunner().invoke(app, [*args, "-k", "5", "--output", str(out), "--events", "none"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out) if suffix == ".csv" else pd.read_excel(out, engine="openpyxl")
    cols = ["cadre_id", "rank", "course_id", "score", "title", "category", "format"]
    assert list(table.columns) == [*cols, "credit_hours", "reason"]
    assert len(table) == 15 and set(table["cadre_id"]) == set(ids)
    pos = {c: i for i, c in enumerate(tiny_model.course_ids)}
    for r in table.itertuples():
        assert r.title == tiny_model.titles[pos[r.course_id]]
        assert r.category == tiny_model.categories[pos[r.course_id]]
        assert r.credit_hours == pytest.approx(tiny_model.hours[pos[r.course_id]])
    assert table["reason"].fillna("").str.len().gt(0).mean() > 0.5


def test_unknown_unit_is_one_chinese_line(tiny_models, tmp_path):
    args = ["menus", "--model", str(tiny_models), "--unit", "不存在的单位"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "x.xlsx")])
    assert result.exit_code != 0
    assert "不存在的单位" in str(result.exception or result.output)
