"""Blend-weight fitting on a temporal validation split (coordinate ascent on NDCG@10).

The hybrid's signals are fitted on the earlier enrolments; the later ones are the
validation targets (courses cadres chose, not assignments). Warm weights are searched on
cadres with history, cold weights on every validation cadre scored as if new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.data.schema import Columns as C
from recommender.ranking.scaling import top_k, zscore
from recommender.signals.base import QueryBatch

GRID = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
#: where the search starts, per signal name (unknown signals start at 0.5)
START = {
    "content": 1.0,
    "collaborative": 1.0,
    "popularity": 0.5,
    "popularity_overall": 0.0,
    "quality": 0.1,
    "sequence": 0.25,
    "context": 0.5,
}


@dataclass(frozen=True)
class BlendConfig:
    """How blend weights are fitted when not given."""

    validation_fraction: float = 0.1
    max_validation_cadres: int = 1000
    random_state: int = 0


@dataclass
class FittedWeights:
    """Result of the weight search, with the validation figures behind it."""

    weights: dict[str, float]
    cold_weights: dict[str, float]
    report: dict = field(default_factory=dict)


def chosen(completions: pd.DataFrame) -> pd.DataFrame:
    """Enrolments a cadre chose (self-selected or from a recommendation), not assignments.

    Compulsory assignments are not what a recommender ranks: the menu puts them first
    anyway. Rows with no source count as chosen.
    """
    return completions[completions[C.SOURCE].fillna("").astype(str) != "assigned"]


def batch_ndcg(scores: np.ndarray, relevant: np.ndarray, k: int = 10) -> np.ndarray:
    """NDCG@k per row for a dense score matrix and a boolean relevance matrix."""
    top = top_k(scores, k)
    k = top.shape[1]
    gains = np.take_along_axis(relevant, top, axis=1).astype(np.float64)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = gains @ disc
    n_rel = np.minimum(relevant.sum(axis=1), k)
    idcg = np.cumsum(disc)[np.maximum(n_rel - 1, 0)] * (n_rel > 0)
    return np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0)


def relevance(data, holdout: pd.DataFrame) -> sp.csr_matrix:
    """(cadres × courses) 1 where a holdout enrolment is a course new to the cadre."""
    rows = data.cadre_ids.lookup(holdout[C.CADRE_ID])
    cols = data.course_ids.lookup(holdout[C.COURSE_ID])
    ok = (rows >= 0) & (cols >= 0)
    rel = sp.csr_matrix(
        (np.ones(ok.sum(), dtype=np.float32), (rows[ok], cols[ok])), shape=data.history.shape
    )
    rel = (rel - rel.multiply(data.history > 0)).tocsr()  # only new courses count
    rel.eliminate_zeros()
    rel.data[:] = 1.0
    return rel


def open_courses(data, at: np.datetime64 | None = None) -> np.ndarray:
    """Self-paced courses, and scheduled ones whose session starts at or after ``at``."""
    start = data.courses[C.SESSION_START].to_numpy(dtype="datetime64[s]")
    at = data.now if at is None else np.datetime64(at, "s")
    return np.isnat(start) | (start >= at)


def _search(evaluate, start: dict[str, float], names: tuple[str, ...], passes: int = 3):
    """Coordinate ascent over GRID for each weight; returns (weights, score)."""
    best = {n: start.get(n, 0.5) for n in names}
    best_score = evaluate(best)
    for _ in range(passes):
        improved = False
        for name in names:
            for value in GRID:
                trial = {**best, name: value}
                if not any(trial.values()) or trial == best:
                    continue
                score = evaluate(trial)
                if score > best_score + 1e-6:
                    best, best_score, improved = trial, score, True
        if not improved:
            break
    return best, best_score


def fit_weights(hybrid: Any, data, holdout: pd.DataFrame, cfg: BlendConfig) -> FittedWeights:
    """Warm and cold blend weights for ``hybrid`` (signals fitted on ``data``) on ``holdout``."""
    rng = np.random.default_rng(cfg.random_state)
    rel = relevance(data, chosen(holdout))
    users = np.flatnonzero(np.asarray(rel.getnnz(axis=1) > 0))
    if len(users) > cfg.max_validation_cadres:
        users = np.sort(rng.choice(users, size=cfg.max_validation_cadres, replace=False))
    names = tuple(s.name for s in hybrid.signals_)
    cold_names = tuple(s.name for s in hybrid.signals_ if not s.needs_history)
    if len(users) == 0:
        start = {n: START.get(n, 0.5) for n in names}
        return FittedWeights(start, {n: start[n] for n in cold_names}, {"validation_cadres": 0})
    relevant = rel[users].toarray() > 0
    batch = QueryBatch.for_cadres(data, users)
    comps = {n: zscore(v) for n, v in hybrid.components(batch).items()}
    seen = batch.history.toarray() > 0
    seen[:, ~open_courses(data)] = True  # sessions already started cannot be taken
    has_hist = seen.any(axis=1) & batch.has_history
    cold = {n: zscore(v) for n, v in hybrid.components(batch.without_history(), names=cold_names).items()}

    def ndcg(comp, w, rows):
        s = hybrid.blend_scores(comp, rows, weights=w, cold_weights=w, normalized=True)
        s[seen] = -np.inf
        return batch_ndcg(s, relevant, 10)

    def score_warm(w):
        return float(ndcg(comps, w, has_hist)[has_hist].mean()) if has_hist.any() else 0.0

    def score_cold(w):
        return float(ndcg(cold, w, has_hist).mean())

    warm, warm_ndcg = _search(score_warm, START, names)
    cold_w, cold_ndcg = _search(score_cold, START, cold_names)
    report = {
        "validation_cadres": len(users),
        "ndcg@10_hybrid": warm_ndcg,
        **{f"ndcg@10_{n}": score_warm({n: 1.0}) for n in names},
        "ndcg@10_cold_hybrid": cold_ndcg,
        "weights": warm,
        "cold_weights": cold_w,
    }
    return FittedWeights(warm, cold_w, report)
