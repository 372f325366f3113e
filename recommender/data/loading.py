"""Load and validate the data contract (v1): typed frames plus a rejects list.

Reading (encodings, XLSX, Parquet, header aliases) lives in :mod:`recommender.data.readers`; this module
turns the string cells into typed columns following :data:`recommender.data.schema.TABLES`.

Choices, kept simple and consistent:

* A row with **any** invalid value — required or optional column — is rejected as a whole,
  with one rejects line per problem, because the contract says rows that break it are
  rejected. Empty optional values are fine: they take ``Field.default`` (or NaN/NaT/'').
* For typed (non-text) columns the placeholders ``NULL``, ``None``, ``NaN``, ``N/A``, ``-``,
  ``—`` and ``/`` count as empty, as SQL and Excel exports write them for "no value".
* Text values are stripped of surrounding whitespace and zero-width characters but otherwise
  kept verbatim (full-width and traditional characters are the tokenizer's business).
* Uniqueness is checked among rows that are otherwise valid: the first valid occurrence of a
  key is kept, later ones are rejected naming the row of the first.
* Fully blank rows are skipped with a warning and not counted in ``rows_in``.
* Row numbers are spreadsheet-style: the header is row 1, the first data row is row 2.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.data import readers as rio
from recommender.data.readers import (
    ZERO_WIDTH,
    DataError,
    MissingColumnError,
    UnreadableFileError,
    find_table_file,
    fingerprint,
    read_raw,
    read_raw_with_warnings,
)
from recommender.data.schema import CADRES, COMPLETIONS, COURSES, LIST_SEPARATORS, Field, TableSpec
from recommender.data.schema import Columns as C

__all__ = [
    "DataError",
    "Dataset",
    "MissingColumnError",
    "TableLoad",
    "UnreadableFileError",
    "find_table_file",
    "fingerprint",
    "load_dataset",
    "load_table",
    "read_raw",
    "split_list",
    "validate_frame",
]

logger = logging.getLogger(__name__)

REJECT_COLUMNS = ["file", "row", "column", "value", "reason", "rule"]
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
    rejects : one line per problem: file, row, column, value, reason, rule (short code).
    warnings : non-fatal observations (unknown columns, blank rows, very long text …).
    rows_in : non-blank data rows read; always ``len(frame) + rows_rejected``.
    """

    name: str
    path: Path
    frame: pd.DataFrame
    rejects: pd.DataFrame
    warnings: list[str]
    rows_in: int

    @property
    def rows_rejected(self) -> int:
        """Number of distinct rows rejected (a row can have several problems)."""
        return int(self.rejects["row"].nunique())


class _Problems:
    """Collects rejects lines while a table is validated; values are the raw cells."""

    def __init__(self, file: str, rows: np.ndarray, cells: pd.DataFrame) -> None:
        self.file, self.rows, self.cells = file, rows, cells
        self.lines: list[tuple] = []
        self.bad: set[int] = set()

    def add(self, i: int, column: str, reason: str, rule: str) -> None:
        self.bad.add(i)
        value = self.cells[column].iloc[i] if column in self.cells else ""
        self.lines.append((self.file, int(self.rows[i]), column, rio.clip(value), reason, rule))

    def frame(self) -> pd.DataFrame:
        out = pd.DataFrame(self.lines, columns=REJECT_COLUMNS)
        out["row"] = out["row"].astype("int64")
        return out.sort_values(["row"], kind="stable").reset_index(drop=True)


def _clean(col: pd.Series) -> pd.Series:
    if pd.api.types.is_string_dtype(col) and not col.isna().any():
        col = col.astype(str)
    else:  # frames built in memory (service, notebooks) may hold native values
        col = col.astype(object).map(rio.cell_to_str).astype(str)
    col = col.str.replace("[\u200b\u2060\ufeff]", "", regex=True)
    return col.str.strip().str.strip(ZERO_WIDTH).str.strip()


def _coerce(f: Field, col: pd.Series, problems: _Problems, warnings: list[str]) -> pd.Series:
    """Typed column for field ``f``; invalid cells are reported and left missing."""
    empty = col == "" if f.kind == "str" else col.isin(rio.empty_values(col))
    for i in np.flatnonzero(empty.to_numpy() & f.required):
        problems.add(int(i), f.name, "required value missing", "missing")
    if f.kind == "str":
        long = np.flatnonzero(col.str.len().to_numpy() > LONG_TEXT)
        if len(long):
            warnings.append(
                f"very long text in column {f.name}, row {problems.rows[long[0]]} "
                f"({len(long)} cell(s) over {LONG_TEXT:,} characters)"
            )
        return col.astype(str)
    values, errors = rio.parse_column(f, col.where(~empty, ""))
    for i, (reason, rule) in errors.items():
        problems.add(i, f.name, reason, rule)
    return values


def validate_frame(
    raw: pd.DataFrame,
    spec: TableSpec,
    *,
    path: Path | str = "<frame>",
    known_ids: dict[str, set[str]] | None = None,
) -> TableLoad:
    """Validate a frame of strings (as :func:`read_raw` returns) against ``spec``."""
    path = Path(path)
    warnings: list[str] = []
    present = list(raw.columns)
    for name in spec.required:
        if name not in present:
            raise MissingColumnError(
                f"{path}: required column {name!r} is missing from the {spec.name} table; "
                f"columns found: {', '.join(map(str, present)) or '(none)'}",
                path=path,
                column=name,
            )
    extra = [c for c in present if c not in spec.columns]
    if extra:
        warnings.append(f"ignored unknown columns: {', '.join(map(str, extra))}")
    cells = pd.DataFrame({c: _clean(raw[c]) for c in spec.columns if c in present})
    rows = np.arange(len(raw)) + 2
    blank = (cells == "").all(axis=1).to_numpy() if len(cells.columns) else np.ones(len(raw), bool)
    if blank.any():
        warnings.append(f"skipped {int(blank.sum())} blank row(s)")
    cells, rows = cells.loc[~blank].reset_index(drop=True), rows[~blank]
    problems = _Problems(path.name, rows, cells)
    out = {}
    for f in spec.fields:
        col = cells[f.name] if f.name in cells else pd.Series([""] * len(cells), dtype=str)
        out[f.name] = _coerce(f, col, problems, warnings).reset_index(drop=True)
    typed = pd.DataFrame(out, columns=spec.columns)
    _check_sessions(typed, problems)
    _check_references(typed, known_ids or {}, problems)
    _check_unique(typed, spec, problems)
    keep = np.ones(len(typed), bool)
    keep[list(problems.bad)] = False
    frame = typed.loc[keep].reset_index(drop=True)
    load = TableLoad(spec.name, path, frame, problems.frame(), warnings, len(typed))
    logger.info(
        "%s: %d rows in, %d accepted, %d rejected",
        path.name,
        load.rows_in,
        len(frame),
        load.rows_rejected,
    )
    return load


def _check_sessions(typed: pd.DataFrame, problems: _Problems) -> None:
    if C.SESSION_START not in typed or C.SESSION_END not in typed:
        return
    start, end = typed[C.SESSION_START], typed[C.SESSION_END]
    for i in np.flatnonzero((end < start).to_numpy()):
        problems.add(
            int(i),
            C.SESSION_END,
            f"session_end before session_start ({start.iloc[i]})",
            "session_order",
        )


def _check_references(
    typed: pd.DataFrame, known_ids: dict[str, set[str]], problems: _Problems
) -> None:
    for column, ids in known_ids.items():
        if column not in typed:
            continue
        values = typed[column]
        unknown = (values != "") & ~values.isin(ids)
        for i in np.flatnonzero(unknown.to_numpy()):
            v = values.iloc[i]
            problems.add(int(i), column, f"unknown {column} {rio.show(v)}", "unknown_id")


def _check_unique(typed: pd.DataFrame, spec: TableSpec, problems: _Problems) -> None:
    for f in spec.fields:
        if not f.unique:
            continue
        first: dict[object, int] = {}
        for i, v in enumerate(typed[f.name]):
            if i in problems.bad or v == "":
                continue
            if v in first:
                row = problems.rows[first[v]]
                problems.add(i, f.name, f"duplicate {f.name} (first at row {row})", "duplicate")
            else:
                first[v] = i


def load_table(
    path: Path | str, spec: TableSpec, *, known_ids: dict[str, set[str]] | None = None
) -> TableLoad:
    """Read and validate one table file; see the module docstring for the rules."""
    raw, warnings = read_raw_with_warnings(path, spec)
    load = validate_frame(raw, spec, path=path, known_ids=known_ids)
    load.warnings[:0] = warnings
    return load


@dataclass
class Dataset:
    """The three contract tables, validated, with their load reports."""

    courses: pd.DataFrame
    cadres: pd.DataFrame
    completions: pd.DataFrame
    loads: dict[str, TableLoad]
    warnings: list[str] = field(default_factory=list)

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
        """All rejects lines, with a leading ``table`` column."""
        parts = [load.rejects.assign(table=name) for name, load in self.loads.items()]
        out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=REJECT_COLUMNS)
        return out[["table", *REJECT_COLUMNS]] if len(parts) else out

    def rejects_by_reason(self) -> pd.DataFrame:
        """Counts of rejects lines by table, column and rule, most frequent first.

        Columns: table, column, rule, lines, rows (distinct), example (first reason).
        """
        all_rejects = self.rejects()
        cols = ["table", "column", "rule", "lines", "rows", "example"]
        if all_rejects.empty:
            return pd.DataFrame(columns=cols)
        grouped = all_rejects.groupby(["table", "column", "rule"], sort=False)
        out = grouped.agg(
            lines=("row", "size"), rows=("row", "nunique"), example=("reason", "first")
        ).reset_index()
        return out.sort_values("lines", ascending=False, kind="stable").reset_index(drop=True)[cols]


def _dataset_warnings(courses: pd.DataFrame, cadres: pd.DataFrame) -> list[str]:
    out = []
    profile = cadres[[C.JOB_TITLE, C.JOB_DESCRIPTION, C.DECLARED_NEEDS]]
    empty_profile = cadres.loc[(profile == "").all(axis=1), C.CADRE_ID]
    if len(empty_profile):
        out.append(
            f"cadres: {len(empty_profile)} cadre(s) have an empty profile (job_title, "
            f"job_description and declared_needs all empty): {_ids(empty_profile)}"
        )
    no_desc = courses.loc[courses[C.DESCRIPTION] == "", C.COURSE_ID]
    if len(no_desc):
        out.append(f"courses: {len(no_desc)} course(s) have an empty description: {_ids(no_desc)}")
    known = set(courses[C.COURSE_ID])
    missing = sorted({p for v in courses[C.PREREQUISITES] for p in split_list(v)} - known)
    if missing:
        out.append(
            f"courses: {len(missing)} prerequisite id(s) not in the catalog: {_ids(missing)}"
        )
    return out


def _ids(values: object, limit: int = 10) -> str:
    values = list(values)
    shown = ", ".join(map(str, values[:limit]))
    return shown + (f" … (+{len(values) - limit} more)" if len(values) > limit else "")


def _write_rejects(load: TableLoad, directory: Path) -> None:
    target = directory / f"{load.name}.rejects.csv"
    if len(load.rejects):
        directory.mkdir(parents=True, exist_ok=True)
        from recommender.data.spreadsheet import write_csv  # no cell may run as a formula

        write_csv(load.rejects, target, encoding="utf-8-sig")
        logger.info("wrote %d rejects lines to %s", len(load.rejects), target)
    elif target.exists():
        target.unlink()


def load_dataset(
    directory: Path | str, *, rejects_dir: Path | str | None = None, write_rejects: bool = True
) -> Dataset:
    """Load courses, cadres and completions (checked against accepted ids) from ``directory``.

    Writes ``<name>.rejects.csv`` (UTF-8 with BOM, for Excel) to ``rejects_dir`` (default: the
    data directory) when a table has rejects, and removes a stale one when it has none.
    """
    directory = Path(directory)
    courses = load_table(find_table_file(directory, COURSES.name), COURSES)
    cadres = load_table(find_table_file(directory, CADRES.name), CADRES)
    known = {
        C.CADRE_ID: set(cadres.frame[C.CADRE_ID]),
        C.COURSE_ID: set(courses.frame[C.COURSE_ID]),
    }
    completions = load_table(
        find_table_file(directory, COMPLETIONS.name), COMPLETIONS, known_ids=known
    )
    loads = {load.name: load for load in (courses, cadres, completions)}
    if write_rejects:
        for load in loads.values():
            _write_rejects(load, Path(rejects_dir) if rejects_dir is not None else directory)
    warnings = [f"{name}: {w}" for name, load in loads.items() for w in load.warnings]
    warnings += _dataset_warnings(courses.frame, cadres.frame)
    return Dataset(courses.frame, cadres.frame, completions.frame, loads, warnings)
