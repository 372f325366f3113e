"""Context signal: does the course's format suit the cadre, and can they attend its session?

Declared preferred formats add; a scheduled session outside every study window the cadre
declared (weekday daytime / evening / weekend) costs more than any format preference wins.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.data.schema import FORMATS, WINDOWS
from recommender.data.schema import Columns as C
from recommender.signals.base import Query, QueryBatch, Signal


def course_context(courses: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Format one-hot (n × formats) and window one-hot (n × windows; all ones if unscheduled)."""
    from recommender.data.catalog import session_windows

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


class ContextSignal(Signal):
    """Format preference and session-window fit (declared in the profile)."""

    name = "context"

    def fit_from_statistics(self, stats, meta) -> ContextSignal:
        """Catalog side only (no statistics of the records)."""
        self.formats_, self.windows_ = course_context(meta.courses)
        self.n_items_ = len(self.formats_)
        return self

    def score(self, batch: QueryBatch) -> np.ndarray:
        self._check_fitted()
        return context_scores(np.asarray(batch.context, np.float32), self.formats_, self.windows_)

    def score_one(self, query: Query) -> np.ndarray:
        self._check_fitted()
        if query.context is None:
            return np.zeros(self.n_items_, dtype=np.float32)
        bits = np.asarray(query.context, np.float32).reshape(1, -1)
        return context_scores(bits, self.formats_, self.windows_)[0]

    def memo_on(self) -> tuple[str, ...]:
        return ("context",)

    def memo_key(self, query: Query):
        ctx = b"" if query.context is None else np.asarray(query.context, np.float32).tobytes()
        return (self.name, ctx)
