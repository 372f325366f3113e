"""The ranker: top-k of a query's candidates by blended score, with field coverage.

Scoring (the hybrid) and ranking are kept apart, as in lkpy: the ranker sees only scores,
the candidate mask and, for field coverage, which fields of work each course serves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender.ranking.scaling import top_k


@dataclass(frozen=True)
class RankerConfig:
    """Field coverage for new cadres: a field the profile names with at least
    ``field_share`` gets a course in the list (at most ``max_covered`` fields, strongest
    first)."""

    field_share: float = 0.2
    max_covered: int = 3


def cover_fields(
    top: np.ndarray,
    scores: np.ndarray,
    candidates: np.ndarray,
    fields: np.ndarray,
    course_fields: np.ndarray,
    config: RankerConfig = RankerConfig(),
) -> np.ndarray:
    """Make every field the profile clearly names hold at least one course of the list.

    A post that is mostly 信息化 but also 执法 should see a 政策法规 course too: for each
    named field (share ≥ ``field_share``) the list lacks, the best-scoring candidate serving
    it replaces the lowest-ranked course that is not itself such a pick. Order stays by score.
    """
    named = [int(f) for f in np.argsort(-fields, kind="stable") if fields[f] >= config.field_share]
    top = list(top)
    protected: set[int] = set()
    for f in named[: config.max_covered]:
        serving = course_fields[:, f] > 0
        held = [i for i in top if serving[i]]
        if held:
            protected.add(held[0])
            continue
        pool = candidates[serving[candidates]]
        pool = pool[~np.isin(pool, top)]
        victims = [i for i in reversed(top) if i not in protected]
        if not len(pool) or not victims:
            continue
        best = int(pool[np.argmax(scores[pool])])
        top[top.index(victims[0])] = best
        protected.add(best)
    out = np.asarray(top, dtype=np.int64)
    return out[np.argsort(-scores[out], kind="stable")]


def top_one(scores: np.ndarray, k: int) -> np.ndarray:
    """:func:`~recommender.ranking.scaling.top_k` of one row (the same partition and stable
    sort, without the 2-D bookkeeping: ~15 µs a request)."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top], kind="stable")]


class Ranker:
    """Top-``k`` candidates by score; a new cadre's named fields each get a course."""

    def __init__(self, course_fields: np.ndarray | None, config: RankerConfig) -> None:
        self.course_fields = course_fields
        self.config = config

    def top(
        self,
        scores: np.ndarray,
        mask: np.ndarray,
        k: int,
        *,
        fields: np.ndarray | None = None,
        has_history: bool = True,
    ) -> np.ndarray:
        """Course positions of one list, best first."""
        cand = np.flatnonzero(mask)
        if len(cand) == 0 or k <= 0:
            return np.zeros(0, np.int64)
        top = cand[top_one(scores[cand], k)]
        if not has_history and fields is not None and self.course_fields is not None:
            top = cover_fields(top, scores, cand, fields, self.course_fields, self.config)
        return top

    def top_many(
        self,
        scores: np.ndarray,
        masks: np.ndarray,
        k: int,
        *,
        fields: np.ndarray | None = None,
        has_history: np.ndarray | None = None,
    ) -> list[np.ndarray]:
        """One list per row of ``scores`` (the same lists as :meth:`top` row by row)."""
        s = np.where(masks, scores, np.float32(-np.inf)).astype(np.float32, copy=False)
        k_eff = min(k, s.shape[1])
        tops = top_k(s, k_eff) if k_eff > 0 else np.zeros((len(s), 0), np.int64)
        out = []
        for i, row in enumerate(tops):
            n = int(masks[i].sum())
            row = row[: min(n, k_eff)]
            cold = has_history is not None and not has_history[i]
            if cold and fields is not None and self.course_fields is not None:
                row = cover_fields(
                    row,
                    scores[i],
                    np.flatnonzero(masks[i]),
                    fields[i],
                    self.course_fields,
                    self.config,
                )
            out.append(np.asarray(row, np.int64))
        return out
