"""Offline evaluation: one split, every model and baseline scored in the same run.

Protocol (DESIGN.md): a temporal split (last ``fraction`` of enrolments by time is the
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
import scipy.sparse as sp
from tqdm.auto import tqdm

from recommender.ranking import metrics
from recommender.signals.collaborative import EASE, ItemKNN
from recommender.data.loading import Dataset
from recommender.ranking.hybrid import HybridRecommender
from recommender.data.schema import Columns as C
from recommender.lifecycle.train import DEFAULT_PARAMS, TrainParams, make_hybrid
from recommender.ranking.blend_search import chosen

log = logging.getLogger(__name__)

SPLITS = ("temporal", "leave-last", "random")
#: baselines as fixed blend weights over the hybrid's own fitted components
BASELINES: dict[str, dict[str, float]] = {
    "popularity": {"popularity_overall": 1.0},
    "segment_popularity": {"popularity": 1.0},
    "content": {"content": 1.0},
    "ease": {"collaborative": 1.0},
    "itemknn": {"collaborative": 1.0},
}


class EvaluationError(ValueError):
    """The data cannot be evaluated as asked (e.g. an empty test set)."""


def split_completions(
    completions: pd.DataFrame, method: str = "temporal", *, fraction: float = 0.2, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train/test split of enrolments."""
    if method not in SPLITS:
        raise EvaluationError(f"unknown split {method!r}; choose one of {', '.join(SPLITS)}")
    df = completions.sort_values(C.ENROLLED_AT, kind="stable")
    if method == "temporal":
        cut = round(len(df) * (1 - fraction))
        return df.iloc[:cut], df.iloc[cut:]
    if method == "leave-last":
        last = df.groupby(C.CADRE_ID).tail(1).index
        counts = df.groupby(C.CADRE_ID)[C.COURSE_ID].transform("size")
        test_idx = last.intersection(df.index[counts >= 2])
        return df.drop(index=test_idx), df.loc[test_idx]
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


def _relevant(model: HybridRecommender, test: pd.DataFrame) -> tuple[np.ndarray, sp.csr_matrix]:
    rows = model.cadres_.lookup(test[C.CADRE_ID])
    cols = model.courses_.lookup(test[C.COURSE_ID])
    ok = (rows >= 0) & (cols >= 0)
    rel = sp.csr_matrix(
        (np.ones(ok.sum(), np.float32), (rows[ok], cols[ok])), shape=model.history_.shape
    )
    rel = (rel - rel.multiply(model.history_ > 0)).tocsr()
    rel.eliminate_zeros()
    users = np.flatnonzero(np.asarray(rel.getnnz(axis=1) > 0))
    return users, rel


def _score_fns(model: HybridRecommender, seed: int) -> dict[str, Callable]:
    """name → f(comps, has_history) returning a score matrix."""
    other = "itemknn" if model.collaborative_kind_ == "ease" else "ease"
    alt = ItemKNN(k=model.knn_neighbors) if other == "itemknn" else EASE(l2=model.ease_l2)
    alt.fit(model.history_)
    rng = np.random.default_rng(seed)
    fns: dict[str, Callable] = {
        "random": lambda comps, hh, hist: rng.random((*hh.shape, len(model.courses_)))
    }
    for name, w in BASELINES.items():
        if name == other:
            fns[name] = lambda comps, hh, hist: alt.score(hist)
        else:
            fns[name] = lambda comps, hh, hist, w=w: model.blend(
                comps, hh, weights=w, cold_weights=w
            )
    fns["hybrid"] = lambda comps, hh, hist: model.blend(comps, hh)
    return fns


def _topk(scores: np.ndarray, k: int) -> np.ndarray:
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


def evaluate_model(
    model: HybridRecommender,
    test: pd.DataFrame,
    *,
    k: int = 10,
    seed: int = 0,
    batch: int = 256,
    progress: bool = False,
) -> EvalReport:
    """Score every baseline and the hybrid on ``test`` for a model fitted on the training part."""
    users, rel = _relevant(model, test)
    if len(users) == 0:
        raise EvaluationError("no test cadre has a new course in the test period")
    cold_items = model.item_counts_ == 0
    closed = ~model.open_courses()  # sessions that started before the split cannot be taken
    fns = _score_fns(model, seed)
    lists: dict[str, list[np.ndarray]] = {name: [] for name in fns}
    for start in tqdm(range(0, len(users), batch), disable=not progress, desc="scoring"):
        u = users[start : start + batch]
        hist = model.history_[u]
        comps = model.components(
            model.profile_vectors_[u],
            hist,
            [model.segments_[i] for i in u],
            model.last_items_[u],
            model.context_bits_[u],
        )
        hh = np.asarray(hist.getnnz(axis=1) > 0)
        seen = hist.toarray() > 0
        seen[:, closed] = True
        for name, fn in fns.items():
            s = np.array(fn(comps, hh, hist), dtype=np.float32)
            s[seen] = -np.inf
            lists[name].append(_topk(s, k))
    tops = {name: np.vstack(v) for name, v in lists.items()}
    has_hist = np.asarray(model.history_[users].getnnz(axis=1) > 0)
    rel_sets = [rel.indices[rel.indptr[u] : rel.indptr[u + 1]] for u in users]
    rows = []
    for name, top in tops.items():
        rows += _slice_rows(name, top, rel_sets, has_hist, cold_items, model, k)
    table = pd.DataFrame(rows)
    details = {
        "k": k,
        "test_cadres": len(users),
        "cold_cadres": int((~has_hist).sum()),
        "cold_courses": int(cold_items.sum()),
        "n_courses": len(cold_items),
        "collaborative": model.collaborative_kind_,
        "weights": model.weights_,
        "cold_weights": model.cold_weights_,
    }
    return EvalReport(table, details)


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


def _slice_rows(name, top, rel_sets, has_hist, cold_items, model, k) -> list[dict]:
    n_items = len(cold_items)
    all_idx = range(len(rel_sets))
    sample = np.arange(0, len(top), max(1, len(top) // 500))
    div = float(
        np.mean(
            [metrics.intra_list_diversity(top[i], model.content_.course_matrix_) for i in sample]
        )
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
    params: TrainParams = DEFAULT_PARAMS,
    progress: bool = False,
    relevant: str = "chosen",
) -> EvalReport:
    """Split, fit the hybrid on the training part, and score everything on the test part.

    ``relevant="chosen"`` (default) counts the test courses cadres chose themselves;
    ``"all"`` also counts compulsory assignments.
    """
    if relevant not in ("chosen", "all"):
        raise EvaluationError(f"relevant must be 'chosen' or 'all', got {relevant!r}")
    train, test = split_completions(dataset.completions, split, fraction=fraction, seed=params.seed)
    if len(train) == 0 or len(test) == 0:
        raise EvaluationError(
            f"split {split!r} left an empty train or test set "
            f"({len(train)} / {len(test)} enrolments)"
        )
    model = make_hybrid(params).fit(dataset.courses, dataset.cadres, train)
    target = chosen(test) if relevant == "chosen" else test
    report = evaluate_model(model, target, k=k, seed=params.seed, progress=progress)
    report.details.update(
        {
            "split": split,
            "fraction": fraction,
            "relevant": relevant,
            "train_enrolments": len(train),
            "test_enrolments": len(test),
            "validation": model.validation_,
        }
    )
    return report


def format_table(report: EvalReport) -> str:
    """A plain-text table: one row per model and slice."""
    df = report.table.copy()
    return df.to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep="-")
