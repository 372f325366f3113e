"""Rows and cells as training offices write them, read as they mean them.

Used by :mod:`recommender.data.loading` before the typed validation:

- lines that are not records — a 合计 line (or a 小计 beside a merged 课程类别, in a row without
  an id), a 注：/说明 line or an export footer (导出时间：…) under the table, the header repeated
  on every page of an export, a category section title (一、政治理论) — are skipped and counted,
  not rejected (:func:`line_kinds`); without a 课程类别 column the section titles name the
  category of the rows below them (:func:`section_column`);
- exact duplicate rows (an export run twice and pasted together) are dropped and counted
  (:func:`exact_duplicates`);
- C0 control characters (``\\x01`` pasted from another system) are stripped and counted
  (:data:`CONTROL`);
- a 授课形式 that names a teaching method (专题讲座, 现场教学, 研讨, 案例教学) means a course
  taught in person with that method (:func:`methods_in_format`);
- an 开课时间 given as a date only is a full day in the rules' day hours
  (:func:`date_only`); one given as a period (2026年下半年, 待定) is "unscheduled"
  (:func:`is_period`);
- an empty 单位层级 is read from the unit's name (XX镇人民政府 → 乡镇) (:func:`level_of_unit`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

import numpy as np
import pandas as pd

from recommender.data.cells import ENUM_ALIASES
from recommender.data.schema import METHODS
from recommender.data.sheets import normalize_header

#: a 合计 / 总计 / 小计 line, or a count of the lines above (共 1,985 条)
TOTAL_LINE = re.compile(r"\s*(合\s*计|总\s*计|小\s*计|共\s*计|共\s*[\d,]+\s*[条行人门项笔个])")
#: a note under (or above) the table: 注：…, 说明：…, 填表人：…, an export's footer (导出时间：…)
NOTE_LINE = re.compile(
    r"\s*((注|备注|附注|说明|填表说明|备考)\s*[:：\d.、]|"
    r"(填表人|制表人|审核人|制表日期|填报日期|导出时间|导出日期|导出人|导出用户|导出单位|"
    r"打印时间|打印日期|打印人|统计时间|统计日期|统计截止|数据截止|截止时间|截止日期|"
    r"生成时间|数据来源)\s*[:：])"
)
#: first characters of the 合计/注/footer marks
_MARKS = "合总小共注备附说填制审导打统数截生"
#: first characters of a 小计/合计 cell (本类小计, spaces before it)
_TOTAL_STARTS = frozenset("合总小共本 \t\u3000")
#: first characters of a cell that may start a 合计/注 line: the marks, or any whitespace
_LINE_STARTS = frozenset(
    _MARKS
    + "".join(map(chr, range(0xFF10, 0xFFF0)))
    + "".join(ch for ch in map(chr, range(0x3001)) if ch.isspace())
)
#: C0 control characters other than tab, line feed and carriage return (and DEL)
CONTROL = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
#: a category section title, alone on its row: 一、政治理论 / （二）党性教育 / 第三部分 业务知识 /
#: 专题一：…; no sentence punctuation (a numbered note under the table is a sentence)
_NUMERALS = "一二三四五六七八九十百零〇两"
#: its numbering (full-width forms too: cells are matched before NFKC, millions of them)
_SECTION_NUMBER = (
    rf"\s*(?:第\s*[{_NUMERALS}\d]{{1,3}}\s*(?:部分|篇|章|单元|模块|板块|专题|类)|"
    rf"(?:专题|模块|板块|单元)\s*[{_NUMERALS}\d]{{1,3}}(?=\s*[、.．:：\s])|"
    rf"[{_NUMERALS}]{{1,3}}\s*[、.．]|[(（]\s*[{_NUMERALS}]{{1,3}}\s*[)）])"
)
#: the title: no sentence punctuation, but a note in brackets (（共5门，15学时）) may follow
_SECTION_TITLE = r"(?P<title>[^。，,；;！!？?]{1,30}?(?:\s*[(（][^()（）]{0,20}[)）])?)"
SECTION_LINE = re.compile(_SECTION_NUMBER + r"\s*[、.．:：]?\s*" + _SECTION_TITLE + r"\s*")
#: a count after a section title: 政治理论（12门）, (共12门，36学时)
_SECTION_COUNT = re.compile(r"\s*\([^()]*\d+\s*(?:门|学时|课时|个|项|讲)[^()]*\)\s*$")
#: first characters of a section title (before NFKC: （ is U+FF08)
_SECTION_STARTS = frozenset(_NUMERALS + "第专模板单(（ \u3000")
#: a 小计/合计 cell beside others (the category merged over the block fills the first cell)
_TOTAL_CELL = re.compile(r"\s*(?:本类|本项|本页)?(?:合|总|小|共)\s*计(?![\u4e00-\u9fff])")
#: a date with no time of day: 2026-03-05, 2026年3月5日, 20260305, or a whole Excel serial
#: (46086: a date cell saved as a number)
_DATE_ONLY = re.compile(
    r"\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*(00:00(:00)?)?\s*"
    r"|\s*\d{8}\s*|\s*[2-7]\d{4}(\.0)?\s*"
)
_PERIOD = re.compile(
    r"(上半年|下半年|年底|年初|年中|季度|[春夏秋冬]季|上旬|中旬|下旬|待定|另行通知|另定|择期|"
    r"全年|常年|随时|滚动|^每\s*(周|星期|月|天|日)|"
    r"^\d{4}\s*年\s*\d{1,2}\s*月(份)?$|^\d{4}\s*年$|^\d{4}\s*[-/.]\s*\d{1,2}$)"
)
_UNIT_LEVELS = (
    ("village", re.compile(r"(村民委员会|居民委员会|村委会|居委会|村党支部|社区)$|村$")),
    ("township", re.compile(r"(镇|乡|街道)(人民政府|党委|政府|办事处)|(镇|乡|街道办事处)$")),
    ("county", re.compile(r"^(县|区|旗)|(县|区)(委|政府|人民政府)|县直")),
    ("city", re.compile(r"^(市|州|盟)|(市|州)(委|政府|人民政府)")),
    ("province", re.compile(r"^省|省(委|政府|人民政府)")),
)


def line_kinds(
    raw: pd.DataFrame, headers: Mapping[str, str] | None = None, *, key: str | None = None
) -> np.ndarray:
    """'total', 'note', 'header', 'section' or '' per row: from the row's first non-empty
    cell; 'header' for a row that repeats the header (``headers``: column → the file's header;
    a platform export has it atop every page); 'section' for a row holding only a section
    title (一、政治理论); and, with ``key`` (the id column), 'total' for a row without an id
    whose other cells say 小计/合计 (the 课程类别 merged over its block fills the first cell)."""
    out = np.full(len(raw), "", dtype=object)
    if raw.empty:
        return out
    first = _first_cells(raw)
    out[repeated_headers(raw, first, headers or {})] = "header"
    # only cells that start like a 合计/注 line are normalised and matched (millions of rows);
    # a cell whose first character could not start one is not even matched
    head = first.str[:1]
    out[section_rows(raw, first, head, out)] = "section"
    if key is not None:
        out[total_beside(raw, key, out)] = "total"
    maybe = head.isin(_LINE_STARTS).to_numpy(bool, copy=True)
    if not maybe.any():
        return out
    maybe[maybe] = (
        first[maybe].str.match(f"\\s*[{_MARKS}\uff10-\uffef]").fillna(False).to_numpy(bool)
    )
    if not maybe.any():
        return out
    text = first[maybe].map(lambda s: unicodedata.normalize("NFKC", s))
    idx = np.flatnonzero(maybe)
    out[idx[text.str.match(TOTAL_LINE.pattern).to_numpy(bool)]] = "total"
    out[idx[text.str.match(NOTE_LINE.pattern).to_numpy(bool)]] = "note"
    return out


def section_rows(
    raw: pd.DataFrame, first: pd.Series, head: pd.Series, kinds: np.ndarray
) -> np.ndarray:
    """Positions of rows whose only content is a section title: every non-empty cell holds
    the same 一、政治理论 (merged across the table, each cell is filled with it). A course row
    has an id, a title and hours besides, so it never qualifies."""
    maybe = np.flatnonzero(head.isin(_SECTION_STARTS).to_numpy(bool) & (kinds == ""))
    if not len(maybe):
        return maybe
    # rows holding one text are few (a record has an id and more): they are found first,
    # column by column, and only their text is matched (course names start with 一 or （ too)
    # (the first column is empty or is the first cell: it always agrees)
    text = first.iloc[maybe].reset_index(drop=True)
    for j in range(1, raw.shape[1]):
        if not len(maybe):
            return maybe
        cell = raw.iloc[maybe, j].reset_index(drop=True)
        same = ((cell == "") | (cell == text)).fillna(False).to_numpy(bool)
        maybe, text = maybe[same], text[same].reset_index(drop=True)
    text = text.str.strip()
    return maybe[text.str.fullmatch(SECTION_LINE.pattern).fillna(False).to_numpy(bool)]


def section_title(text: str) -> str:
    """'一、政治理论（12门）' → '政治理论': the title without its numbering and count."""
    m = SECTION_LINE.fullmatch(text.strip())
    title = unicodedata.normalize("NFKC", m.group("title") if m else text.strip())
    return _SECTION_COUNT.sub("", title).strip() or title


def section_column(
    raw: pd.DataFrame,
    column: str,
    headers: Mapping[str, str],
    *,
    key: str | None = None,
    first_row: int = 2,
) -> tuple[pd.DataFrame, list[str]]:
    """A table without ``column`` (课程类别) whose rows sit under section titles: the column
    made from the title above each row, and a warning; unchanged (no warning) without them.
    ``first_row``: the spreadsheet row of the first data row (for the warning)."""
    frame = raw.reset_index(drop=True)
    kinds = line_kinds(frame, headers, key=key)
    where = np.flatnonzero(kinds == "section")
    if not len(where):
        return raw, []
    first = _first_cells(frame.iloc[where])
    titles = pd.Series(np.nan, index=frame.index, dtype=object)
    titles.iloc[where] = [section_title(t) for t in first]
    values = titles.ffill().fillna("").to_numpy(object, copy=True)
    values[kinds != ""] = ""  # section, 合计 and header lines stay empty
    names = list(dict.fromkeys(titles.iloc[where]))
    shown = "、".join(names[:8]) + ("……" if len(names) > 8 else "")
    example = f"第 {first_row + where[0]} 行“{first.iloc[0].strip()}”"
    note = (
        f"没有“课程类别”列：按分类标题行（如{example}）把其下各行记为该类别，"
        f"共 {len(names)} 类（{shown}）；请核对，或在表中加一列“课程类别”"
    )
    out = raw.copy()
    out[column] = values
    return out, [note]


def total_beside(raw: pd.DataFrame, key: str, kinds: np.ndarray) -> np.ndarray:
    """Positions of rows without an id (``key`` empty) where a cell other than the id says
    小计/合计/总计; the first cell is read by :func:`line_kinds` already."""
    if key not in raw.columns:
        return np.zeros(0, np.int64)
    ids = raw[key]
    maybe = np.flatnonzero(((ids == "") | ids.isna()).to_numpy(bool) & (kinds == ""))
    hit = np.zeros(len(maybe), bool)
    for j, col in enumerate(raw.columns):
        if not len(maybe) or col == key:
            continue
        cell = raw.iloc[maybe, j]
        some = cell.str[:1].isin(_TOTAL_STARTS).to_numpy(bool)
        if some.any():
            text = cell[some].map(lambda s: unicodedata.normalize("NFKC", s))
            hit[np.flatnonzero(some)] |= text.str.match(_TOTAL_CELL.pattern).to_numpy(bool)
    return maybe[hit]


def repeated_headers(raw: pd.DataFrame, first: pd.Series, headers: Mapping[str, str]) -> np.ndarray:
    """Positions of rows whose every non-empty cell (two at least) is its column's header."""
    names = [normalize_header(headers.get(c, c)) for c in raw.columns]
    texts = {t for c in raw.columns for t in (str(headers.get(c, c)), str(c))}
    # only rows whose first cell is a header text are looked at cell by cell
    maybe = np.flatnonzero(first.isin(texts | set(names)).to_numpy(bool))
    out = []
    for i in maybe:
        cells = [(normalize_header(v), n) for v, n in zip(raw.iloc[i], names, strict=True)]
        filled = [(v, n) for v, n in cells if v]
        if len(filled) >= 2 and all(v == n for v, n in filled):
            out.append(int(i))
    return np.array(out, dtype=np.int64)


def _first_cells(raw: pd.DataFrame) -> pd.Series:
    """Each row's leftmost non-empty cell ('' for a blank row)."""
    first = pd.Series("", index=raw.index, dtype=object)
    if not all(_strings(raw.iloc[:, j]) for j in range(raw.shape[1])):
        for col in reversed(raw.columns):  # right to left: the leftmost non-empty cell wins
            cell = raw[col]
            first = cell.where(cell != "", first)
        return first
    cell = raw.iloc[:, 0]
    first = cell.where(cell != "", first)
    todo = np.flatnonzero((cell == "").to_numpy(bool))  # most rows stop at the first column
    for j in range(1, raw.shape[1]):
        if not len(todo):
            break
        cell = raw.iloc[todo, j].to_numpy()
        found = cell != ""
        first.iloc[todo[found]] = cell[found]
        todo = todo[~found]
    return first


def exact_duplicates(raw: pd.DataFrame) -> np.ndarray:
    """True for each row equal, cell for cell, to an earlier row (the first stays)."""
    if len(raw) < 2 or raw.shape[1] == 0:
        return np.zeros(len(raw), bool)
    if all(_strings(raw.iloc[:, j]) for j in range(raw.shape[1])):
        return _string_duplicates(raw)
    hashed = pd.util.hash_pandas_object(raw, index=False)
    candidates = hashed.duplicated(keep=False).to_numpy()
    out = np.zeros(len(raw), bool)
    if candidates.any():  # hashes can collide: confirm on the cells themselves
        out[candidates] = raw.loc[candidates].duplicated(keep="first").to_numpy()
    return out


def _strings(col: pd.Series) -> bool:
    """Only ``str`` cells (a string dtype, or objects that all are strings)."""
    if col.dtype == object:
        return pd.api.types.infer_dtype(col, skipna=False) == "string"
    return pd.api.types.is_string_dtype(col.dtype) and not col.hasnans


def _string_duplicates(raw: pd.DataFrame) -> np.ndarray:
    """:func:`exact_duplicates` of string columns: rows are narrowed to those that repeat an
    earlier row's first columns, one column at a time (integer codes, not hashes of every
    cell: 2 M records in ~0.4 s), and the few left are compared cell for cell."""
    out = np.zeros(len(raw), bool)
    left = np.arange(len(raw))  # rows that still agree with another row on every column so far
    key = np.zeros(len(raw), np.int64)
    for j in range(raw.shape[1]):
        codes, uniques = pd.factorize(raw.iloc[left, j])
        key = pd.factorize(key * len(uniques) + codes)[0] if j else codes
        repeat = pd.Series(key).duplicated(keep=False).to_numpy()
        left, key = left[repeat], key[repeat].astype(np.int64)
        if not len(left):
            return out
    out[left] = raw.iloc[left].duplicated(keep="first").to_numpy()
    return out


def strip_controls(col: pd.Series) -> tuple[pd.Series, int]:
    """The column without C0 control characters, and how many were removed."""
    has = col.str.contains(CONTROL, regex=True)
    if not has.any():
        return col, 0
    count = int(col[has].str.count(CONTROL).sum())
    return col.str.replace(CONTROL, "", regex=True), count


def methods_in_format(formats: pd.Series, methods: pd.Series) -> tuple[pd.Series, pd.Series, int]:
    """授课形式 cells that name a teaching method: format 面授, method that one (an existing
    method cell wins). Returns the two columns and how many cells were read this way."""
    key = formats.map(lambda s: unicodedata.normalize("NFKC", s).strip())
    method = key.map(lambda k: ENUM_ALIASES.get(k, k))
    hit = method.isin(METHODS).to_numpy() & (key != "").to_numpy()
    if not hit.any():
        return formats, methods, 0
    formats, methods = formats.copy(), methods.copy()
    formats[hit] = "面授"
    fill = hit & (methods == "").to_numpy()
    methods[fill] = method[fill]
    return formats, methods, int(hit.sum())


def date_only(col: pd.Series) -> np.ndarray:
    """True where a datetime cell gives a date with no time of day (or 00:00), also as
    '20260305' or a whole Excel serial ('46086')."""
    text = col.map(lambda s: unicodedata.normalize("NFKC", s))
    return text.str.fullmatch(_DATE_ONLY.pattern).fillna(False).to_numpy(bool)


def is_period(text: str) -> bool:
    """'2026年下半年', '待定', '2027年3月', '2026.03', '每周三' …: a time that is not a date
    (a month, a season, a recurring day)."""
    t = unicodedata.normalize("NFKC", text).strip()
    return bool(t) and bool(_PERIOD.search(t))


def level_of_unit(unit: str) -> str:
    """The unit level a unit's name says (乡镇 for 城关镇人民政府), or ''."""
    t = unicodedata.normalize("NFKC", unit).strip()
    for level, pattern in _UNIT_LEVELS:
        if pattern.search(t):
            return level
    return ""
