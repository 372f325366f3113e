"""Hybrid scorer: per-cadre normalised blend of content, collaborative, popularity,
quality and "next course" signals, with blend weights fitted on a temporal
validation split inside :meth:`HybridRecommender.fit`.

Scoring works on internal indices; :mod:`recommender.ranking.model` maps ids, filters
and explains.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from recommender.signals.collaborative import EASE, ItemKNN, sequence_transitions
from recommender.signals.content import ContentModel, profile_text
from recommender.data.features import (
    IdMap,
    context_bits,
    context_scores,
    course_context,
    interaction_matrix,
    quality_prior,
    segments,
)
from recommender.signals.popularity import Popularity
from recommender.data.schema import Columns as C
from recommender.ranking.blend_search import collaborative_ndcg, fit_weights, temporal_holdout

log = logging.getLogger(__name__)

COMPONENTS = (
    "content",
    "collaborative",
    "popularity",
    "popularity_overall",
    "quality",
    "sequence",
    "context",
)
#: components available for a cadre with no history
COLD_COMPONENTS = ("content", "popularity", "popularity_overall", "quality", "context")


#: behaviour-based components that a course with no completions knows nothing about
BEHAVIOURAL = ("collaborative", "popularity", "popularity_overall")
COLD_ITEM_NEIGHBOURS = 20


def cold_item_bridge(
    course_matrix: sp.csr_matrix, warm: np.ndarray, *, neighbours: int = COLD_ITEM_NEIGHBOURS
) -> sp.csr_matrix:
    """(n_items × n_items) map that copies warm scores and fills each cold course with the
    similarity-weighted mean score of its nearest warm courses (content neighbours).

    Multiplying a behavioural score row by it gives a course with no completions the score
    its look-alikes have, instead of the lowest score in the catalog.
    """
    n = course_matrix.shape[0]
    warm_idx, cold_idx = np.flatnonzero(warm), np.flatnonzero(~warm)
    rows, cols, vals = [warm_idx], [warm_idx], [np.ones(len(warm_idx), np.float32)]
    if len(cold_idx) and len(warm_idx):
        sims = (course_matrix[cold_idx] @ course_matrix[warm_idx].T).toarray()
        k = min(neighbours, len(warm_idx))
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        w = np.take_along_axis(sims, top, axis=1).clip(min=0)
        w = np.where(w.sum(axis=1, keepdims=True) > 0, w, 1.0)
        w = w / w.sum(axis=1, keepdims=True)
        rows.append(warm_idx[top].ravel())
        cols.append(np.repeat(cold_idx, k))
        vals.append(w.ravel().astype(np.float32))
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )


def zscore(scores: np.ndarray) -> np.ndarray:
    """Row-wise standardisation; constant rows become zeros."""
    mean = scores.mean(axis=1, keepdims=True)
    std = scores.std(axis=1, keepdims=True)
    out = np.zeros_like(scores, dtype=np.float32)
    np.divide(scores - mean, std, out=out, where=std > 1e-12)
    return out


class HybridRecommender(BaseEstimator):
    """Blend of content, collaborative, popularity, quality and sequence scores.

    Parameters
    ----------
    tokenizer
        Callable str → tokens for the content model (a ``ChineseTokenizer``).
    collaborative
        ``"ease"``, ``"itemknn"`` or ``"auto"`` (pick the better on validation).
    weights, cold_weights
        Fixed blend weights per component; ``None`` fits them on a validation split.
    history_half_life_days
        Recency weight on a cadre's history (``None`` = all history counts the same).
    """

    def __init__(
        self,
        *,
        tokenizer,
        collaborative: str = "auto",
        ease_l2: float = 200.0,
        knn_neighbors: int = 100,
        history_half_life_days: float | None = None,
        popularity_half_life_days: float = 180.0,
        content_history_weight: float = 0.5,
        weights: Mapping[str, float] | None = None,
        cold_weights: Mapping[str, float] | None = None,
        validation_fraction: float = 0.1,
        max_validation_cadres: int = 1000,
        random_state: int = 0,
    ) -> None:
        self.tokenizer = tokenizer
        self.collaborative = collaborative
        self.ease_l2 = ease_l2
        self.knn_neighbors = knn_neighbors
        self.history_half_life_days = history_half_life_days
        self.popularity_half_life_days = popularity_half_life_days
        self.content_history_weight = content_history_weight
        self.weights = weights
        self.cold_weights = cold_weights
        self.validation_fraction = validation_fraction
        self.max_validation_cadres = max_validation_cadres
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def fit(
        self, courses: pd.DataFrame, cadres: pd.DataFrame, completions: pd.DataFrame
    ) -> HybridRecommender:
        """Fit every component; fit blend weights on a temporal validation split."""
        self.courses_ = IdMap(courses[C.COURSE_ID].to_numpy())
        self.cadres_ = IdMap(cadres[C.CADRE_ID].to_numpy())
        self.content_ = ContentModel(
            tokenizer=self.tokenizer, history_weight=self.content_history_weight
        ).fit(courses)
        texts = [profile_text(r) for r in cadres.to_dict("records")]
        self.profile_vectors_ = self.content_.transform_texts(texts)
        self.segments_ = segments(cadres)
        self.quality_raw_ = quality_prior(courses, completions)
        self.context_bits_ = context_bits(cadres)
        self.session_start_ = courses[C.SESSION_START].to_numpy(dtype="datetime64[s]")
        self.course_formats_, self.course_windows_ = course_context(courses)
        self.validation_: dict = {}
        kind = self.collaborative
        weights, cold = self.weights, self.cold_weights
        if weights is None or cold is None or kind == "auto":
            fit_w, fit_c, kind, self.validation_ = self._fit_blend(courses, cadres, completions)
            weights = weights if weights is not None else fit_w
            cold = cold if cold is not None else fit_c
        self.collaborative_kind_ = kind
        self.weights_ = {c: float(weights.get(c, 0.0)) for c in COMPONENTS}
        self.cold_weights_ = {c: float(cold.get(c, 0.0)) for c in COLD_COMPONENTS}
        self._fit_interactions(completions, kind)
        return self

    def _fit_interactions(self, completions: pd.DataFrame, kind: str) -> None:
        """Fit the parts learned from behaviour (collaborative, popularity, sequence)."""
        n_items = len(self.courses_)
        times = completions[C.ENROLLED_AT].to_numpy(dtype="datetime64[s]")
        self.now_ = times.max() if len(times) else np.datetime64("now", "s")
        self.history_ = interaction_matrix(
            completions,
            self.cadres_,
            self.courses_,
            now=self.now_,
            half_life_days=self.history_half_life_days,
        )
        self.collab_ = self._make_collab(kind).fit(self.history_) if n_items else None
        rows = self.cadres_.lookup(completions[C.CADRE_ID])
        cols = self.courses_.lookup(completions[C.COURSE_ID])
        ok = (rows >= 0) & (cols >= 0)
        segs = [self.segments_[r] for r in rows[ok]]
        self.popularity_ = Popularity(half_life_days=self.popularity_half_life_days).fit(
            cols[ok], times[ok], segs, n_items, now=self.now_
        )
        self.transitions_ = sequence_transitions(rows[ok], cols[ok], times[ok], n_items)
        order = np.argsort(times[ok], kind="stable")
        self.last_items_ = np.full(len(self.cadres_), -1, dtype=np.int64)
        self.last_items_[rows[ok][order]] = cols[ok][order]
        self.item_counts_ = np.asarray((self.history_ > 0).sum(axis=0)).ravel()
        self.bridge_ = cold_item_bridge(self.content_.course_matrix_, self.item_counts_ > 0)
        self._segment_cache: dict = {}

    def open_courses(self, at: np.datetime64 | None = None) -> np.ndarray:
        """Courses one can still enrol in at ``at`` (default: the end of the training data):
        self-paced ones, and scheduled ones whose session has not started."""
        check_is_fitted(self, "now_")
        at = self.now_ if at is None else np.datetime64(at, "s")
        return np.isnat(self.session_start_) | (self.session_start_ >= at)

    def _make_collab(self, kind: str) -> EASE | ItemKNN:
        if kind == "itemknn":
            return ItemKNN(k=self.knn_neighbors)
        return EASE(l2=self.ease_l2)

    def _fit_blend(self, courses, cadres, completions):
        """Fit components on the earlier part of the data and weights on the later part.

        With ``collaborative="auto"`` the collaborative model is chosen first, by its own
        validation NDCG (cheap), and the blend weights are searched once, for the winner.
        """
        train, valid = temporal_holdout(completions, self.validation_fraction)
        report: dict = {"validation_interactions": len(valid)}
        kind = self.collaborative
        self._fit_interactions(train, "ease" if kind == "auto" else kind)
        if kind == "auto":
            fitted_models = {
                "ease": self.collab_,
                "itemknn": self._make_collab("itemknn").fit(self.history_),
            }
            scores = {}
            for candidate, collab in fitted_models.items():
                self.collab_ = collab
                scores[candidate] = collaborative_ndcg(
                    self,
                    valid,
                    random_state=self.random_state,
                    max_cadres=self.max_validation_cadres,
                )
            kind = max(scores, key=lambda k: (scores[k], k == "ease"))
            report["collaborative_ndcg@10"] = scores
            self.collab_ = fitted_models[kind]
        fitted = fit_weights(
            self, valid, random_state=self.random_state, max_cadres=self.max_validation_cadres
        )
        report.update(fitted.report)
        report["collaborative_kind"] = kind
        return fitted.weights, fitted.cold_weights, kind, report

    # --------------------------------------------------------------- scoring
    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())
        state["_segment_cache"] = {}  # request-time memo: rebuilt after loading, not saved
        return state

    def segment_popularity(self, segment: tuple[str, ...] | None) -> np.ndarray:
        """Segment popularity (memoised: there are few distinct segments)."""
        cached = self._segment_cache.get(segment)
        if cached is None:
            cached = self._log_pop(self.popularity_.score(segment))
            if len(self._segment_cache) < 10_000:
                self._segment_cache[segment] = cached
        return cached

    def _log_pop(self, share: np.ndarray) -> np.ndarray:
        """Popularity on a log scale (choice models are additive in log-popularity),
        with courses that have no completions bridged from their content neighbours."""
        logp = np.log(share.astype(np.float64) + 1e-6).astype(np.float32)
        warm = self.item_counts_ > 0
        if warm.all() or not warm.any():
            return logp
        logp[~warm] = 0.0
        return np.asarray(logp @ self.bridge_).ravel().astype(np.float32)

    def components(
        self,
        profile_vectors: sp.csr_matrix,
        history: sp.csr_matrix,
        segs: Sequence[tuple[str, ...]],
        last_items: np.ndarray,
        context: np.ndarray | None = None,
        *,
        needed: Sequence[str] = COMPONENTS,
    ) -> dict[str, np.ndarray]:
        """Raw component scores (n_rows × n_items) for the requested components."""
        check_is_fitted(self, "content_")
        n = profile_vectors.shape[0]
        out: dict[str, np.ndarray] = {}
        if "content" in needed:
            vecs = self.content_.cadre_vectors(profile_vectors, history)
            out["content"] = self.content_.score(vecs)
        if "collaborative" in needed:
            out["collaborative"] = np.asarray(self.collab_.score(history) @ self.bridge_)
        if "popularity" in needed:
            out["popularity"] = np.vstack([self.segment_popularity(s) for s in segs])
        if "popularity_overall" in needed:
            out["popularity_overall"] = np.tile(self.segment_popularity(None), (n, 1))
        if "quality" in needed:
            out["quality"] = np.tile(self.quality_raw_, (n, 1))
        if "sequence" in needed:
            seq = np.zeros((n, len(self.courses_)), dtype=np.float32)
            has = last_items >= 0
            if has.any():
                seq[has] = self.transitions_[last_items[has]].toarray()
            out["sequence"] = seq
        if "context" in needed and context is not None:
            out["context"] = context_scores(context, self.course_formats_, self.course_windows_)
        return out

    def blend(
        self,
        comps: Mapping[str, np.ndarray],
        has_history: np.ndarray,
        weights: Mapping[str, float] | None = None,
        cold_weights: Mapping[str, float] | None = None,
        *,
        normalized: bool = False,
    ) -> np.ndarray:
        """Weighted sum of z-scored components; cold rows use the cold weights.

        Pass ``normalized=True`` when ``comps`` are already z-scored (the weight search
        blends the same components hundreds of times).
        """
        warm_w = self.weights_ if weights is None else weights
        cold_w = self.cold_weights_ if cold_weights is None else cold_weights
        first = next(iter(comps.values()))
        total = np.zeros_like(first, dtype=np.float32)
        for name, raw in comps.items():
            ww, cw = warm_w.get(name, 0.0), cold_w.get(name, 0.0)
            if not (ww or cw):
                continue
            z = raw if normalized else zscore(raw)
            if ww == cw:
                total += np.float32(ww) * z
            else:
                w = np.where(has_history, ww, cw).astype(np.float32)
                total += w[:, None] * z
        return total

    def needed_components(self) -> tuple[str, ...]:
        """Components with a non-zero weight in either weight set."""
        check_is_fitted(self, "weights_")
        return tuple(c for c in COMPONENTS if self.weights_.get(c) or self.cold_weights_.get(c))

    def score(
        self,
        profile_vectors: sp.csr_matrix,
        history: sp.csr_matrix,
        segs: Sequence[tuple[str, ...]],
        last_items: np.ndarray,
        context: np.ndarray | None = None,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Blended scores (n_rows × n_items) and the raw components behind them."""
        comps = self.components(
            profile_vectors, history, segs, last_items, context, needed=self.needed_components()
        )
        has_history = np.asarray(history.getnnz(axis=1) > 0)
        return self.blend(comps, has_history), comps

    def score_cadres(self, rows: np.ndarray) -> np.ndarray:
        """Blended scores for known cadres (internal rows) from their training history."""
        check_is_fitted(self, "weights_")
        hist = self.history_[rows]
        segs = [self.segments_[r] for r in rows]
        return self.score(
            self.profile_vectors_[rows],
            hist,
            segs,
            self.last_items_[rows],
            self.context_bits_[rows],
        )[0]
