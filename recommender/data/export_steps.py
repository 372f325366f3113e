"""Load steps for files as offices export them (used by ``loading.validate_frame``).

- columns a file implies (:func:`derive_columns`): cadre_id from 身份证号, enrolled_at from
  完成时间;
- 身份证号 hashed and masked the moment the cells are clean (:func:`identity`), with 性别 and
  年轻干部 read from it when the roster has neither (:func:`facts_from_id`);
- catalog cells (:func:`office_sessions`, :func:`full_days`): methods in 授课形式, periods and
  date-only 开课时间; unit levels from unit names (:func:`unit_levels`);
- what was skipped and why (:func:`skip_warnings`), records of courses outside the catalog
  (:func:`external_frame`), records that went with a rejected course (:func:`cascade_warnings`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from recommender.data import office
from recommender.data import readers as rio
from recommender.data.identity import (
    bad_checksums,
    birth_facts,
    holds_id_cards,
    identity_secret,
    is_hashed_id,
    masked_reason,
    pseudonymise,
    secret_fingerprint,
)
from recommender.data.rejects import Problems
from recommender.data.schema import CADRES, TableSpec
from recommender.data.schema import Columns as C
from recommender.data.sessions import part_spans, read_sessions

#: headers of a course title in a records file (kept for records of courses outside the catalog)
EXTERNAL_TITLE_HEADERS = ("课程名称", "课程标题", "课程", "title", "course_title")


def derive_columns(raw: pd.DataFrame, spec: TableSpec, headers: dict[str, str]) -> list[str]:
    """Columns a file implies: cadre_id from 身份证号 (also when the id column itself holds
    身份证号), enrolled_at from 完成时间 (a platform's record of credited hours has no
    enrolment time). Returns warnings."""
    out = []
    present = set(raw.columns)
    if C.CADRE_ID in spec.required and C.CADRE_ID in present and holds_id_cards(raw[C.CADRE_ID]):
        # a platform that logs cadres in by their 身份证号 exports it as the 用户名 / 账号
        header = headers.get(C.CADRE_ID, "干部编号")
        if C.ID_CARD not in present:
            raw[C.ID_CARD] = raw[C.CADRE_ID]
            headers[C.ID_CARD] = header
        raw[C.CADRE_ID] = ""  # filled with the keyed hash once the cells are cleaned
        headers[C.CADRE_ID] = header
        out.append(
            f"列“{header}”中是身份证号：按身份证号读入（干部编号用它的密钥散列，不保存明文）"
        )
    if C.CADRE_ID in spec.required and C.CADRE_ID not in present and C.ID_CARD in present:
        raw[C.CADRE_ID] = ""  # filled with the keyed hash once the cells are cleaned
        headers.setdefault(C.CADRE_ID, headers.get(C.ID_CARD, "身份证号"))
    if (
        C.ENROLLED_AT in spec.required
        and C.ENROLLED_AT not in present
        and C.COMPLETED_AT in present
    ):
        raw[C.ENROLLED_AT] = raw[C.COMPLETED_AT]
        headers.setdefault(C.ENROLLED_AT, headers.get(C.COMPLETED_AT, C.COMPLETED_AT))
        out.append(f"没有报名时间列，以“{headers.get(C.COMPLETED_AT, '完成时间')}”作为学习时间")
    return out


class RosterIds(dict):
    """What records keyed by 身份证号 need to know of the accepted roster: keyed hash →
    roster cadre_id (the dict itself), every roster ``known`` id, and the 姓名 kept for each
    cadre whose 身份证号 was on more than one roster row (``names``)."""

    def __init__(
        self,
        aliases: Mapping[str, str],
        *,
        known: Iterable[str] = (),
        names: Mapping[str, str] | None = None,
        masks: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(aliases)
        self.known = frozenset(known) or frozenset(self.values())
        self.names = dict(names or {})
        #: cadre id → its masked 身份证号, for examples in messages
        self.masks = dict(masks or {})


def roster_ids(cadres: pd.DataFrame, duplicated: Iterable[str] = ()) -> RosterIds:
    """:class:`RosterIds` of an accepted roster frame; ``duplicated``: cadre ids whose 身份证号
    was on more than one roster row (the later rows rejected)."""
    hashed = cadres[C.ID_HASH].astype(str) if C.ID_HASH in cadres else pd.Series(dtype=str)
    ids = cadres[C.CADRE_ID].astype(str)
    has = hashed != ""
    names, masks = {}, {}
    for col, out in ((C.NAME, names), (C.ID_MASKED, masks)):
        if col in cadres:
            by_id = dict(zip(ids, cadres[col].astype(str), strict=True))
            out.update({c: by_id[c] for c in duplicated if c in by_id})
    aliases = dict(zip(hashed[has], ids[has], strict=True))
    return RosterIds(aliases, known=ids, names=names, masks=masks)


def duplicated_ids(typed: pd.DataFrame, keep: np.ndarray) -> frozenset[str]:
    """Accepted roster ids made from a 身份证号 that more than one row carried."""
    if C.CADRE_ID not in typed or not len(typed):
        return frozenset()
    ids = typed[C.CADRE_ID].astype(str)
    twice = ids.duplicated(keep=False).to_numpy() & ids.map(is_hashed_id).to_numpy(bool)
    return frozenset(ids[twice & keep])


def identity(
    cells: pd.DataFrame,
    problems: Problems,
    warnings: list[str],
    *,
    derived: bool,
    secret: bytes | str | None,
    id_aliases: Mapping[str, str] | None,
    roster: bool = False,
) -> dict | None:
    """身份证号 → keyed hash (cadre_id / id_hash) and masked form; the plain number is
    replaced by its mask in ``cells`` at once, so no later message can show it.

    Records with their own id (用户名, 账号) and a 身份证号: a row whose id the roster does not
    know but whose 身份证号 it does is matched by the 身份证号 (said in a warning); a row whose
    id the roster knows keeps it, so two people are never merged."""
    if C.ID_CARD not in cells:
        return None
    filled = cells[C.ID_CARD] != ""
    if not filled.any():
        return None
    if secret is None:
        secret = identity_secret(create=True)
    raw = cells[C.ID_CARD]
    hashed, masked, bad = pseudonymise(raw, secret)
    if derived:  # a number masked by the platform is all such a row has to go on
        for i in np.flatnonzero(raw.str.contains("*", regex=False).to_numpy(bool)):
            bad[int(i)] = (masked_reason(masked.iloc[i], roster=roster), "bad_id_card")
    if roster:
        facts_from_id(cells, warnings)
    n_checksum = bad_checksums(raw.where(hashed != "", ""))
    cells[C.ID_CARD] = masked
    problems.masks.update(zip(hashed[hashed != ""], masked[hashed != ""], strict=True))
    for i, (reason, rule) in sorted(bad.items()):
        if derived:
            problems.reject(i, C.ID_CARD, reason, rule)
        else:
            problems.clear(i, C.ID_CARD, reason, rule)
    cells[C.ID_HASH] = hashed
    if C.ID_MASKED not in cells or (cells[C.ID_MASKED] == "").all():
        cells[C.ID_MASKED] = masked
    if derived:
        ids = hashed
        if id_aliases:  # a roster with its own 干部编号 and a 身份证号: records keyed by either
            ids = ids.map(lambda h: id_aliases.get(h, h))
        cells[C.CADRE_ID] = ids
    elif id_aliases and C.CADRE_ID in cells:
        _match_by_id_card(cells, hashed, id_aliases, problems, warnings)
    if n_checksum:
        warnings.append(f"{n_checksum} 个身份证号校验位不符（可能录入有误），仍按原号码识别")
    mangled = sum(rule == "id_mangled_by_excel" for _, rule in bad.values())
    if mangled:
        warnings.append(
            f"{mangled} 行身份证号被 Excel 转成了数字（如 4.29E+17 或末三位为 000），无法识别；"
            "请把该列设为“文本”后重新导出"
        )
    return {"source": problems.header(C.ID_CARD), "key_id": secret_fingerprint(secret)}


def _match_by_id_card(
    cells: pd.DataFrame,
    hashed: pd.Series,
    aliases: Mapping[str, str],
    problems: Problems,
    warnings: list[str],
) -> None:
    """Rows whose own id (用户名 …) the roster lacks, matched by their 身份证号 instead."""
    known = getattr(aliases, "known", None) or frozenset(aliases.values())
    ids = cells[C.CADRE_ID]
    by_card = hashed.map(lambda h: aliases.get(h, "") if h else "")
    use = (~ids.isin(known) & (by_card != "")).to_numpy(bool)
    if not use.any():
        return
    ids = ids.copy()
    ids[use] = by_card[use]
    cells[C.CADRE_ID] = ids
    warnings.append(
        f"{int(use.sum())} 行的“{problems.header(C.CADRE_ID)}”不在干部表中，"
        "按同一行的身份证号匹配到了干部"
    )


def name_mismatches(
    raw: pd.DataFrame,
    keep_rows: np.ndarray,
    typed: pd.DataFrame,
    keep: np.ndarray,
    aliases: Mapping[str, str] | None,
) -> list[str]:
    """Warn when records of a 身份证号 that was on two roster rows carry a 姓名 other than the
    kept row's: they may belong to the person whose row was rejected. No number is shown."""
    names = getattr(aliases, "names", None)
    cols = [c for c in raw.columns if rio.normalize_header(c) in NAME_HEADERS]
    if not names or not cols or C.CADRE_ID not in typed:
        return []
    given = raw[cols[0]].reset_index(drop=True).loc[keep_rows].reset_index(drop=True)
    given = given.fillna("").astype(str).map(_name_key)
    ids = typed[C.CADRE_ID].astype(str)
    kept = ids.map(lambda c: _name_key(names.get(c, "")))
    odd = (ids.isin(list(names)) & (given != "") & (kept != "") & (given != kept)).to_numpy()
    odd = odd & keep
    if not odd.any():
        return []
    example = getattr(aliases, "masks", {}).get(ids[odd].iloc[0], "")
    return [
        f"{int(odd.sum())} 条记录的姓名与干部表不符：其身份证号（如 {example or '见干部表'}）"
        "在干部表中出现了不止一次（后面的行已拒收），这些记录按保留的那一行计入；"
        "请核对干部表中重复的身份证号"
    ]


#: headers of a 姓名 in a records file (not a contract column of records: read for checks) —
#: the roster's own spellings of it
NAME_HEADERS = frozenset(rio.normalize_header(n) for n in (C.NAME, *CADRES.field(C.NAME).aliases))


def _name_key(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", str(text)).split())


def normalize_ids(cells: pd.DataFrame) -> None:
    """Course and cadre codes as NFKC (ＱＳ2026011 → QS2026011): full-width letters and
    digits are the same code, in the catalog and in the records."""
    for col in (C.COURSE_ID, C.CADRE_ID, C.PREREQUISITES):
        if col in cells:
            values = cells[col]
            odd = values.str.contains(r"[^\x00-\x7f]", regex=True).to_numpy(bool)
            if odd.any():
                values = values.copy()
                values[odd] = values[odd].map(lambda s: unicodedata.normalize("NFKC", s).strip())
                cells[col] = values


def facts_from_id(cells: pd.DataFrame, warnings: list[str]) -> None:
    """性别 and 年轻干部 read from the 身份证号 when the roster has no such column (for the
    女干部 / 年轻干部 audiences); nothing else of the number is kept."""
    from recommender.data.catalog import audience_taxonomy

    missing_gender = C.GENDER not in cells or (cells[C.GENDER] == "").all()
    missing_young = C.YOUNG_CADRE not in cells or (cells[C.YOUNG_CADRE] == "").all()
    if not (missing_gender or missing_young):
        return
    age, gender = birth_facts(cells[C.ID_CARD])
    if missing_gender:
        cells[C.GENDER] = gender
    if missing_young:
        limit = audience_taxonomy().young_max_age
        young = (age >= 0) & (age <= limit)
        cells[C.YOUNG_CADRE] = np.where(young, "是", "")
        warnings.append(
            f"没有“年轻干部”列：按身份证号中的出生日期，{int(young.sum())} 名 {limit} 岁及以下"
            "的干部计为年轻干部"
        )


def office_sessions(cells: pd.DataFrame, problems: Problems, warnings: list[str]) -> np.ndarray:
    """Course cells as catalogs write them: a method in 授课形式, a period as 开课时间.
    Returns which session starts were given as a date only."""
    if C.FORMAT in cells:
        methods = cells[C.METHOD] if C.METHOD in cells else pd.Series("", index=cells.index)
        formats, methods, n = office.methods_in_format(cells[C.FORMAT], methods)
        if n:
            cells[C.FORMAT], cells[C.METHOD] = formats, methods
            warnings.append(
                f"{n} 门课程的“{problems.header(C.FORMAT)}”是教学方法"
                "（专题讲座、现场教学、研讨等），按面授课程及该教学方法处理"
            )
    if C.SESSION_START not in cells:
        return np.zeros(len(cells), bool)
    starts = cells[C.SESSION_START]
    periods = [i for i, t in enumerate(starts) if t and office.is_period(t)]
    for i in periods:
        problems.clear(
            i,
            C.SESSION_START,
            f"{rio.show(starts.iloc[i])} 不是具体日期，按“未排期”处理（排定后请填写日期）",
            "unscheduled",
        )
    if periods:
        starts = starts.copy()
        starts.iloc[periods] = ""
        cells[C.SESSION_START] = starts
        warnings.append(
            f"{len(periods)} 门课程的“{problems.header(C.SESSION_START)}”是时段而非日期"
            f"（如 {cells.get(C.TITLE, starts).iloc[periods[0]]!s:.20}），按未排期处理"
        )
    starts = _session_cells(cells, problems.header(C.SESSION_START), warnings)
    return office.date_only(starts) & (starts != "").to_numpy()


def _session_cells(cells: pd.DataFrame, header: str, warnings: list[str]) -> pd.Series:
    """开课时间 written as a range, with a part of the day, a weekday or no year: the start
    in place, the end it gives where the row has no 结课时间. Returns the start cells."""
    from recommender.data.rules import load_rules

    rules = load_rules()
    day = (rules.day_start_hour, rules.evening_start_hour)
    read = read_sessions(cells[C.SESSION_START], day=day)
    if not read.read:
        return cells[C.SESSION_START]
    cells[C.SESSION_START] = read.starts
    ends = cells[C.SESSION_END] if C.SESSION_END in cells else pd.Series("", index=cells.index)
    fill = ((ends == "") & (read.ends != "")).to_numpy()
    if fill.any():
        cells[C.SESSION_END] = ends.where(~fill, read.ends)
    spans = [f"{k} {clock(a)}–{clock(b)}" for k, (a, b) in part_spans(day).items()]
    warnings.append(
        f"{read.read} 门课程的“{header}”写作日期段、带时段或星期（如 {read.example!s:.24}），"
        f"已读出开课、结课时间（{'，'.join(spans).replace('全天', '只有日期的')}）"
    )
    if read.yearless:
        where = (
            f"按目录中其他开课日期的年份 {read.year} 年读入"
            if read.catalog_year
            else f"目录中没有带年份的开课日期，按今年（{read.year} 年）读入，如有误请补上年份"
        )
        example = f"{read.yearless_example!s:.24}"
        warnings.append(f"{read.yearless} 门课程的“{header}”没有年份（如 {example}），{where}")
    return read.starts


def full_days(typed: pd.DataFrame, date_only: np.ndarray, warnings: list[str]) -> None:
    """A session given as a date only runs through the rules' day (08:00–18:00 by default)."""
    if C.SESSION_START not in typed:
        return
    date_only = date_only & typed[C.SESSION_START].notna().to_numpy()
    if not date_only.any():
        return
    from recommender.data.rules import load_rules

    rules = load_rules()
    day = typed.loc[date_only, C.SESSION_START].dt.normalize()
    typed.loc[date_only, C.SESSION_START] = day + pd.to_timedelta(rules.day_start_hour, "h")
    if C.SESSION_END in typed:
        no_end = date_only & typed[C.SESSION_END].isna().to_numpy()
        end = typed.loc[no_end, C.SESSION_START].dt.normalize()
        typed.loc[no_end, C.SESSION_END] = end + pd.to_timedelta(rules.evening_start_hour, "h")
    warnings.append(
        f"{int(date_only.sum())} 门课程的开课时间只有日期，按当天 "
        f"{clock(rules.day_start_hour)}–{clock(rules.evening_start_hour)} 全天处理"
    )


def clock(hour: float) -> str:
    return f"{int(hour):02d}:{round(hour % 1 * 60):02d}"


def unit_levels(cells: pd.DataFrame, warnings: list[str]) -> None:
    """An empty 单位层级 read from the unit's name (城关镇人民政府 → 乡镇)."""
    if C.UNIT not in cells:
        return
    level = cells[C.UNIT_LEVEL] if C.UNIT_LEVEL in cells else pd.Series("", index=cells.index)
    empty = (level == "") & (cells[C.UNIT] != "")
    if not empty.any():
        return
    guessed = cells.loc[empty, C.UNIT].map(office.level_of_unit)
    if (guessed != "").any():
        level = level.copy()
        level[guessed.index] = guessed
        cells[C.UNIT_LEVEL] = level
        warnings.append(
            f"{int((guessed != '').sum())} 名干部的单位层级按单位名称推断（如 XX镇 → 乡镇）"
        )


def skip_warnings(
    skipped: dict[str, int], rows: np.ndarray, kinds: np.ndarray, dup: np.ndarray, out: list[str]
) -> None:
    if skipped["blank"]:
        out.append(f"跳过 {skipped['blank']} 行空行")
    for kind, label, why in _SKIPPED_LINES:
        where = rows[kinds == kind]
        if len(where):
            out.append(
                f"跳过 {len(where)} 行{label}（第 {'、'.join(map(str, where[:5]))} 行{why}），"
                "不计入数据"
            )
    if dup.any():
        out.append(
            f"删除 {int(dup.sum())} 行完全重复的记录（与前面某行逐格相同；首个在第 "
            f"{rows[np.flatnonzero(dup)[0]]} 行）"
        )


#: line kinds skipped (office.line_kinds), their Chinese label and why they appear
_SKIPPED_LINES = (
    ("total", "合计行", ""),
    ("note", "注释/说明行", ""),
    ("header", "重复的表头", "，多为分页导出时每页都带表头"),
    ("section", "分类标题行", "，如“一、政治理论”"),
)


def external_frame(
    typed: pd.DataFrame, outside: np.ndarray, raw: pd.DataFrame, keep_rows: np.ndarray
) -> pd.DataFrame:
    """Records of courses outside the catalog: the contract columns plus the file's 课程名称."""
    part = typed.loc[outside].reset_index(drop=True)
    if C.TITLE in part:
        return part
    titles = [c for c in raw.columns if rio.normalize_header(c) in EXTERNAL_TITLE_HEADERS]
    if titles:
        col = raw[titles[0]].reset_index(drop=True).loc[keep_rows].reset_index(drop=True)
        part.insert(2, C.TITLE, col.loc[outside].astype(str).str.strip().to_numpy())
    else:
        part.insert(2, C.TITLE, [""] * len(part))
    return part


def cascade_warnings(
    course_rejects: Mapping[str, str], lines: pd.DataFrame, ext: pd.DataFrame
) -> list[str]:
    """Say it when a rejected course takes its records with it (``course_rejects``: course
    id → why, ``lines``: the records' reject lines), and how many records of courses outside
    the catalog (``ext``) were kept apart."""
    out = []
    if len(lines):
        unknown = lines[(lines["rule"] == "unknown_id") & (lines["field"] == C.COURSE_ID)]
        why = unknown[unknown["reason"].str.contains("该行在加载时被拒收", regex=False)]
        by_course = why.groupby("value", sort=False)["row"].nunique()
        for course, n in by_course.head(10).items():
            reason = course_rejects.get(str(course), "")
            out.append(
                f"学习记录表：课程 {course!r} 在课程表中被拒收（{reason}），"
                f"其 {n} 条学习记录随之拒收；修正该课程后重新导入即可恢复"
            )
        if len(by_course) > 10:
            out.append(f"学习记录表：另有 {len(by_course) - 10} 门被拒收课程的学习记录随之拒收")
    if len(ext):
        n_courses = ext[C.COURSE_ID].nunique()
        example = ext[C.TITLE].iloc[0] or ext[C.COURSE_ID].iloc[0]
        out.append(
            f"学习记录表：{len(ext)} 条记录的课程（{n_courses} 门，如 {example}）"
            "不在课程目录中：计为目录外学时（计入已获学时，不参与推荐）"
        )
    return out
