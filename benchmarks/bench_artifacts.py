"""Artifact and spreadsheet safety benchmark.

``python -m benchmarks.bench_artifacts [--runs 5] [--no-cli]``

1. Tampered artifacts: ten ways to slip a malicious pickle (its ``__reduce__`` writes a
   marker file), a document naming a dangerous class, a renamed version, a FIFO or a damaged
   file past the loader, each tried through ``load_model`` (version dir and published
   ``current``), the CLI ``recommend --model`` and ``POST /v1/admin/reload``.
   Counts refusals, the error codes, and marker files written (must be 0).
2. Spreadsheet injection: formula payloads put into every file the project writes (rejects
   CSV, batch ``recommend --output`` CSV, gap workbook); counts payloads written raw and
   formula cells (both must be 0).
3. Size and load time of the sample model, format 5 (JSON + safetensors, Ed25519: read,
   SHA-256, verify, decode from the verified bytes) against format 4 (HMAC-signed pickle,
   as the previous release loaded it), and how many artifact files a pickle loader accepts.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pickle
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import pandas as pd

from benchmarks.common import PY, ROOT, Section, model_dir
from recommender.data.spreadsheet import is_risky
from recommender.lifecycle import legacy
from recommender.lifecycle.artifacts import (
    DATA_FILES,
    METADATA_FILE,
    MODEL_FILE,
    ArtifactError,
    load_model,
    publish_version,
    read_verified,
    resolve,
    signing_keys,
    trusted_keys,
    unpack,
)
from recommender.lifecycle.signing import SIGNATURE_FILE, Signer, sign

PAYLOADS = [
    '=HYPERLINK("http://x","点此")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\t=1+1",
    "\r=1+1",
    "=cmd|' /C calc'!A0",
]
FILES = DATA_FILES


class Evil:
    """Unpickling this writes ``marker``: any marker on disk means attacker code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"import pathlib; pathlib.Path({self.marker!r}).write_text('pwned')",))


def poisoned_gap_tables(real, payloads, injected: list):
    """``real`` (the gap-table builder) with a payload written into the first text column of
    every table; the payloads written are appended to ``injected``."""

    def poisoned(*args, **kwargs):
        tables = real(*args, **kwargs)
        for i, (name, table) in enumerate(tables.items()):
            text = [c for c in table.columns if pd.api.types.is_string_dtype(table[c])]
            if len(table) and text:
                table = table.copy()
                table.loc[table.index[0], text[0]] = payloads[i % len(payloads)]
                tables[name] = table
                injected.append(payloads[i % len(payloads)])
        return tables

    return poisoned


def _resign(d: Path, key: Signer, version: str | None = None) -> None:
    files = {n: (d / n).read_bytes() for n in FILES}
    (d / SIGNATURE_FILE).write_bytes(sign(files, version or d.name, key))


def _attacker() -> Signer:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Signer(Ed25519PrivateKey.generate(), "attacker")


def _variants(root: Path, marker: Path) -> list[str]:
    """Build the attack versions next to the published one; returns their names."""
    good = resolve(root)
    made = []

    def clone(name: str, evil: bool = True) -> Path:
        d = root / name
        shutil.copytree(good, d)
        if evil:
            (d / MODEL_FILE).write_bytes(pickle.dumps(Evil(marker)))
        made.append(name)
        return d

    clone("swapped-pickle")
    (clone("unsigned") / SIGNATURE_FILE).unlink()
    _resign(clone("attacker-key"), _attacker())
    d = clone("forged-digests")  # digests of the evil file under the old, valid signature
    sig = json.loads((d / SIGNATURE_FILE).read_text())
    forged = json.loads(sign({n: (d / n).read_bytes() for n in FILES}, d.name, _attacker()))
    sig["files"], sig["version"] = forged["files"], d.name
    (d / SIGNATURE_FILE).write_text(json.dumps(sig))
    clone("renamed-version", evil=False)  # an older signed version under a newer name
    d = clone("signed-dangerous-class", evil=False)  # even with the real key: nothing runs
    (d / MODEL_FILE).write_bytes(b'{"$t": "obj", "cls": "os.system", "state": {}}')
    _resign(d, signing_keys())
    d = clone("fifo-model-file", evil=False)
    (d / MODEL_FILE).unlink()
    os.mkfifo(d / MODEL_FILE)
    (clone("garbage-signature") / SIGNATURE_FILE).write_bytes(b"\x80\x04 not json")
    d = clone("metadata-edited", evil=False)
    meta = json.loads((d / METADATA_FILE).read_text())
    (d / METADATA_FILE).write_text(json.dumps({**meta, "model_version": "evil"}))
    d = clone("one-byte-flipped", evil=False)
    raw = bytearray((d / MODEL_FILE).read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (d / MODEL_FILE).write_bytes(bytes(raw))
    return made


def tampered_attempts(root: Path, cli: bool) -> pd.DataFrame:
    """Try every attack version through every load path; one row per path."""
    from service.config import Settings
    from service.main import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    marker = root.parent / "pwned"
    good = resolve(root).name
    names = _variants(root, marker)
    rows: dict[str, Counter] = {}

    def record(path: str, refused: bool, code: str) -> None:
        c = rows.setdefault(path, Counter())
        c["attempts"] += 1
        c["refused"] += refused
        c[f"code:{code}"] += 1

    for name in names:
        for label, target in (
            ("load_model(version dir)", root / name),
            ("load_model(current)", root),
        ):
            publish_version(root, name)
            try:
                load_model(target)
                record(label, False, "loaded")
            except ArtifactError as exc:
                record(label, True, exc.code)
            publish_version(root, good)
        if cli:
            proc = subprocess.run(
                [PY, "-m", "recommender", "recommend", "--model", str(root / name), "--cadre", "X"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=300,
            )
            refused = proc.returncode == 1 and "拒绝加载" in proc.stderr
            record("CLI recommend --model", refused, _code(proc.stderr))
    key = "bench-admin-key-0123456789"
    settings = Settings(
        model_path=root,
        events_path=root.parent / "events.sqlite3",
        keys_file=root.parent / "no_keys.json",
        api_key=key,
    )
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        for name in names:
            r = client.post("/v1/admin/reload", headers={"X-API-Key": key}, json={"version": name})
            record(
                "POST /v1/admin/reload", r.status_code == 409, _code(r.json().get("message", ""))
            )
            assert client.get("/v1/model").json()["model_version"] == good
    out = []
    for path, c in rows.items():
        codes = sorted((k[5:], v) for k, v in c.items() if k.startswith("code:"))
        out.append(
            {
                "load path": path,
                "attempts": c["attempts"],
                "refused": c["refused"],
                "codes": ", ".join(f"{k}×{v}" for k, v in codes),
                "marker files (code ran)": int(marker.exists()),
            }
        )
    return pd.DataFrame(out)


def _code(text: str) -> str:
    found = re.search(r"\b((?:artifact|signing_key)_[a-z_]+)", text)
    return found.group(1) if found else "?"


def _csv_cells(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return [cell for row in csv.reader(fh) for cell in row]


def injection(tmp: Path, model_root: Path) -> pd.DataFrame:
    """Payloads into each output; count raw payloads and formula cells in what was written."""
    import openpyxl
    from typer.testing import CliRunner

    from recommender.cli import app
    from recommender.data.loading import load_dataset
    from recommender.insights import report
    from recommender.ranking.model import Ranked, Recommendation, RecommenderModel
    from samplegen import generate_sample

    rows = []
    # rejects CSV: payloads as credit hours, through the real loader
    d = tmp / "inject-data"
    d.mkdir()
    pd.DataFrame(
        {
            "course_id": ["C1", *[f"X{i}" for i in range(len(PAYLOADS))]],
            "title": "课",
            "category": "政治理论",
            "credit_hours": ["2", *PAYLOADS],
        }
    ).to_csv(d / "courses.csv", index=False, lineterminator="\r\n")  # CRLF: a bare CR is quoted
    pd.DataFrame({"cadre_id": ["G1"]}).to_csv(d / "cadres.csv", index=False)
    pd.DataFrame({"cadre_id": ["G1"], "course_id": ["C1"], "enrolled_at": ["2025-01-01"]}).to_csv(
        d / "completions.csv", index=False
    )
    load_dataset(d)
    cells = _csv_cells(d / "courses.rejects.csv")
    rows.append(_row("rejects CSV", len(PAYLOADS), cells, formulas=None))
    # batch recommend CSV: the CLI's write path with ids that are payloads
    recs = [Recommendation(p, p, p, "video", 2.0, -0.5, i + 1) for i, p in enumerate(PAYLOADS)]
    real_batch, real_has = RecommenderModel.recommend_many, RecommenderModel.has_cadre
    RecommenderModel.recommend_many = lambda self, ids, k, **kw: (
        {cid: Ranked(recs) for cid in ids},
        [],
    )
    RecommenderModel.has_cadre = lambda self, c: True
    try:
        (tmp / "ids.txt").write_text("G1\n", encoding="utf-8")
        out = tmp / "recs.csv"
        args = ["recommend", "--model", str(model_root), "--cadres", str(tmp / "ids.txt")]
        result = CliRunner().invoke(app, [*args, "--output", str(out)])
        assert result.exit_code == 0, result.output
    finally:
        RecommenderModel.recommend_many, RecommenderModel.has_cadre = real_batch, real_has
    rows.append(_row("batch recommend CSV", 3 * len(PAYLOADS), _csv_cells(out), formulas=None))
    # gap workbook: payloads into the first text column of every table
    data = tmp / "tiny"
    generate_sample(data, scale="tiny", seed=7)
    real_tables, injected = report.gap_tables, []
    report.gap_tables = poisoned_gap_tables(real_tables, PAYLOADS, injected)
    try:
        path = report.write_gap_report(data, tmp / "gaps.xlsx")
    finally:
        report.gap_tables = real_tables
    book = openpyxl.load_workbook(path)
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row]
    formulas = sum(c.data_type == "f" for c in cells)
    rows.append(
        {
            "output": "gap workbook (.xlsx)",
            "payloads written": len(injected),
            "neutralised": sum(c.data_type == "s" and bool(c.quotePrefix) for c in cells),
            "raw formula-like cells": formulas,
            "formula cells (data_type f)": formulas,
            "note": "explicit text cells + quote prefix, value unchanged",
        }
    )
    return pd.DataFrame(rows)


def _row(output: str, n: int, cells: list[str], formulas: int | None) -> dict:
    risky = sum(is_risky(c) for c in cells)
    neutral = sum(c.startswith("'") and is_risky(c[1:]) for c in cells)
    return {
        "output": output,
        "payloads written": n,
        "neutralised": neutral,
        "raw formula-like cells": risky,
        "formula cells (data_type f)": "n/a (CSV)" if formulas is None else formulas,
        "note": "leading apostrophe (OWASP)",
    }


HMAC_KEY = b"bench-format-4-hmac-key-0123456789"


def _format4(model, d: Path) -> dict[str, bytes]:
    """The same model as the previous release wrote it (pickle + arrays.bin, HMAC-signed)."""
    d.mkdir()
    files = legacy.pack(model)
    files[METADATA_FILE] = (d.parent / "meta.json").read_bytes()
    for name, data in files.items():
        (d / name).write_bytes(data)
    (d / SIGNATURE_FILE).write_bytes(legacy.sign(files, HMAC_KEY))
    return files


def _load_format4(d: Path) -> object:
    """Format 4 as the previous release loaded it: read, SHA-256 + HMAC, then unpickle."""
    files = {n: (d / n).read_bytes() for n in legacy.LEGACY_FILES}
    keys = legacy.SigningKeys((HMAC_KEY,), "bench")
    legacy.verify(files, (d / SIGNATURE_FILE).read_bytes(), keys)
    return legacy.unpack_verified(files)


def load_times(root: Path, runs: int, tmp: Path) -> pd.DataFrame:
    """Median seconds and sizes: format 5 (verified load, decode only) vs format 4 (HMAC
    verified unpickle), the same model, warm page cache."""
    d = resolve(root)
    keys = trusted_keys()
    model = load_model(d, keys=keys)
    (tmp / "meta.json").write_bytes((d / METADATA_FILE).read_bytes())
    old = tmp / "format4"
    _format4(model, old)
    _load_format4(old)  # warm the page cache and imports
    cases = {
        "format 5: load_model (read, SHA-256, Ed25519, decode)": lambda: load_model(d, keys=keys),
        "format 5: verification only": lambda: read_verified(d, keys),
        "format 5: decode only (no check)": lambda: unpack(
            {n: memoryview((d / n).read_bytes()) for n in FILES}
        ),
        "format 4: HMAC check + unpickle (previous release)": lambda: _load_format4(old),
    }
    timings: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            timings[name].append(time.perf_counter() - t0)
    size5 = sum((d / n).stat().st_size for n in [*FILES, SIGNATURE_FILE]) / 2**20
    size4 = sum(p.stat().st_size for p in old.iterdir()) / 2**20
    rows = []
    for name, v in timings.items():
        rows.append(
            {
                "load": name,
                "median s": statistics.median(v),
                "min s": min(v),
                "artifact MB": size4 if name.startswith("format 4") else size5,
            }
        )
    return pd.DataFrame(rows)


def _is_pickle_stream(raw: bytes) -> bool:
    """True when the bytes parse as pickle opcodes up to STOP (what a loader would run)."""
    import pickletools

    try:
        for _ in pickletools.genops(raw):
            pass
    except Exception:
        return False
    return True


def pickle_acceptance(root: Path, tmp: Path) -> pd.DataFrame:
    """Artifact files a pickle loader would take, per format (format 5 must be 0): files
    ``pickle.loads`` accepts as they are, and files that are pickle streams at all (format 4's
    model.pkl needs its out-of-band buffers from arrays.bin, so only the second counts it)."""
    rows = []
    for label, d in (("format 5", resolve(root)), ("format 4", tmp / "format4")):
        loads = streams = 0
        names = sorted(p.name for p in d.iterdir())
        for name in names:
            raw = (d / name).read_bytes()
            streams += _is_pickle_stream(raw)
            try:
                pickle.loads(raw)
                loads += 1
            except Exception:
                pass
        rows.append({"format": label, "files": len(names), "pickle.loads accepts": loads,
                     "pickle streams": streams, "names": ", ".join(names)})  # fmt: skip
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="load-time repetitions (median)")
    ap.add_argument("--no-cli", action="store_true", help="skip the CLI subprocess attempts")
    ap.add_argument("--scale", default="sample", help="model for the size/load-time table")
    ap.add_argument("--load-only", action="store_true", help="only the size/load-time table")
    args = ap.parse_args(argv)
    command = "python -m benchmarks.bench_artifacts" + (
        f" --scale {args.scale}" if args.scale != "sample" else ""
    )
    sec = Section("Artifact and spreadsheet safety", command + " --load-only" * args.load_only)
    t0 = time.perf_counter()
    source = model_dir(args.scale)
    with tempfile.TemporaryDirectory(prefix="bench-artifacts-") as tmp_name:
        tmp = Path(tmp_name)
        root = tmp / "models"
        root.mkdir()
        shutil.copytree(resolve(source), root / resolve(source).name)
        publish_version(root, resolve(source).name)
        times = load_times(root, args.runs, tmp)
        sec.add(f"Size and load time, {args.scale} model", times, floatfmt=".3f")
        sec.add("Artifact files a pickle loader would take", pickle_acceptance(root, tmp))
        if not args.load_only:
            sec.add(
                "Tampered artifacts (marker = attacker code ran)",
                tampered_attempts(root, not args.no_cli),
            )
            try:
                sec.add("Spreadsheet injection payloads", injection(tmp, root))
            except AssertionError as exc:  # report it; the artifact tables above still stand
                sec.note(f"spreadsheet injection check did not run to the end: {exc!r:.300}")
    sec.seconds = time.perf_counter() - t0
    sec.note("format 5 never unpickles; a marker file would prove code ran")
    path = sec.save("artifacts" if args.scale == "sample" else f"artifacts_{args.scale}")
    print(f"\n→ {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
