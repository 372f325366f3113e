"""What every variant builder shares: the variant record, its expected outcome, the county
fixture's rows, and writers that give the same bytes on every run."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tests.fixtures import county_export

TABLES = ("courses", "cadres", "completions")
#: the catalog's columns, as the county fixture writes them
HEADER = ["序号", "课程类别", "课程编号", "课程名称", "授课教师", "授课形式", "学时", "开课时间",
          "适用对象", "备注"]  # fmt: skip
ROSTER_HEADER = ["序号", "姓名", "性别", "身份证号", "单位", "职务", "职级", "分管工作"]
ONLINE = ("网络课程", "微课")
#: figures of a table the expectations may name (keys of ``validate --json``'s ``tables``)
FIGURES = ("rows_in", "accepted", "rejected", "cleared_cells", "external")
FIXED_TIME = (2026, 1, 15, 9, 0, 0)


@dataclass(frozen=True)
class Expect:
    """One expected figure: ``table.figure op value``; ``value=None`` means "as in the run
    of the unchanged county fixture" (so library changes that move the baseline don't read
    as failures of a variant that only changes layout)."""

    table: str
    figure: str
    op: str = "=="
    value: int | None = None
    plus: int = 0  # added to the base figure when ``value`` is None (five strangers' rows)

    def want(self, base: int | None) -> int | None:
        if self.value is not None:
            return self.value
        return None if base is None else base + self.plus

    def holds(self, got: int | None, base: int | None) -> bool | None:
        """True/False, or None when the run has no such figure (an error, an older tree)."""
        want = self.want(base)
        if got is None or want is None:
            return None
        return {"==": got == want, "<=": got <= want, ">=": got >= want}[self.op]

    def text(self, base: int | None = None) -> str:
        if self.value is not None:
            return f"{self.figure} {self.op} {self.value}"
        plus = f" + {self.plus}" if self.plus else ""
        return f"{self.figure} {self.op} 基准{'' if base is None else f' {base}'}{plus}"


def same(table: str, *figures: str, **values: int) -> tuple[Expect, ...]:
    """``figures`` equal to the unchanged fixture's run; ``values`` equal to these numbers."""
    return (
        *(Expect(table, f) for f in figures),
        *(Expect(table, f, "==", v) for f, v in values.items()),
    )


#: a catalog that only changes layout: every course read, none rejected
CATALOG_OK = same("courses", accepted=115, rejected=0)
ROSTER_OK = same("cadres", "accepted", "rejected")
RECORDS_OK = same("completions", "accepted", "rejected")


@dataclass(frozen=True)
class Variant:
    """One office's file (or files) in place of the fixture's.

    ``key`` is short and stable (``v01``, ``R4``, ``C10``); ``label`` says in Chinese what the
    office did; ``files`` maps each replaced table to its file (the other tables are the
    fixture's); ``expect`` is the outcome a user would call right, where that is clear.
    """

    key: str
    label: str
    files: Mapping[str, Path]
    expect: tuple[Expect, ...] = ()

    @property
    def tables(self) -> tuple[str, ...]:
        """Tables whose figures are reported: the replaced ones (all three for the base)."""
        return tuple(t for t in TABLES if t in self.files) or TABLES

    def inputs(self, fixture: Mapping[str, Path]) -> dict[str, Path]:
        return {t: Path(self.files.get(t, fixture[t])) for t in TABLES}


@dataclass(frozen=True)
class County:
    """The fixture's rows, drawn as ``county_export.generate`` draws them (same seed)."""

    courses: list[dict]
    cadres: list[dict]
    records: list[list[str]]  # header first

    @property
    def record_header(self) -> list[str]:
        return self.records[0]

    @property
    def record_body(self) -> list[list[str]]:
        return self.records[1:]


@cache
def county() -> County:
    rng = random.Random(county_export.SEED)
    courses = county_export.catalog(rng)
    cadres = county_export.roster(rng)
    return County(courses, cadres, county_export.records(rng, courses, cadres))


def rng_for(key: str) -> random.Random:
    """A variant's own random stream: adding a variant never changes another's bytes."""
    return random.Random(f"{county_export.SEED}-{key}")


def blocks(rows: list[dict]) -> list[tuple[str, list[dict]]]:
    """Consecutive courses of one 课程类别, as the catalog groups them."""
    out: list[tuple[str, list[dict]]] = []
    for r in rows:
        if out and out[-1][0] == r["课程类别"]:
            out[-1][1].append(r)
        else:
            out.append((r["课程类别"], [r]))
    return out


def course_values(c: dict, n: int) -> list:
    """One catalog row in ``HEADER`` order, blanks as empty cells."""
    return [n, *(c[h] or None for h in HEADER[1:])]


def roster_values(c: dict) -> list:
    return [c[h] for h in ROSTER_HEADER]


def to15(id18: str) -> str:
    """The old 15-digit form of an 18-digit 身份证号 (no century, no check character)."""
    return id18[:6] + id18[8:17]


def csv_bytes(rows: list[list], encoding: str, delimiter: str = ",") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buf.getvalue().encode(encoding)


def save_book(book, path: Path, edit: Callable[[str, bytes], bytes] | None = None) -> Path:
    """Save an openpyxl workbook with fixed document times and zip dates (same bytes on every
    run); ``edit(name, data)`` may rewrite a part, as another program would have saved it."""
    book.properties.creator = "县委党校教务科"
    book.properties.created = book.properties.modified = dt.datetime(*FIXED_TIME)
    raw = io.BytesIO()
    book.save(raw)
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = _fixed_modified(data)
            if edit is not None:
                data = edit(info.filename, data)
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(entry, data)
    return path


def _fixed_modified(core: bytes) -> bytes:
    return re.sub(
        rb"<dcterms:modified[^>]*>[^<]*<",
        b'<dcterms:modified xsi:type="dcterms:W3CDTF">2026-01-15T09:00:00Z<',
        core,
    )
