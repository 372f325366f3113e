"""Quality signal: the Bayesian mean of learner ratings, shrunk towards the instructor rating."""

from __future__ import annotations

import numpy as np

from recommender.signals.base import ExplainContext, Query, QueryBatch, Reason, Signal

#: a course rated at least this (0–5) is called well rated in explanations
HIGH_RATING = 4.5


class QualitySignal(Signal):
    """The same quality prior (0–5 scale) for every cadre (see
    :func:`recommender.data.features.quality_prior`)."""

    name = "quality"

    def fit_from_statistics(self, stats, meta) -> QualitySignal:
        """Catalog side only (no statistics of the records)."""
        self.prior_ = np.asarray(meta.quality, dtype=np.float32)
        self.n_items_ = len(self.prior_)
        return self

    def score(self, batch: QueryBatch) -> np.ndarray:
        self._check_fitted()
        return np.tile(self.prior_, (len(batch), 1))

    def score_one(self, query: Query) -> np.ndarray:
        self._check_fitted()
        return self.prior_.copy()

    def memo_on(self) -> tuple[str, ...]:
        return ()

    def memo_key(self, query: Query):
        return (self.name,)

    def explain(self, query: Query, items: np.ndarray, context: ExplainContext):
        """ "Well rated by learners" for courses rated at least HIGH_RATING."""
        out = []
        for item in np.asarray(items, np.int64).tolist():
            rating = float(self.prior_[item])
            text = f"学员评价高（{rating:.1f} 分）"
            ok = rating >= HIGH_RATING
            out.append([Reason("high_rating", text, {"rating": round(rating, 2)})] if ok else [])
        return out
