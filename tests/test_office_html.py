"""Files named .xls that are not workbooks, as 干部网络学院 platforms export them: a web page
(an HTML table, often GBK, with rowspan for a merged 课程类别 and unclosed cells) and UTF-16
tab-separated text. Each is read as what it is, every value as text."""

from __future__ import annotations

import pandas as pd
import pytest

from recommender.data.errors import UnreadableFileError
from recommender.data.html_table import html_rows, kind_of
from recommender.data.identity import TEST_ID_SECRET, hash_id_card, id_checksum
from recommender.data.loading import load_dataset
from recommender.data.readers import read_table
from recommender.data.schema import COURSES
from recommender.data.schema import Columns as C

ID = "42912519800615202"
ID += id_checksum(ID)

CATALOG_PAGE = """<html><head><meta http-equiv="Content-Type" content="text/html; charset=gbk">
<style>td {mso-number-format:'\\@'}</style></head><body>
<table border=1><tr><td colspan=5>青山县委党校2026年度课程目录</td></tr>
<tr><th>课程编号<th>课程名称<th>课程类别<th>学时<th>授课教师
<tr><td>001</td><td>习近平新时代中国特色<br>社会主义思想概论</td>
<td rowspan=2>政治理论</td><td>3</td><td>李敏</td></tr>
<tr><td>002<td>党章党规&nbsp;学习<td>半天<td>中国干部网络学院
<tr><td>003</td><td>安全生产法解读</td><td>应急管理</td><td>2学时</td><td>张明</td></tr>
</table></body></html>"""


def test_kinds_by_content_not_name():
    assert kind_of(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") == "workbook"
    assert kind_of(b"PK\x03\x04") == "workbook"
    assert kind_of(b"\xef\xbb\xbf  <html><body>") == "html"
    assert kind_of("<table><tr><td>1".encode("utf-16")) == "html"
    assert kind_of("身份证号\t课程编号\r\n".encode("utf-16")) == "text"
    assert kind_of("身份证号,课程编号\n".encode("gbk")) == "text"


def test_rowspan_and_colspan_fill_what_they_cover_and_br_is_a_line_break():
    rows = html_rows(CATALOG_PAGE)
    assert rows[0] == ["青山县委党校2026年度课程目录"] * 5
    assert rows[2] == ["001", "习近平新时代中国特色\n社会主义思想概论", "政治理论", "3", "李敏"]
    assert rows[3] == ["002", "党章党规 学习", "政治理论", "半天", "中国干部网络学院"]
    assert rows[4][2] == "应急管理"
    assert html_rows("<html><body><p>没有表格</p></body></html>") == []


def test_a_gbk_web_page_named_xls_reads_like_the_workbook(tmp_path):
    path = tmp_path / "课程目录.xls"
    path.write_bytes(CATALOG_PAGE.encode("gbk"))
    table = read_table(path, COURSES)
    frame = table.frame
    assert frame[C.COURSE_ID].tolist() == ["001", "002", "003"]  # leading zeros kept
    assert frame[C.CATEGORY].tolist() == ["政治理论", "政治理论", "应急管理"]
    assert table.first_row == 3 and any("网页（HTML）表格" in w for w in table.warnings)


def test_platform_records_as_a_web_page_and_as_utf16_text_load_end_to_end(tmp_path):
    catalog = tmp_path / "课程目录.xls"
    catalog.write_bytes(CATALOG_PAGE.encode("gbk"))
    roster = tmp_path / "名册.xls"
    roster.write_bytes(f"身份证号\t姓名\t单位\r\n{ID}\t李娜\t县应急管理局\r\n".encode("utf-16"))
    records = tmp_path / "学时记录.xls"
    records.write_bytes(
        (
            "<table><tr><th>身份证号</th><th>课程编号</th><th>完成时间</th><th>学时</th></tr>"
            f"<tr><td style=\"mso-number-format:'\\@'\">{ID}</td><td>001</td>"
            "<td>2026-03-05 10:00</td><td>3</td></tr>"
            f"<tr><td>{ID}</td><td>003</td><td>2026-04-01</td><td>2</td></tr></table>"
        ).encode()
    )
    data = load_dataset(
        files={"courses": catalog, "cadres": roster, "completions": records},
        id_secret=TEST_ID_SECRET,
        write_rejects=False,
    )
    assert len(data.courses) == 3 and data.rows_rejected == 0, data.warnings
    assert data.completions[C.CADRE_ID].tolist() == [hash_id_card(ID, TEST_ID_SECRET)] * 2
    assert data.completions[C.COURSE_ID].tolist() == ["001", "003"]
    assert any("实际是文本表格" in w for w in data.warnings)
    assert pd.Series(data.courses[C.CREDIT_HOURS]).tolist()[1] > 0  # 半天 read as hours


def test_a_web_page_without_a_table_says_what_to_do(tmp_path):
    path = tmp_path / "学时记录.xls"
    path.write_text("<html><body>会话已过期，请重新登录</body></html>", encoding="utf-8")
    with pytest.raises(UnreadableFileError, match="实际是网页文件，但其中没有表格"):
        read_table(path, COURSES)
