"""Cell parsers of contract tables: strings → numbers, datetimes, yes/no and enum values.

:mod:`recommender.data.loading` applies :func:`parse_column` per typed column of the frames that
:mod:`recommender.data.readers` reads (strings, '' for empty); each parser is vectorised with a
per-cell fallback and reports ``{position: (reason, rule)}`` for the cells it rejects.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Callable

import numpy as np
import pandas as pd

from recommender.data.schema import Field

#: placeholders that mean "no value" in typed (non-text) columns of SQL / Excel exports
EMPTY_TOKENS = frozenset({"", "nan", "null", "none", "n/a", "#n/a", "-", "--", "—", "/"})
_EMPTY_LEN = max(map(len, EMPTY_TOKENS))
TRUE_TOKENS = frozenset(
    {"true", "t", "1", "yes", "y", "on", "是", "√", "✓", "✔", "必修", "有效", "在用", "上架"}
)
FALSE_TOKENS = frozenset(
    {"false", "f", "0", "no", "n", "off", "否", "×", "✗", "✘", "选修", "无效", "停用", "下架"}
)
#: Chinese (and spelling-variant) names of enum values
ENUM_ALIASES = {
    "视频": "video", "视频课": "video", "微课": "micro", "文章": "article", "图文": "article",
    "直播": "live", "面授": "face_to_face", "专题班": "special_class",
    "讲授": "lecture", "案例": "case", "研究": "research", "模拟": "simulation",
    "体验": "experiential",
    "省": "province", "省级": "province", "市": "city", "市级": "city", "地市": "city",
    "县": "county", "县级": "county", "区县": "county", "乡镇": "township", "乡": "township",
    "镇": "township", "村": "village",
    "组织调训": "assigned", "指定": "assigned", "自主选学": "self_selected",
    "推荐": "recommended",
    # formats as 干部网络学院 platforms and 党校 timetables name them
    "网络课程": "video", "网络": "video", "网课": "video", "线上": "video", "在线": "video",
    "线上课程": "video", "在线课程": "video", "网络学习": "video", "视频课程": "video",
    "录播": "video", "录播课": "video", "点播": "video", "电视课堂": "video",
    "微视频": "micro", "微课程": "micro", "微党课": "micro", "短视频": "micro",
    "图文课程": "article", "电子书": "article", "文档": "article", "阅读": "article",
    "直播课": "live", "直播课程": "live", "网络直播": "live", "在线直播": "live",
    "视频会议": "live",
    "线下": "face_to_face", "线下课程": "face_to_face", "面授课": "face_to_face",
    "面授课程": "face_to_face", "集中面授": "face_to_face", "现场": "face_to_face",
    "课堂教学": "face_to_face", "脱产培训": "face_to_face",
    "专题培训班": "special_class", "网络专题班": "special_class", "培训班": "special_class",
    "专题研讨班": "special_class", "主体班": "special_class", "进修班": "special_class",
    "讲授式": "lecture", "讲座": "lecture", "专题讲座": "lecture", "专题辅导": "lecture",
    "案例教学": "case", "案例式": "case", "研讨": "research", "研讨式": "research",
    "研究式": "research", "专题研讨": "research", "调研": "research",
    "情景模拟": "simulation", "模拟式": "simulation", "沙盘推演": "simulation",
    "现场教学": "experiential", "体验式": "experiential", "体验式教学": "experiential",
    "访谈教学": "experiential",
    # unit levels: 直属 units sit at the level of the government they belong to
    "省直": "province", "省属": "province", "省直单位": "province", "中直": "province",
    "市直": "city", "市属": "city", "市直单位": "city", "地级": "city", "州直": "city",
    "县直": "county", "县属": "county", "县直单位": "county", "区直": "county",
    "区直单位": "county", "区": "county", "区级": "county", "县区": "county",
    "旗直": "county", "县(市、区)": "county", "县(区)": "county",
    "街道": "township", "街道办": "township", "街道办事处": "township", "镇街": "township",
    "乡镇(街道)": "township", "乡镇街道": "township", "苏木": "township",
    "社区": "village", "村(社区)": "village", "村社区": "village", "村级": "village",
    "行政村": "village", "嘎查": "village",
    "调训": "assigned", "组织调学": "assigned", "组织安排": "assigned", "单位指派": "assigned",
    "必学": "assigned", "自选": "self_selected", "自主选课": "self_selected",
    "自学": "self_selected", "系统推荐": "recommended", "智能推荐": "recommended",
}  # fmt: skip
#: Chinese display name of each enum value — the one table for messages, reports and the
#: console (unit levels in hierarchy order 省级 → 村（社区）)
VALUE_LABELS = {
    "video": "视频", "micro": "微课", "article": "图文", "live": "直播",
    "face_to_face": "面授", "special_class": "专题班", "lecture": "讲授", "case": "案例",
    "research": "研究", "simulation": "模拟", "experiential": "体验", "province": "省级",
    "city": "市级", "county": "县级", "township": "乡镇", "village": "村（社区）",
    "assigned": "组织调训", "self_selected": "自主选学", "recommended": "推荐",
    "weekday_daytime": "工作日白天", "weekday_evening": "工作日晚上", "weekend": "周末",
    # menu constraints and goals (Unmet.constraint), parts of the hour target
    "compulsory": "必修课", "catalog": "可选课程", "windows": "可学习时段", "capacity": "名额",
    "prerequisites": "先修课程", "weekly_budget": "每周可学学时",
    "max_per_topic": "同专题课程数上限", "max_per_instructor": "同一教师课程数上限",
    "max_courses": "课程数上限", "combination": "多项约束共同作用", "hours": "学时目标",
    "category_minimum": "类别最低学时", "centralised_hours": "集中培训学时",
    "online_hours": "网络学习学时", "centralised": "集中培训", "online": "网络学习",
    "outside_catalog": "目录外课程", "other": "其他形式",
    # menu solvers, data tables
    "milp": "整数规划", "greedy": "贪心算法", "exhaustive": "穷举",
    "courses": "课程表", "cadres": "干部表", "completions": "学习记录表",
}  # fmt: skip
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?")
_ISO_FAST = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?")
#: 上午 / 下午 … before a clock time: '下午2:30' is 14:30
_PARTS = "上午|下午|中午|晚上|早上"
_DATE = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    rf"(?:(?:T|\s*(?:(?<=[\s日])|(?={_PARTS})))({_PARTS})?\s*"
    r"(\d{1,2})\s*[:时]\s*(\d{1,2})\s*(?:[:分]\s*(\d{1,2}(?:\.\d+)?)\s*秒?)?)?"
)
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)


def clip(text: str, limit: int = 60) -> str:
    """Shorten long values for rejects lines and messages."""
    return text if len(text) <= limit else text[:limit] + "…"


def show(value: object) -> str:
    """A quoted, shortened rendering of a cell value for reasons."""
    return repr(clip(str(value)))


def is_empty(text: str) -> bool:
    """True when a typed cell holds nothing (or an export's 'no value' placeholder)."""
    return text.strip().lower() in EMPTY_TOKENS


def empty_values(col: pd.Series) -> list[str]:
    """The distinct (already stripped) cells of ``col`` that mean no value."""
    short = col[(col.str.len() <= _EMPTY_LEN).to_numpy(bool)]  # lower() never shortens
    return [v for v in short[short.str.lower().isin(EMPTY_TOKENS)].unique()]


def strip_unit(text: str, units: tuple[str, ...]) -> str:
    """'2学时' → '2' when '学时' is one of ``units`` (case-insensitive); else ``text``."""
    low = text.lower()
    for unit in sorted(units, key=len, reverse=True):
        if low.endswith(unit.lower()) and len(text) > len(unit):
            return text[: -len(unit)].rstrip()
    return text


def parse_number(text: str, units: tuple[str, ...] = ()) -> float:
    """'32', '32.0', '３２', '1,200', '85%', '2学时' (with ``units``) → float.

    ValueError otherwise (also inf/nan).
    """
    t = strip_unit(unicodedata.normalize("NFKC", text).replace(" ", ""), units)
    scale = 1.0
    if t.endswith("%"):
        t, scale = t[:-1], 0.01
    if _GROUPED.fullmatch(t):
        t = t.replace(",", "")
    if not _NUMBER.fullmatch(t):
        raise ValueError(text)
    return float(t) * scale


_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}  # fmt: skip
_CN_NUMBER = re.compile(r"([一二两三四五六七八九])?(十)?([一二三四五六七八九])?")
_AMOUNT = r"\d+(?:\.\d+)?|[半一两二三四五六七八九十]{1,3}"
#: a 学时 number as written: '3学时', '三学时', '2学分', '2小时' (小时 as a synonym of 学时), '2'
_WRITTEN = re.compile(rf"(?:({_AMOUNT})个?(?:学时|课时|学分|小时)|(\d+(?:\.\d+)?))")
_DAYS = re.compile(rf"({_AMOUNT})个?(天|日|周|星期)(半)?")
_MINUTES = re.compile(rf"({_AMOUNT})个?小时({_AMOUNT})分钟?|()({_AMOUNT})(?:分钟|mins?)")
_WHOLE_DAY = {"全天": "一天", "整天": "一天", "一整天": "一天", "半日": "半天"}
#: a cell and one remark in brackets: '3学时（半天）', '半天（3学时）'
_REMARK = re.compile(r"([^()]*)\(([^()]*)\)")


#: (学时 per half day, per day, minutes per 学时) unless the training rules say otherwise
DEFAULT_HOUR_CONVERSION = (3.0, 6.0, 45.0)


def parse_hours(text: str, conversion: tuple[float, float, float] | None = None) -> float:
    """学时 as offices write them, with the rules' conversion (defaults 3 / 6 学时 a half / a
    whole day, 45 minutes = 1 学时, a week is 5 days). ValueError otherwise.

    A written number: '三学时', '2学分' (学分 read 1:1 as 学时), '2小时'. A duration: '半天',
    '一天半' (a day and a half day), '两天', '一周', '90分钟', '1小时30分钟' (90 minutes). A
    number and a duration side by side — '3学时（半天）', '半天（4学时）', '1.5学时（90分钟）' —
    give the written number; two numbers that disagree ('3学时（4学时）') are not read.
    """
    t = "".join(unicodedata.normalize("NFKC", text).lower().split())
    conv = conversion or DEFAULT_HOUR_CONVERSION
    m = _REMARK.fullmatch(t)
    parts = [_hours_part(p, conv) for p in (m.groups() if m else (t,))]
    written = {v for v, is_written in parts if v is not None and is_written}
    if len(written) == 1:
        return written.pop()
    if not written:
        for value, _ in parts:
            if value is not None:
                return value
    raise ValueError(text)


def _hours_part(t: str, conv: tuple[float, float, float]) -> tuple[float | None, bool]:
    """(学时, whether written as a number) of one part of a 学时 cell; (None, False) if none."""
    half, day, minutes = conv
    try:
        if m := _WRITTEN.fullmatch(t):
            return _amount(m.group(1) or m.group(2)), True
        t = _WHOLE_DAY.get(t, t)
        if m := _DAYS.fullmatch(t):
            amount, unit, and_half = m.groups()
            if amount == "半":
                return (half, False) if unit in ("天", "日") and not and_half else (None, False)
            n = _amount(amount) * day * (5 if unit in ("周", "星期") else 1)
            return n + (half if and_half and unit in ("天", "日") else 0), False
        if m := _MINUTES.fullmatch(t):
            h, mins = (m.group(1), m.group(2)) if m.group(2) else (m.group(3), m.group(4))
            return ((_amount(h) * 60 if h else 0) + _amount(mins)) / minutes, False
    except ValueError:
        pass
    return None, False


def _amount(text: str) -> float:
    """'1.5' → 1.5; Chinese numerals '三' → 3, '十二' → 12, '两' → 2, '半' → 0.5."""
    if text[0].isdigit():
        return float(text)
    if text == "半":
        return 0.5
    m = _CN_NUMBER.fullmatch(text)
    if not m or not text:
        raise ValueError(text)
    first, ten, ones = m.groups()
    if ten:
        return (_CN_DIGITS[first] if first else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)
    if first and not ones:
        return float(_CN_DIGITS[first])
    raise ValueError(text)


def parse_datetime(text: str) -> dt.datetime:
    """ISO, '2025/03/01', '2025年3月1日 9:30' (or '9:30' right after 日, '下午2:30'),
    '20250301', Excel serials → naive datetime."""
    t = unicodedata.normalize("NFKC", text).strip()
    if m := _DATE.fullmatch(t):
        y, mo, d, part, h, mi, s = m.groups()
        sec = float(s or 0)
        hour = clock_hour(part, int(h or 0))
        return dt.datetime(int(y), int(mo), int(d), hour, int(mi or 0), int(sec)) + (
            dt.timedelta(seconds=sec % 1)
        )
    if re.fullmatch(r"\d{8}", t):
        return dt.datetime.strptime(t, "%Y%m%d")
    if _NUMBER.fullmatch(t) and 20_000 < float(t) < 80_000:  # Excel serial, 1954–2119
        return _EXCEL_EPOCH + dt.timedelta(days=float(t))
    value = dt.datetime.fromisoformat(t)
    return value.replace(tzinfo=None)  # keep wall-clock time: exports are local time


def clock_hour(part: str | None, hour: int) -> int:
    """The 24-hour clock of '下午2:30' (part 下午, hour 2 → 14); other hours as they are."""
    if (part in ("下午", "晚上") and hour < 12) or (part == "中午" and hour < 6):
        return hour + 12
    return hour


#: integers beyond this cannot be stored exactly (float64 mantissa; int64 casts fail past 2**63)
_INT_LIMIT = 2.0**53


def _num(x: float) -> str:
    """12 significant digits with thousands separators: 1,000,000 / 0.5 / 1e+19."""
    return format(x, ",.12g")


def _bounds_reason(f: Field, x: float) -> str | None:
    if f.min is not None and (x <= f.min if f.min_exclusive else x < f.min):
        return f"应{'大于' if f.min_exclusive else '不小于'} {_num(f.min)}，实为 {_num(x)}"
    if f.max is not None and x > f.max:
        return f"应不大于 {_num(f.max)}，实为 {_num(x)}"
    if f.kind == "int" and abs(x) >= _INT_LIMIT:
        return f"整数过大：{_num(x)}"
    return None


def _numbers(
    f: Field, col: pd.Series, hours: tuple[float, float, float] | None = None
) -> tuple[pd.Series, dict[int, tuple[str, str]]]:
    errors: dict[int, tuple[str, str]] = {}
    missing = (col == "").to_numpy()
    text = col
    if f.units:  # vectorised unit strip for the fast path; odd cells fall back per cell
        pattern = "(?:" + "|".join(map(re.escape, f.units)) + r")\s*$"
        text = col.str.replace(pattern, "", regex=True, case=False).str.strip()
    numeric = pd.to_numeric(text.where(~missing, None), errors="coerce")
    values = numeric.to_numpy("float64", copy=True)
    words = "学时" in f.units  # an hours column: 半天 / 一天 / 90分钟 read too
    for i in np.flatnonzero(~np.isfinite(values) & ~missing):
        try:
            values[i] = parse_number(col.iloc[i], f.units)
        except ValueError:
            try:
                if not words:
                    raise
                values[i] = parse_hours(col.iloc[i], hours)
            except ValueError:
                values[i] = np.nan
                errors[int(i)] = (f"不是数字：{show(col.iloc[i])}", "not_a_number")
    with np.errstate(invalid="ignore"):
        suspect = ~np.isnan(values) & (
            (values <= f.min if f.min_exclusive else values < f.min) if f.min is not None else False
        )
        suspect |= (values > f.max) if f.max is not None else False
        if f.kind == "int":
            suspect |= ~np.isnan(values) & (values != np.round(values))
            suspect |= np.abs(values) >= _INT_LIMIT
    for i in np.flatnonzero(suspect):
        x = float(values[i])
        if f.kind == "int" and not x.is_integer():
            errors[int(i)] = (f"不是整数：{show(col.iloc[i])}", "not_an_integer")
        elif reason := _bounds_reason(f, x):
            errors[int(i)] = (reason, "out_of_range")
    if f.default is not None:
        values[missing] = float(f.default)
    values[list(errors)] = np.nan
    if f.kind == "int":
        return pd.Series(np.round(values)).astype("Int64"), errors
    return pd.Series(values, dtype="float64"), errors


def _datetimes(f: Field, col: pd.Series) -> tuple[pd.Series, dict[int, tuple[str, str]]]:
    errors: dict[int, tuple[str, str]] = {}
    fast_ok = col.str.fullmatch(_ISO_FAST.pattern).fillna(False).astype(bool)
    # no cache: building pandas' cache of 1.5 M distinct cells cost 6 s, parsing them 0.7 s
    fast = pd.to_datetime(col.where(fast_ok, None), format="ISO8601", errors="coerce", cache=False)
    values = fast.to_numpy("datetime64[ns]").copy()
    for i in np.flatnonzero(np.isnat(values) & (col != "").to_numpy()):
        try:
            parsed = parse_datetime(col.iloc[i])
            if not 1678 <= parsed.year <= 2261:
                raise ValueError(col.iloc[i])
            values[i] = np.datetime64(parsed, "ns")
        except (ValueError, OverflowError):
            errors[int(i)] = (f"无法识别的日期时间：{show(col.iloc[i])}", "bad_datetime")
    return pd.Series(values, dtype="datetime64[ns]"), errors


def _by_unique(
    col: pd.Series, decide: Callable[[str], tuple[object, str | None]], rule: str, dtype
) -> tuple[pd.Series, dict[int, tuple[str, str]]]:
    """Map each distinct cell once (columns repeat few values), then broadcast."""
    decisions = {text: decide(text) for text in col.unique()}
    values = col.map({k: v for k, (v, _) in decisions.items()})
    bad = {k: reason for k, (_, reason) in decisions.items() if reason}
    errors = {}
    if bad:
        reasons = col.map(bad)
        for i in np.flatnonzero(reasons.notna().to_numpy()):
            errors[int(i)] = (reasons.iloc[i], rule)
    return values.astype(dtype), errors


def _bools(f: Field, col: pd.Series) -> tuple[pd.Series, dict[int, tuple[str, str]]]:
    default = bool(f.default) if f.default is not None else False

    def decide(text: str) -> tuple[bool, str | None]:
        key = unicodedata.normalize("NFKC", text).strip().lower()
        if key in TRUE_TOKENS or key == "1.0":
            return True, None
        if key in FALSE_TOKENS or key == "0.0":
            return False, None
        return default, (f"不是“是/否”值：{show(text)}" if key else None)

    return _by_unique(col, decide, "bad_bool", bool)


def _enums(f: Field, col: pd.Series) -> tuple[pd.Series, dict[int, tuple[str, str]]]:
    default = str(f.default) if f.default is not None else ""

    def decide(text: str) -> tuple[str, str | None]:
        key = unicodedata.normalize("NFKC", text).strip()
        key = ENUM_ALIASES.get(key, "_".join(key.lower().replace("-", " ").split()))
        if not key:
            return default, None
        if key in f.values:
            return key, None
        allowed = "|".join(VALUE_LABELS.get(v, v) for v in f.values)
        return "", f"不是可选值（{allowed}）之一：{show(text)}"

    return _by_unique(col, decide, "bad_enum", str)


#: characters set without spaces between them in Chinese text: CJK ideographs and punctuation,
#: full-width forms, Chinese quotes, —— and ……
_CJK = (
    "\u2014\u2018\u2019\u201c\u201d\u2026"
    "\u3001-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
)
_BREAKS = "\r\n\x0b\x0c\x85\u2028\u2029"
#: a line break (or a full-width space: 王　芳 padded to three characters) between CJK
_CJK_BREAK = re.compile(rf"(?<=[{_CJK}])\s*[{_BREAKS}\u3000]\s*(?=[{_CJK}])")
#: a cell :func:`single_line` changes: a line break, a tab, an odd space or two spaces in a row
#: (characters listed one by one: Arrow's regex engine reads \s as ASCII only)
_ODD_SPACE = f"[{_BREAKS}\t\xa0\u3000]|  "


def single_line(col: pd.Series) -> pd.Series:
    """Text of a one-line field (课程名称, 课程类别, 单位, 职务) as one line: a line break typed
    in the cell (Alt+Enter) is dropped between Chinese characters ('党章党规\\n学习' →
    '党章党规学习', so is a full-width space: '王　芳' → '王芳') and is one space elsewhere;
    other runs of whitespace are one space. Each distinct changed cell is rewritten once.
    Not for description and duty fields, whose lines are kept."""
    odd = col.str.contains(_ODD_SPACE, regex=True).fillna(False).to_numpy(bool)
    if not odd.any():
        return col
    changed = {v: _one_line(v) for v in pd.unique(col[odd])}
    out = col.copy()
    out[odd] = col[odd].map(changed)
    return out


def _one_line(text: str) -> str:
    return " ".join(_CJK_BREAK.sub("", text).split())


#: built-in number formats (ECMA-376 §18.8.30) that Chinese, Japanese and Korean Excel and WPS
#: save for dates and times (27 = yyyy"年"m"月", 31 = yyyy"年"m"月"d"日", 32 = h"时"mm"分" …);
#: openpyxl knows only the locale-neutral ones (14–22, 45–47), so these cells would otherwise
#: come out as bare serial numbers
CJK_DATE_FORMAT_IDS = frozenset({*range(27, 37), *range(50, 59)})


def cell_to_str(value: object) -> str:
    """Render a native cell (Excel/Parquet) as the text a CSV export would hold."""
    if value is None or value is pd.NaT:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
        if value is pd.NaT:
            return ""
    if isinstance(value, dt.datetime):
        if value == dt.datetime.combine(value.date(), dt.time()):
            return value.date().isoformat()
        return value.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    if hasattr(value, "item"):  # numpy scalar → Python scalar
        return cell_to_str(value.item())
    return str(value)


#: cells in a column before it is parsed per distinct value
DISTINCT_MIN = 10_000


def parse_column(
    f: Field, col: pd.Series, *, hours: tuple[float, float, float] | None = None
) -> tuple[pd.Series, dict[int, tuple[str, str]]]:
    """Typed values of a non-text column ('' = missing) and ``{position: (reason, rule)}``.

    ``hours``: the rules' (half day, day, minutes per 学时) for 学时 written in words.
    A long numeric column is parsed once per distinct cell (progress, 学时 and ratings
    repeat), with the same values and reasons as cell by cell.
    """
    col = col.reset_index(drop=True)
    if len(col) >= DISTINCT_MIN and f.kind in ("float", "int"):
        codes, uniques = pd.factorize(col)
        if 2 * len(uniques) <= len(col) and codes.min() >= 0:
            values, errors = _parse(f, pd.Series(uniques, dtype=col.dtype), hours)
            rows = np.flatnonzero(np.isin(codes, list(errors)))
            by_row = {int(i): errors[int(codes[i])] for i in rows}
            return values.iloc[codes].reset_index(drop=True), by_row
    return _parse(f, col, hours)


def _parse(
    f: Field, col: pd.Series, hours: tuple[float, float, float] | None
) -> tuple[pd.Series, dict[int, tuple[str, str]]]:
    if f.kind in ("float", "int"):
        return _numbers(f, col, hours)
    if f.kind == "datetime":
        return _datetimes(f, col)
    if f.kind == "bool":
        return _bools(f, col)
    if f.kind == "enum":
        return _enums(f, col)
    raise ValueError(f"field {f.name!r}: unknown kind {f.kind!r}")
