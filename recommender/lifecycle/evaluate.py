"""Offline evaluation: one split, every model and baseline scored in the same run.

Protocol (README.md): a temporal split (last ``fraction`` of enrolments by time is the
test set) or leave-last / random per-cadre splits; relevant items are the test
courses a cadre had not taken in training; slices are all cadres, cold cadres
(no training history) and cold courses (no training completions, i.e. published
after the split). Serving-time audience filters are not applied here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from recommender.data.loading import Dataset
from recommender.data.schema import Columns as C
from recommender.data.training import TrainingData, leave_last_split, temporal_split
from recommender.ranking import metrics
from recommender.ranking.blend_search import chosen, listable, relevance
from recommender.ranking.candidates import CandidatePolicy
from recommender.ranking.hybrid import Hybrid
from recommender.ranking.pipeline import DEFAULT_CONFIG, TrainConfig, default_signals, prepare_data
from recommender.ranking.scaling import top_k
from recommender.signals.base import QueryBatch
from recommender.signals.collaborative import CollaborativeSignal

log = logging.getLogger(__name__)

SPLITS = ("temporal", "leave-last", "random")
#: baselines as fixed blend weights over the hybrid's own fitted signals
BASELINES: dict[str, dict[str, float]] = {
    "popularity": {"popularity_overall": 1.0},
    "segment_popularity": {"popularity": 1.0},
    "content": {"content": 1.0},
}
#: collaborative peers, each a CollaborativeSignal fitted on the same training data
PEERS = ("ease", "itemknn")


class EvaluationError(ValueError):
    """The data cannot be evaluated as asked (e.g. an empty test set)."""


def split_completions(
    completions: pd.DataFrame, method: str = "temporal", *, fraction: float = 0.2, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train/test split of enrolments."""
    if method not in SPLITS:
        raise EvaluationError(f"unknown split {method!r}; choose one of {', '.join(SPLITS)}")
    if method == "temporal":
        return temporal_split(completions, fraction)
    if method == "leave-last":
        return leave_last_split(completions)
    df = completions.sort_values(C.ENROLLED_AT, kind="stable")
    rng = np.random.default_rng(seed)
    test = rng.random(len(df)) < fraction
    return df[~test], df[test]


@dataclass
class EvalReport:
    """Metrics table (model × slice) plus run details."""

    table: pd.DataFrame
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"metrics": self.table.to_dict("records"), **self.details}


def _score_fns(hybrid: Hybrid, data: TrainingData, seed: int) -> dict[str, Callable]:
    """name → f(batch, comps) returning a score matrix; all read the same fitted signals."""
    rng = np.random.default_rng(seed)
    fns: dict[str, Callable] = {
        "random": lambda batch, comps: rng.random((len(batch), data.n_items)),
    }
    for name, w in BASELINES.items():
        fns[name] = lambda batch, comps, w=w: hybrid.blend_scores(
            comps, batch.has_history, weights=w, cold_weights=w
        )
    for kind in PEERS:
        peer = CollaborativeSignal(kind=kind).fit(data)
        fns[kind] = lambda batch, comps, peer=peer: peer.score(batch)
    fns["hybrid"] = lambda batch, comps: hybrid.blend_scores(comps, batch.has_history)
    return fns


def evaluate_hybrid(
    hybrid: Hybrid,
    data: TrainingData,
    test: pd.DataFrame,
    *,
    k: int = 10,
    seed: int = 0,
    batch: int = 256,
    progress: bool = False,
) -> EvalReport:
    """Score every baseline and the hybrid on ``test`` for a hybrid fitted on ``data``."""
    rel = relevance(data, test)
    users = np.flatnonzero(np.asarray(rel.getnnz(axis=1) > 0))
    if len(users) == 0:
        raise EvaluationError("no test cadre has a new course in the test period")
    cold_items = data.item_counts() == 0
    policy = CandidatePolicy(data.courses)  # the request path's own candidate policy
    fns = _score_fns(hybrid, data, seed)
    lists: dict[str, list[np.ndarray]] = {name: [] for name in fns}
    for start in tqdm(range(0, len(users), batch), disable=not progress, desc="scoring"):
        qb = QueryBatch.for_cadres(data, users[start : start + batch])
        comps = hybrid.components(qb)
        seen = ~listable(policy, data, users[start : start + batch], qb.history)
        for name, fn in fns.items():
            s = np.array(fn(qb, comps), dtype=np.float32)
            s[seen] = -np.inf
            lists[name].append(top_k(s, k))
    tops = {name: np.vstack(v) for name, v in lists.items()}
    has_hist = np.asarray(data.history[users].getnnz(axis=1) > 0)
    rel_sets = [rel.indices[rel.indptr[u] : rel.indptr[u + 1]] for u in users]
    rows = []
    for name, top in tops.items():
        rows += slice_rows(name, top, rel_sets, has_hist, cold_items, data, k)
    details = {
        "k": k,
        "test_cadres": len(users),
        "cold_cadres": int((~has_hist).sum()),
        "cold_courses": int(cold_items.sum()),
        "n_courses": len(cold_items),
        "signals": [s.name for s in hybrid.signals_],
        "weights": hybrid.weights_,
        "cold_weights": hybrid.cold_weights_,
    }
    return EvalReport(pd.DataFrame(rows), details)


def _metrics(
    top: np.ndarray,
    rel_sets: list,
    idx: Iterable[int],
    k: int,
    model,
    n_items: int,
    restrict: np.ndarray | None = None,
) -> dict:
    rec, ndcg, ap, users = [], [], [], 0
    for i in idx:
        relevant = rel_sets[i] if restrict is None else rel_sets[i][restrict[rel_sets[i]]]
        if len(relevant) == 0:
            continue
        ranked = top[i].tolist()
        rec.append(metrics.recall_at_k(ranked, set(relevant.tolist()), k))
        ndcg.append(metrics.ndcg_at_k(ranked, set(relevant.tolist()), k))
        ap.append(metrics.average_precision_at_k(ranked, set(relevant.tolist()), k))
        users += 1

    def mean(v):
        return float(np.mean(v)) if v else float("nan")

    return {
        "cadres": users,
        f"recall@{k}": mean(rec),
        f"ndcg@{k}": mean(ndcg),
        f"map@{k}": mean(ap),
    }


def slice_rows(name, top, rel_sets, has_hist, cold_items, model, k) -> list[dict]:
    n_items = len(cold_items)
    all_idx = range(len(rel_sets))
    sample = np.arange(0, len(top), max(1, len(top) // 500))
    div = float(
        np.mean([metrics.intra_list_diversity(top[i], model.course_vectors) for i in sample])
    )
    cov = metrics.catalog_coverage(top, n_items)
    cold_cov = (
        len(np.intersect1d(np.unique(top), np.flatnonzero(cold_items))) / cold_items.sum()
        if cold_items.any()
        else float("nan")
    )
    base = {"model": name}
    return [
        {
            **base,
            "slice": "all",
            **_metrics(top, rel_sets, all_idx, k, model, n_items),
            "coverage": cov,
            "diversity": div,
            "cold_course_coverage": cold_cov,
        },
        {
            **base,
            "slice": "cold_cadres",
            **_metrics(top, rel_sets, np.flatnonzero(~has_hist), k, model, n_items),
        },
        {
            **base,
            "slice": "cold_courses",
            **_metrics(top, rel_sets, all_idx, k, model, n_items, restrict=cold_items),
        },
    ]


def evaluate(
    dataset: Dataset,
    *,
    split: str = "temporal",
    k: int = 10,
    fraction: float = 0.2,
    config: TrainConfig = DEFAULT_CONFIG,
    progress: bool = False,
    relevant: str = "chosen",
    test: pd.DataFrame | None = None,
) -> EvalReport:
    """Split, fit the hybrid on the training part, and score everything on the test part.

    ``relevant="chosen"`` (default) counts the test courses cadres chose themselves;
    ``"all"`` also counts compulsory assignments. With ``test`` (``cadre_id, course_id``
    rows held out by someone else, e.g. the last course of each learner) the whole dataset
    trains and ``split`` is ignored.
    """
    if relevant not in ("chosen", "all"):
        raise EvaluationError(f"relevant must be 'chosen' or 'all', got {relevant!r}")
    if test is not None:
        train, split = dataset.completions, "external"
    else:
        seed = config.blend.random_state
        train, test = split_completions(dataset.completions, split, fraction=fraction, seed=seed)
    if len(train) == 0 or len(test) == 0:
        raise EvaluationError(
            f"split {split!r} left an empty train or test set "
            f"({len(train)} / {len(test)} enrolments)"
        )
    _text, data = prepare_data(dataset.courses, dataset.cadres, train, config)
    hybrid = Hybrid(
        signals=default_signals(config, data.n_items),
        weights=config.weights,
        cold_weights=config.cold_weights,
        blend=config.blend,
    ).fit(data)
    target = chosen(test) if relevant == "chosen" and C.SOURCE in test else test
    report = evaluate_hybrid(
        hybrid, data, target, k=k, seed=config.blend.random_state, progress=progress
    )
    report.details.update(
        {
            "split": split,
            "fraction": fraction,
            "relevant": relevant,
            "train_enrolments": len(train),
            "test_enrolments": len(test),
            "validation": hybrid.validation_,
        }
    )
    return report


def format_table(report: EvalReport) -> str:
    """A plain-text table: one row per model and slice."""
    df = report.table.copy()
    return df.to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep="-")
