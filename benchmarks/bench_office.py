"""Office files as county academies send them: does ``recommender validate`` read each one as
the office meant it, and does any 身份证号 show in plain text?

    .venv/bin/python -m benchmarks.bench_office [--before SRC_DIR] [--out DIR] [--jobs N]
                                                [--only K01 C04 …]

Every variant of ``benchmarks.office_variants`` (an office's catalog, roster or platform
export in place of one of the county fixture's three files) is validated in its own process,
as a user runs it::

    recommender validate --json --allow-rejects --courses … --cadres … --completions …
                         --rejects TMP

with a fixed test ``XUANXUE_ID_SECRET``, a throw-away ``HOME``, no other ``XUANXUE_*``
variable, from the source tree's root with ``PYTHONPATH`` set to it. ``--before SRC_DIR``
runs the same against another checkout (e.g. ``git archive <commit> | tar -x -C DIR``) in
the same run, alternating with this one. One markdown table: per variant and replaced table,
rows read, accepted, rejected, cleared cells, the warnings of the run, the exit code, whether
stderr holds a ``Traceback``, whether any of the variant's 身份证号 (read from its three input
files) shows in the JSON, stderr, the rejects folder or HOME (see ``office_variants.ids``),
and whether the expected outcome (where one is clear) is met. Exits 1 when a run of this tree
shows a traceback or a plain 身份证号.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pandas as pd

from benchmarks.common import PY, ROOT, md_table
from benchmarks.office_variants import TABLES, Variant, generate
from benchmarks.office_variants.base import FIGURES
from benchmarks.office_variants.ids import ids_in, masked, shown, telltales, texts
from tests.fixtures import county_export

#: a fixed identity secret: hashes are stable across runs and trees (a test value, not a key)
SECRET = "xuanxue-bench-office-secret-not-for-production"
TIMEOUT = 300
COLUMNS = ("rows read", "accepted", "rejected", "cleared cells", "warnings", "exit",
           "traceback?", "plain 身份证号?", "as expected?")  # fmt: skip
_LONG_DIGITS = re.compile(r"[0-9]{10,}")


@dataclass
class Run:
    """One ``validate`` of one variant by one tree."""

    tree: str
    variant: Variant
    rc: int | None = None
    figures: dict[str, dict[str, int | None]] = field(default_factory=dict)
    warnings: int | None = None
    traceback: bool = False
    leaks: dict[str, set[str]] = field(default_factory=dict)  # where → numbers
    error: str = ""

    def figure(self, table: str, name: str) -> int | None:
        return self.figures.get(table, {}).get(name)


def child_env(root: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XUANXUE_")}
    env.update(
        XUANXUE_ID_SECRET=SECRET,
        HOME=str(home),
        PYTHONPATH=str(root),
        PYTHONDONTWRITEBYTECODE="1",
        NO_COLOR="1",
    )
    return env


def check_tree(root: Path, work: Path) -> str:
    """The ``recommender`` package a child started from ``root`` imports; must be root's."""
    home = work / "home-check"
    home.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [PY, "-c", "import recommender; print(recommender.__file__)"],
        cwd=root,
        env=child_env(root, home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    where = Path(proc.stdout.strip() or "?").resolve()
    if proc.returncode != 0 or root.resolve() not in where.parents:
        sys.exit(f"{root}: its children import recommender from {where} ({proc.stderr[-300:]})")
    return str(where.parent)


@cache
def _ids(path: Path) -> frozenset[str]:
    return frozenset(ids_in(path))


def figures_of(report: dict) -> dict[str, dict[str, int | None]]:
    """Per table, the figures of ``validate --json`` (``tables`` over ``summary``)."""
    out: dict[str, dict[str, int | None]] = {}
    for entry in [*report.get("summary", []), *report.get("tables", [])]:
        fig = out.setdefault(entry.get("table"), {})
        fig.update({k: entry[k] for k in FIGURES if k in entry})
    return out


def validate(variant: Variant, tree: str, root: Path, work: Path, fixture: dict) -> Run:
    folder = work / "runs" / tree / variant.key
    home, rejects = folder / "home", folder / "rejects"
    home.mkdir(parents=True, exist_ok=True)
    inputs = variant.inputs(fixture)
    cmd = [PY, "-m", "recommender", "validate", "--json", "--allow-rejects"]
    for table in TABLES:
        cmd += [f"--{table}", str(inputs[table])]
    cmd += ["--rejects", str(rejects)]
    run = Run(tree, variant)
    try:
        proc = subprocess.run(
            cmd, cwd=root, env=child_env(root, home), capture_output=True, timeout=TIMEOUT
        )
    except subprocess.TimeoutExpired:
        run.error = f"timeout after {TIMEOUT} s"
        return run
    (folder / "stdout.json").write_bytes(proc.stdout)
    (folder / "stderr.txt").write_bytes(proc.stderr)
    out, err = proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
    run.rc, run.traceback = proc.returncode, "Traceback" in err
    try:
        report = json.loads(out[out.index("{") :])
        run.figures, run.warnings = figures_of(report), len(report.get("warnings", []))
    except ValueError:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        run.error = (
            lines[-1].removeprefix("错误：") if lines else f"no JSON (exit {proc.returncode})"
        )
    tells = telltales(set().union(*(_ids(p) for p in inputs.values())))
    sources = {"JSON": [out], "stderr": [err]}
    for base in (rejects, home):
        for p in sorted(base.rglob("*")) if base.exists() else []:
            if p.is_file():
                sources[str(p.relative_to(folder))] = texts(p.read_bytes())
    for where, found in ((w, shown(tells, t)) for w, t in sources.items()):
        if found:
            run.leaks[where] = found
    return run


def verdict(run: Run, table: str, base: Run) -> str:
    checks = [e for e in run.variant.expect if e.table == table]
    if not checks:
        return "—"
    if run.error:  # no figures at all: the file was not read
        return "NO"
    held = [e.holds(run.figure(table, e.figure), base.figure(table, e.figure)) for e in checks]
    return "NO" if False in held else "?" if None in held else "yes"


def columns(run: Run, table: str, base: Run) -> list:
    def f(name: str):
        v = run.figure(table, name)
        return "—" if v is None else v

    n = len(set().union(*run.leaks.values())) if run.leaks else 0
    return [
        f("rows_in"), f("accepted"), f("rejected"), f("cleared_cells"),
        "—" if run.warnings is None else run.warnings, "—" if run.rc is None else run.rc,
        "YES" if run.traceback else "no", f"YES ({n})" if n else "no",
        verdict(run, table, base),
    ]  # fmt: skip


def table_of(variants: list[Variant], runs: dict[tuple[str, str], Run], trees: list[str]):
    rows = []
    for v in variants:
        for table in v.tables:
            base = runs[("base", trees[0])]
            expected = "; ".join(
                e.text(base.figure(table, e.figure)) for e in v.expect if e.table == table
            )
            row = [f"{v.key} {v.label}", table, expected or "—"]
            for tree in trees:
                row += columns(runs[(v.key, tree)], table, runs[("base", tree)])
            rows.append(row)
    names = ["variant", "table", "expected"]
    for tree in trees:
        names += [c if tree == "now" else f"{tree}: {c}" for c in COLUMNS]
    return pd.DataFrame(rows, columns=names)


def notes(runs: list[Run], baseline: dict[str, Run]) -> list[str]:
    """One line per run that is not clean: errors, tracebacks, plain numbers, misses."""
    out = []
    for run in runs:
        bits = []
        if run.error:
            bits.append(f"错误：{_LONG_DIGITS.sub(lambda m: masked(m.group()), run.error)[:200]}")
        if run.traceback:
            bits.append(f"Traceback in {run.tree}/{run.variant.key}/stderr.txt")
        for where, found in sorted(run.leaks.items()):
            shown_ids = "、".join(masked(n) for n in sorted(found)[:3])
            bits.append(f"plain 身份证号 in {where}: {len(found)} ({shown_ids}…)")
        for e in run.variant.expect:
            got = run.figure(e.table, e.figure)
            base = baseline[run.tree].figure(e.table, e.figure)
            if e.holds(got, base) is False:
                bits.append(f"{e.table}.{e.figure} = {got}, expected {e.text(base)}")
        if bits:
            out.append(f"{run.variant.key} ({run.tree}): " + "；".join(bits))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", metavar="SRC_DIR", type=Path, help="another checkout to compare")
    ap.add_argument("--out", metavar="DIR", type=Path, help="keep variants, outputs, table here")
    ap.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1))
    ap.add_argument("--only", nargs="+", metavar="KEY", help="only these variants (and base)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_office-") as tmp:
        work = (args.out or Path(tmp)).resolve()
        trees = {"now": ROOT} | ({"before": args.before.resolve()} if args.before else {})
        for tree, root in trees.items():
            print(f"[office] {tree}: {check_tree(root, work / tree)}", file=sys.stderr, flush=True)
        variants = generate(work / "variants")
        if args.only:
            variants = [v for v in variants if v.key == "base" or v.key in args.only]
        fixture = county_export.files()
        jobs = [(v, tree) for v in variants for tree in trees]  # alternating trees
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            done = list(pool.map(lambda j: validate(*j, trees[j[1]], work, fixture), jobs))
        runs = {(r.variant.key, r.tree): r for r in done}
        df = table_of(variants, runs, list(trees))
        seconds = time.perf_counter() - t0
        command = "python -m benchmarks.bench_office" + (
            f" --before {args.before}" if args.before else ""
        )
        text = "\n".join([
            f"## Office files ({len(variants) - 1} variants of the county fixture)", "",
            f"`{command}` — {seconds:.0f} s; validate runs: {len(done)}", "",
            md_table(df), "",
            *(f"- {n}" for n in notes(done, {t: runs[("base", t)] for t in trees})),
        ])  # fmt: skip
        print(text)
        if args.out:
            (work / "bench_office.md").write_text(text + "\n", encoding="utf-8")
    bad = [r for r in done if r.tree == "now" and (r.traceback or r.leaks)]
    if bad:
        print(
            f"\nFAIL: traceback or plain 身份证号 in {len(bad)} run(s) of this tree",
            file=sys.stderr,
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
