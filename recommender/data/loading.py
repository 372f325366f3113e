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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.data import export_steps as steps
from recommender.data import office
from recommender.data import readers as rio
from recommender.data.catalog import unknown_audiences
from recommender.data.cells import single_line
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
    for_people,
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
        ``note_lines`` (注：…), ``header_lines`` (the header repeated), ``section_lines``
        (一、政治理论), ``duplicates`` (exact copies of an earlier row).
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
    #: roster ids made from a 身份证号 that more than one row carried (the later rows rejected)
    duplicate_ids: frozenset[str] = frozenset()
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


#: characters ``str.strip()`` removes (Python's and Arrow's whitespace: the same 29) and the
#: zero-width ones, as one class both regex engines read
_EDGE = "[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200d\u2028\u2029\u202f\u205f\u2060\u3000\ufeff]"
#: a cell :func:`_clean` may change: whitespace or zero-width at an end, a zero-width or a
#: control character anywhere
_DIRTY = f"^{_EDGE}|{_EDGE}$|{office.CONTROL}|[\u200b\u2060\ufeff]"


def _clean(col: pd.Series) -> tuple[pd.Series, int]:
    """Stripped strings, zero-width and C0 control characters removed (and their count)."""
    if pd.api.types.is_string_dtype(col) and not col.isna().any():
        col = col.astype(str)
    else:  # frames built in memory (service, notebooks) may hold native values
        col = col.astype(object).map(rio.cell_to_str).astype(str)
    dirty = col.str.contains(_DIRTY, regex=True).to_numpy(bool)
    if dirty.all():
        return _clean_cells(col)
    if not dirty.any():  # millions of clean cells: one scan instead of five passes
        return col, 0
    cleaned, controls = _clean_cells(col[dirty])
    col = col.copy()
    col.iloc[np.flatnonzero(dirty)] = cleaned.to_numpy()
    return col, controls


def _clean_cells(col: pd.Series) -> tuple[pd.Series, int]:
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
    if empty.any():
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


#: fields shown on one line (a list, a heading): a line break typed in the cell is dropped
ONE_LINE_FIELDS = frozenset(
    {C.TITLE, C.CATEGORY, C.INSTRUCTOR, C.UNIT, C.JOB_TITLE, C.NAME, C.RANK, C.SYSTEM,
     C.REGION, C.POSITION_CATEGORY}
)  # fmt: skip


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
    copy = C.ID_CARD in raw or C.COMPLETED_AT in raw
    copy = copy or (C.CADRE_ID in raw and steps.holds_id_cards(raw[C.CADRE_ID]))
    raw = raw.copy() if copy else raw
    warnings += steps.derive_columns(raw, spec, headers)
    first_row = table.first_row if table is not None else 2
    if C.CATEGORY in spec.required and C.CATEGORY not in raw:  # 一、政治理论 rows name it
        raw, note = office.section_column(
            raw, C.CATEGORY, headers, key=spec.key, first_row=first_row
        )
        headers.update({C.CATEGORY: "课程类别（取自分类标题行）"} if note else {})
        warnings += note
    present = list(raw.columns)
    if missing := [name for name in spec.required if name not in present]:
        sheet = table.sheet if table is not None else None
        message = rio.missing_columns_message(
            spec, missing, present, headers, sheet=sheet, scanned=table is not None
        )
        raise MissingColumnError(f"{path}：{message}", path=path, column=missing[0])
    extra = [c for c in present if c not in spec.read_columns]
    if extra:
        shown = (rio.one_line(headers.get(c, c)) for c in extra)
        warnings.append(f"忽略未知列：{'、'.join(shown)}")
    cells, controls = {}, 0
    for c in spec.read_columns:
        if c in present:
            cells[c], n = _clean(raw[c])
            controls += n
            if c in ONE_LINE_FIELDS:  # a title typed with Alt+Enter reads as one line
                cells[c] = single_line(cells[c])
    cells = pd.DataFrame(cells, index=raw.index).reset_index(drop=True)
    if controls:
        warnings.append(f"删除 {controls} 个控制字符（如 \\x01，多来自其他系统的复制粘贴）")
    rows = np.arange(len(raw)) + first_row
    counts = np.zeros(len(raw), int)  # fields of CSV rows longer than the header
    if table is not None and table.ragged:
        counts[list(table.ragged)] = list(table.ragged.values())
    blank = (cells == "").all(axis=1).to_numpy() if len(cells.columns) else np.ones(len(raw), bool)
    blank = blank & (counts == 0)
    # 合计 (小计 beside a merged 课程类别), 注, a repeated header, a section title (一、政治理论)
    kinds = office.line_kinds(raw.reset_index(drop=True), headers, key=spec.key or C.COURSE_ID)
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
        "header_lines": int((kinds == "header").sum()),
        "section_lines": int((kinds == "section").sum()),
        "duplicates": int(dup.sum()),
    }
    steps.skip_warnings(skipped, rows, kinds, dup, warnings)
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
    steps.normalize_ids(cells)  # ＱＳ2026011 is QS2026011
    derived = C.CADRE_ID in cells and (cells[C.CADRE_ID] == "").all() and C.ID_CARD in cells
    identity = steps.identity(
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
        date_only = steps.office_sessions(cells, problems, warnings)
    if spec.name == "cadres":
        steps.unit_levels(cells, warnings)
    out = {}
    for f in spec.fields:
        col = cells[f.name] if f.name in cells else pd.Series([""] * len(cells), dtype=str)
        out[f.name] = _coerce(f, col, problems, warnings).reset_index(drop=True)
    typed = pd.DataFrame(out, columns=spec.columns)
    steps.full_days(typed, date_only, warnings)
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
    warnings += steps.name_mismatches(raw, keep_rows, typed, keep, id_aliases)
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
        duplicate_ids=steps.duplicated_ids(typed, keep) if spec.name == "cadres" else frozenset(),
        external=steps.external_frame(typed, outside, raw, keep_rows),
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
        write_csv(for_people(lines), target, encoding="utf-8-sig", private=True)
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
    on_catalog: Callable[[pd.DataFrame, pd.DataFrame], None] | None = None,
) -> Dataset:
    """Load courses, cadres and completions (checked against accepted ids).

    ``on_catalog(courses, cadres)`` is called with the accepted courses and cadres before the
    completions are read (training starts tokenising their texts meanwhile).

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
    if on_catalog is not None:
        on_catalog(courses.frame, cadres.frame)
    known = {
        C.CADRE_ID: set(cadres.frame[C.CADRE_ID]),
        C.COURSE_ID: set(courses.frame[C.COURSE_ID]),
    }
    rejected = {C.CADRE_ID: cadres.rejected_ids, C.COURSE_ID: courses.rejected_ids}
    aliases = steps.roster_ids(cadres.frame, cadres.duplicate_ids)
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
    warnings += steps.cascade_warnings(
        courses.rejected_ids, completions.rejects, completions.external
    )
    return Dataset(
        courses.frame,
        cadres.frame,
        completions.frame,
        loads,
        warnings,
        rejects_dir=str(rejects_dir) if write_rejects and rejects_dir is not None else None,
        external=completions.external,
    )
