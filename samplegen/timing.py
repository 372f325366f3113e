"""Times, outcomes and capacity of simulated enrolments (all vectorised, seconds since epoch)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from samplegen.courses import DATA_END, DATA_START

D = 86_400
S0 = int(DATA_START.astype("datetime64[s]").astype(np.int64))
E = int(DATA_END.astype("datetime64[s]").astype(np.int64))


def _secs(values: pd.Series) -> np.ndarray:
    """datetime64 column as int64 seconds, -1 where missing."""
    a = values.to_numpy("datetime64[s]")
    return np.where(np.isnat(a), -1, a.astype(np.int64))


def _time_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds into the day: mostly office hours, some evenings, a few odd hours."""
    r = rng.random(n)
    office = rng.integers(int(8.5 * 3600), int(17.5 * 3600), n)
    evening = rng.integers(19 * 3600, 23 * 3600, n)
    other = rng.integers(0, D, n)
    return np.where(r < 0.7, office, np.where(r < 0.95, evening, other))


def _depth(prev: np.ndarray) -> np.ndarray:
    depth = np.zeros(len(prev), np.int64)
    for _ in range(3):
        depth = np.where(prev >= 0, depth[np.maximum(prev, 0)] + 1, 0)
    return depth


def finish(
    rng: np.random.Generator, pairs: pd.DataFrame, courses: pd.DataFrame, cadres: pd.DataFrame
) -> pd.DataFrame:
    """Completion rows with contract columns from (i, j, src, rel) pairs."""
    i, j = pairs["i"].to_numpy(), pairs["j"].to_numpy()
    assigned = pairs["src"].to_numpy() == 0
    rel = pairs["rel"].to_numpy()
    pub, start, end = (
        _secs(courses[c])[j] for c in ("published_at", "session_start", "session_end")
    )
    hours = courses["credit_hours"].to_numpy()[j]
    joined = _secs(cadres["_joined"])[i] if "_joined" in cadres else np.full(len(i), S0)
    lo = np.maximum(np.maximum(pub, S0), joined) + 3600
    hi = np.minimum(np.where(start >= 0, start - D, E), E)
    hi = np.where(assigned, np.minimum(hi, lo + 45 * D), hi)
    day = (lo + rng.random(len(i)) * np.maximum(hi - lo, 0)).astype(np.int64) // D
    enrolled = np.clip(day * D + _time_of_day(rng, len(i)), lo, hi)
    duration = (rng.exponential(1.0 + 1.5 * hours) * D).astype(np.int64) + 1800
    done_p = 1 / (1 + np.exp(-(0.75 + 0.8 * rel - 0.1 * np.log1p(hours))))
    done = rng.random(len(i)) < np.where(assigned, 0.95, done_p)
    keep = hi > lo
    # series: a later part starts after the earlier part is completed
    m = len(courses)
    prev = courses["_prev"].to_numpy()
    depth = _depth(prev)[j]
    key = i * m + j
    for d in (1, 2):
        rows = np.flatnonzero(depth == d)
        finished = np.where(start >= 0, end, enrolled + duration)
        order = np.argsort(key, kind="stable")
        pos = np.searchsorted(key[order], i[rows] * m + prev[j[rows]])
        pos = order[np.minimum(pos, len(order) - 1)]
        found = key[pos] == i[rows] * m + prev[j[rows]]
        ok = found & keep[pos] & done[pos] & (finished[pos] <= E)
        new = np.maximum(finished[pos] + rng.integers(3600, 20 * D, len(rows)), lo[rows])
        ok &= new < hi[rows]
        enrolled[rows] = np.where(ok, new, enrolled[rows])
        keep[rows] &= ok
    completed = np.where(start >= 0, end, enrolled + duration)
    done &= completed <= E
    frame = pd.DataFrame({"i": i, "j": j, "enrolled": enrolled, "keep": keep})
    cap = courses["capacity"].to_numpy()[j]
    frame = frame.sort_values(["j", "enrolled", "i"], kind="stable")
    seat = frame[frame["keep"]].groupby("j").cumcount().reindex(frame.index).fillna(0).to_numpy()
    over = np.zeros(len(i), bool)
    over[frame.index.to_numpy()] = (cap[frame["j"].to_numpy()] > 0) & (
        seat >= cap[frame["j"].to_numpy()]
    )
    keep &= ~over
    progress = np.where(done, 1.0, np.round(rng.uniform(0.1, 0.9, len(i)), 2))
    inst = courses["instructor_rating"].to_numpy()[j]
    rating = np.clip(np.round(inst + 0.35 * (rel - 0.8) + rng.normal(0, 0.75, len(i))), 1, 5)
    rating = np.where(done & (rng.random(len(i)) < 0.6), rating, np.nan)
    source = np.where(
        assigned, "assigned", np.where(rng.random(len(i)) < 0.22, "recommended", "self_selected")
    )
    out = pd.DataFrame(
        {
            "cadre_id": cadres["cadre_id"].to_numpy()[i],
            "course_id": courses["course_id"].to_numpy()[j],
            "enrolled_at": enrolled,
            "completed_at": np.where(done, completed, -1),
            "progress": progress,
            "credit_hours_awarded": np.where(done, hours, 0.0),
            "rating": rating,
            "source": source,
            "_i": i,
            "_j": j,
        }
    )[keep]
    return out.sort_values(["enrolled_at", "_i", "_j"], kind="stable").reset_index(drop=True)
