"""Learning records (学时记录) as the cadre-learning platform exports them: each replaces the
fixture's ``completions`` file (C01 the roster too)."""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

from benchmarks.office_variants.base import (
    RECORDS_OK,
    ROSTER_HEADER,
    ROSTER_OK,
    County,
    Expect,
    Variant,
    csv_bytes,
    rng_for,
    roster_values,
    save_book,
    to15,
)
from benchmarks.office_variants.rosters import roster_book
from tests.fixtures import county_export

ID = 0  # the 身份证号 column of a record


def _excel_float(id_card: str) -> bool:
    return "E+" in id_card  # the fixture's 4.29125E+17 rows: already beyond repair


def rare_names(county: County, out: Path, key: str) -> dict[str, Path]:
    """GB18030 records and an .xlsx roster naming two cadres with characters outside GBK."""
    names = {
        county.cadres[30]["身份证号"].strip(): "王䶮",
        county.cadres[31]["身份证号"].strip(): "𠮷祥",
    }
    body = [[*r[:1], names.get(r[ID], r[1]), *r[2:]] for r in county.record_body]
    records = out / f"{key}_学时_gb18030.csv"
    records.write_bytes(csv_bytes([county.record_header, *body], "gb18030"))
    roster = [roster_values(c) for c in county.cadres]
    roster[30][1], roster[31][1] = "王䶮", "𠮷祥"
    cadres = save_book(roster_book(ROSTER_HEADER, roster), out / f"{key}_名册_生僻字.xlsx")
    return {"cadres": cadres, "completions": records}


def html_table(county: County, path: Path) -> Path:
    """A web page saved as .xls (what many platforms' “导出 Excel” sends): every cell text."""
    td = "<td style=\"mso-number-format:'\\@'\">{}</td>"
    lines = ["<html><head><meta charset='utf-8'></head><body><table border=1>"]
    lines.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in county.record_header))
    lines[-1] += "</tr>"
    for row in county.record_body:
        lines.append("<tr>" + "".join(td.format(html.escape(v)) for v in row) + "</tr>")
    lines.append("</table></body></html>")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def repeated_header(county: County, path: Path) -> Path:
    """Two exports pasted together (the header again mid-file), a 合计 line, an export stamp."""
    head, body = county.record_header, county.record_body
    half = len(body) // 2
    total = sum(float(r[5]) for r in body)
    rows = [head, *body[:half], head, *body[half:], ["合计", "", "", "", "", f"{total:g}", "", ""],
            ["导出时间：2026-11-30 17:02:11", "", "", "", "", "", "", ""]]  # fmt: skip
    path.write_bytes(csv_bytes(rows, "gbk"))
    return path


def with_status(county: County, path: Path) -> Path:
    """学时 as “3.0学时”, four date forms, a 学习状态 column, rows still 学习中."""
    header = [*county.record_header[:7], "学习进度", "学习状态"]
    rows = []
    for i, r in enumerate(county.record_body):
        r = list(r)
        when = dt.datetime.strptime(r[6], "%Y-%m-%d %H:%M:%S")
        forms = [r[6], f"{when.year}/{when.month}/{when.day}",
                 f"{when.year}年{when.month}月{when.day}日", f"{when:%Y-%m-%d %H:%M}"]  # fmt: skip
        r[6] = forms[i % 4]
        r[5] = f"{float(r[5]):.1f}学时"
        status = "已完成"
        if i % 10 == 3:  # in progress: no completion time yet
            r[7], status, r[6] = "35%", "学习中", ""
        elif i % 10 == 7:
            r[7], status = "60%", "学习中"
        rows.append([*r[:8], status])
    path.write_bytes(csv_bytes([header, *rows], "gbk"))
    return path


def strangers(county: County, path: Path, key: str) -> Path:
    """Five people from outside the county's roster, commas inside quoted cells."""
    rng = rng_for(key)
    body = [list(r) for r in county.record_body]
    for k in range(5):
        body.append([county_export.fake_id(rng, k % 2 == 0), f"外县{k}", "外县财政局",
                     "预算绩效管理全过程实务，第二讲", "QS2026045", "2", "2026-05-05 10:00:00",
                     "100%"])  # fmt: skip
    body[10][3] = "党性修养与作风建设（一）,（二）"
    body[11][2] = "县委办公室,县政府办公室"
    path.write_bytes(csv_bytes([county.record_header, *body], "gbk"))
    return path


def excel_guards(county: County, path: Path) -> Path:
    """Ids kept from Excel the platforms' ways: ="…" on a third, a leading tab on a third."""
    lines = [",".join(county.record_header)]
    for i, r in enumerate(county.record_body):
        idc = r[ID]
        if not _excel_float(idc):
            idc = [f'="{idc}"', "\t" + idc, idc][i % 3]
        lines.append(",".join([idc, *r[1:]]))
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    return path


def old_ids(county: County, path: Path) -> Path:
    """Two rostered cadres' records under their old 15-digit numbers."""
    old = {county.cadres[k]["身份证号"].strip() for k in (40, 41)}
    body = [[to15(r[ID]) if r[ID] in old else r[ID], *r[1:]] for r in county.record_body]
    path.write_bytes(csv_bytes([county.record_header, *body], "gbk"))
    return path


def with_login(county: County, path: Path, key: str) -> Path:
    """A 用户名 column (the login: a phone number) before the 身份证号."""
    rng = rng_for(key)
    login: dict[str, str] = {}
    body = [
        [login.setdefault(r[ID], f"139{rng.randrange(10**7, 10**8)}"), *r]
        for r in county.record_body
    ]
    path.write_bytes(csv_bytes([["用户名", *county.record_header], *body], "gbk"))
    return path


def saved_as_number(county: County, path: Path) -> tuple[Path, tuple[Expect, ...]]:
    """Re-saved by Excel with the 身份证号 column as 数值: every number ends in 000."""
    body = []
    for r in county.record_body:
        idc = r[ID]
        damaged = not _excel_float(idc) and not idc.upper().endswith("X")
        body.append(([idc[:15] + "000" if damaged else idc, *r[1:]], damaged))
    path.write_bytes(csv_bytes([county.record_header, *(r for r, _ in body)], "gbk"))
    unique = {tuple(r): damaged or _excel_float(r[ID]) for r, damaged in body}
    intact = sum(not bad for bad in unique.values())
    return path, (
        Expect("completions", "accepted", "<=", intact),
        Expect("completions", "rejected", ">=", len(unique) - intact),
    )


def masked(county: County, path: Path) -> Path:
    """The platform's privacy export: 429125********3272 (the E+17 rows as they were)."""
    body = [
        [r[ID] if _excel_float(r[ID]) else r[ID][:6] + "*" * 8 + r[ID][-4:], *r[1:]]
        for r in county.record_body
    ]
    path.write_bytes(csv_bytes([county.record_header, *body], "gbk"))
    return path


def build(county: County, out: Path) -> list[Variant]:
    head, body = county.record_header, county.record_body
    utf16 = [out / "C02_学时_utf16.csv", out / "C03_学时_utf16.xls"]
    for p in utf16:
        p.write_bytes(csv_bytes([head, *body], "utf-16", delimiter="\t"))
    number, number_expect = saved_as_number(county, out / "C11_学时_数值000.csv")

    def v(key: str, label: str, path: Path, expect: tuple[Expect, ...] = RECORDS_OK) -> Variant:
        return Variant(key, f"学时记录：{label}", {"completions": path}, expect)

    return [
        Variant("C01", "学时记录 GB18030，名册 .xlsx；两人名字是 GBK 以外的生僻字（䶮、𠮷）",
                rare_names(county, out, "C01"), ROSTER_OK + RECORDS_OK),
        v("C02", "平台导出 UTF-16 制表符分隔文本", utf16[0]),
        v("C03", "同上，但扩展名是 .xls", utf16[1]),
        v("C04", "网页表格（HTML）另存为 .xls", html_table(county, out / "C04_学时_html.xls")),
        v("C05", "两次导出拼接（中间再有一行表头），末尾合计行和导出时间",
          repeated_header(county, out / "C05_学时_重复表头合计.csv")),
        v("C06", "学时带单位“3.0学时”、日期四种写法、学习状态列、学习中的记录",
          with_status(county, out / "C06_学时_状态.csv"), ()),
        v("C07", "5 条外县人员记录、单元格内带逗号",
          strangers(county, out / "C07_学时_外人引号.csv", "C07"),
          (Expect("completions", "accepted"), Expect("completions", "rejected", plus=5))),
        v("C08", "身份证号写成 =\"…\" 或前加制表符防 Excel",
          excel_guards(county, out / "C08_学时_等号引号.csv")),
        v("C09", "两名干部用 15 位老身份证号", old_ids(county, out / "C09_学时_15位.csv")),
        v("C10", "多一列“用户名”（手机号登录名）",
          with_login(county, out / "C10_学时_用户名.csv", "C10")),
        v("C11", "身份证号被 Excel 存成数值（末三位 000）", number, number_expect),
        v("C12", "平台脱敏导出（429125********3272）", masked(county, out / "C12_学时_脱敏.csv"),
          (Expect("completions", "accepted", "==", 0),)),
    ]  # fmt: skip
