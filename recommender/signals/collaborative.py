"""Collaborative signal: item–item scorers (EASE, item-kNN) learned from who took what.

Everything works on internal indices: users are rows, items are columns of a
``scipy.sparse.csr_matrix`` of float32 weights. A scorer learns an item–item matrix
``item_similarity_`` in :meth:`fit`; :meth:`score` multiplies a *current* history by
it, so a completion posted a minute ago changes the scores without retraining.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from recommender.signals.base import ColdBridge, Query, QueryBatch, Signal

#: elements of one dense block of the co-occurrence matrix (float64: 128 MB)
_BLOCK_ELEMENTS = 1 << 24


def _as_interactions(X) -> sp.csr_matrix:
    """A 2-D csr float32 copy-if-needed of ``X`` (sparse or dense)."""
    X = sp.csr_matrix(X, dtype=np.float32) if not sp.issparse(X) else X.tocsr()
    if X.ndim != 2:
        raise ValueError(f"interactions must be 2-D (users × items), got shape {X.shape}")
    return X.astype(np.float32, copy=False)


def _cooccurrence_blocks(
    X: sp.csr_matrix, dtype: type = np.float64
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Row blocks ``(start, stop, (XᵀX)[start:stop])`` as dense arrays of ``dtype``.

    Blocks bound the memory of the sparse product for large catalogs.
    """
    n_items = X.shape[1]
    step = max(1, _BLOCK_ELEMENTS // max(n_items, 1))
    Xc = X.tocsc()
    for start in range(0, n_items, step):
        stop = min(start + step, n_items)
        block = (Xc[:, start:stop].T @ X).toarray()
        yield start, stop, block.astype(dtype, copy=False)


class _ItemItemScorer(BaseEstimator):
    """Shared request-time scoring: ``history @ item_similarity_``.

    A scikit-learn ``BaseEstimator`` so ``check_is_fitted``, ``get_params`` and
    ``clone`` work.
    """

    item_similarity_: np.ndarray | sp.csr_matrix
    n_items_: int

    def score(self, history) -> np.ndarray:
        """Scores (n_rows, n_items) float32 for a csr history or a dense 1-D/2-D vector.

        The history may hold completions newer than training; items never seen in
        training have zero similarity rows and add nothing.
        """
        check_is_fitted(self, "item_similarity_")
        if sp.issparse(history):
            hist = history.tocsr().astype(np.float32, copy=False)
        else:
            arr = np.asarray(history, dtype=np.float32)
            if arr.ndim not in (1, 2):
                raise ValueError(f"history must be 1-D or 2-D, got {arr.ndim} dimensions")
            hist = sp.csr_matrix(np.atleast_2d(arr))
        if hist.shape[1] != self.n_items_:
            raise ValueError(
                f"history has {hist.shape[1]} item columns, the model was fitted on "
                f"{self.n_items_}; map ids with the same item index used in fit"
            )
        out = hist @ self.item_similarity_
        out = out.toarray() if sp.issparse(out) else out
        return np.asarray(out, dtype=np.float32)


class EASE(_ItemItemScorer):
    """Embarrassingly Shallow Autoencoder (Steck 2019), closed form.

    ``B = I − P·diag(1/diag(P))`` with ``P = (XᵀX + λI)⁻¹`` and ``diag(B) = 0``.
    Costs O(n_items²) memory (a dense float64 Gram matrix while fitting, float32
    ``B`` afterwards: 20k items ≈ 3.2 GB + 1.6 GB) and O(n_items³) time; good to
    ~20k items. Items without interactions get zero rows and columns.

    Parameters
    ----------
    l2
        Ridge penalty λ added to the Gram diagonal; larger = smoother, more popular.
    """

    def __init__(self, *, l2: float = 200.0) -> None:
        self.l2 = l2

    def fit(self, X) -> EASE:
        """Learn ``item_similarity_`` (n_items, n_items) float32 from interactions ``X``."""
        return self.fit_gram(gram_matrix(X))

    def fit_gram(self, stats: Gram) -> EASE:
        """Learn ``item_similarity_`` from the Gram matrix ``XᵀX`` (inverted in place: the
        statistics are used once)."""
        if not self.l2 > 0:
            raise ValueError(f"l2 must be > 0 (keeps XᵀX + λI positive definite), got {self.l2}")
        gram = stats.gram
        n = gram.shape[0]
        gram[np.diag_indices(n)] += self.l2
        precision = _spd_inverse(gram)
        diag = np.diag(precision).copy()
        precision /= -diag[None, :]
        precision[np.diag_indices(n)] = 0.0
        unseen = np.asarray(stats.item_users == 0)
        precision[unseen, :] = 0.0  # exact zeros rather than round-off
        precision[:, unseen] = 0.0
        self.item_similarity_ = precision.astype(np.float32, order="C")
        self.n_items_ = n
        return self


@dataclass
class Gram:
    """The sufficient statistics of :class:`EASE`: ``XᵀX`` (courses × courses, float64,
    Fortran order so LAPACK works in place) and the cadres who took each course.

    ``gram[i, j] = Σ_cadres x_ci · x_cj`` over the confidence weights ``x`` of the history;
    Spark computes it as a co-occurrence aggregation of cadre × course pairs."""

    gram: np.ndarray
    item_users: np.ndarray


def gram_matrix(X) -> Gram:
    """:class:`Gram` of interactions ``X`` (cadres × courses), in dense row blocks.

    Products and sums in float64, as Spark's aggregation sums them: the two engines then
    agree to round-off (float32 sums moved near-tied EASE scores in 0.7% of sample lists)."""
    X = _as_interactions(X).astype(np.float64)
    n = X.shape[1]
    gram = np.empty((n, n), dtype=np.float64, order="F")
    for start, stop, block in _cooccurrence_blocks(X):
        gram[start:stop] = block
    return Gram(gram, np.asarray(X.getnnz(axis=0), dtype=np.int64))


def _spd_inverse(gram: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive-definite matrix, in place where possible.

    Cholesky (``potrf`` + ``potri``) costs ~n³ flops against ~2n³ for the LU-based
    ``scipy.linalg.inv``, and is backward stable for SPD input; it fills one
    triangle, which we mirror block by block to keep the extra memory small.
    """
    n = gram.shape[0]
    if n == 0:
        return gram
    factor, info = lapack.dpotrf(gram, lower=False, clean=False, overwrite_a=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"Gram matrix is not positive definite (potrf info={info})")
    inv, info = lapack.dpotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"Gram matrix inversion failed (potri info={info})")
    step = max(1, (1 << 20) // n)  # small blocks: the diagonal ones are copied by triu
    for start in range(0, n, step):  # copy the upper triangle onto the lower one
        stop = min(start + step, n)
        inv[start:stop, :start] = inv[:start, start:stop].T
        sub = inv[start:stop, start:stop]
        sub[...] = np.triu(sub) + np.triu(sub, 1).T
    return inv


class ItemKNN(_ItemItemScorer):
    """Item-based k-nearest neighbours with (asymmetric) cosine and shrinkage.

    ``sim(i, j) = (xᵢ·xⱼ) / (‖xᵢ‖^{2α} ‖xⱼ‖^{2(1−α)} + shrink)`` where ``xᵢ`` is item
    ``i``'s column of ``X``; ``alpha=0.5`` is plain cosine. Each row ``i`` keeps its
    ``k`` largest positive similarities (its neighbours ``j``), diagonal zero, so a
    history item ``i`` votes for its neighbours. Memory O(n_items·k) once fitted;
    fitting builds XᵀX in dense row blocks (O(Σ_u |items(u)|²) sparse work).

    Parameters
    ----------
    k
        Neighbours kept per item.
    shrink
        Added to the denominator; damps similarities backed by few co-occurrences.
    alpha
        Asymmetry of the normalisation (0.5 = cosine).
    """

    def __init__(self, *, k: int = 100, shrink: float = 10.0, alpha: float = 0.5) -> None:
        self.k = k
        self.shrink = shrink
        self.alpha = alpha

    def fit(self, X) -> ItemKNN:
        """Learn the sparse top-``k`` ``item_similarity_`` (n_items, n_items) float32."""
        return self.fit_neighbours(self.neighbours(X))

    def neighbours(self, X) -> sp.csr_matrix:
        """The sufficient statistics: each course's top-``k`` similarities (csr float32)."""
        self._check_params()
        X = _as_interactions(X)
        n = X.shape[1]
        sq_norm = np.asarray(X.multiply(X).sum(axis=0), dtype=np.float64).ravel()
        rows, cols, vals = [], [], []
        for start, stop, dot in _cooccurrence_blocks(X, np.float32):
            sim = self.similarity(dot, sq_norm[start:stop], sq_norm, diagonal_from=start)
            r, c, v = top_k_rows(sim, self.k)
            rows.append(r + start)
            cols.append(c)
            vals.append(v)
        sim = sp.csr_matrix((n, n), dtype=np.float32)
        if rows:
            data = np.concatenate(vals).astype(np.float32)
            sim = sp.csr_matrix(
                (data, (np.concatenate(rows), np.concatenate(cols))), shape=(n, n), dtype=np.float32
            )
        sim.sort_indices()
        return sim

    def similarity(
        self, dot: np.ndarray, sq_rows: np.ndarray, sq_cols: np.ndarray, *, diagonal_from=None
    ) -> np.ndarray:
        """``dot / (‖xᵢ‖^{2α} ‖xⱼ‖^{2(1−α)} + shrink)`` for a block of co-occurrences
        (rows × cols); ``diagonal_from``: the block's first row is course ``diagonal_from``
        and its self-similarities are zeroed. Spark's neighbour job calls it too."""
        left = (np.asarray(sq_rows, np.float64) ** self.alpha).astype(np.float32)
        right = (np.asarray(sq_cols, np.float64) ** (1.0 - self.alpha)).astype(np.float32)
        dot = np.asarray(dot, dtype=np.float32)
        denom = left[:, None] * right[None, :] + np.float32(self.shrink)
        sim = np.divide(dot, denom, out=np.zeros_like(dot), where=denom > 0)
        if diagonal_from is not None:
            r = np.arange(sim.shape[0])
            sim[r, r + diagonal_from] = 0.0
        return sim

    def fit_neighbours(self, neighbours: sp.csr_matrix) -> ItemKNN:
        """Keep the top-``k`` similarities :meth:`neighbours` computed (here or in Spark)."""
        self._check_params()
        self.item_similarity_ = sp.csr_matrix(neighbours, dtype=np.float32)
        self.n_items_ = self.item_similarity_.shape[1]
        return self

    def _check_params(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be >= 1, got {self.k}")
        if self.shrink < 0 or not 0.0 <= self.alpha <= 1.0:
            raise ValueError(
                f"need shrink >= 0 and 0 <= alpha <= 1, got {self.shrink=}, {self.alpha=}"
            )


def top_k_rows(sim: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, col, value) of each row's ``k`` largest strictly positive entries."""
    n_rows, n_cols = sim.shape
    if k < n_cols:
        cols = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    else:
        cols = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols))
    vals = np.take_along_axis(sim, cols, axis=1)
    rows = np.broadcast_to(np.arange(n_rows)[:, None], cols.shape)
    keep = vals > 0
    return rows[keep], cols[keep], vals[keep]


class CollaborativeSignal(Signal):
    """``history × item_similarity`` from EASE or item-kNN, cold courses bridged by text.

    At request time the cadre's *current* history is used, so a completion posted a
    minute ago changes the scores without retraining.

    Parameters
    ----------
    kind
        ``"ease"`` (closed form, best up to ~20k courses) or ``"itemknn"``.
    l2
        EASE ridge penalty λ.
    neighbours
        Neighbours kept per course by item-kNN.
    """

    name = "collaborative"
    needs_history = True

    def __init__(self, *, kind: str = "ease", l2: float = 200.0, neighbours: int = 100) -> None:
        self.kind = kind
        self.l2 = l2
        self.neighbours = neighbours

    def make_scorer(self) -> EASE | ItemKNN:
        if self.kind == "ease":
            return EASE(l2=self.l2)
        if self.kind == "itemknn":
            return ItemKNN(k=self.neighbours)
        raise ValueError(f"unknown collaborative kind {self.kind!r}; use 'ease' or 'itemknn'")

    def statistics(self, data) -> Gram | sp.csr_matrix:
        """EASE: the :class:`Gram` ``XᵀX`` of the history; item-kNN: each course's top
        neighbours (:meth:`ItemKNN.neighbours`)."""
        scorer = self.make_scorer()
        if isinstance(scorer, EASE):
            return gram_matrix(data.history)
        return scorer.neighbours(data.history)

    def fit_from_statistics(self, stats, meta) -> CollaborativeSignal:
        scorer = self.make_scorer()
        if isinstance(scorer, EASE):
            self.scorer_ = scorer.fit_gram(stats)
        else:
            self.scorer_ = scorer.fit_neighbours(stats)
        self.bridge_ = ColdBridge(meta.cold_bridge(), meta.item_counts() > 0)
        self.n_items_ = meta.n_items
        return self

    def raw_score(self, history: sp.csr_matrix) -> np.ndarray:
        """Scores without the cold-course bridge (course pages, solo baselines)."""
        self._check_fitted()
        return self.scorer_.score(history)

    def score(self, batch: QueryBatch) -> np.ndarray:
        self._check_fitted()
        return self.bridge_.batch(self.raw_score(batch.history))

    def related(self, item: int) -> tuple[np.ndarray, float]:
        """Courses taken with ``item`` (half the weight of text similarity on course pages)."""
        hist = sp.csr_matrix(([1.0], ([0], [item])), shape=(1, self.n_items_), dtype=np.float32)
        return self.raw_score(hist)[0], 0.5

    def score_one(self, query: Query) -> np.ndarray:
        self._check_fitted()
        if not query.has_history:
            return np.zeros(self.n_items_, dtype=np.float32)
        sim = self.scorer_.item_similarity_
        w = query.history_weights.astype(np.float32)
        if isinstance(sim, np.ndarray):
            raw = w @ sim[query.history]
        else:
            row = sp.csr_matrix(
                (w, (np.zeros(len(w), np.int64), query.history)), shape=(1, self.n_items_)
            )
            raw = np.asarray((row @ sim).toarray()).ravel()
        return self.bridge_.one(raw)
