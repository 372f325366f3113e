"""The hybrid: signals it is given, blended per cadre into one ranking score.

``Hybrid(signals=[...])`` fits every signal on the same
:class:`~recommender.data.training.TrainingData`, z-scores each signal's scores per cadre
and sums them with weights: one weight set for cadres with history, one for new cadres
(signals that need history get no cold weight). Weights not given are fitted on a temporal
validation split (:mod:`recommender.ranking.blend_search`). The same :meth:`Hybrid.score`
serves weight fitting and evaluation; :meth:`Hybrid.score_one` is the request path, built
from each signal's own single-query score, with the scores that only depend on a segment or
context memoised in a :class:`ServingState`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from recommender.data.training import TrainingData
from recommender.ranking.blend_search import (
    BlendConfig,
    choose_protocol,
    extra_queries,
    fit_weights,
)
from recommender.ranking.candidates import CandidatePolicy
from recommender.ranking.scaling import zscore, zscore_row
from recommender.signals.base import Query, QueryBatch, Signal

log = logging.getLogger(__name__)

#: memory for memoised constant z-score rows (one float32 row per distinct key)
MEMO_BYTES = 64 * 2**20


@dataclass
class ServingState:
    """Request-time memo of z-scored rows for signals whose score depends on a shared key
    (segment, context, nothing). Built at model load, never pickled, bounded in memory."""

    max_rows: int = 1024
    rows: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: Hashable, build: Callable[[], np.ndarray]) -> np.ndarray:
        row = self.rows.get(key)
        if row is None:
            row = build()
            row.setflags(write=False)  # shared across requests
            with self._lock:
                while len(self.rows) >= self.max_rows:
                    self.rows.pop(next(iter(self.rows)))
                self.rows[key] = row
        return row


#: threads that fit signals (the final fit beside the validation folds); ``None``: two, or
#: one on a single core. The fitted signals do not depend on it.
FIT_THREADS: int | None = None
#: the signals whose fits take longest (large: EASE's Gram and inverse, transition's counts)
#: go first, so no long fit starts last
_FIT_ORDER = {"collaborative": 0, "transition": 1, "sequence": 2, "popularity": 3}


class _Inline(Executor):
    """Runs what is submitted at once, in the caller's thread."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller through result()
            future.set_exception(exc)
        return future


@contextmanager
def _fit_pool() -> Iterator[Executor]:
    """Threads for signal fits (their numpy, BLAS and sparse work runs without the GIL), with
    BLAS at one thread each meanwhile so two fits do not oversubscribe the cores."""
    n = FIT_THREADS or min(
        2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
    if n <= 1:
        yield _Inline()
        return
    from threadpoolctl import threadpool_limits

    pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="fit")
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class FoldSource(Protocol):
    """Validation folds computed elsewhere (the Spark engine): ``protocol`` resolves
    ``"auto"`` as :func:`choose_protocol` does; ``folds`` yields objects with ``train``
    (training data holding the validation cadres' records), ``holdout``, ``statistics``
    (every signal's, ``None`` for catalog-only ones) and ``meta`` (the catalog side)."""

    def protocol(self, requested: str) -> str: ...

    def folds(
        self, protocol: str, n: int, signals: Sequence[Signal], cfg: BlendConfig
    ) -> Iterator[Any]: ...


class Hybrid(BaseEstimator):
    """A weighted sum of z-scored signal scores.

    Parameters
    ----------
    signals
        The :class:`~recommender.signals.base.Signal` instances to blend (unique names).
    weights, cold_weights
        Blend weight per signal name for cadres with / without history; ``None`` fits them
        on a temporal validation split.
    blend
        Options of the weight search.
    """

    def __init__(
        self,
        *,
        signals: Sequence[Signal],
        weights: Mapping[str, float] | None = None,
        cold_weights: Mapping[str, float] | None = None,
        blend: BlendConfig | None = None,
    ) -> None:
        self.signals = signals
        self.weights = weights
        self.cold_weights = cold_weights
        self.blend = blend

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        data: TrainingData,
        *,
        policy: CandidatePolicy | None = None,
        statistics: Mapping[str, Any] | None = None,
        folds: FoldSource | None = None,
    ) -> Hybrid:
        """Fit the weights (on a split, if not given), then every signal on all of ``data``.

        ``policy``: what a list may hold (default: the catalog's with the packaged rules),
        so validation ranks among the courses the request path would list. ``statistics``:
        signal name → its sufficient statistics of all of ``data`` computed elsewhere (the
        Spark engine); those signals fit from them, not from the records. ``folds``: where
        the validation folds come from when not split from ``data`` here (the Spark engine's
        :class:`~recommender.lifecycle.spark_folds.SparkFolds`: each fold's statistics and
        only the sampled validation cadres' records)."""
        names = [s.name for s in self.signals]
        if len(set(names)) != len(names):
            raise ValueError(f"signal names must be unique, got {names}")
        cfg = self.blend or BlendConfig()
        weights, cold = self.weights, self.cold_weights
        self.validation_: dict = {}
        final: list[Future] = []

        def fit_final() -> None:  # queued behind the probes: the weight search waits for those
            final.extend(self._submit_signals(pool, data, statistics))

        with _fit_pool() as pool:  # the final fit runs beside the validation folds
            if weights is None or cold is None:
                protocol = (
                    folds.protocol(cfg.protocol) if folds else choose_protocol(data, cfg.protocol)
                )
                # a second temporal fold is an earlier period: on the sample it lost 0.001 in
                # cross-validation, so only leave-last pools folds
                pooled = weights is None and protocol == "leave-last"
                n = cfg.folds if pooled else 1
                split = self._validation_folds(
                    data, protocol, n, pool, then=fit_final, source=folds
                )
                train, holdout, probe = split[0]
                policy = policy or CandidatePolicy(data.courses)
                extra = tuple(
                    extra_queries(p, t, h, cfg, cfg.random_state + i, policy)
                    for i, (t, h, p) in enumerate(split[1:], start=1)
                )
                fitted = fit_weights(probe, train, holdout, cfg, extra, policy)
                self.validation_ = {"protocol": protocol, **fitted.report}
                weights = weights if weights is not None else fitted.weights
                cold = cold if cold is not None else fitted.cold_weights
            else:
                fit_final()
            self._set_signals([f.result() for f in final], data)
        self.weights_ = {n: float(weights.get(n, 0.0)) for n in names}
        self.cold_weights_ = {
            s.name: (0.0 if s.needs_history else float(cold.get(s.name, 0.0))) for s in self.signals
        }
        return self

    def _validation_folds(
        self,
        data: TrainingData,
        protocol: str,
        n: int,
        pool: Executor | None = None,
        then: Callable[[], None] | None = None,
        source: FoldSource | None = None,
    ) -> list:
        """(train, holdout, probe hybrid fitted on train) per fold; fold i+1 splits fold
        i's training part again (leave-second-last, or the 10% before the first holdout).
        The probes' signals are fitted in ``pool`` while the next fold is split; ``then()``
        is called once every probe is under way (more work for the pool). With a
        ``source``, its folds: probes fit from each fold's statistics and catalog side."""
        folds, rest = [], data
        cfg = self.blend or BlendConfig()
        fraction = cfg.validation_fraction
        pool = pool or _Inline()
        if source is not None:
            for fold in source.folds(protocol, n, self.signals, cfg):
                probe = self._probe()
                fits = probe._submit_signals(pool, fold.meta, fold.statistics)
                folds.append((fold.train, fold.holdout, probe, fits))
        for _ in range(max(1, n) if source is None else 0):
            if protocol == "leave-last":
                train, holdout = rest.split_last()
            else:
                train, holdout = rest.split_time(fraction)
            probe = self._probe()
            folds.append((train, holdout, probe, probe._submit_signals(pool, train)))
            rest = train
        if then is not None:
            then()
        for train, _, probe, fits in folds:
            probe._set_signals([f.result() for f in fits], train)
        return [fold[:3] for fold in folds]

    def _probe(self) -> Hybrid:
        """An unfitted copy of this hybrid's signals, to be fitted on one fold."""
        return Hybrid(signals=[clone(s) for s in self.signals], weights={}, cold_weights={})

    def _fit_signals(self, data: TrainingData, statistics: Mapping | None = None) -> None:
        self._set_signals(
            [f.result() for f in self._submit_signals(_Inline(), data, statistics)], data
        )

    def _submit_signals(
        self, pool: Executor, data: TrainingData, statistics: Mapping | None = None
    ) -> list[Future]:
        """A clone of every signal fitted on ``data`` (from ``statistics`` where given), as
        futures of ``pool``, the slowest first."""
        given = statistics or {}

        def fit(s: Signal) -> Signal:
            return (
                clone(s).fit_from_statistics(given[s.name], data)
                if s.name in given
                else clone(s).fit(data)
            )

        order = sorted(
            range(len(self.signals)), key=lambda i: _FIT_ORDER.get(self.signals[i].name, 99)
        )
        futures = {i: pool.submit(fit, self.signals[i]) for i in order}
        return [futures[i] for i in range(len(self.signals))]

    def _set_signals(self, fitted: list[Signal], data: TrainingData) -> None:
        self.signals_ = fitted
        self.n_items_ = data.n_items
        self.weights_ = dict(self.weights or {})
        self.cold_weights_ = dict(self.cold_weights or {})

    def signal(self, name: str) -> Signal | None:
        """The fitted signal called ``name`` (``None`` if the hybrid has none)."""
        check_is_fitted(self, "signals_")
        return next((s for s in self.signals_ if s.name == name), None)

    # ---------------------------------------------------------------- batch
    def components(
        self, batch: QueryBatch, *, names: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Raw scores (n × courses) of the named signals (default: all)."""
        check_is_fitted(self, "signals_")
        return {s.name: s.score(batch) for s in self.signals_ if names is None or s.name in names}

    def blend_scores(
        self,
        comps: Mapping[str, np.ndarray],
        has_history: np.ndarray,
        weights: Mapping[str, float] | None = None,
        cold_weights: Mapping[str, float] | None = None,
        *,
        normalized: bool = False,
    ) -> np.ndarray:
        """Weighted sum of z-scored components; rows without history use the cold weights.

        ``normalized=True`` when ``comps`` are z-scored already (the weight search blends
        the same components hundreds of times).
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

    def needed(self) -> tuple[str, ...]:
        """Signals with a non-zero weight in either weight set."""
        check_is_fitted(self, "weights_")
        return tuple(
            s.name
            for s in self.signals_
            if self.weights_.get(s.name) or self.cold_weights_.get(s.name)
        )

    def score(
        self, batch: QueryBatch, state: ServingState | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Blended scores (n × courses) and the raw per-cadre components behind them.

        As on the request path, a signal whose score depends only on something cadres share
        (:meth:`~recommender.signals.base.Signal.memo_on`) is scored once per distinct value
        and left out of the components; with a ``state`` those rows are the request path's
        memoised ones (the same z-scored rows, kept across chunks)."""
        check_is_fitted(self, "weights_")
        has = batch.has_history
        total = np.zeros((len(batch), self.n_items_), dtype=np.float32)
        buf = np.empty_like(total)  # one scratch matrix: no n × courses temporaries per signal
        comps: dict[str, np.ndarray] = {}
        for s in self.signals_:
            ww, cw = self.weights_.get(s.name, 0.0), self.cold_weights_.get(s.name, 0.0)
            if not (ww or cw):
                continue
            same = ww == cw or has.all() or not has.any()
            w = np.float32(ww if has.all() or ww == cw else cw) if same else None
            on = s.memo_on()
            if on is None:
                comps[s.name] = raw = s.score(batch)
                z = zscore(raw)  # a new matrix: scaled in place
            else:
                codes = batch.groups(on)
                first = np.unique(codes, return_index=True)[1]
                if state is None:
                    rows = zscore(s.score(batch.take(first)))
                else:
                    rows = np.vstack([self._memo_row(s, batch.query(i), state)
                                      for i in first.tolist()])  # fmt: skip
                z = np.take(rows, codes, axis=0, out=buf)
            if same:
                z *= w
            else:
                z *= np.where(has, ww, cw).astype(np.float32)[:, None]
            total += z
        return total, comps

    # --------------------------------------------------------------- single
    def serving_state(self) -> ServingState:
        """A fresh request-time state (signals' helpers prepared, memo empty)."""
        check_is_fitted(self, "signals_")
        for s in self.signals_:
            s.prepare()
        return ServingState(max_rows=max(16, MEMO_BYTES // max(4 * self.n_items_, 1)))

    def score_one(
        self, query: Query, state: ServingState | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Blended scores (courses,) for one query, and the raw per-cadre components.

        Signals with a :meth:`~recommender.signals.base.Signal.memo_key` contribute a
        memoised z-scored row; the others are scored and z-scored per request.
        """
        check_is_fitted(self, "weights_")
        weights = self.weights_ if query.has_history else self.cold_weights_
        total = np.zeros(self.n_items_, dtype=np.float32)
        part = np.empty_like(total)  # w · z into one scratch row: no temporaries per signal
        comps: dict[str, np.ndarray] = {}
        for s in self.signals_:
            w = weights.get(s.name, 0.0)
            if not w:
                continue
            key = s.memo_key(query) if state is not None else None
            if key is not None:
                z = state.get(key, lambda s=s: zscore_row(s.score_one(query)))
            else:
                raw = s.score_one(query)
                comps[s.name] = raw
                z = zscore_row(raw)
            total += np.multiply(z, np.float32(w), out=part)
        return total, comps

    @staticmethod
    def _memo_row(s: Signal, query: Query, state: ServingState) -> np.ndarray:
        return state.get(s.memo_key(query), lambda: zscore_row(s.score_one(query)))

    def warm_up(self, state: ServingState, queries: Sequence[Query]) -> None:
        """Fill the memo for the given (most common first) queries' shared keys, so the
        first request of a segment does not pay for it."""
        for q in queries:
            if len(state.rows) >= state.max_rows - 4:
                break
            for s in self.signals_:
                if self.weights_.get(s.name) or self.cold_weights_.get(s.name):
                    key = s.memo_key(q)
                    if key is not None:
                        state.get(key, lambda s=s, q=q: zscore_row(s.score_one(q)))
