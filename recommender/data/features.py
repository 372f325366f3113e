"""Shared feature building: id maps, interaction weights, segments, quality prior, audience."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.data.schema import LIST_SEPARATORS
from recommender.data.schema import Columns as C

_SPLIT_RE = "[" + "".join("\\" + ch if ch == "|" else ch for ch in LIST_SEPARATORS) + "]"

#: the segment a cadre belongs to for popularity: (rank, unit_level, system)
SEGMENT_FIELDS = (C.RANK, C.UNIT_LEVEL, C.SYSTEM)


@dataclass
class IdMap:
    """External string id ↔ internal row/column index."""

    ids: np.ndarray
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.ids = np.asarray(self.ids, dtype=object)
        self.index = {str(x): i for i, x in enumerate(self.ids)}
        self._pd_index = pd.Index(self.ids.astype(str), dtype=object)

    def __getstate__(self) -> dict:
        return {"ids": self.ids}  # the lookup structures are derived: rebuilt on load

    def __setstate__(self, state: dict) -> None:
        self.ids = state["ids"]
        self.__post_init__()

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, key: object) -> bool:
        return key in self.index

    def lookup(self, keys: Iterable[str]) -> np.ndarray:
        """Internal indices of ``keys``; -1 where unknown (vectorised: millions of rows)."""
        keys = pd.Index(
            np.asarray(list(keys) if not hasattr(keys, "__len__") else keys, dtype=object).astype(
                str
            ),
            dtype=object,
        )
        return np.asarray(self._pd_index.get_indexer(keys), dtype=np.int64)


def split_cell(value: object) -> list[str]:
    """Split a list-valued cell (``a|b；c``) into clean items."""
    if not isinstance(value, str) or not value:
        return []
    return [s.strip() for s in pd.Series([value]).str.split(_SPLIT_RE, regex=True)[0] if s.strip()]


def interaction_weights(completions: pd.DataFrame) -> np.ndarray:
    """Confidence of an enrolment: finished ≫ abandoned, a good rating adds, a bad one subtracts."""
    progress = completions[C.PROGRESS].fillna(0.0).to_numpy(dtype=np.float64)
    done = completions[C.COMPLETED_AT].notna().to_numpy()
    progress = np.where(done, 1.0, np.clip(progress, 0.0, 1.0))
    base = 0.3 + 0.7 * progress
    rating = pd.to_numeric(completions[C.RATING], errors="coerce").to_numpy(dtype=np.float64)
    factor = np.where(np.isnan(rating), 1.0, 0.7 + 0.1 * np.nan_to_num(rating, nan=3.0))
    return (base * factor).astype(np.float32)


def recency_factor(
    times: np.ndarray, now: np.datetime64, half_life_days: float | None
) -> np.ndarray:
    """0.5 ** (age / half-life); ones when no half-life is set."""
    if not half_life_days:
        return np.ones(len(times), dtype=np.float32)
    age = (now - times.astype("datetime64[s]")).astype("timedelta64[s]").astype(np.float64)
    age = np.clip(np.nan_to_num(age / 86400.0, nan=0.0), 0.0, None)
    return np.power(0.5, age / half_life_days).astype(np.float32)


def interaction_matrix(
    completions: pd.DataFrame,
    cadres: IdMap,
    courses: IdMap,
    *,
    now: np.datetime64 | None = None,
    half_life_days: float | None = None,
) -> sp.csr_matrix:
    """(n_cadres × n_courses) float32 weights; repeated enrolments keep the strongest."""
    rows = cadres.lookup(completions[C.CADRE_ID])
    cols = courses.lookup(completions[C.COURSE_ID])
    keep = (rows >= 0) & (cols >= 0)
    w = interaction_weights(completions)
    if half_life_days:
        times = completions[C.ENROLLED_AT].to_numpy(dtype="datetime64[s]")
        ref = now if now is not None else times.max()
        w = w * recency_factor(times, ref, half_life_days)
    frame = pd.DataFrame({"r": rows[keep], "c": cols[keep], "w": w[keep]})
    frame = frame.groupby(["r", "c"], sort=False)["w"].max().reset_index()
    return sp.csr_matrix(
        (frame["w"].to_numpy(np.float32), (frame["r"].to_numpy(), frame["c"].to_numpy())),
        shape=(len(cadres), len(courses)),
        dtype=np.float32,
    )


def segment_of(cadre: pd.Series | dict) -> tuple[str, ...]:
    """(rank, unit_level, system) of a cadre, '' where unknown."""
    return tuple(str(cadre.get(f) or "") for f in SEGMENT_FIELDS)


def segments(cadres: pd.DataFrame) -> list[tuple[str, ...]]:
    """Segment tuple of every cadre row."""
    cols = [cadres[f].fillna("").astype(str).tolist() for f in SEGMENT_FIELDS]
    return list(zip(*cols, strict=True))


def quality_prior(
    courses: pd.DataFrame, completions: pd.DataFrame, *, strength: float = 5.0
) -> np.ndarray:
    """Bayesian mean of learner ratings, shrunk towards the instructor rating (0–5 scale)."""
    inst = pd.to_numeric(courses[C.INSTRUCTOR_RATING], errors="coerce")
    prior = inst.fillna(inst.mean() if inst.notna().any() else 3.5).to_numpy(np.float64)
    rated = completions.dropna(subset=[C.RATING])
    stats = rated.groupby(C.COURSE_ID)[C.RATING].agg(["sum", "count"])
    stats = stats.reindex(courses[C.COURSE_ID]).fillna(0.0)
    total = stats["sum"].to_numpy(np.float64) + strength * prior
    return (total / (stats["count"].to_numpy(np.float64) + strength)).astype(np.float32)


_LEVEL_WORDS = {
    "province": ("省", "省级", "province"),
    "city": ("市", "市级", "city"),
    "county": ("县", "县级", "区县", "county"),
    "township": ("乡镇", "乡", "镇", "街道", "township"),
    "village": ("村", "社区", "village"),
}
_ALL = ("全体", "全体干部", "所有干部", "all")


def audience_tags(cadre: pd.Series | dict, rank_band: str) -> set[str]:
    """Words a course audience may use to target this cadre."""
    tags = {rank_band, str(cadre.get(C.SYSTEM) or "")}
    level = str(cadre.get(C.UNIT_LEVEL) or "")
    tags.update(_LEVEL_WORDS.get(level, ()))
    tags.add(level)
    if cadre.get(C.NEWLY_PROMOTED):
        tags.update({"新提拔", "新提拔干部"})
    if cadre.get(C.YOUNG_CADRE):
        tags.update({"年轻干部", "优秀年轻干部"})
    if cadre.get(C.VILLAGE_OFFICIAL):
        tags.update({"大学生村官", "选调生", "村官"})
    return {t for t in tags if t}


def audience_matches(audience: Sequence[str], tags: set[str]) -> bool:
    """True if a course with this audience list is meant for a cadre with these tags.

    An empty audience, or one naming everybody, matches all cadres.
    """
    if not audience or any(a in _ALL for a in audience):
        return True
    return any(a in tags for a in audience)


class AudienceIndex:
    """Which courses admit a cadre, given the courses' audience cells: the few distinct
    cells are parsed once and the answer is memoised per set of audience tags."""

    def __init__(self, cells: Sequence[object]) -> None:
        texts = pd.Series(list(cells), dtype=object)
        codes, uniques = pd.factorize(texts.where(texts.notna(), "").astype(str))
        self.codes = np.asarray(codes)
        self.lists = [split_cell(u) for u in uniques]
        self._cache: dict[frozenset, np.ndarray] = {}

    def mask(self, tags: set[str]) -> np.ndarray:
        """Boolean per course (read-only, shared between requests)."""
        key = frozenset(tags)
        ok = self._cache.get(key)
        if ok is None:
            ok = np.array([audience_matches(a, tags) for a in self.lists], bool)[self.codes]
            ok.setflags(write=False)
            if len(self._cache) < 10_000:
                self._cache[key] = ok
        return ok


def context_bits(cadres: pd.DataFrame) -> np.ndarray:
    """(n_cadres × (formats + windows)) float32: declared preferred formats and study windows.

    A cadre who declared no windows is taken to be available in all of them.
    """
    from recommender.data.schema import FORMATS, WINDOWS

    fmts = cadres[C.PREFERRED_FORMATS].fillna("").astype(str)
    wins = cadres[C.AVAILABLE_WINDOWS].fillna("").astype(str)
    out = np.zeros((len(cadres), len(FORMATS) + len(WINDOWS)), dtype=np.float32)
    for j, f in enumerate(FORMATS):
        out[:, j] = fmts.str.contains(f, regex=False).to_numpy()
    for j, w in enumerate(WINDOWS):
        out[:, len(FORMATS) + j] = wins.str.contains(w, regex=False).to_numpy()
    none = out[:, len(FORMATS) :].sum(axis=1) == 0
    out[none, len(FORMATS) :] = 1.0
    return out


def course_context(courses: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Format one-hot (n × formats) and window one-hot (n × windows; all ones if unscheduled)."""
    from recommender.menu.schedule import session_windows
    from recommender.data.schema import FORMATS, WINDOWS

    fmt = courses[C.FORMAT].fillna("").astype(str).to_numpy()
    fmt_hot = np.stack([fmt == f for f in FORMATS], axis=1).astype(np.float32)
    win = session_windows(courses[C.SESSION_START])
    win_hot = np.stack([win == w for w in WINDOWS], axis=1).astype(np.float32)
    unscheduled = courses[C.SESSION_START].isna().to_numpy()
    win_hot[unscheduled] = 1.0
    return fmt_hot, win_hot


def context_scores(bits: np.ndarray, fmt_hot: np.ndarray, win_hot: np.ndarray) -> np.ndarray:
    """Preferred-format match minus a penalty for sessions outside the cadre's windows."""
    n_fmt = fmt_hot.shape[1]
    match = bits[:, :n_fmt] @ fmt_hot.T
    feasible = (bits[:, n_fmt:] @ win_hot.T) > 0
    return (match - 2.0 * ~feasible).astype(np.float32)
