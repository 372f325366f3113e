"""Blend-weight fitting on a validation split (listwise softmax regression for cadres with
history, coordinate ascent on NDCG@10 for new cadres).

The validation split mirrors how the model will be judged and the data's shape: a temporal
split (the last enrolments by time) for academy data where cadres take many courses, and
leave-last per cadre where most cadres have only one or two courses (then a temporal split
would hold out mostly new cadres and say nothing about history). The hybrid's signals are
fitted on the training part; the held-out courses cadres chose are the targets.

Weights for cadres with history minimise the softmax cross-entropy of each cadre's held-out
courses (:mod:`recommender.ranking.listwise`): convex, so the answer does not depend on a
starting point; fewer than :data:`MIN_VALIDATION` cadres keep the documented defaults
(:data:`START`). Under leave-last, a second fold (each cadre's second-last enrolment, signals
refit without it; :func:`extra_queries`) adds queries to that fit.
The search for new cadres is regularised: it starts from the documented
prior and moves a weight only when the gain over the current weights is larger than its
standard error across validation cadres (a paired test). Cold weights are fitted only on a
cold slice of at least :data:`MIN_COLD` cadres; otherwise they are the documented prior
:data:`COLD_PRIOR`, in which the profile (content and field of work) leads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.data.schema import Columns as C
from recommender.ranking.candidates import CandidatePolicy, Filters
from recommender.ranking.listwise import L2 as LISTWISE_L2
from recommender.ranking.listwise import listwise_weights
from recommender.ranking.scaling import top_k, zscore
from recommender.signals.base import QueryBatch

GRID = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
#: weights for cadres with history when validation is too small to fit them (unknown
#: signals: 0.5)
START = {
    "content": 1.0,
    "collaborative": 1.0,
    "popularity": 0.5,
    "popularity_overall": 0.0,
    "quality": 0.1,
    "sequence": 0.25,
    # out of the blend unless validation shows what they are worth
    "transition": 0.0,
    "instructor": 0.0,
    "context": 0.5,
    "field": 0.5,
}
#: weights for cadres with no history when the validation data has too few of them: the
#: profile (content 1 + field of work 1) and segment popularity weigh the same. Chosen among
#: popularity 0.5 / 1 / 2 on the shipped sample's cold slice (0.147 / 0.162 / 0.190 NDCG@10)
#: with the real-post check holding (99.8–99.9% of posts get an on-field course, median 6).
COLD_PRIOR = {
    "content": 1.0,
    "field": 1.0,
    "popularity": 2.0,
    "popularity_overall": 0.0,
    "quality": 0.1,
    "context": 0.5,
}
#: validation cadres needed before a weight set is searched at all / cold weights are fitted
MIN_VALIDATION = 50
MIN_COLD = 200
#: a move must beat the current weights by this many standard errors (paired over cadres)
SIGNIFICANCE = 1.0
PROTOCOLS = ("auto", "temporal", "leave-last")


@dataclass(frozen=True)
class BlendConfig:
    """How blend weights are fitted when not given."""

    validation_fraction: float = 0.1
    max_validation_cadres: int = 1000
    random_state: int = 0
    protocol: str = "auto"  # "temporal", "leave-last", or "auto" (from the data's shape)
    #: leave-last validation folds pooled for the listwise fit: fold 2 holds out each
    #: cadre's second-last enrolment, signals refit without it (icourse163: 1,000 → 1,423
    #: queries, cross-validated NDCG@10 +0.0017); the temporal protocol keeps one fold
    folds: int = 2
    #: warm weights kept when validation is too small to fit them (signals not named: 0.5)
    start: dict = field(default_factory=lambda: dict(START))
    #: cold weights unless the validation data has ``min_cold`` cold cadres
    cold_prior: dict = field(default_factory=lambda: dict(COLD_PRIOR))
    min_validation: int = MIN_VALIDATION
    min_cold: int = MIN_COLD
    significance: float = SIGNIFICANCE
    listwise_l2: float = LISTWISE_L2
    #: warm weights are pulled towards ``start`` as if this many validation queries agreed
    #: with it: ~100 queries (a county academy) land halfway, 1,400 (icourse163) barely move
    prior_queries: float = 0.0


def choose_protocol(data, protocol: str = "auto") -> str:
    """``leave-last`` when the median cadre with history has fewer than 3 enrolments (one
    or two courses each: the next course is the question), else ``temporal``."""
    if protocol != "auto":
        return protocol_from_counts(np.zeros(0, np.int64), protocol)
    per_cadre = np.bincount(data.rows, minlength=data.n_cadres)
    return protocol_from_counts(per_cadre[per_cadre > 0], protocol)


def protocol_from_counts(active: np.ndarray, protocol: str = "auto") -> str:
    """:func:`choose_protocol` from the enrolments of each cadre who has any (the Spark
    engine counts them on executors)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown validation protocol {protocol!r}; use one of {PROTOCOLS}")
    if protocol != "auto":
        return protocol
    return "leave-last" if len(active) and np.median(active) < 3 else "temporal"


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


def listable(policy: CandidatePolicy, data, users: np.ndarray, history) -> np.ndarray:
    """(users × courses) what a list may hold for these cadres at the end of ``data``: the
    request path's own candidate policy (active, open, audience, electives, not taken)."""
    profiles = data.cadres.iloc[np.asarray(users, np.int64)].to_dict("records")
    return policy.for_batch(profiles, history, Filters(), np.datetime64(data.now, "s"))


def _search(
    evaluate, start: dict[str, float], names: tuple[str, ...], significance: float, passes=3
):
    """Coordinate ascent over GRID from ``start``; ``evaluate(weights)`` returns NDCG per
    validation cadre. A move is taken only when its mean gain exceeds SIGNIFICANCE standard
    errors of the paired differences. Returns (weights, mean NDCG)."""
    best = {n: start.get(n, 0.5) for n in names}
    best_v = evaluate(best)
    for _ in range(passes):
        improved = False
        for name in names:
            for value in GRID:
                trial = {**best, name: value}
                if not any(trial.values()) or trial == best:
                    continue
                v = evaluate(trial)
                diff = v - best_v
                se = diff.std() / np.sqrt(max(len(diff), 1))
                if diff.mean() > max(significance * se, 1e-6):
                    best, best_v, improved = trial, v, True
        if not improved:
            break
    return best, float(best_v.mean()) if len(best_v) else 0.0


def extra_queries(
    hybrid: Any, data, holdout: pd.DataFrame, cfg: BlendConfig, seed: int, policy: CandidatePolicy
):
    """One more fold's warm validation queries for the listwise fit: z-scored components,
    listable and target masks of the cadres with history and a held-out chosen course."""
    rng = np.random.default_rng(seed)
    rel = relevance(data, chosen(holdout))
    users = np.flatnonzero(np.asarray(rel.getnnz(axis=1) > 0) & (data.history.getnnz(axis=1) > 0))
    if len(users) > cfg.max_validation_cadres:
        users = np.sort(rng.choice(users, size=cfg.max_validation_cadres, replace=False))
    batch = QueryBatch.for_cadres(data, users)
    ok = listable(policy, data, users, batch.history)
    comps = {n: zscore(v) for n, v in hybrid.components(batch).items()}
    return comps, ok, rel[users].toarray() > 0


def _pooled(comps, listable, targets, extra, names):
    """The first fold's warm queries with the extra folds' rows appended."""
    if not extra:
        return comps, listable, targets
    parts = [(comps, listable, targets), *extra]
    return (
        {n: np.concatenate([p[0][n] for p in parts]) for n in names},
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
    )


def fit_weights(
    hybrid: Any,
    data,
    holdout: pd.DataFrame,
    cfg: BlendConfig,
    extra: tuple = (),
    policy: CandidatePolicy | None = None,
) -> FittedWeights:
    """Warm and cold blend weights for ``hybrid`` (signals fitted on ``data``) on ``holdout``;
    ``extra``: more folds' warm queries (:func:`extra_queries`) pooled into the listwise fit."""
    rng = np.random.default_rng(cfg.random_state)
    rel = relevance(data, chosen(holdout))
    users = np.flatnonzero(np.asarray(rel.getnnz(axis=1) > 0))
    if len(users) > cfg.max_validation_cadres:
        users = np.sort(rng.choice(users, size=cfg.max_validation_cadres, replace=False))
    names = tuple(s.name for s in hybrid.signals_)
    cold_names = tuple(s.name for s in hybrid.signals_ if not s.needs_history)
    start = {n: cfg.start.get(n, 0.5) for n in names}
    prior = {n: cfg.cold_prior.get(n, 0.0) for n in cold_names}
    report: dict = {"validation_cadres": len(users)}
    if len(users) < cfg.min_validation:
        report["note"] = f"fewer than {cfg.min_validation} validation cadres: default weights"
        return FittedWeights(start, prior, report)
    relevant = rel[users].toarray() > 0
    batch = QueryBatch.for_cadres(data, users)
    policy = policy or CandidatePolicy(data.courses)
    seen = ~listable(policy, data, users, batch.history)  # what the request path would drop
    warm_rows = batch.has_history
    cold_rows = ~warm_rows

    def evaluator(comps, rows):
        def evaluate(w):
            s = hybrid.blend_scores(comps, rows, weights=w, cold_weights=w, normalized=True)
            s[seen] = -np.inf
            return batch_ndcg(s, relevant, 10)[rows]

        return evaluate

    report["warm_cadres"] = int(warm_rows.sum())
    report["cold_cadres"] = int(cold_rows.sum())
    warm, warm_ndcg = start, float("nan")
    if warm_rows.sum() >= cfg.min_validation:
        comps = {n: zscore(v) for n, v in hybrid.components(batch).items()}
        score_warm = evaluator(comps, warm_rows)
        warm_targets = relevant & warm_rows[:, None]
        pooled = _pooled(comps, ~seen, warm_targets, extra, names)
        warm = (
            listwise_weights(
                *pooled, names, l2=cfg.listwise_l2, prior=start, prior_queries=cfg.prior_queries
            )
            or start
        )
        report["listwise_queries"] = int(pooled[2].any(axis=1).sum())
        warm_ndcg = float(score_warm(warm).mean())
        report.update({f"ndcg@10_{n}": float(score_warm({n: 1.0}).mean()) for n in names})
        report["ndcg@10_start"] = float(score_warm(start).mean())
    cold_w, cold_ndcg = prior, float("nan")
    if cold_rows.sum() >= cfg.min_cold:
        cold = {
            n: zscore(v)
            for n, v in hybrid.components(batch.without_history(), names=cold_names).items()
        }
        search = evaluator(cold, cold_rows)
        cold_w, cold_ndcg = _search(search, prior, cold_names, cfg.significance)
    else:
        n_cold = int(cold_rows.sum())
        report["cold_note"] = f"{n_cold} cold validation cadres < {cfg.min_cold}: prior"
    report.update(
        {
            "ndcg@10_hybrid": warm_ndcg,
            "ndcg@10_cold_hybrid": cold_ndcg,
            "weights": warm,
            "cold_weights": cold_w,
        }
    )
    return FittedWeights(warm, cold_w, report)
