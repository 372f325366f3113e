"""An academy's own hand-made export loads, leniently and loudly.

The fixture is rebuilt in code after what an academy data engineer sent: 27 courses in an
.xlsx whose first sheet is 填表说明 and whose data sheet has a title row above the header, 50
cadres in an .xlsx with a title row, 300 completions in a GBK CSV; Chinese headers (职务 too),
hours written `2学时`, unit levels 县直/街道, formats 网络课程/线上/面授. A handful of rows are
broken on purpose — and each broken row must be explained in Chinese with file, row and the
file's own column header.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from recommender.data.loading import load_dataset

ROOT = Path(__file__).resolve().parents[1]

LEVELS = ["县直", "街道", "市直", "社区", "乡镇", "区直", "县级", "省直"]
FORMATS = ["网络课程", "线上", "面授", "直播", "专题班", "线下", "微课", "视频"]
HOURS = ["2学时", "0.5学时", "50学时", "1.5 课时", "2小时", 3, "1学时", "4 学时"]
CATEGORIES = ["政治理论", "党性教育", "乡村振兴", "应急管理", "基层治理", "经济金融"]
JOBS = ["乡镇党委书记", "街道办事处主任", "县委组织部科员", "应急管理局副局长", "村党支部书记"]
BAD_COURSE = "KC0012"  # 学时 '待定': a broken required field rejects the course


def courses_frame() -> pd.DataFrame:
    n = 27
    hours = [HOURS[i % len(HOURS)] for i in range(n)]
    hours[12] = "待定"
    capacity: list[object] = [40 if i % 3 == 0 else None for i in range(n)]
    capacity[5] = 1e19  # an optional number out of range: cleared, the course kept
    return pd.DataFrame(
        {
            "课程编号": [f"KC{i:04d}" for i in range(n)],
            "课程名称": [f"{CATEGORIES[i % 6]}专题第{i + 1}讲" for i in range(n)],
            "课程类别": [CATEGORIES[i % 6] for i in range(n)],
            "学时": hours,
            "课程形式": [FORMATS[i % len(FORMATS)] for i in range(n)],
            "课程简介": [f"围绕{CATEGORIES[i % 6]}的专题辅导" for i in range(n)],
            "名额": capacity,
            "是否必修": ["是" if i % 5 == 0 else "否" for i in range(n)],
        }
    )


def cadres_frame() -> pd.DataFrame:
    n = 50
    levels = [LEVELS[i % len(LEVELS)] for i in range(n)]
    levels[7] = "不详"  # an optional enum nobody can map: cleared, the cadre kept
    years: list[object] = [f"{i % 9 + 1}年" for i in range(n)]
    return pd.DataFrame(
        {
            "干部编号": [f"GB{i:04d}" for i in range(n)],
            "单位": [f"某县{['农业农村局', '应急管理局', '组织部'][i % 3]}" for i in range(n)],
            "单位层级": levels,
            "职级": ["一级科员" if i % 2 else "四级主任科员" for i in range(n)],
            "职务": [JOBS[i % len(JOBS)] for i in range(n)],
            "岗位职责": [f"负责{CATEGORIES[i % 6]}相关工作" for i in range(n)],
            "任职年限": years,
            "每周可学时": ["2学时" if i % 2 else "3" for i in range(n)],
        }
    )


def completions_rows() -> list[list[str]]:
    header = ["干部编号", "课程编号", "报名时间", "完成时间", "学习进度", "获得学时", "评价"]
    rows = [header]
    for i in range(300):
        course = f"KC{(i * 7) % 27:04d}"
        done = i % 4 != 0
        rows.append(
            [
                f"GB{i % 50:04d}",
                course,
                f"2025/{i % 12 + 1}/{i % 27 + 1}"
                if i % 2
                else f"2025年{i % 12 + 1}月{i % 27 + 1}日",
                f"2025-{i % 12 + 1:02d}-28" if done else "",
                "100%" if done else "50%",
                "1.5学时" if done else "",
                str(i % 5 + 1) if done else "",
            ]
        )
    return rows


def write_export(directory: Path, *, cadres_csv: bool = False) -> dict[str, Path]:
    """The three files, named as the academy named them (not courses.* …)."""
    directory.mkdir(parents=True, exist_ok=True)
    book = openpyxl.Workbook()
    guide = book.active
    guide.title = "填表说明"
    for line in ("1. 学时填写数字，可带单位“学时”", "2. 课程形式填写：网络课程/面授/专题班"):
        guide.append([line])
    sheet = book.create_sheet("课程")
    sheet.append(["XX市干部网络学院2025年度课程目录"])
    sheet.append([])
    courses = courses_frame()
    sheet.append(list(courses.columns))
    for row in courses.itertuples(index=False):
        sheet.append([None if pd.isna(v) else v for v in row])
    paths = {"courses": directory / "2025年课程目录.xlsx"}
    book.save(paths["courses"])

    cadres = cadres_frame()
    if cadres_csv:
        paths["cadres"] = directory / "干部花名册.csv"
        lines = [",".join(cadres.columns)]
        lines += [",".join(map(str, r)) for r in cadres.itertuples(index=False)]
        lines[5] = lines[5] + ",备注一,备注二"  # GB0004's row: two extra fields
        paths["cadres"].write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    else:
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.title = "干部名单"
        sheet.append(["2025年度参训干部名单（导出）"])
        sheet.append(list(cadres.columns))
        for row in cadres.itertuples(index=False):
            sheet.append(list(row))
        paths["cadres"] = directory / "参训干部.xlsx"
        book.save(paths["cadres"])

    rows = completions_rows()
    rows[101] = [*rows[101], "多余1", "多余2"]  # a ragged row: two extra fields
    text = "\r\n".join(",".join(r) for r in rows) + "\r\n"
    paths["completions"] = directory / "学习记录导出.csv"
    paths["completions"].write_bytes(text.encode("gbk"))
    return paths


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> dict[str, Path]:
    return write_export(tmp_path_factory.mktemp("academy"))


@pytest.fixture(scope="module")
def loaded(export):
    return load_dataset(files=export)


def test_at_least_95_percent_of_every_table_is_accepted(loaded):
    summary = loaded.summary().set_index("table")
    assert summary.loc["courses", ["rows_in", "accepted"]].tolist() == [27, 26]
    assert summary.loc["cadres", ["rows_in", "accepted"]].tolist() == [50, 50]
    # rejected: the ragged row and the completions of the rejected course
    n_bad_course = sum(r[1] == BAD_COURSE for r in completions_rows()[1:])
    assert summary.loc["completions", "rows_in"] == 300
    assert summary.loc["completions", "accepted"] == 300 - n_bad_course - 1
    assert (summary["accepted"] >= 0.95 * summary["rows_in"]).all()


def test_units_aliases_and_chinese_values_are_understood(loaded):
    courses = loaded.courses.set_index("course_id")
    assert courses.loc["KC0000", "credit_hours"] == 2.0
    assert courses.loc["KC0001", "credit_hours"] == 0.5
    assert courses.loc["KC0002", "credit_hours"] == 50.0
    assert courses.loc["KC0003", "credit_hours"] == 1.5
    assert courses.loc["KC0004", "credit_hours"] == 2.0
    assert courses["format"].head(8).tolist() == [
        "video", "video", "face_to_face", "live", "special_class", "face_to_face", "micro", "video"
    ]  # fmt: skip
    assert pd.isna(courses.loc["KC0005", "capacity"])  # 1e19 cleared, the course kept
    cadres = loaded.cadres.set_index("cadre_id")
    assert cadres["unit_level"].head(8).tolist() == [
        "county", "township", "city", "village", "township", "county", "county", ""
    ]  # fmt: skip
    assert cadres.loc["GB0001", "job_title"] == JOBS[1]  # the 职务 header
    assert cadres.loc["GB0002", "years_in_post"] == 3.0
    assert cadres.loc["GB0001", "weekly_hours_budget"] == 2.0
    done = loaded.completions
    assert set(done["credit_hours_awarded"]) == {0.0, 1.5}
    assert done["enrolled_at"].notna().all()


def test_every_problem_is_explained_in_chinese_with_file_row_and_header(loaded, export):
    lines = loaded.rejects()
    assert len(lines) and lines["reason"].str.contains("[\u4e00-\u9fff]").all()
    assert lines["file"].isin([p.name for p in export.values()]).all()
    assert (lines["row"] > 1).all() and lines["rule"].str.fullmatch("[a-z_]+").all()
    by_rule = {r: part for r, part in lines.groupby("rule")}
    course = by_rule["not_a_number"].iloc[0]
    # title row 1, blank row 2, header row 3: the 13th course sits on row 16
    assert (course["file"], course["row"], course["column"], course["value"]) == (
        "2025年课程目录.xlsx",
        16,
        "学时",
        "待定",
    )
    assert course["reason"] == "不是数字：'待定'" and course["action"] == "row_rejected"
    ragged = by_rule["ragged_row"].iloc[0]
    assert (ragged["file"], ragged["row"], ragged["column"]) == ("学习记录导出.csv", 102, "(整行)")
    assert "9 个字段，多于表头的 7 列" in ragged["reason"]
    unknown = by_rule["unknown_id"]
    assert (unknown["column"] == "课程编号").all()
    assert unknown["reason"].str.contains(f"'{BAD_COURSE}' 不在课程表中（该行在加载时被拒收").all()
    cleared = lines[lines["action"] == "cell_cleared"]
    assert set(zip(cleared["column"], cleared["rule"], strict=True)) == {
        ("名额", "out_of_range"),
        ("单位层级", "bad_enum"),
    }
    assert "已按空值处理，保留该行" in cleared["reason"].iloc[0]
    report = "\n".join(loaded.report_lines())
    assert "课程表 2025年课程目录.xlsx（工作表“课程”）：读入 27 行，接受 26 行，拒收 1 行" in report
    assert any("跳过：填表说明" in w for w in loaded.warnings)


def test_rejects_file_is_written_next_to_the_data_with_the_files_headers(export, tmp_path):
    load_dataset(files=export, rejects_dir=tmp_path)
    written = pd.read_csv(tmp_path / "courses.rejects.csv", dtype=str, encoding="utf-8-sig")
    assert list(written.columns) == [
        "文件", "行号", "列", "原值", "原因", "原因代码", "处理", "字段代码"
    ]  # fmt: skip
    assert written["列"].tolist() == ["名额", "学时"]
    assert written["处理"].tolist() == ["清空该格", "拒收该行"]
    assert written["字段代码"].tolist() == ["capacity", "credit_hours"]


# --- the command line ----------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "XUANXUE_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "recommender", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def _flags(paths: dict[str, Path]) -> list[str]:
    return [arg for name, p in paths.items() for arg in (f"--{name}", str(p))]


def test_validate_with_table_flags_exits_1_on_rejects_unless_allowed(export):
    proc = _cli("validate", *_flags(export))
    assert proc.returncode == 1, proc.stderr
    assert "课程表 2025年课程目录.xlsx" in proc.stdout
    assert "拒收该行 1 行：列“学时”不是数字（not_a_number），例：第 16 行" in proc.stdout
    assert "--allow-rejects" in proc.stderr and "Traceback" not in proc.stderr
    allowed = _cli("validate", *_flags(export), "--allow-rejects")
    assert allowed.returncode == 0, allowed.stderr


def test_validate_exits_0_on_a_clean_export(tmp_path):
    paths = write_export(tmp_path)
    rows = completions_rows()
    rows = [r for r in rows if r[1] != BAD_COURSE]
    paths["completions"].write_bytes(("\n".join(",".join(r) for r in rows) + "\n").encode("gbk"))
    book = openpyxl.load_workbook(paths["courses"])
    book["课程"]["D16"] = "3学时"
    book.save(paths["courses"])
    proc = _cli("validate", *_flags(paths), "--sheet", "courses=课程")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "拒收 0 行" in proc.stdout and "清空 1 格" in proc.stdout  # 名额 1e19


def test_validate_without_data_or_flags_is_a_usage_error(export):
    proc = _cli("validate", "--courses", str(export["courses"]))
    assert proc.returncode == 2 and "--cadres" in proc.stderr


def test_train_reports_rejects_and_unknown_cadre_says_why(tmp_path):
    paths = write_export(tmp_path / "data", cadres_csv=True)
    models = tmp_path / "models"
    proc = _cli("train", *_flags(paths), "--out", str(models))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "干部表 干部花名册.csv：读入 50 行，接受 49 行，拒收 1 行" in proc.stdout
    assert "字段数多于表头（ragged_row）" in proc.stdout
    rec = _cli("recommend", "--model", str(models), "--cadre", "GB0004")
    assert rec.returncode == 1
    assert "GB0004" in rec.stderr and "被拒收" in rec.stderr
    assert "干部花名册.csv 第 6 行" in rec.stderr and "10 个字段" in rec.stderr
    ok = _cli("recommend", "--model", str(models), "--cadre", "GB0005", "-k", "3")
    assert ok.returncode == 0, ok.stderr
