"""Office files of a county academy, as offices really send them: variants of the county
fixture (``tests/fixtures/county``, written by ``tests/fixtures/county_export.py``).

Each :class:`Variant` replaces one table's file (courses, cadres or completions; C01 two)
and says in Chinese what the office did; the other tables are the fixture's own files.
Every variant is drawn from the fixture generator's rows with a fixed seed, so a run writes
the same bytes. ``benchmarks.bench_office`` validates them all; to look at the files::

    .venv/bin/python -m benchmarks.office_variants OUT_DIR

Modules: ``base`` (the variant record, expectations, fixed-byte writers), ``catalogs`` and
``catalog_cells`` (课程目录: layout; .xls and date cells), ``rosters`` (名册),
``records`` (学时记录), ``ids`` (the 身份证号 in a file, for the leak check).
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.office_variants.base import TABLES, Expect, Variant, county, same

__all__ = ["TABLES", "Expect", "Variant", "baseline", "generate"]


def baseline() -> Variant:
    """The county fixture unchanged: the row every other variant is read against."""
    return Variant(
        "base",
        "县里原样导出（基准：未改动的 county 夹具）",
        {},
        (
            *same("courses", rows_in=115, accepted=115, rejected=0),
            *same("cadres", rows_in=200, accepted=199, rejected=1),
            *same("completions", rows_in=1985, accepted=1920, rejected=14),
        ),
    )


def generate(out: Path) -> list[Variant]:
    """Write every variant's file(s) into ``out``; returns the variants, the base first."""
    from benchmarks.office_variants import catalog_cells, catalogs, records, rosters

    out.mkdir(parents=True, exist_ok=True)
    data = county()
    built = [
        *catalog_cells.build(data, out),
        *catalogs.build(data, out),
        *rosters.build(data, out),
        *records.build(data, out),
    ]
    order = {"K": 0, "R": 1, "C": 2}
    return [baseline(), *sorted(built, key=lambda v: (order[v.key[0]], v.key))]
