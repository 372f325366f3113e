"""Blend-weight fitting on a temporal validation split (coordinate ascent on NDCG@k)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.data.schema import Columns as C

if TYPE_CHECKING:  # pragma: no cover
    from recommender.ranking.hybrid import HybridRecommender

GRID = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
START = {
    "content": 1.0,
    "collaborative": 1.0,
    "popularity": 0.5,
    "popularity_overall": 0.0,
    "quality": 0.1,
    "sequence": 0.25,
    "context": 0.5,
}


@dataclass
class FittedWeights:
    """Result of the weight search, with the validation figures behind it."""

    weights: dict[str, float]
    cold_weights: dict[str, float]
    collab_ndcg: float
    report: dict = field(default_factory=dict)


def temporal_holdout(
    completions: pd.DataFrame, fraction: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split enrolments by time: the last ``fraction`` of them is the holdout."""
    order = completions[C.ENROLLED_AT].sort_values(kind="stable").index
    cut = round(len(order) * (1.0 - fraction))
    return completions.loc[order[:cut]], completions.loc[order[cut:]]


def chosen(completions: pd.DataFrame) -> pd.DataFrame:
    """Enrolments a cadre chose (self-selected or from a recommendation), not assignments.

    Compulsory assignments are not what a recommender ranks: the menu puts them first
    anyway. Rows with no source count as chosen.
    """
    return completions[completions[C.SOURCE].fillna("").astype(str) != "assigned"]


def batch_ndcg(scores: np.ndarray, relevant: np.ndarray, k: int = 10) -> np.ndarray:
    """NDCG@k per row for a dense score matrix and a boolean relevance matrix."""
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    gains = np.take_along_axis(relevant, top, axis=1).astype(np.float64)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = gains @ disc
    n_rel = np.minimum(relevant.sum(axis=1), k)
    idcg = np.cumsum(disc)[np.maximum(n_rel - 1, 0)] * (n_rel > 0)
    return np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0)


def _validation_rows(model: HybridRecommender, valid: pd.DataFrame, max_cadres: int, rng):
    rows = model.cadres_.lookup(valid[C.CADRE_ID])
    cols = model.courses_.lookup(valid[C.COURSE_ID])
    ok = (rows >= 0) & (cols >= 0)
    rel = sp.csr_matrix(
        (np.ones(ok.sum(), dtype=np.float32), (rows[ok], cols[ok])), shape=model.history_.shape
    )
    rel = (rel - rel.multiply(model.history_ > 0)).tocsr()  # only new courses count
    rel.eliminate_zeros()
    users = np.flatnonzero(np.asarray(rel.getnnz(axis=1) > 0))
    if len(users) > max_cadres:
        users = np.sort(rng.choice(users, size=max_cadres, replace=False))
    return users, (rel[users].toarray() > 0)


def _search(evaluate, start: dict[str, float], names: tuple[str, ...], passes: int = 3):
    """Coordinate ascent over GRID for each weight; returns (weights, score)."""
    best = {n: start.get(n, 0.0) for n in names}
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


def collaborative_ndcg(
    model: HybridRecommender,
    valid: pd.DataFrame,
    *,
    random_state: int,
    max_cadres: int,
    k: int = 10,
) -> float:
    """Validation NDCG@k of the collaborative component alone (cadres with history)."""
    rng = np.random.default_rng(random_state)
    users, relevant = _validation_rows(model, chosen(valid), max_cadres, rng)
    hist = model.history_[users]
    has_hist = np.asarray(hist.getnnz(axis=1) > 0)
    if not has_hist.any():
        return 0.0
    scores = np.asarray(model.collab_.score(hist[has_hist]), dtype=np.float32)
    seen = hist[has_hist].toarray() > 0
    seen[:, ~model.open_courses()] = True
    scores[seen] = -np.inf
    return float(batch_ndcg(scores, relevant[has_hist], k).mean())


def fit_weights(
    model: HybridRecommender,
    valid: pd.DataFrame,
    *,
    random_state: int,
    max_cadres: int,
    k: int = 10,
) -> FittedWeights:
    """Fit warm and cold blend weights on ``valid`` for a model fitted on the earlier data."""
    from recommender.ranking.hybrid import COLD_COMPONENTS, COMPONENTS, zscore

    rng = np.random.default_rng(random_state)
    users, relevant = _validation_rows(model, chosen(valid), max_cadres, rng)
    if len(users) == 0:
        return FittedWeights(dict(START), {"content": 1.0, "popularity": 0.5}, 0.0)
    hist = model.history_[users]
    segs = [model.segments_[u] for u in users]
    profiles = model.profile_vectors_[users]
    ctx = model.context_bits_[users]
    comps = model.components(profiles, hist, segs, model.last_items_[users], ctx)
    comps = {name: zscore(v) for name, v in comps.items()}
    seen = hist.toarray() > 0
    seen[:, ~model.open_courses()] = True  # sessions already started cannot be taken
    has_hist = seen.any(axis=1)
    empty = sp.csr_matrix(hist.shape, dtype=np.float32)
    no_last = np.full(len(users), -1)
    cold = model.components(profiles, empty, segs, no_last, ctx, needed=COLD_COMPONENTS)
    cold = {name: zscore(v) for name, v in cold.items()}

    def score_warm(w):
        s = model.blend(comps, has_hist, weights=w, cold_weights=w, normalized=True)
        s[seen] = -np.inf
        return float(batch_ndcg(s, relevant, k)[has_hist].mean()) if has_hist.any() else 0.0

    def score_cold(w):
        s = model.blend(cold, has_hist, weights=w, cold_weights=w, normalized=True)
        s[seen] = -np.inf
        return float(batch_ndcg(s, relevant, k).mean())

    warm, warm_ndcg = _search(score_warm, START, COMPONENTS)
    cold_w, cold_ndcg = _search(score_cold, START, COLD_COMPONENTS)
    collab = score_warm({"collaborative": 1.0})
    report = {
        "validation_cadres": len(users),
        "ndcg@10_hybrid": warm_ndcg,
        "ndcg@10_collaborative": collab,
        "ndcg@10_content": score_warm({"content": 1.0}),
        "ndcg@10_cold_hybrid": cold_ndcg,
        "weights": warm,
        "cold_weights": cold_w,
    }
    return FittedWeights(warm, cold_w, collab, report)
