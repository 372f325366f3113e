"""Shared benchmark plumbing: cached datasets, machine facts, timers, tables, child processes.

Nothing here is part of the library; benchmarks import the library like any user would.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
DATA = OUT / "data"
MODELS = OUT / "models"
RESULTS = OUT / "results"
SAMPLE = ROOT / "data" / "sample"
#: real course-choice behaviour (shared/data/README.md); absent on machines without it
REAL_DATA = ROOT.parent / "shared" / "data" / "icourse163"
PY = sys.executable


def dataset_dir(scale: str) -> Path:
    """A generated data directory for ``scale``, cached under ``benchmarks/out/data``.

    ``sample`` is the shipped ``data/sample``. Generation writes to a temporary
    directory first so an interrupted run never leaves a half-written cache.
    """
    if scale == "sample":
        return SAMPLE
    out = DATA / f"{scale}-{generator_stamp()}"  # a changed generator means new data
    if (out / "completions.csv").exists():
        return out
    from samplegen import generate_sample

    tmp = DATA / f".tmp-{scale}-{os.getpid()}"
    t0 = time.perf_counter()
    print(f"[data] generating {scale} → {out} (once; cached)", file=sys.stderr, flush=True)
    generate_sample(tmp, scale=scale)
    tmp.rename(out)
    print(f"[data] {scale} generated in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return out


def generator_stamp() -> str:
    """Hash of the sample generator's source, so cached datasets follow generator changes."""
    import hashlib

    h = hashlib.sha1()
    for f in sorted((ROOT / "samplegen").glob("*.py")):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:10]


def library_stamp() -> str:
    """Hash of the library's source: a cached model trained by other code is retrained."""
    import hashlib

    h = hashlib.sha1()
    lib = ROOT / "recommender"
    for f in sorted([*lib.rglob("*.py"), *lib.glob("resources/*")]):
        if "__pycache__" in f.parts:
            continue
        h.update(str(f.relative_to(lib)).encode() + f.read_bytes())
    return h.hexdigest()[:16]


STAMP = ".library-stamp"


def mark_fresh(root: Path) -> None:
    (root / STAMP).write_text(library_stamp())


def model_dir(scale: str) -> Path:
    """A published model trained on ``scale`` by the current library code (cached).

    Training runs in a child process; a model trained by different library source is
    retrained (artifacts of older code may load but fail at request time).
    """
    root = MODELS / scale
    stamp = root / STAMP
    if (root / "current").exists() and stamp.exists() and stamp.read_text() == library_stamp():
        return root
    data = dataset_dir(scale)
    print(
        f"[model] training {scale} → {root} (cached until the library changes)",
        file=sys.stderr,
        flush=True,
    )
    subprocess.run(
        [PY, "-m", "recommender", "train", "--data", str(data), "--out", str(root)],
        check=True,
        cwd=ROOT,
    )
    mark_fresh(root)
    return root


# ----------------------------------------------------------------- measuring
def percentiles(values_ms: Sequence[float], qs=(50, 95, 99)) -> dict[str, float]:
    arr = np.asarray(values_ms, dtype=np.float64)
    if arr.size == 0:
        return {f"p{q}": float("nan") for q in qs}
    return {f"p{q}": float(np.percentile(arr, q)) for q in qs}


class RssSampler:
    """Peak RSS of one process (and its children) sampled in a thread every ``interval`` s."""

    def __init__(self, pid: int | None = None, interval: float = 0.05) -> None:
        import psutil

        self.proc = psutil.Process(pid or os.getpid())
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        import psutil

        total = 0
        try:
            total = self.proc.memory_info().rss
            for child in self.proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
        except psutil.Error:
            pass
        return total

    def reset(self) -> int:
        """Start a new interval; returns the peak of the one that ended."""
        peak, self.peak = self.peak, self.rss()
        return peak

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.rss())

    def __enter__(self) -> RssSampler:
        self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


def run_child(module_args: list[str], *, timeout: float, env: dict | None = None) -> dict:
    """Run ``python -m …`` in a fresh process; it prints one JSON line last. Adds its peak RSS.

    Peak memory is the child's own ``ru_maxrss`` reported by the child (an honest high-water
    mark, unaffected by other children), cross-checked here with RUSAGE_CHILDREN.
    """
    t0 = time.perf_counter()
    proc = subprocess.run(
        [PY, *module_args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(
            f"child {module_args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    last = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1]
    out = json.loads(last)
    out["wall_s"] = wall
    return out


def self_peak_mb() -> float:
    """This process's peak RSS so far (Linux ru_maxrss is in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -------------------------------------------------------------------- tables
def md_table(df: pd.DataFrame, floatfmt: str = ".4f") -> str:
    """A GitHub markdown table (no tabulate dependency)."""
    cols = [str(c) for c in df.columns]

    def cell(v) -> str:
        if isinstance(v, float | np.floating):
            return "-" if np.isnan(v) else format(float(v), floatfmt)
        return str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


@dataclass
class Section:
    """One benchmark's output: a title, the command, tables, notes (markdown)."""

    title: str
    command: str
    tables: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, caption: str, df: pd.DataFrame, floatfmt: str = ".4f") -> None:
        self.tables.append((caption, md_table(df, floatfmt)))
        print(f"\n## {caption}\n{df.to_string(index=False)}", flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"note: {text}", flush=True)

    def markdown(self) -> str:
        parts = [f"## {self.title}", f"`{self.command}` — {self.seconds:.0f} s", ""]
        for caption, table in self.tables:
            parts += [f"**{caption}**", "", table, ""]
        parts += [f"- {n}" for n in self.notes]
        return "\n".join(parts) + "\n"

    def save(self, name: str) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{name}.md"
        path.write_text(self.markdown(), encoding="utf-8")
        return path

    def splice(self, results: Path, heading: str) -> None:
        """Replace the section of ``results`` (RESULTS.md) whose ``## `` heading starts with
        ``heading`` by this one (appended when absent), so a benchmark run alone updates it."""
        text = results.read_text(encoding="utf-8") if results.exists() else ""
        parts = re.split(r"(?m)^(?=## )", text)
        mine = self.markdown()
        hits = [i for i, p in enumerate(parts) if p.startswith(f"## {heading}")]
        if hits:
            parts[hits[0]] = mine + "\n"
            parts = [p for i, p in enumerate(parts) if i not in hits[1:]]
        else:
            parts.append(("\n" if text and not text.endswith("\n\n") else "") + mine)
        results.write_text("".join(parts), encoding="utf-8")


# --------------------------------------------------------------- machine info
def machine_info() -> dict[str, str]:
    import psutil

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for mod in (
        "numpy",
        "scipy",
        "pandas",
        "sklearn",
        "jieba",
        "fastapi",
        "uvicorn",
        "httpx",
        "implicit",
        "lightfm",
        "schemathesis",
        "threadpoolctl",
    ):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # a missing optional peer is reported, not fatal
            versions[mod] = "not installed"
    blas = ""
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(
            f"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads, "
            f"{i.get('architecture')})"
            for i in threadpool_info()
        )
    except Exception:
        pass
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "os": platform.platform(),
        "python": platform.python_version(),
        **versions,
        "blas": blas,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
    }


def blas_single_thread():
    """Context manager limiting BLAS to one thread (implicit's advice for its own threading)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, "blas")
