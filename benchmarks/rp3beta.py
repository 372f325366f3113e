"""RP3beta: three-step random walk item → user → item, popular items penalised.

Paudel et al. (2017), "Updatable, accurate, diverse, and scalable recommendations for
interactive applications"; the form benchmarked by Dacrema et al. (2019). With ``P_ui``
the cadre × course confidence matrix row-normalised (a cadre's walk to one of their
courses) and ``P_iu`` its transpose row-normalised (a course's walk to one of its cadres),
the course × course matrix is ``W = P_iu^α · P_ui^α`` (element-wise powers) with column
``j`` divided by ``popularity_j^β``; each row keeps its ``neighbours`` largest entries and
the diagonal is zero. A cadre's score is ``history · W``: like EASE and item-kNN it reads
the *current* history, so a completion posted a minute ago counts without retraining, and
it stays sparse (O(courses · neighbours)) past the catalog sizes EASE can invert.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from recommender.signals.base import ColdBridge, Query, QueryBatch, Signal

#: elements of one dense block of W while fitting (float32: 64 MB)
_BLOCK_ELEMENTS = 1 << 24


def rp3beta_matrix(
    X: sp.csr_matrix, *, alpha: float, beta: float, neighbours: int
) -> sp.csr_matrix:
    """The sparse top-``neighbours`` RP3beta course × course matrix of interactions ``X``."""
    X = sp.csr_matrix(X, dtype=np.float32)
    X.eliminate_zeros()
    n = X.shape[1]
    p_ui = normalize(X, norm="l1", axis=1).astype(np.float32)
    p_iu = normalize(X.T.tocsr(), norm="l1", axis=1).astype(np.float32)
    if alpha != 1.0:
        p_ui, p_iu = p_ui.power(alpha), p_iu.power(alpha)
    popularity = np.asarray(X.getnnz(axis=0), dtype=np.float64)
    penalty = np.zeros(n, dtype=np.float32)
    seen = popularity > 0
    penalty[seen] = popularity[seen] ** -beta
    k = min(neighbours, n)
    step = max(1, _BLOCK_ELEMENTS // max(n, 1))
    rows, cols, vals = [], [], []
    for start in range(0, n, step):
        stop = min(start + step, n)
        block = np.asarray((p_iu[start:stop] @ p_ui).toarray(), dtype=np.float32)
        block *= penalty[None, :]
        block[np.arange(stop - start), np.arange(start, stop)] = 0.0
        if k < n:
            top = np.argpartition(-block, k - 1, axis=1)[:, :k]
        else:
            top = np.broadcast_to(np.arange(n), block.shape)
        v = np.take_along_axis(block, top, axis=1)
        keep = v > 0
        rows.append(np.broadcast_to(np.arange(start, stop)[:, None], top.shape)[keep])
        cols.append(top[keep])
        vals.append(v[keep])
    if not rows:
        return sp.csr_matrix((n, n), dtype=np.float32)
    W = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n, n),
        dtype=np.float32,
    )
    W.sort_indices()
    return W


class RP3betaSignal(Signal):
    """``history × W`` with the RP3beta course × course matrix, cold courses bridged by text.

    Parameters
    ----------
    alpha
        Power of the transition probabilities (1 = plain random walk; < 1 flattens them).
    beta
        Popularity penalty: column ``j`` is divided by ``popularity_j^β`` (0 = P3alpha).
    neighbours
        Entries kept per course row.
    """

    name = "rp3beta"
    needs_history = True

    def __init__(self, *, alpha: float = 1.0, beta: float = 0.5, neighbours: int = 100) -> None:
        self.alpha = alpha
        self.beta = beta
        self.neighbours = neighbours

    def fit(self, data) -> RP3betaSignal:
        if self.neighbours < 1 or self.alpha <= 0 or self.beta < 0:
            raise ValueError(
                "need neighbours >= 1, alpha > 0 and beta >= 0, got "
                f"{self.neighbours=}, {self.alpha=}, {self.beta=}"
            )
        self.item_similarity_ = rp3beta_matrix(
            data.history, alpha=self.alpha, beta=self.beta, neighbours=self.neighbours
        )
        warm = data.item_counts() > 0
        if data.course_vectors is not None:
            self.bridge_ = ColdBridge(data.cold_bridge(), warm)
        else:  # no text: courses nobody took keep their zero score
            self.bridge_ = ColdBridge(sp.identity(data.n_items, format="csr"), np.ones_like(warm))
        self.n_items_ = data.n_items
        return self

    def score(self, batch: QueryBatch) -> np.ndarray:
        self._check_fitted()
        hist = batch.history.tocsr().astype(np.float32, copy=False)
        raw = np.asarray((hist @ self.item_similarity_).toarray(), dtype=np.float32)
        return self.bridge_.batch(raw)

    def score_one(self, query: Query) -> np.ndarray:
        self._check_fitted()
        if not query.has_history:
            return np.zeros(self.n_items_, dtype=np.float32)
        w = query.history_weights.astype(np.float32)
        row = sp.csr_matrix(
            (w, (np.zeros(len(w), np.int64), query.history)), shape=(1, self.n_items_)
        )
        raw = np.asarray((row @ self.item_similarity_).toarray(), dtype=np.float32).ravel()
        return self.bridge_.one(raw)
