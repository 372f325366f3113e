"""Synthetic sample data directory generator (courses, cadres, completions).

``generate_sample(out_dir, scale=..., seed=...)`` writes the three contract tables as UTF-8
CSV. The same seed gives byte-identical files. Job titles and duties come from the real Hubei
2026 civil-service position table (``resources/positions.csv``); everything else is synthetic.
See ``data/README.md`` for the latent model and the planted demand gaps.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from recommender.data.schema import CADRES, COMPLETIONS, COURSES, TableSpec
from samplegen.cadres import build_cadres
from samplegen.courses import build_courses
from samplegen.sim import simulate

log = logging.getLogger(__name__)

Scale = Literal["tiny", "small", "medium", "large", "xlarge"]
DEFAULT_SEED = 20260101

#: (courses, cadres, median free choices per cadre); "tiny" is for fast tests only
SCALES: dict[str, tuple[int, int, float]] = {
    "tiny": (120, 300, 8.0),
    "small": (640, 3200, 12.0),
    "medium": (2000, 20000, 13.0),
    "large": (5000, 100000, 13.0),
    "xlarge": (5000, 400000, 13.0),
}


def _fmt_numbers(values: np.ndarray, *, integer: bool = False) -> np.ndarray:
    """Shortest decimal text of each number ('' for NaN), via its few distinct values."""
    vals = np.asarray(values, np.float64)
    uniq, inv = np.unique(np.nan_to_num(vals, nan=-1.0), return_inverse=True)
    text = np.array(
        [("" if u == -1.0 else (str(int(u)) if integer else repr(float(u)))) for u in uniq],
        dtype=object,
    )
    return text[inv.reshape(-1)]


def _fmt_times(values: np.ndarray) -> np.ndarray:
    """'YYYY-MM-DD HH:MM:SS' of datetime64 values or int seconds ('' when missing)."""
    a = np.asarray(values)
    if np.issubdtype(a.dtype, np.datetime64):
        secs = np.where(np.isnat(a), -1, a.astype("datetime64[s]").astype(np.int64))
    else:
        secs = a.astype(np.int64)
    missing = secs < 0
    secs = np.where(missing, 0, secs)
    days, tods = np.divmod(secs, 86_400)
    ud, di = np.unique(days, return_inverse=True)
    ut, ti = np.unique(tods, return_inverse=True)
    dtext = np.array([str(np.datetime64(int(d), "D")) + " " for d in ud], dtype=object)
    ttext = np.array(
        [f"{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}" for t in ut], dtype=object
    )
    out = (pd.Series(dtext[di.reshape(-1)]) + pd.Series(ttext[ti.reshape(-1)])).to_numpy(object)
    out[missing] = ""
    return out


def _to_text(frame: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Contract columns, in spec order, rendered as text."""
    out = {}
    for f in spec.fields:
        if f.name not in frame:  # columns the generator does not make (姓名, 身份证号 …)
            continue
        col = frame[f.name]
        if f.kind == "bool":
            out[f.name] = np.where(col.to_numpy(bool), "true", "false")
        elif f.kind == "datetime":
            out[f.name] = _fmt_times(col.to_numpy())
        elif f.kind in ("float", "int"):
            vals = col.to_numpy(np.float64)
            if f.name == "capacity":
                vals = np.where(vals > 0, vals, np.nan)
            out[f.name] = _fmt_numbers(vals, integer=f.kind == "int")
        else:
            out[f.name] = col.fillna("").astype(str).to_numpy(object)
    # object columns: pandas' Arrow-backed strings would cost a conversion for nothing here
    return pd.DataFrame({c: pd.Series(out[c], dtype=object) for c in spec.columns if c in out})


def _write(frame: pd.DataFrame, spec: TableSpec, out_dir: Path) -> int:
    _to_text(frame, spec).to_csv(
        out_dir / f"{spec.name}.csv", index=False, lineterminator="\n", encoding="utf-8"
    )
    return len(frame)


def build_sample(
    *,
    scale: Scale = "small",
    seed: int = DEFAULT_SEED,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Typed (courses, cadres, completions) frames, with hidden ``_``-prefixed helper columns."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; expected one of {', '.join(SCALES)}")
    n_courses, n_cadres, mean_free = SCALES[scale]
    rng = np.random.default_rng(seed)
    courses = build_courses(rng, n_courses)
    cadres, needs = build_cadres(rng, n_cadres)
    completions = simulate(rng, courses, cadres, needs, mean_free=mean_free)
    return courses, cadres, completions


def generate_sample(
    out_dir: str | Path, *, scale: Scale = "small", seed: int = DEFAULT_SEED
) -> dict[str, int]:
    """Write ``courses.csv``, ``cadres.csv`` and ``completions.csv`` to ``out_dir``.

    Returns row counts per table. Same seed and scale → byte-identical files.
    """
    t0 = time.perf_counter()
    courses, cadres, completions = build_sample(scale=scale, seed=seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts = {
        spec.name: _write(frame, spec, out)
        for frame, spec in ((courses, COURSES), (cadres, CADRES), (completions, COMPLETIONS))
    }
    log.info(
        "sample %s (seed %d) written to %s in %.1fs: %s",
        scale,
        seed,
        out,
        time.perf_counter() - t0,
        counts,
    )
    return counts
