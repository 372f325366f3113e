"""Per-cadre score scaling shared by the blend (batch) and the request path (one row)."""

from __future__ import annotations

import numpy as np


def zscore(scores: np.ndarray) -> np.ndarray:
    """Row-wise standardisation; constant rows become zeros."""
    scores = np.atleast_2d(scores)
    mean = scores.mean(axis=1, keepdims=True)
    std = scores.std(axis=1, keepdims=True)
    ok = std > 1e-12
    centred = scores - mean
    if centred.dtype != np.float32:
        out = np.zeros_like(scores, dtype=np.float32)
        np.divide(centred, std, out=out, where=ok)
        return out
    np.divide(centred, std, out=centred, where=ok)  # in place: no zero-filled matrix
    centred[~ok[:, 0]] = 0.0
    return centred


def zscore_row(x: np.ndarray) -> np.ndarray:
    """:func:`zscore` of one row, without the 2-D bookkeeping (the request path)."""
    x = np.asarray(x, dtype=np.float32)
    n = max(len(x), 1)
    d = x - np.float32(float(np.add.reduce(x, dtype=np.float64)) / n)
    var = float(d @ d) / n
    if var <= 1e-24:
        return np.zeros_like(x)
    d *= np.float32(1.0 / np.sqrt(var))
    return d


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's ``k`` highest scores, best first (ties: lower index first)."""
    scores = np.atleast_2d(scores)
    k = min(k, scores.shape[1])
    if k <= 0:
        return np.zeros((scores.shape[0], 0), dtype=np.int64)
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)
