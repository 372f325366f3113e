"""Ranking metrics on ranked lists: pure functions used by evaluation.

Conventions shared by every accuracy metric:

- ``ranked`` is best first; only its first ``k`` entries count, and an item repeated
  in the list counts once (its first position), so metrics stay in [0, 1].
- relevance is binary: membership in ``relevant``.
- an empty ``relevant`` set returns ``nan`` (the cadre has nothing to find); callers
  skip it, e.g. with ``numpy.nanmean``.
- ``k`` must be a positive integer (``ValueError`` otherwise).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from itertools import islice

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize


def _hit_positions(ranked: Sequence, relevant: Collection, k: int) -> list[int]:
    """0-based positions in the top ``k`` of first occurrences of relevant items."""
    if not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    seen: set = set()
    hits = []
    for pos, item in enumerate(islice(ranked, k)):
        if item in relevant and item not in seen:
            hits.append(pos)
        seen.add(item)
    return hits


def _relevant_set(relevant: Collection) -> set:
    return relevant if isinstance(relevant, set | frozenset) else set(relevant)


def recall_at_k(ranked: Sequence, relevant: Collection, k: int) -> float:
    """Recall@k = |top-k ∩ relevant| / |relevant| (textbook; < 1 when |relevant| > k)."""
    rel = _relevant_set(relevant)
    hits = _hit_positions(ranked, rel, k)
    return len(hits) / len(rel) if rel else math.nan


def precision_at_k(ranked: Sequence, relevant: Collection, k: int) -> float:
    """Precision@k = |top-k ∩ relevant| / k (a list shorter than k is not rewarded)."""
    rel = _relevant_set(relevant)
    hits = _hit_positions(ranked, rel, k)
    return len(hits) / k if rel else math.nan


def hit_rate_at_k(ranked: Sequence, relevant: Collection, k: int) -> float:
    """1.0 if any relevant item is in the top k, else 0.0."""
    rel = _relevant_set(relevant)
    hits = _hit_positions(ranked, rel, k)
    return float(bool(hits)) if rel else math.nan


def ndcg_at_k(ranked: Sequence, relevant: Collection, k: int) -> float:
    """NDCG@k, binary gains, ``1/log2(position + 1)`` discount (1-based positions).

    The ideal DCG puts ``min(|relevant|, k)`` relevant items at the top.
    """
    rel = _relevant_set(relevant)
    hits = _hit_positions(ranked, rel, k)
    if not rel:
        return math.nan
    dcg = sum(1.0 / math.log2(pos + 2) for pos in hits)
    idcg = sum(1.0 / math.log2(pos + 2) for pos in range(min(len(rel), k)))
    return dcg / idcg


def average_precision_at_k(ranked: Sequence, relevant: Collection, k: int) -> float:
    """AP@k (mean over cadres = MAP@k): Σ precision@(each hit) / min(|relevant|, k)."""
    rel = _relevant_set(relevant)
    hits = _hit_positions(ranked, rel, k)
    if not rel:
        return math.nan
    total = sum((n + 1) / (pos + 1) for n, pos in enumerate(hits))
    return total / min(len(rel), k)


def catalog_coverage(recommendation_lists: Iterable[Sequence], n_items: int) -> float:
    """Share of the ``n_items`` catalog appearing in at least one recommendation list."""
    if n_items < 1:
        raise ValueError(f"n_items must be positive, got {n_items}")
    shown: set = set()
    for items in recommendation_lists:
        shown.update(np.asarray(items).ravel().tolist())
    if len(shown) > n_items:
        raise ValueError(f"{len(shown)} distinct items recommended from a catalog of {n_items}")
    return len(shown) / n_items


def intra_list_diversity(items: Sequence[int], item_vectors: sp.spmatrix | np.ndarray) -> float:
    """Mean pairwise ``1 − cosine`` between the vectors (rows) of ``items``.

    Zero vectors have cosine 0 with everything (distance 1). Fewer than two items → ``nan``.
    """
    idx = np.asarray(items, dtype=np.int64).ravel()
    if len(idx) < 2:
        return math.nan
    vecs = normalize(item_vectors[idx])
    sims = vecs @ vecs.T
    sims = sims.toarray() if sp.issparse(sims) else np.asarray(sims)
    upper = np.triu_indices(len(idx), k=1)
    return float(np.mean(1.0 - sims[upper]))
