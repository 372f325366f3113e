"""Load and validate the data contract (v1): typed frames plus a rejects list.

Reading (encodings, workbooks, title rows, header aliases) lives in
:mod:`recommender.data.readers`; this module turns the string cells into typed columns
following :data:`recommender.data.schema.TABLES`.

Choices, kept simple and consistent — lenient, but never silent:

* A broken **required** value (missing, unparseable, out of range), a duplicate key, an
  unknown id or a CSV row with more fields than the header rejects the row. An invalid
  **optional** value is cleared (read as empty, so it takes ``Field.default``) and the row is
  kept. Both are listed in ``<table>.rejects.csv`` with file, row, the file's own column header,
  value, a Chinese reason, an English rule code and the action (:mod:`recommender.data.rejects`).
  Empty optional values are fine: they take ``Field.default`` (or NaN/NaT/'').
* For typed (non-text) columns the placeholders ``NULL``, ``None``, ``NaN``, ``N/A``, ``-``,
  ``—`` and ``/`` count as empty, as SQL and Excel exports write them for "no value".
* Text values are stripped of surrounding whitespace and zero-width characters but otherwise
  kept verbatim (full-width and traditional characters are the tokenizer's business).
* Uniqueness is checked among rows that are otherwise valid: the first valid occurrence of a
  key is kept, later ones are rejected naming the row of the first.
* Fully blank rows are skipped with a warning and not counted in ``rows_in``.
* Row numbers are spreadsheet-style: the first data row is the row below the header (row 2,
  or lower when title rows sit above the header).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.data import office
from recommender.data import readers as rio
from recommender.data.catalog import unknown_audiences
from recommender.data.identity import (
    bad_checksums,
    birth_facts,
    identity_secret,
    pseudonymise,
    secret_fingerprint,
)
from recommender.data.readers import (
    ZERO_WIDTH,
    DataError,
    MissingColumnError,
    RawTable,
    UnreadableFileError,
    find_table_file,
    fingerprint,
    read_raw,
    read_table,
)
from recommender.data.rejects import (
    REJECT_COLUMNS,
    Problems,
    format_load_report,
    summarise,
)
from recommender.data.schema import (
    CADRES,
    COMPLETIONS,
    COURSES,
    LIST_SEPARATORS,
    TABLE_LABELS,
    TABLES,
    Field,
    TableSpec,
)
from recommender.data.schema import Columns as C
from recommender.data.sheets import MAX_SHEET_ROWS

__all__ = [
    "DataError",
    "Dataset",
    "MissingColumnError",
    "TableLoad",
    "UnreadableFileError",
    "find_table_file",
    "fingerprint",
    "format_load_report",
    "load_dataset",
    "load_table",
    "read_raw",
    "split_list",
    "validate_frame",
]

logger = logging.getLogger(__name__)

LONG_TEXT = 100_000
#: headers of a course title in a records file (kept for records of courses outside the catalog)
EXTERNAL_TITLE_HEADERS = ("课程名称", "课程标题", "课程", "title", "course_title")
_LIST_SPLIT = "[" + "".join("\\" + s if s in "|\\" else s for s in LIST_SEPARATORS) + "]"


def split_list(value: str) -> list[str]:
    """Split a list cell (tags, audience, formats …) on any separator; drop empty items."""
    if not isinstance(value, str) or not value:
        return []
    return [item.strip() for item in re.split(_LIST_SPLIT, value) if item.strip()]


@dataclass
class TableLoad:
    """The outcome of loading one table.

    Attributes
    ----------
    name, path : the table name and the file read.
    frame : accepted rows, exactly the spec columns in spec order, source order kept.
    rejects : one line per problem of a rejected row: file, row, column (the file's header),
        value, reason (Chinese), rule (code), action, field (contract name).
    cleared : the same columns, one line per invalid optional cell read as empty (row kept).
    warnings : non-fatal observations (unknown columns, blank rows, very long text …).
    rows_in : data rows read (blank rows, 合计/注 lines and exact duplicates not counted);
        always ``len(frame) + len(external) + rows_rejected``.
    rejected_ids : key of a rejected row → why (file, row, column, reason), for messages.
    skipped : rows left out without being rejected: ``blank``, ``total_lines`` (合计),
        ``note_lines`` (注：…), ``duplicates`` (exact copies of an earlier row).
    identity : for a table keyed by 身份证号: ``{"source": header, "key_id": fingerprint of
        the identity secret}``; None otherwise.
    external : records of courses outside the catalog (platform 专题网班 …): the completion
        columns plus ``title`` (the file's 课程名称); they count toward hours earned and are
        never recommended.
    """

    name: str
    path: Path
    frame: pd.DataFrame
    rejects: pd.DataFrame
    warnings: list[str]
    rows_in: int
    cleared: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECT_COLUMNS))
    sheet: str | None = None
    rejected_ids: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    identity: dict | None = None
    external: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def rows_rejected(self) -> int:
        """Number of distinct rows rejected (a row can have several problems)."""
        return int(self.rejects["row"].nunique())

    def problems(self) -> pd.DataFrame:
        """Rejected-row and cleared-cell lines together, by row (the rejects file)."""
        both = [f for f in (self.rejects, self.cleared) if len(f)]
        if not both:
            return self.rejects
        out = pd.concat(both, ignore_index=True)
        return out.sort_values("row", kind="stable").reset_index(drop=True)

    def summary(self) -> dict:
        """Counts and reasons as plain data (see :func:`recommender.data.rejects.summarise`)."""
        out = summarise(
            self.name, self.path.name, self.sheet, self.rows_in, len(self.frame), self.problems()
        )
        out["skipped"] = {k: v for k, v in self.skipped.items() if v}
        if len(self.external):
            out["external"] = len(self.external)
        if self.identity:
            out["identity"] = dict(self.identity)
        return out

    def fingerprint(self) -> dict[str, object]:
        """sha256 of the file and the rows read (title rows and blank rows not counted)."""
        return {"sha256": _sha256(self.path), "rows": self.rows_in}


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _clean(col: pd.Series) -> tuple[pd.Series, int]:
    """Stripped strings, zero-width and C0 control characters removed (and their count)."""
    if pd.api.types.is_string_dtype(col) and not col.isna().any():
        col = col.astype(str)
    else:  # frames built in memory (service, notebooks) may hold native values
        col = col.astype(object).map(rio.cell_to_str).astype(str)
    col, controls = office.strip_controls(col)
    col = col.str.replace("[\u200b\u2060\ufeff]", "", regex=True)
    return col.str.strip().str.strip(ZERO_WIDTH).str.strip(), controls


def _coerce(f: Field, col: pd.Series, problems: Problems, warnings: list[str]) -> pd.Series:
    """Typed column for field ``f``: an invalid required cell rejects its row, an invalid
    optional one is cleared (read as empty, taking the default) and the row kept."""
    empty = col == "" if f.kind == "str" else col.isin(rio.empty_values(col))
    for i in np.flatnonzero(empty.to_numpy() & f.required):
        if int(i) not in problems.bad:  # a row already rejected (a bad 身份证号) says why
            problems.reject(int(i), f.name, "必填项为空", "missing")
    if f.kind == "str":
        long = np.flatnonzero(col.str.len().to_numpy() > LONG_TEXT)
        if len(long):
            warnings.append(
                f"列“{problems.header(f.name)}”第 {problems.rows[long[0]]} 行文本很长"
                f"（{len(long)} 格超过 {LONG_TEXT:,} 字）"
            )
        return col.astype(str)
    col = col.where(~empty, "")
    hours = _hour_conversion() if "学时" in f.units else None
    values, errors = rio.parse_column(f, col, hours=hours)
    for i, (reason, rule) in errors.items():
        (problems.reject if f.required else problems.clear)(i, f.name, reason, rule)
    if errors and not f.required:
        values, _ = rio.parse_column(f, col.where(~col.index.isin(list(errors)), ""), hours=hours)
        warnings.append(
            f"列“{problems.header(f.name)}”有 {len(errors)} 格无效，已按空值处理（行保留）"
        )
    return values


def _hour_conversion() -> tuple[float, float, float]:
    """(学时 per half day, per day, minutes per 学时) from the training rules file."""
    from recommender.data.rules import load_rules

    rules = load_rules()
    return rules.half_day_hours, rules.day_hours, rules.minutes_per_hour


def _derive_columns(raw: pd.DataFrame, spec: TableSpec, headers: dict[str, str]) -> list[str]:
    """Columns a file implies: cadre_id from 身份证号, enrolled_at from 完成时间 (a platform's
    record of credited hours has no enrolment time). Returns warnings."""
    out = []
    present = set(raw.columns)
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


def _identity(
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
    replaced by its mask in ``cells`` at once, so no later message can show it."""
    if C.ID_CARD not in cells:
        return None
    filled = cells[C.ID_CARD] != ""
    if not filled.any():
        return None
    if secret is None:
        secret = identity_secret(create=True)
    hashed, masked, bad = pseudonymise(cells[C.ID_CARD], secret)
    if roster:
        _facts_from_id(cells, warnings)
    cells[C.ID_CARD] = masked
    problems.masks.update(zip(hashed[hashed != ""], masked[hashed != ""], strict=True))
    for i, (reason, rule) in bad.items():
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
    if n := bad_checksums(masked.where(masked.str.contains("*", regex=False), "")):
        warnings.append(f"{n} 个身份证号校验位不符（可能录入有误），仍按原号码识别")
    mangled = sum(rule == "id_mangled_by_excel" for _, rule in bad.values())
    if mangled:
        warnings.append(
            f"{mangled} 行身份证号被 Excel 转成了数字（如 4.29125E+17），无法识别；"
            "请把该列设为“文本”后重新导出"
        )
    return {"source": problems.header(C.ID_CARD), "key_id": secret_fingerprint(secret)}


def _facts_from_id(cells: pd.DataFrame, warnings: list[str]) -> None:
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


def _office_sessions(cells: pd.DataFrame, problems: Problems, warnings: list[str]) -> np.ndarray:
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
    return office.date_only(starts) & (starts != "").to_numpy()


def _full_days(typed: pd.DataFrame, date_only: np.ndarray, warnings: list[str]) -> None:
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
        f"{_clock(rules.day_start_hour)}–{_clock(rules.evening_start_hour)} 全天处理"
    )


def _clock(hour: float) -> str:
    return f"{int(hour):02d}:{round(hour % 1 * 60):02d}"


def _unit_levels(cells: pd.DataFrame, warnings: list[str]) -> None:
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


def validate_frame(
    raw: pd.DataFrame,
    spec: TableSpec,
    *,
    path: Path | str = "<frame>",
    known_ids: dict[str, set[str]] | None = None,
    rejected_ids: Mapping[str, Mapping[str, str]] | None = None,
    table: RawTable | None = None,
    id_secret: bytes | str | None = None,
    id_aliases: Mapping[str, str] | None = None,
    outside_catalog: bool = False,
) -> TableLoad:
    """Validate a frame of strings (as :func:`read_raw` returns) against ``spec``.

    ``table`` (from :func:`read_table`) supplies the file's own headers, the first row number
    and ragged rows; ``rejected_ids`` explains unknown ids whose rows were rejected elsewhere.
    ``id_secret`` hashes a 身份证号 column (default: :func:`identity_secret`, only read when
    the table has one); ``id_aliases`` maps such hashes to a roster's own cadre ids.
    ``outside_catalog``: records of a course id the catalog does not know (and did not
    reject) are kept apart in ``TableLoad.external`` instead of being rejected.
    """
    path = Path(path)
    warnings: list[str] = []
    headers = dict(table.headers) if table is not None else {}
    raw = raw.copy() if C.ID_CARD in raw or C.COMPLETED_AT in raw else raw
    warnings += _derive_columns(raw, spec, headers)
    present = list(raw.columns)
    for name in spec.required:
        if name not in present:
            aliases = "、".join(spec.field(name).aliases[:3])
            raise MissingColumnError(
                f"{path}：{TABLE_LABELS[spec.name]}缺少必需列 {name!r}（{aliases}）；"
                f"现有列：{'、'.join(headers.get(c, str(c)) for c in present) or '（无）'}",
                path=path,
                column=name,
            )
    extra = [c for c in present if c not in spec.read_columns]
    if extra:
        warnings.append(f"忽略未知列：{'、'.join(headers.get(c, str(c)) for c in extra)}")
    cells, controls = {}, 0
    for c in spec.read_columns:
        if c in present:
            cells[c], n = _clean(raw[c])
            controls += n
    cells = pd.DataFrame(cells, index=raw.index).reset_index(drop=True)
    if controls:
        warnings.append(f"删除 {controls} 个控制字符（如 \\x01，多来自其他系统的复制粘贴）")
    rows = np.arange(len(raw)) + (table.first_row if table is not None else 2)
    counts = np.zeros(len(raw), int)  # fields of CSV rows longer than the header
    if table is not None and table.ragged:
        counts[list(table.ragged)] = list(table.ragged.values())
    blank = (cells == "").all(axis=1).to_numpy() if len(cells.columns) else np.ones(len(raw), bool)
    blank = blank & (counts == 0)
    kinds = office.line_kinds(raw.reset_index(drop=True)) if len(raw) else np.array([], object)
    kinds[counts > 0] = ""
    blank &= kinds == ""
    lines = kinds != ""
    dup = np.zeros(len(raw), bool)
    ok = ~blank & ~lines & (counts == 0)
    dup[ok] = office.exact_duplicates(raw.reset_index(drop=True).loc[ok])
    skipped = {
        "blank": int(blank.sum()),
        "total_lines": int((kinds == "total").sum()),
        "note_lines": int((kinds == "note").sum()),
        "duplicates": int(dup.sum()),
    }
    _skip_warnings(skipped, rows, kinds, dup, warnings)
    keep_rows = ~blank & ~lines & ~dup
    cells, rows, counts = (
        cells.loc[keep_rows].reset_index(drop=True),
        rows[keep_rows],
        counts[keep_rows],
    )
    problems = Problems(path.name, rows, cells, headers)
    width = len(headers) or len(present)
    for i in np.flatnonzero(counts):
        problems.reject(
            int(i),
            "",
            f"该行有 {counts[i]} 个字段，多于表头的 {width} 列"
            "（文本中可能有未加引号的逗号或分隔符）",
            "ragged_row",
            value=f"{counts[i]} 个字段",
        )
    derived = C.CADRE_ID in cells and (cells[C.CADRE_ID] == "").all() and C.ID_CARD in cells
    identity = _identity(
        cells,
        problems,
        warnings,
        derived=derived,
        secret=id_secret,
        id_aliases=id_aliases,
        roster=spec.name == "cadres",
    )
    problems.cells = cells
    date_only = np.zeros(len(cells), bool)
    if spec.name == "courses":
        date_only = _office_sessions(cells, problems, warnings)
    if spec.name == "cadres":
        _unit_levels(cells, warnings)
    out = {}
    for f in spec.fields:
        col = cells[f.name] if f.name in cells else pd.Series([""] * len(cells), dtype=str)
        out[f.name] = _coerce(f, col, problems, warnings).reset_index(drop=True)
    typed = pd.DataFrame(out, columns=spec.columns)
    _full_days(typed, date_only, warnings)
    _check_sessions(typed, problems)
    external = _check_references(
        typed, known_ids or {}, rejected_ids or {}, problems, outside_catalog=outside_catalog
    )
    _check_unique(typed, spec, problems)
    keep = np.ones(len(typed), bool)
    keep[list(problems.bad)] = False
    outside = np.zeros(len(typed), bool)
    outside[external] = True
    outside &= keep
    frame = typed.loc[keep & ~outside].reset_index(drop=True)
    rejects, cleared = problems.frames()
    load = TableLoad(
        spec.name,
        path,
        frame,
        rejects,
        warnings,
        len(typed),
        cleared=cleared,
        sheet=table.sheet if table is not None else None,
        rejected_ids=_rejected_keys(spec, cells, problems, rejects, set(frame.get(spec.key, []))),
        skipped=skipped,
        identity=identity,
        external=_external_frame(typed, outside, raw, keep_rows),
    )
    logger.info(
        "%s: %d rows in, %d accepted, %d rejected, %d cells cleared, %d outside the catalog",
        path.name,
        load.rows_in,
        len(frame),
        load.rows_rejected,
        len(cleared),
        int(outside.sum()),
    )
    return load


def _skip_warnings(
    skipped: dict[str, int], rows: np.ndarray, kinds: np.ndarray, dup: np.ndarray, out: list[str]
) -> None:
    if skipped["blank"]:
        out.append(f"跳过 {skipped['blank']} 行空行")
    for kind, label in (("total", "合计行"), ("note", "注释/说明行")):
        where = rows[kinds == kind]
        if len(where):
            out.append(
                f"跳过 {len(where)} 行{label}（第 {'、'.join(map(str, where[:5]))} 行），不计入数据"
            )
    if dup.any():
        out.append(
            f"删除 {int(dup.sum())} 行完全重复的记录（与前面某行逐格相同；首个在第 "
            f"{rows[np.flatnonzero(dup)[0]]} 行）"
        )


def _external_frame(
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


def _rejected_keys(
    spec: TableSpec, cells: pd.DataFrame, problems: Problems, rejects: pd.DataFrame, kept: set
) -> dict[str, str]:
    """Key of each rejected row (not also accepted elsewhere) → 'file 第 N 行：列 reason'."""
    if spec.key is None or spec.key not in cells or rejects.empty:
        return {}
    first = rejects.drop_duplicates("row").set_index("row")
    out: dict[str, str] = {}
    for i in sorted(problems.bad):
        key, row = cells[spec.key].iloc[i], int(problems.rows[i])
        if key and key not in kept and key not in out and row in first.index:
            line = first.loc[row]
            out[key] = f"{line['file']} 第 {row} 行：列“{line['column']}”{line['reason']}"
    return out


def _check_sessions(typed: pd.DataFrame, problems: Problems) -> None:
    """An end before its start is an optional cell gone wrong: the end is cleared."""
    if C.SESSION_START not in typed or C.SESSION_END not in typed:
        return
    start, end = typed[C.SESSION_START], typed[C.SESSION_END]
    for i in np.flatnonzero((end < start).to_numpy()):
        problems.clear(
            int(i),
            C.SESSION_END,
            f"结束时间早于开始时间（{start.iloc[i]}）",
            "session_order",
        )
        typed.loc[i, C.SESSION_END] = pd.NaT


def _check_references(
    typed: pd.DataFrame,
    known_ids: dict[str, set[str]],
    rejected: Mapping[str, Mapping[str, str]],
    problems: Problems,
    *,
    outside_catalog: bool = False,
) -> list[int]:
    """Reject rows naming an unknown id; with ``outside_catalog``, rows naming a course the
    catalog neither holds nor rejected are returned instead (records of platform courses)."""
    external: list[int] = []
    for column, ids in known_ids.items():
        if column not in typed:
            continue
        values = typed[column]
        unknown = (values != "") & ~values.isin(ids)
        table = next((t.name for t in TABLES.values() if t.key == column), column)
        label = TABLE_LABELS.get(table, table)
        for i in np.flatnonzero(unknown.to_numpy()):
            v = values.iloc[i]
            why = rejected.get(column, {}).get(v)
            if outside_catalog and column == C.COURSE_ID and not why:
                external.append(int(i))
                continue
            reason = f"{problems.header(column)} {problems.show(v)} 不在{label}中" + (
                f"（该行在加载时被拒收：{why}）" if why else ""
            )
            problems.reject(int(i), column, reason, "unknown_id")
    return external


def _check_unique(typed: pd.DataFrame, spec: TableSpec, problems: Problems) -> None:
    for f in spec.fields:
        if not f.unique:
            continue
        first: dict[object, int] = {}
        for i, v in enumerate(typed[f.name]):
            if i in problems.bad or v == "":
                continue
            if v in first:
                row = problems.rows[first[v]]
                reason = (
                    f"重复的{problems.header(f.name)} {problems.show(v)}（首次出现在第 {row} 行）"
                )
                problems.reject(i, f.name, reason, "duplicate")
            else:
                first[v] = i


def load_table(
    path: Path | str,
    spec: TableSpec,
    *,
    known_ids: dict[str, set[str]] | None = None,
    rejected_ids: Mapping[str, Mapping[str, str]] | None = None,
    sheet: str | None = None,
    max_rows: int = MAX_SHEET_ROWS,
    id_secret: bytes | str | None = None,
    id_aliases: Mapping[str, str] | None = None,
    outside_catalog: bool = False,
) -> TableLoad:
    """Read and validate one table file; see the module docstring for the rules."""
    table = read_table(path, spec, sheet=sheet, max_rows=max_rows)
    try:
        load = validate_frame(
            table.frame,
            spec,
            path=path,
            known_ids=known_ids,
            rejected_ids=rejected_ids,
            table=table,
            id_secret=id_secret,
            id_aliases=id_aliases,
            outside_catalog=outside_catalog,
        )
    except (ValueError, TypeError, OverflowError) as exc:  # a parser gap must still name the file
        raise DataError(f"{path}：无法解析（{type(exc).__name__}: {exc}）", path=path) from exc
    load.warnings[:0] = table.warnings
    return load


@dataclass
class Dataset:
    """The three contract tables, validated, with their load reports.

    ``external``: records of courses outside the catalog (platform 专题网班 …) — the
    completion columns plus ``title``; they count toward a cadre's hours earned and are never
    recommended (``completions`` holds only catalog courses).
    """

    courses: pd.DataFrame
    cadres: pd.DataFrame
    completions: pd.DataFrame
    loads: dict[str, TableLoad]
    warnings: list[str] = field(default_factory=list)
    rejects_dir: str | None = None
    external: pd.DataFrame = field(default_factory=pd.DataFrame)

    def summary(self) -> pd.DataFrame:
        """One row per table: table, file, rows_in, accepted, rejected, warnings."""
        return pd.DataFrame(
            [
                {
                    "table": name,
                    "file": load.path.name,
                    "rows_in": load.rows_in,
                    "accepted": len(load.frame),
                    "rejected": load.rows_rejected,
                    "warnings": len(load.warnings),
                }
                for name, load in self.loads.items()
            ]
        )

    def rejects(self) -> pd.DataFrame:
        """All problem lines (rejected rows and cleared cells), with a leading ``table``."""
        parts = [load.problems().assign(table=name) for name, load in self.loads.items()]
        out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=REJECT_COLUMNS)
        return out[["table", *REJECT_COLUMNS]] if len(parts) else out

    @property
    def rows_rejected(self) -> int:
        """Rows rejected over all tables."""
        return sum(load.rows_rejected for load in self.loads.values())

    def rejects_by_reason(self) -> pd.DataFrame:
        """Counts of problem lines by table, column, rule and action, most frequent first.

        Columns: table, column, rule, action, lines, rows (distinct), example (first reason).
        """
        all_rejects = self.rejects()
        cols = ["table", "column", "rule", "action", "lines", "rows", "example"]
        if all_rejects.empty:
            return pd.DataFrame(columns=cols)
        grouped = all_rejects.groupby(["table", "column", "rule", "action"], sort=False)
        out = grouped.agg(
            lines=("row", "size"), rows=("row", "nunique"), example=("reason", "first")
        ).reset_index()
        return out.sort_values("lines", ascending=False, kind="stable").reset_index(drop=True)[cols]

    def load_report(self) -> list[dict]:
        """Per table: counts and reasons as plain data (JSON-ready; kept in model metadata)."""
        return [load.summary() for load in self.loads.values()]

    def report_lines(self) -> list[str]:
        """The load report in Chinese, one line per table and per reason."""
        return format_load_report(self.load_report(), rejects_dir=self.rejects_dir)

    def rejected_ids(self, limit: int = 10_000) -> dict[str, dict[str, str]]:
        """Ids of rejected course and cadre rows → why, so 'unknown cadre' can say why."""
        out = {}
        for load in self.loads.values():
            key = TABLES[load.name].key
            if key and load.rejected_ids:
                out[key] = dict(list(load.rejected_ids.items())[:limit])
        return out


def _dataset_warnings(courses: pd.DataFrame, cadres: pd.DataFrame) -> list[str]:
    out = []
    profile = cadres[[C.JOB_TITLE, C.JOB_DESCRIPTION, C.DECLARED_NEEDS]]
    empty_profile = cadres.loc[(profile == "").all(axis=1), C.CADRE_ID]
    if len(empty_profile):
        out.append(
            f"干部表：{len(empty_profile)} 名干部画像为空（岗位、岗位职责、学习需求都为空）："
            f"{_ids(empty_profile)}"
        )
    unknown = unknown_audiences(courses[C.AUDIENCE]) if C.AUDIENCE in courses else {}
    if unknown:
        shown = "、".join(f"“{w}”（{n} 门）" for w, n in list(unknown.items())[:10])
        out.append(
            f"课程表：适用对象中有 {len(unknown)} 种写法无法识别，按“全体干部”处理：{shown}；"
            "可在适用对象分类（audience.toml，环境变量 XUANXUE_AUDIENCE）中补充"
        )
    no_desc = courses.loc[courses[C.DESCRIPTION] == "", C.COURSE_ID]
    if len(no_desc):
        out.append(f"课程表：{len(no_desc)} 门课程没有简介：{_ids(no_desc)}")
    known = set(courses[C.COURSE_ID])
    missing = sorted({p for v in courses[C.PREREQUISITES] for p in split_list(v)} - known)
    if missing:
        out.append(f"课程表：{len(missing)} 个先修课程编号不在课程表中：{_ids(missing)}")
    return out


def _ids(values: object, limit: int = 10) -> str:
    values = list(values)
    shown = ", ".join(map(str, values[:limit]))
    return shown + (f" …（另有 {len(values) - limit} 个）" if len(values) > limit else "")


def _write_rejects(load: TableLoad, directory: Path) -> None:
    target = directory / f"{load.name}.rejects.csv"
    lines = load.problems()  # rejected rows and cleared cells
    if len(lines):
        from recommender.data.spreadsheet import write_csv  # no cell may run as a formula

        # cell values are attacker text: private (0600), and a planted symlink is refused
        write_csv(lines, target, encoding="utf-8-sig", private=True)
        logger.info("wrote %d rejects lines to %s", len(lines), target)
    elif os.path.lexists(target):
        target.unlink()  # a stale report (or a link planted there: removed, never followed)


def load_dataset(
    directory: Path | str | None = None,
    *,
    files: Mapping[str, Path | str | None] | None = None,
    sheet: str | Mapping[str, str | None] | None = None,
    max_rows: int = MAX_SHEET_ROWS,
    rejects_dir: Path | str | None = None,
    write_rejects: bool = True,
    id_secret: bytes | str | None = None,
) -> Dataset:
    """Load courses, cadres and completions (checked against accepted ids).

    Each table is ``files[name]`` when given, else found in ``directory`` (``courses.*``,
    ``课程.*`` …). ``sheet`` names the workbook sheet to read (one name, or one per table);
    otherwise the first sheet holding the required columns is read. Writes
    ``<name>.rejects.csv`` (UTF-8 with BOM, for Excel) to ``rejects_dir`` (default: the data
    directory, else the table file's folder) when a table has problems, and removes a stale one
    when it has none.

    A roster keyed by 身份证号 gets hashed cadre ids and masked display ids
    (:mod:`recommender.data.identity`) under ``id_secret`` — default: the deployment's
    :func:`~recommender.data.identity.identity_secret`, read (or created) only when a table
    has a 身份证号 column; tests pass :data:`~recommender.data.identity.TEST_ID_SECRET`.
    Records of courses outside the catalog go to ``Dataset.external``.
    """
    files = {k: Path(v) for k, v in (files or {}).items() if v is not None}
    if directory is None and not all(t in files for t in TABLES):
        missing = [f"--{t}" for t in TABLES if t not in files]
        raise DataError(f"没有数据目录，也没有指定 {'、'.join(missing)} 文件")
    sheets = sheet if isinstance(sheet, Mapping) else dict.fromkeys(TABLES, sheet)

    secret: list[bytes | str | None] = [id_secret]

    def load(spec: TableSpec, **kw) -> TableLoad:
        path = files.get(spec.name) or find_table_file(Path(directory), spec.name)
        return load_table(
            path, spec, sheet=sheets.get(spec.name), max_rows=max_rows, id_secret=secret[0], **kw
        )

    courses, cadres = load(COURSES), load(CADRES)
    known = {
        C.CADRE_ID: set(cadres.frame[C.CADRE_ID]),
        C.COURSE_ID: set(courses.frame[C.COURSE_ID]),
    }
    rejected = {C.CADRE_ID: cadres.rejected_ids, C.COURSE_ID: courses.rejected_ids}
    hashed = cadres.frame[C.ID_HASH]
    known_hash = hashed != ""
    aliases = dict(zip(hashed[known_hash], cadres.frame.loc[known_hash, C.CADRE_ID], strict=True))
    completions = load(
        COMPLETIONS,
        known_ids=known,
        rejected_ids=rejected,
        id_aliases=aliases,
        outside_catalog=True,
    )
    loads = {load.name: load for load in (courses, cadres, completions)}
    if rejects_dir is None and directory is not None:
        rejects_dir = directory
    if write_rejects:
        for t in loads.values():
            _write_rejects(t, Path(rejects_dir) if rejects_dir is not None else t.path.parent)
    warnings = [
        f"{TABLE_LABELS.get(name, name)}：{w}"
        for name, load in loads.items()
        for w in load.warnings
    ]
    warnings += _dataset_warnings(courses.frame, cadres.frame)
    warnings += _cascade_warnings(courses, completions)
    return Dataset(
        courses.frame,
        cadres.frame,
        completions.frame,
        loads,
        warnings,
        rejects_dir=str(rejects_dir) if write_rejects and rejects_dir is not None else None,
        external=completions.external,
    )


def _cascade_warnings(courses: TableLoad, completions: TableLoad) -> list[str]:
    """Say it when a rejected course (or cadre) takes its records with it, and how many
    records of courses outside the catalog were kept apart."""
    out = []
    lines = completions.rejects
    if len(lines):
        unknown = lines[(lines["rule"] == "unknown_id") & (lines["field"] == C.COURSE_ID)]
        why = unknown[unknown["reason"].str.contains("该行在加载时被拒收", regex=False)]
        by_course = why.groupby("value", sort=False)["row"].nunique()
        for course, n in by_course.head(10).items():
            reason = courses.rejected_ids.get(str(course), "")
            out.append(
                f"学习记录表：课程 {course!r} 在课程表中被拒收（{reason}），"
                f"其 {n} 条学习记录随之拒收；修正该课程后重新导入即可恢复"
            )
        if len(by_course) > 10:
            out.append(f"学习记录表：另有 {len(by_course) - 10} 门被拒收课程的学习记录随之拒收")
    ext = completions.external
    if len(ext):
        n_courses = ext[C.COURSE_ID].nunique()
        example = ext[C.TITLE].iloc[0] or ext[C.COURSE_ID].iloc[0]
        out.append(
            f"学习记录表：{len(ext)} 条记录的课程（{n_courses} 门，如 {example}）"
            "不在课程目录中：计为目录外学时（计入已获学时，不参与推荐）"
        )
    return out
