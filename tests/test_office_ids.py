"""身份证号 as offices and platforms export them: never shown in plain, matched when it can be.

A county roster keyed by 身份证号 and a 干部网络学院 platform's records, each a few rows with a
known answer: Excel's 4.29E+17 and …000, the platform's ="…" wrapper and masks, 15-digit
numbers, a 用户名 column beside the number, a number on two roster rows, full-width codes,
and what the CLI says about a mistyped number.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from recommender.cli import app
from recommender.data.identity import (
    TEST_ID_SECRET,
    cadre_key,
    canonical_id_card,
    find_cadre,
    hash_id_card,
    id_card_problem,
    id_checksum,
    mask_id_card,
    pseudonymise,
    shown_id,
)
from recommender.data.loading import load_dataset
from recommender.data.schema import Columns as C


def number(body17: str) -> str:
    """A well-formed 18-digit 身份证号 (fake region 429125) from its first 17 digits."""
    return body17 + id_checksum(body17)


#: five people; the 15-digit form of A is A[:6] + A[8:17]
A = number("42912519750312101")
B = number("42912519800615202")
D = number("42912519881122303")
E = number("42912519920405404")
F = number("42912519950708505")
PEOPLE = {A: "张伟", B: "李娜", D: "王强", E: "刘洋", F: "陈静"}


def lucky_000() -> str:
    """A well-formed number ending in 000 (its check digit happens to be 0)."""
    return next(
        n
        for n in (f"4291251980{m:02d}{d:02d}{k}000" for m in range(1, 13) for d in range(1, 29)
                  for k in range(10))
        if id_checksum(n[:17]) == n[17]
    )  # fmt: skip


def to15(id18: str) -> str:
    return id18[:6] + id18[8:17]


def plain_digits(text: str, ids: list[str]) -> list[str]:
    """The numbers of ``ids`` whose first 15 digits (or 15-digit form) appear in ``text``."""
    blob = text.replace(".", "").upper()
    return [i[:4] for i in ids if i[:15] in blob or to15(i) in blob]


def write(folder: Path, name: str, header: list[str], rows: list[list[str]]) -> Path:
    path = folder / name
    pd.DataFrame(rows, columns=header).to_csv(path, index=False, encoding="utf-8-sig")
    return path


def dataset(tmp_path: Path, roster: list[list[str]], records: list[list[str]], **kw):
    """Load a catalog of QS001–QS003, ``roster`` (身份证号, 姓名) and ``records`` (header first)."""
    courses = write(
        tmp_path,
        "课程.csv",
        ["课程编号", "课程名称", "课程类别", "学时"],
        [["QS001", "政治理论", "理论教育", "2"], ["QS002", "应急管理", "业务", "3"],
         ["ＱＳ003", "安全生产", "业务", "1"]],
    )  # fmt: skip
    cadres = write(tmp_path, "名册.csv", ["身份证号", "姓名"], roster)
    done = write(tmp_path, "学时.csv", records[0], records[1:])
    return load_dataset(
        files={"courses": courses, "cadres": cadres, "completions": done},
        id_secret=TEST_ID_SECRET,
        rejects_dir=tmp_path / "rejects",
        **kw,
    )


def roster_of(*ids: str) -> list[list[str]]:
    return [[i, PEOPLE.get(i, "某某")] for i in ids]


def said(data) -> str:
    """Every message a person reads of a load: report, warnings, rejects files, metadata."""
    summary = json.dumps([t.summary() for t in data.loads.values()], ensure_ascii=False)
    files = "".join(p.read_text("utf-8-sig") for p in Path(data.rejects_dir).glob("*.csv"))
    return "\n".join([summary, files, *data.warnings])


# ---------------------------------------------------------------- 1. Excel's 4.29E+17


def test_a_number_in_scientific_notation_is_shown_masked_everywhere(tmp_path):
    sci = f"{A[0]}.{A[1:15]}E+17"  # what Excel shows: 15 real digits
    data = dataset(tmp_path, roster_of(sci, B), [["身份证号", "课程编号", "完成时间"],
                                                 [B, "QS001", "2026-03-01"]])  # fmt: skip
    text = said(data)
    assert "科学计数法" in text and "4.291" in text
    assert not plain_digits(text, [A]), text
    assert A[4:15] not in text.replace(".", "")
    problem = id_card_problem(sci)
    assert problem is not None and A[6:15] not in problem[0].replace(".", "")


def test_scientific_mask_keeps_only_the_region_prefix():
    assert mask_id_card("4.29125199508267E+17") == "4.291***********E+17"
    assert mask_id_card("4.29125E+17") == "4.291**E+17"


# ---------------------------------------------------------------- 3. ="…" wrapper


def test_the_excel_text_formula_wrapper_is_stripped(tmp_path):
    records = [["身份证号", "课程编号", "完成时间"], [f'="{A}"', "QS001", "2026-03-01"],
               [f'="{B}"', "QS002", "2026-03-02"]]  # fmt: skip
    data = dataset(tmp_path, roster_of(A, B), records)
    assert len(data.completions) == 2 and data.loads["completions"].rows_rejected == 0
    assert set(data.completions[C.CADRE_ID]) == {hash_id_card(A, TEST_ID_SECRET),
                                                 hash_id_card(B, TEST_ID_SECRET)}  # fmt: skip


# ---------------------------------------------------------------- 4. masked by the platform


def test_a_number_masked_by_the_platform_says_why_not_empty(tmp_path):
    records = [
        ["身份证号", "课程编号", "完成时间"],
        [A[:6] + "*" * 8 + A[-4:], "QS001", "2026-03-01"],
    ]
    data = dataset(tmp_path, roster_of(A), records)
    lines = data.loads["completions"].rejects
    assert len(lines) == 1 and lines["rule"].iloc[0] != "missing"
    reason = lines["reason"].iloc[0]
    assert "脱敏" in reason and "无法与干部表匹配" in reason and "用户编号" in reason
    assert "必填项为空" not in reason


# ---------------------------------------------------------------- 5. 数值 column: …000


def test_a_column_saved_as_numbers_rejects_every_id_ending_in_000(tmp_path):
    zeroed = [i[:15] + "000" for i in (A, B, D, E)]
    lucky = lucky_000()  # its check digit fits by chance: accepted before
    roster = [*roster_of(*zeroed, F), [lucky, "赵六"]]
    records = [["身份证号", "课程编号", "完成时间"], [F, "QS001", "2026-03-01"]]
    data = dataset(tmp_path, roster, records)
    lines = data.loads["cadres"].rejects
    assert len(data.cadres) == 1  # only F: the lucky …000 is no more trusted than the rest
    assert (lines["rule"] == "id_mangled_by_excel").sum() == 5
    assert lines["reason"].str.contains("按数值保存，后三位变成了 000，无法还原").all()
    assert lines["reason"].str.contains("设为文本后重新导出").all()


def test_one_id_ending_in_000_by_chance_is_kept():
    lucky = lucky_000()
    column = pd.Series([lucky, A, B, D, E, F])
    hashed, _, problems = pseudonymise(column, TEST_ID_SECRET)
    assert problems == {} and (hashed != "").all()


# ---------------------------------------------------------------- 6. check digit warning


def test_a_wrong_check_digit_is_warned_about(tmp_path):
    wrong = A[:17] + ("1" if A[17] != "1" else "2")
    data = dataset(tmp_path, roster_of(wrong, B), [["身份证号", "课程编号", "完成时间"],
                                                   [wrong, "QS001", "2026-03-01"]])  # fmt: skip
    assert any("1 个身份证号校验位不符" in w and "干部表" in w for w in data.warnings)
    assert len(data.completions) == 1  # still matched by the number as typed


# ---------------------------------------------------------------- 7. 15-digit numbers


def test_15_and_18_digit_forms_are_one_person(tmp_path):
    assert canonical_id_card(to15(A)) == A
    assert hash_id_card(to15(A), TEST_ID_SECRET) == hash_id_card(A, TEST_ID_SECRET)
    records = [["身份证号", "课程编号", "完成时间"], [A, "QS001", "2026-03-01"],
               [to15(B), "QS002", "2026-03-02"]]  # fmt: skip
    data = dataset(tmp_path, [[to15(A), "张伟"], [B, "李娜"]], records)
    assert len(data.completions) == 2 and data.loads["completions"].rows_rejected == 0
    key = hash_id_card(A, TEST_ID_SECRET)
    assert find_cadre(data.cadres, to15(A), TEST_ID_SECRET) == key
    assert find_cadre(data.cadres, A, TEST_ID_SECRET) == key
    assert cadre_key(to15(A), TEST_ID_SECRET) == key
    assert mask_id_card(A) in set(data.cadres[C.ID_MASKED])  # one mask for either form


# ---------------------------------------------------------------- 8. 用户名 and 身份证号


def test_records_with_a_login_and_a_number_match_by_the_number(tmp_path):
    records = [["用户名", "身份证号", "课程编号", "完成时间"],
               ["13900000001", A, "QS001", "2026-03-01"],
               ["13900000002", B, "QS002", "2026-03-02"],
               ["13900000003", D, "QS001", "2026-03-03"]]  # fmt: skip
    data = dataset(tmp_path, roster_of(A, B), records)
    got = data.completions[C.CADRE_ID].tolist()
    assert got == [hash_id_card(A, TEST_ID_SECRET), hash_id_card(B, TEST_ID_SECRET)]
    assert any("2 行的“用户名”不在干部表中，按同一行的身份证号匹配" in w for w in data.warnings)
    assert data.loads["completions"].rows_rejected == 1  # D is in no roster


def test_a_known_login_is_never_moved_to_another_person(tmp_path):
    roster = write(tmp_path, "名册.csv", ["干部编号", "身份证号", "姓名"],
                   [["G1", A, "张伟"], ["G2", B, "李娜"]])  # fmt: skip
    courses = write(tmp_path, "课程.csv", ["课程编号", "课程名称", "课程类别", "学时"],
                    [["QS001", "政治理论", "理论教育", "2"]])  # fmt: skip
    done = write(tmp_path, "学时.csv", ["账号", "身份证号", "课程编号", "完成时间"],
                 [["G1", B, "QS001", "2026-03-01"], ["X9", B, "QS001", "2026-03-02"]])  # fmt: skip
    data = load_dataset(files={"courses": courses, "cadres": roster, "completions": done},
                        id_secret=TEST_ID_SECRET, write_rejects=False)  # fmt: skip
    assert data.completions[C.CADRE_ID].tolist() == ["G1", "G2"]


# ---------------------------------------------------------------- 9. a number twice


def test_records_of_a_number_on_two_roster_rows_with_another_name_are_warned(tmp_path):
    roster = [[A, "张伟"], [B, "李娜"], [A, "张卫"]]
    records = [["身份证号", "姓名", "课程编号", "完成时间"], [A, "张伟", "QS001", "2026-03-01"],
               [A, "张卫", "QS002", "2026-03-02"], [A, "张 卫", "QS001", "2026-04-02"],
               [B, "李娜", "QS001", "2026-03-03"]]  # fmt: skip
    data = dataset(tmp_path, roster, records)
    assert data.loads["cadres"].rows_rejected == 1
    warned = [w for w in data.warnings if "姓名与干部表不符" in w]
    assert len(warned) == 1 and warned[0].startswith("学习记录表：2 条记录"), data.warnings
    assert mask_id_card(A) in warned[0] and not plain_digits(warned[0], [A])


def test_no_name_warning_when_names_agree(tmp_path):
    records = [["身份证号", "姓名", "课程编号", "完成时间"], [A, "张伟", "QS001", "2026-03-01"]]
    data = dataset(tmp_path, [[A, "张伟"], [A, "张卫"]], records)
    assert not [w for w in data.warnings if "姓名与干部表不符" in w]


# ---------------------------------------------------------------- 10. full-width codes


def test_full_width_codes_are_the_same_code(tmp_path):
    records = [["身份证号", "课程编号", "完成时间"], [A, "ＱＳ001", "2026-03-01"],
               [A, "QS003", "2026-03-02"]]  # fmt: skip
    data = dataset(tmp_path, roster_of(A), records)
    assert "QS003" in set(data.courses[C.COURSE_ID])
    assert sorted(data.completions[C.COURSE_ID]) == ["QS001", "QS003"]
    assert len(data.external) == 0


def test_full_width_cadre_code_is_found():
    cadres = pd.DataFrame({C.CADRE_ID: ["GB0004"]})
    assert find_cadre(cadres, "ＧＢ0004", None) == "GB0004"
    assert cadre_key("ＧＢ0004", None) == "GB0004"


# ---------------------------------------------------------------- 2. the CLI


@pytest.mark.parametrize("typed", [A + "1", A[:17], f"{A[0]}.{A[1:15]}E+17"])
def test_shown_id_masks_anything_like_a_number(typed):
    shown = shown_id(typed)
    assert A[4:15] not in shown.replace(".", "") and "*" in shown
    assert shown_id("G000001") == "'G000001'"


def test_cli_never_echoes_a_mistyped_number(tiny_models, tmp_path):
    runner = CliRunner()
    for typed in (A + "1", A[:17]):
        for cmd in ("recommend", "menu"):
            out = runner.invoke(app, [cmd, "--model", str(tiny_models), "--cadre", typed])
            text = out.output + str(out.exception)  # a CLIError: main() prints it as 错误：…
            assert out.exit_code == 1
            assert "未知干部" in text and "（unknown_cadre）" in text, text
            assert not re.search(r"\d{12}", text), text
            assert mask_id_card(typed) in text
    names = tmp_path / "名单.txt"
    names.write_text(f"{A}1\n{A[:17]}\nG000001\n", encoding="utf-8")
    out = runner.invoke(
        app,
        ["recommend", "--model", str(tiny_models), "--cadres", str(names),
         "--output", str(tmp_path / "o.csv")],
    )  # fmt: skip
    text = out.output + str(out.exception)
    assert out.exit_code == 0, text
    assert "2 个干部编号不在模型的训练数据中（unknown_cadre）" in text
    assert not re.search(r"\d{12}", text), text


def test_the_service_and_the_console_never_echo_a_mistyped_number(client):
    for typed in (A + "1", A[:17]):
        api = client.get(f"/v1/cadres/{typed}/recommendations")
        assert api.status_code == 404, api.text
        assert api.json()["error"] == "unknown_cadre" and "*" in api.text
        page = client.get(f"/console/cadres/{typed}")
        for text in (api.text, page.text):
            assert not re.search(r"\d{12}", text), text[:300]


def test_a_login_column_holding_numbers_is_read_as_the_number(tmp_path):
    # platforms that log cadres in by their 身份证号 export it as the 用户名, in both files
    courses = write(tmp_path, "课程.csv", ["课程编号", "课程名称", "课程类别", "学时"],
                    [["QS001", "政治理论", "理论教育", "2"]])  # fmt: skip
    roster = write(tmp_path, "名册.csv", ["用户名", "姓名"], [[A, "张伟"], [to15(B), "李娜"]])
    done = write(tmp_path, "学时.csv", ["用户名", "课程编号", "完成时间"],
                 [[A, "QS001", "2026-03-01"], [B, "QS001", "2026-03-02"]])  # fmt: skip
    data = load_dataset(files={"courses": courses, "cadres": roster, "completions": done},
                        id_secret=TEST_ID_SECRET, rejects_dir=tmp_path / "rejects")  # fmt: skip
    ids = [hash_id_card(A, TEST_ID_SECRET), hash_id_card(B, TEST_ID_SECRET)]
    assert data.cadres[C.CADRE_ID].tolist() == ids
    assert data.completions[C.CADRE_ID].tolist() == ids
    assert any("列“用户名”中是身份证号" in w for w in data.warnings), data.warnings
    assert find_cadre(data.cadres, A, TEST_ID_SECRET) == ids[0]
    text = said(data) + data.cadres.to_csv() + data.completions.to_csv()
    assert not plain_digits(text, [A, B]), text


def test_a_cadre_code_typed_full_width_is_found_by_the_cli(tiny_models, tiny_model):
    code = str(tiny_model.cadres[C.CADRE_ID].iloc[0])
    wide = "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in code)
    assert wide != code
    args = ["recommend", "--model", str(tiny_models), "--events", "none", "-k", "3"]
    typed, plain = (CliRunner().invoke(app, [*args, "--cadre", c]) for c in (wide, code))
    assert typed.exit_code == 0 and plain.exit_code == 0, typed.output
    assert typed.output == plain.output
