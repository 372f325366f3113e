"""The signals' sufficient statistics as Spark jobs: the driver fits from aggregates.

Each statistic is the one the signal's own :meth:`~recommender.signals.base.Signal.statistics`
computes on one machine, aggregated by Spark from the enrolments (``r`` cadre index, ``c``
course index, ``enrolled_at``, ``_row`` file order) and the history's weights (``w``, the
strongest per cadre × course):

- popularity: ``decayed_weights`` on executors (the library's function), ``groupBy``
  (segment, course) sums and enrolments per segment → :class:`PopularityCounts`;
- EASE: the Gram ``XᵀX`` as a co-occurrence aggregation of cadre × course pairs (a self-join
  on the cadre, ``groupBy`` course pair) → :class:`Gram`; item-kNN (past the EASE course
  limit): the same pairs, each course's neighbours scored and cut on executors by
  :meth:`ItemKNN.similarity` and ``top_k_rows`` → the top-k neighbour matrix;
- sequence and transition: consecutive courses by window functions over (cadre, enrolment
  second, file row) → :class:`Successions`.

What reaches the driver is courses-sized (counts per course, course × course tables), or
segments × courses: never one row per enrolment.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.data.schema import Columns as C
from recommender.lifecycle.spark_tables import ROW
from recommender.signals.base import Signal
from recommender.signals.collaborative import EASE, CollaborativeSignal, Gram, ItemKNN, top_k_rows
from recommender.signals.popularity import PopularityCounts, PopularitySignal, decayed_weights
from recommender.signals.sequence import SequenceSignal, Successions
from recommender.signals.transition import TransitionSignal


def _coo(frame: pd.DataFrame, shape, value: str, dtype=np.float64) -> sp.csr_matrix:
    return sp.csr_matrix(
        (
            frame[value].to_numpy(dtype),
            (frame.iloc[:, 0].to_numpy(np.int64), frame.iloc[:, 1].to_numpy(np.int64)),
        ),
        shape=shape,
        dtype=dtype,
    )


def _decayed(batches, *, now, half_life_days):
    """mapInPandas body: each enrolment's decayed weight (``decayed_weights``)."""
    for pdf in batches:
        times = pdf[C.ENROLLED_AT].to_numpy(dtype="datetime64[s]")
        w = decayed_weights(times, None, now, half_life_days, len(pdf))
        yield pd.DataFrame({"seg": pdf["seg"], "c": pdf["c"], "w": w.astype(np.float64)})


def popularity_counts_spark(
    spark, enrolments, cadre_segments: Sequence[tuple], n_items: int, *, scope, half_life, now
) -> PopularityCounts:
    """:class:`PopularityCounts` by ``groupBy`` (segment, course); ``cadre_segments``: each
    cadre's segment tuple (internal order), numbered here and joined by cadre."""
    from pyspark.sql import functions as F

    if scope == "segment":
        codes, uniques = pd.factorize(pd.Series(list(cadre_segments), dtype=object))
        seg = spark.createDataFrame(
            pd.DataFrame(
                {"r": np.arange(len(codes), dtype=np.int64), "seg": codes.astype(np.int64)}
            )
        )
        rows = enrolments.join(seg, "r")
    else:
        rows = enrolments.withColumn("seg", F.lit(0).cast("long"))
    decayed = rows.select("seg", "c", C.ENROLLED_AT).mapInPandas(
        lambda it: _decayed(it, now=now, half_life_days=half_life), "seg bigint, c bigint, w double"
    )
    sums = decayed.groupBy("seg", "c").agg(F.sum("w").alias("w"), F.count("*").alias("n"))
    table = sums.toPandas()
    if scope != "segment":
        counts = _coo(table, (1, n_items), "w")
        return PopularityCounts(None, counts, np.array([int(table["n"].sum())], np.int64))
    used = np.sort(table["seg"].unique())  # segments with enrolments, in first-seen order
    renumber = np.full(len(uniques), -1, np.int64)
    renumber[used] = np.arange(len(used))
    table["seg"] = renumber[table["seg"].to_numpy(np.int64)]
    counts = _coo(table[["seg", "c", "w"]], (len(used), n_items), "w")
    support = np.bincount(table["seg"], weights=table["n"], minlength=len(used)).astype(np.int64)
    return PopularityCounts([tuple(uniques[i]) for i in used], counts, support)


def cooccurrence(history):
    """(a, b, dot) over course pairs taken by the same cadre: ``Σ_cadres w_a · w_b``."""
    from pyspark.sql import functions as F

    left = history.select("r", F.col("c").alias("a"), F.col("w").alias("wa"))
    right = history.select("r", F.col("c").alias("b"), F.col("w").alias("wb"))
    pairs = left.join(right, "r")
    product = F.col("wa").cast("double") * F.col("wb").cast("double")
    return pairs.groupBy("a", "b").agg(F.sum(product).alias("dot"))


def gram_spark(history, n_items: int) -> Gram:
    """:class:`Gram`: XᵀX from the co-occurrence aggregation, cadres per course."""
    from pyspark.sql import functions as F

    pairs = cooccurrence(history).toPandas()
    gram = np.zeros((n_items, n_items), dtype=np.float64, order="F")
    gram[pairs["a"].to_numpy(np.int64), pairs["b"].to_numpy(np.int64)] = pairs["dot"].to_numpy()
    users = history.groupBy("c").agg(F.count("*").alias("n")).toPandas()
    item_users = np.zeros(n_items, np.int64)
    item_users[users["c"].to_numpy(np.int64)] = users["n"].to_numpy(np.int64)
    return Gram(gram, item_users)


def _neighbours(pdf: pd.DataFrame, *, knn: ItemKNN) -> pd.DataFrame:
    """applyInPandas body: one course's top-k neighbours from its co-occurrence row."""
    a = int(pdf["a"].iloc[0])
    self_sq = pdf.loc[pdf["b"] == a, "dot"].sum()
    sim = knn.similarity(
        pdf["dot"].to_numpy()[None, :], np.array([self_sq]), pdf["sq_b"].to_numpy()
    )
    sim[0, pdf["b"].to_numpy() == a] = 0.0
    _, col, val = top_k_rows(sim, knn.k)
    return pd.DataFrame({"a": np.full(len(col), a, np.int64), "b": pdf["b"].to_numpy()[col],
                         "sim": val.astype(np.float64)})  # fmt: skip


def neighbours_spark(history, n_items: int, knn: ItemKNN) -> sp.csr_matrix:
    """Item-kNN's top-k neighbours per course, scored and cut on executors."""
    from pyspark.sql import functions as F

    pairs = cooccurrence(history)
    sq = pairs.filter(F.col("a") == F.col("b")).select(
        F.col("a").alias("b"), F.col("dot").alias("sq_b")
    )
    rows = pairs.join(F.broadcast(sq), "b").select("a", "b", "dot", "sq_b")
    top = rows.groupBy("a").applyInPandas(
        lambda pdf: _neighbours(pdf, knn=knn), "a bigint, b bigint, sim double"
    )
    sim = _coo(top.toPandas(), (n_items, n_items), "sim", np.float32)
    sim.sort_indices()
    return sim


def successions_spark(enrolments, n_items: int, max_gap: int = 1) -> Successions:
    """:class:`Successions` by window functions: each cadre's enrolments in order of the
    enrolment second, ties in file order (as the one-machine stable sort)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    second = F.floor(F.unix_timestamp(F.col(C.ENROLLED_AT)))
    order = Window.partitionBy("r").orderBy(second, F.col(ROW))
    ranked = enrolments.select("r", "c", C.ENROLLED_AT, ROW).withColumn(
        "_k", F.row_number().over(order)
    )
    ranked = ranked.select("r", "c", "_k", *[F.lag("c", g).over(order).alias(f"_p{g}") for g in
                                           range(1, max_gap + 1)]).cache()  # fmt: skip
    parts = None
    for g in range(1, max_gap + 1):
        step = ranked.filter(F.col(f"_p{g}").isNotNull() & (F.col(f"_p{g}") != F.col("c")))
        step = step.select(F.col(f"_p{g}").alias("src"), F.col("c").alias("dst"),
                           F.lit(1.0 / g).alias("v"))  # fmt: skip
        parts = step if parts is None else parts.unionByName(step)
    counts = parts.groupBy("src", "dst").agg(F.sum("v").alias("v")).toPandas()
    later = ranked.filter(F.col("_k") > 1).groupBy("c").count().toPandas()
    ranked.unpersist()
    next_counts = np.zeros(n_items, np.float64)
    next_counts[later["c"].to_numpy(np.int64)] = later["count"].to_numpy(np.float64)
    return Successions(_coo(counts, (n_items, n_items), "v"), next_counts, max_gap)


def signal_statistics(
    spark,
    signals: Sequence[Signal],
    enrolments,
    history,
    cadre_segments: Sequence[tuple],
    n_items: int,
    now,
) -> dict:
    """Signal name → its statistics computed on Spark, for every signal this module knows
    (the others fit on the driver as before). ``enrolments``: (r, c, enrolled_at, _row) of
    every usable enrolment; ``history``: (r, c, w), the strongest weight per pair."""
    out: dict = {}
    succession: dict[int, Successions] = {}
    for s in signals:
        if isinstance(s, PopularitySignal):
            out[s.name] = popularity_counts_spark(
                spark, enrolments, cadre_segments, n_items,
                scope=s.scope, half_life=s.half_life_days, now=now,
            )  # fmt: skip
        elif isinstance(s, CollaborativeSignal):
            scorer = s.make_scorer()
            if isinstance(scorer, EASE):
                out[s.name] = gram_spark(history, n_items)
            else:
                out[s.name] = neighbours_spark(history, n_items, scorer)
        elif isinstance(s, (SequenceSignal, TransitionSignal)):
            gap = s.max_gap if isinstance(s, SequenceSignal) else 1
            if gap not in succession:
                succession[gap] = successions_spark(enrolments, n_items, gap)
            out[s.name] = succession[gap]
    return out
