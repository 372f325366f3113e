"""Rosters (参训干部名册) as organisation departments send them: each replaces the fixture's
``cadres`` file. The 身份证号 is the key, so most variants are about how it got typed."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import xlwt

from benchmarks.office_variants.base import (
    ROSTER_HEADER,
    ROSTER_OK,
    County,
    Expect,
    Variant,
    csv_bytes,
    rng_for,
    roster_values,
    same,
    save_book,
    to15,
)

TITLE = ["青山县2026年度参训干部名册"]
DATED = ["制表单位：县委组织部", "", "", "", "", "", "制表日期：2026年1月10日"]
ID = ROSTER_HEADER.index("身份证号")


def roster_book(header: list, rows: list[list], pre: tuple[list, ...] = (TITLE,)):
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "名册"
    for line in (*pre, header, *rows):
        ws.append(list(line))
    return book


def excel_number(id_card: str) -> int:
    """What Excel keeps of a 身份证号 typed into a General cell: 15 digits, then 000."""
    return int(id_card.strip()[:15] + "000")


def rejects_when_damaged(ids: list[str], damaged: list[bool]) -> int:
    """Rows a careful reader rejects: every damaged number, then repeats of an intact one."""
    seen: set[str] = set()
    n = 0
    for id_card, bad in zip(ids, damaged, strict=True):
        key = id_card.strip().upper()
        if bad or key in seen:
            n += 1
        else:  # a damaged first copy leaves the intact second one first
            seen.add(key)
    return n


def numbers(county: County, out: Path, key: str, *, first: int | None, precise: bool) -> Variant:
    """身份证号 as number cells: the first ``first`` people (all when None) typed by hand into
    General cells (15 digits + 000), or, ``precise``, a system's double (17 digits)."""
    rows = [roster_values(c) for c in county.cadres]
    damaged = []
    for i, row in enumerate(rows):
        text = row[ID].strip()
        bad = text[-1].isdigit() and (first is None or i < first)  # an X keeps it text
        if bad:
            row[ID] = float(text) if precise else excel_number(text)
        damaged.append(bad)
    path = save_book(roster_book(ROSTER_HEADER, rows), out / f"{key}_名册_数字身份证.xlsx")
    ids = [c["身份证号"] for c in county.cadres]
    return Variant(
        key,
        "名册：身份证号整列是数值单元格（系统导出的双精度数，末位失真）"
        if precise
        else f"名册：前 {first} 人身份证号输成数字（Excel 只留 15 位，末三位 000）",
        {"cadres": path},
        (Expect("cadres", "rejected", "==", rejects_when_damaged(ids, damaged)),),
    )


def saved_as_number(county: County, out: Path, key: str) -> Variant:
    """A roster CSV saved by Excel with the 身份证号 column formatted as 数值: …000 text."""
    rows = [roster_values(c) for c in county.cadres]
    damaged = []
    for row in rows:
        text = row[ID].strip().upper()
        damaged.append(not text.endswith("X"))
        if damaged[-1]:
            row[ID] = text[:15] + "000"
    path = out / f"{key}_名册_数值000.csv"
    path.write_bytes(csv_bytes([ROSTER_HEADER, *rows], "utf-8-sig"))
    ids = [c["身份证号"] for c in county.cadres]
    return Variant(
        key,
        "名册 CSV：身份证号列被设成“数值”后另存（末三位 000）",
        {"cadres": path},
        (Expect("cadres", "rejected", "==", rejects_when_damaged(ids, damaged)),),
    )


def messy(county: County, out: Path, key: str) -> Variant:
    """Extra columns, names with ·, ids with an apostrophe, inner spaces, full-width digits,
    15 digits, a wrong check digit, a tab, a zero-width space; one person listed twice."""
    rng = rng_for(key)
    header = ["序号", "姓名", "性别", "出生年月", "身份证号", "单位", "职务", "职级", "分管工作",
              "联系电话", "备注"]  # fmt: skip
    rows = []
    for i, c in enumerate(county.cadres):
        idc = c["身份证号"].strip()
        rows.append([i + 1, c["姓名"], c["性别"], f"{idc[6:10]}.{idc[10:12]}", idc, c["单位"],
                     c["职务"], c["职级"], c["分管工作"], f"138{rng.randrange(10**7, 10**8)}",
                     ""])  # fmt: skip
    rows[0][1], rows[1][1] = "阿卜杜拉·买买提", "热依拉·艾买提"
    rows[2][6], rows[3][5] = "党组书记、局长", "县农业农村局\n（县乡村振兴局）"
    rows[4][4] = "'" + rows[4][4]
    rows[5][4] = f"{rows[5][4][:6]} {rows[5][4][6:14]} {rows[5][4][14:]}"
    rows[6][4] = rows[6][4].translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    rows[7][4], rows[8][4] = to15(rows[7][4]), to15(rows[8][4])
    rows[9][4] = rows[9][4][:17] + ("1" if rows[9][4][17] != "1" else "2")  # wrong check digit
    rows[10][4] += "\t"
    rows[11][4] = "\u200b" + rows[11][4]  # copied from a web page
    rows.insert(20, [999, *rows[19][1:]])  # the same person again, under another 序号
    rows[25][10], rows[26][10] = "借调", "2026年3月调入"
    path = save_book(roster_book(header, rows, (TITLE, DATED)), out / f"{key}_名册_杂.xlsx")
    return Variant(
        key,
        "名册：撇号、空格、全角数字、15 位老号、校验位错、零宽空格，一人重复一行，多出几列",
        {"cadres": path},
        same("cadres", rows_in=201, accepted=199, rejected=2),
    )


def build(county: County, out: Path) -> list[Variant]:
    base = [roster_values(c) for c in county.cadres]
    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet("名册")
    for i, row in enumerate([TITLE, DATED, ROSTER_HEADER, *base]):
        for j, v in enumerate(row):
            ws.write(i, j, v)
    xls = out / "R01_名册.xls"
    book.save(str(xls))
    gbk, bom, renamed = (
        out / f for f in ("R02_名册_gbk.csv", "R03_名册_bom.csv", "R08_名册_表头.csv")
    )
    gbk.write_bytes(csv_bytes([TITLE, DATED, ROSTER_HEADER, *base], "gbk"))
    bom.write_bytes(csv_bytes([TITLE, DATED, ROSTER_HEADER, *base], "utf-8-sig"))
    header = ["序号", "姓名", "性别", "公民身份号码（18位）", "工作单位", "现任职务", "职级",
              "分管工作"]  # fmt: skip
    renamed.write_bytes(csv_bytes([header, *base], "gbk"))
    return [
        Variant("R01", "名册：旧版 .xls，标题和制表日期两行", {"cadres": xls}, ROSTER_OK),
        Variant("R02", "名册：GBK 编码 CSV，带标题行", {"cadres": gbk}, ROSTER_OK),
        Variant("R03", "名册：UTF-8 带 BOM 的 CSV，带标题行", {"cadres": bom}, ROSTER_OK),
        numbers(county, out, "R04", first=40, precise=False),
        numbers(county, out, "R05", first=None, precise=True),
        messy(county, out, "R06"),
        saved_as_number(county, out, "R07"),
        Variant(
            "R08",
            "名册表头：公民身份号码（18位）、工作单位、现任职务",
            {"cadres": renamed},
            ROSTER_OK,
        ),
    ]
