"""The blend's validation folds on Spark: each fold's statistics on executors, and on the
driver only the sampled validation cadres' records.

On one machine :meth:`~recommender.ranking.hybrid.Hybrid.fit` splits the records (each
cadre's last enrolment held out, or the latest 10%), refits every signal on the training
part and scores up to ``max_validation_cadres`` sampled cadres. Here the same splits are
Spark filters over the enrolments (a window per cadre, or one global order by time), the
signals' sufficient statistics of each fold's training part are the Spark jobs of
:mod:`recommender.lifecycle.spark_signals`, and so are the fold's catalog-side figures (the
rating prior, cadres per course, "now"). The validation sample is drawn on the driver from
the eligible cadres' indices (cadre-sized, not record-sized) with the single-machine code's
own random draws, so the same cadres are sampled; only their records reach the driver.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from recommender.data.features import quality_from_ratings
from recommender.data.schema import Columns as C
from recommender.data.training import TrainingData
from recommender.lifecycle.spark_signals import signal_statistics
from recommender.lifecycle.spark_stats import rating_stats, strongest_weights
from recommender.lifecycle.spark_tables import ROW, library_frame, with_row_numbers
from recommender.ranking.blend_search import BlendConfig, protocol_from_counts
from recommender.signals.base import CatalogMeta, Signal
from recommender.signals.collaborative import CollaborativeSignal
from recommender.signals.popularity import PopularitySignal
from recommender.signals.sequence import SequenceSignal
from recommender.signals.transition import TransitionSignal

log = logging.getLogger(__name__)


@dataclass
class Fold:
    """One validation fold as :meth:`Hybrid.fit` uses it.

    ``train``: the fold's training data *for the sampled validation cadres* (their records;
    the catalog, cadres, text vectors, ``now`` and rating prior of the whole fold);
    ``holdout``: those cadres' held-out records; ``statistics``: signal name → the
    statistics of the whole fold's training part (``None`` for catalog-only signals);
    ``meta``: the fold's catalog side, what the probe signals fit from."""

    train: TrainingData
    holdout: pd.DataFrame
    statistics: dict[str, Any]
    meta: CatalogMeta


def _catalog_only(signal: Signal) -> bool:
    return type(signal).statistics is Signal.statistics


class SparkFolds:
    """Validation folds computed by Spark (see the module docstring).

    ``enrolments``: the mapped records (``columns``, the accepted completions' own, with
    ``_row``, ``r``, ``c``); ``data``: the whole training data on the driver (its catalog,
    cadres and text vectors are shared by every fold; its records are not read)."""

    def __init__(self, spark, enrolments, columns: Sequence[str], data: TrainingData) -> None:
        self.spark = spark
        self.enrolments = enrolments
        self.columns = [c for c in columns if c != ROW]
        self.data = data
        #: wall seconds spent computing the folds (Spark jobs and the sample's assembly)
        self.seconds = 0.0

    # ------------------------------------------------------------ protocol
    def covers(self, signals: Sequence[Signal]) -> bool:
        """Whether Spark computes the statistics of every signal that has any."""
        known = (PopularitySignal, CollaborativeSignal, SequenceSignal, TransitionSignal)
        return all(_catalog_only(s) or isinstance(s, known) for s in signals)

    def protocol(self, requested: str) -> str:
        """``choose_protocol`` from enrolments per cadre counted by Spark."""
        if requested != "auto":
            return protocol_from_counts(np.zeros(0, np.int64), requested)
        counts = self.enrolments.groupBy("r").count().select("count").toPandas()["count"]
        return protocol_from_counts(counts.to_numpy(np.int64), requested)

    # --------------------------------------------------------------- folds
    def folds(
        self, protocol: str, n: int, signals: Sequence[Signal], cfg: BlendConfig
    ) -> Iterator[Fold]:
        """Fold 1, 2, …: as ``Hybrid._validation_folds`` splits them (fold i+1 splits fold
        i's training part again); fold 1's sample is ``fit_weights``'s, the others
        ``extra_queries``'s."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        rows = self.enrolments
        if protocol == "leave-last":
            # ``leave_last_split``: stable sort by time in file order, the last row per cadre
            back = Window.partitionBy("r").orderBy(F.col(C.ENROLLED_AT).desc(), F.col(ROW).desc())
            ranked = rows.withColumn("_back", F.row_number().over(back)).withColumn(
                "_n", F.count("*").over(Window.partitionBy("r"))
            )
            ranked = ranked.cache()
            for k in range(1, max(1, n) + 1):
                # fold j holds out the j-th last record of a cadre who then still has two
                held = (F.col("_back") == k) & (F.col("_n") >= k + 1)
                train = ranked.filter((F.col("_back") > k) | (F.col("_back") == F.col("_n")))
                yield self._fold(train, ranked.filter(held), signals, cfg, k)
            ranked.unpersist()
            return
        # ``temporal_split``: the first round(N · (1 − fraction)) records in time order
        # sorted and cached first: the numbering's two jobs must see the same partitions
        by_time = rows.withColumnRenamed(ROW, "_src").orderBy(C.ENROLLED_AT, "_src").cache()
        ordered = with_row_numbers(by_time, first=0)
        ordered = ordered.withColumnRenamed(ROW, "_pos").withColumnRenamed("_src", ROW).cache()
        cut = round(ordered.count() * (1.0 - cfg.validation_fraction))
        train = ordered.filter(F.col("_pos") < cut)
        yield self._fold(train, ordered.filter(F.col("_pos") >= cut), signals, cfg, 1)
        ordered.unpersist()
        by_time.unpersist()

    def _fold(self, train, holdout, signals, cfg: BlendConfig, k: int) -> Fold:
        started = time.perf_counter()
        try:
            return self._compute(train, holdout, signals, cfg, k)
        finally:
            self.seconds += time.perf_counter() - started

    def _compute(self, train, holdout, signals, cfg: BlendConfig, k: int) -> Fold:
        from pyspark.sql import functions as F

        data = self.data
        train = train.cache()
        now = train.agg(F.max(C.ENROLLED_AT).alias("t")).toPandas()["t"].iloc[0]
        now = np.datetime64(pd.Timestamp(now), "s") if pd.notna(now) else data.now
        history = strongest_weights(train, now, None).cache()  # folds weigh without decay
        stats = signal_statistics(
            self.spark, signals, train, history, data.segments, data.n_items, now
        )
        for s in signals:
            if s.name not in stats:
                if not _catalog_only(s):  # pragma: no cover - covers() is checked first
                    raise ValueError(f"Spark has no statistics for signal {s.name!r}")
                stats[s.name] = None
        users = history.groupBy("c").count().toPandas()
        item_users = np.zeros(data.n_items, np.int64)
        item_users[users["c"].to_numpy(np.int64)] = users["count"].to_numpy(np.int64)
        quality = quality_from_ratings(data.courses, rating_stats(train))
        sample = self._sample(train, holdout, history, cfg, k)
        picked = F.broadcast(
            self.spark.createDataFrame(pd.DataFrame({"r": sample.astype(np.int64)}), "r bigint")
        )
        mine = train.join(picked, "r").select(ROW, *self.columns).orderBy(ROW).toPandas()
        held = holdout.join(picked, "r").select(ROW, *self.columns).orderBy(ROW).toPandas()
        view = TrainingData.build(
            data.courses,
            data.cadres,
            library_frame(mine.drop(columns=ROW), "completions"),
            course_vectors=data.course_vectors,
            profile_vectors=data.profile_vectors,
            profile_fields=data.profile_fields,
            field_taxonomy=data.field_taxonomy,
        )
        view = replace(view, now=now, quality=quality)
        meta = CatalogMeta(
            courses=data.courses,
            item_users=item_users,
            now=now,
            course_vectors=data.course_vectors,
            quality=quality,
            field_taxonomy=data.field_taxonomy,
        )
        history.unpersist()
        train.unpersist()
        log.info("validation fold %d: %d sampled cadres, %d of their records", k, len(sample),
                 len(mine))  # fmt: skip
        return Fold(view, library_frame(held.drop(columns=ROW), "completions"), stats, meta)

    def _sample(self, train, holdout, history, cfg: BlendConfig, k: int) -> np.ndarray:
        """The validation cadres ``fit_weights`` (fold 1) or ``extra_queries`` (fold k > 1)
        draws: cadres with a chosen held-out course new to them (and, for k > 1, a training
        history), the same ``default_rng`` draw from the same sorted indices."""
        from pyspark.sql import functions as F

        chosen = holdout.filter(F.coalesce(F.col(C.SOURCE), F.lit("")) != "assigned")
        new = chosen.select("r", "c").join(history.select("r", "c"), ["r", "c"], "left_anti")
        eligible = new.select("r").distinct()
        if k > 1:
            eligible = eligible.join(history.select("r").distinct(), "r")
        users = np.sort(eligible.toPandas()["r"].to_numpy(np.int64))
        rng = np.random.default_rng(cfg.random_state + (k - 1))
        if len(users) > cfg.max_validation_cadres:
            users = np.sort(rng.choice(users, size=cfg.max_validation_cadres, replace=False))
        return users
