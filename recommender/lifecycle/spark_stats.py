"""Spark jobs for the row-by-row statistics of training, and their assembly on the driver.

Executors run the library's own code on their rows: ``ChineseTokenizer`` (jieba with the
packaged dictionary) on course and profile texts, ``FieldTaxonomy.match`` on profiles,
``interaction_weights`` / ``recency_factor`` on enrolments. Spark aggregates (term counts,
document frequencies, the strongest weight per cadre × course) and the driver receives
COO triples, from which it assembles the same :class:`TrainingData` and TF-IDF space
:func:`recommender.ranking.pipeline.prepare_data` builds on one machine.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer

from recommender.data.features import (
    IdMap,
    context_bits,
    interaction_weights,
    quality_from_ratings,
    recency_factor,
    segments,
)
from recommender.data.schema import Columns as C
from recommender.data.training import TrainingData
from recommender.lifecycle.spark_tables import ROW, with_row_numbers
from recommender.signals.content import course_text, profile_text
from recommender.text.fields import FieldTaxonomy
from recommender.text.space import TextSpace

IDX = "_idx"
TOKENS = f"{IDX} bigint, term string, tf float"


def indexed(df):
    """``df`` with ``_idx``: 0, 1, … in file order (``_row``), as the driver's id map."""
    return _index(df.orderBy(ROW).cache())


def _index(ordered):
    from pyspark.sql import functions as F

    numbered = with_row_numbers(ordered.withColumnRenamed(ROW, "_src"), first=0)
    return (
        numbered.withColumnRenamed(ROW, IDX)
        .withColumnRenamed("_src", ROW)
        .withColumn(IDX, F.col(IDX).cast("long"))
    )


def token_counts(batches, *, kind: str, tokenizer):
    """mapInPandas body: (doc index, term, count) of each course or profile text."""
    for pdf in batches:
        texts = (
            course_text(pdf)
            if kind == "courses"
            else [profile_text(r) for r in pdf.to_dict("records")]
        )
        idx, terms, tfs = [], [], []
        for i, text in zip(pdf[IDX].to_numpy(), texts, strict=True):
            for term, n in Counter(tokenizer(text)).items():
                idx.append(int(i))
                terms.append(term)
                tfs.append(float(n))
        yield pd.DataFrame(  # explicit dtypes: a batch of empty profiles yields no rows
            {
                IDX: np.array(idx, np.int64),
                "term": pd.Series(terms, dtype=object),
                "tf": np.array(tfs, np.float64),
            }
        )


def field_shares(batches, *, taxonomy: FieldTaxonomy):
    """mapInPandas body: each profile's field-of-work shares (``FieldTaxonomy.match``)."""
    for pdf in batches:
        texts = [profile_text(r) for r in pdf.to_dict("records")]
        shares = taxonomy.match(texts)
        yield pd.DataFrame(
            {IDX: pdf[IDX].to_numpy(np.int64), "shares": pd.Series(list(shares), dtype=object)}
        )


def weighted_enrolments(batches, *, now, half_life_days):
    """mapInPandas body: the confidence of each enrolment (``interaction_weights``)."""
    for pdf in batches:
        w = interaction_weights(pdf)
        if half_life_days:
            times = pdf[C.ENROLLED_AT].to_numpy(dtype="datetime64[s]")
            w = w * recency_factor(times, now, half_life_days)
        yield pd.DataFrame({"r": pdf["r"], "c": pdf["c"], "w": w.astype(np.float32)})


def strongest_weights(enrolments, now, half_life_days):
    """(r, c, w): the strongest confidence of each cadre × course (``interaction_matrix``'s
    values), weighed on executors."""
    from pyspark.sql import functions as F

    cols = ["r", "c", C.PROGRESS, C.COMPLETED_AT, C.RATING, C.ENROLLED_AT]
    weights = enrolments.select(*cols).mapInPandas(
        lambda it: weighted_enrolments(it, now=now, half_life_days=half_life_days),
        "r bigint, c bigint, w float",
    )
    return weights.groupBy("r", "c").agg(F.max("w").alias("w"))


def rating_stats(enrolments) -> pd.DataFrame:
    """The rating prior's statistics (``quality_from_ratings``): the sum and count of the
    learner ratings per course id, aggregated on executors."""
    from pyspark.sql import functions as F

    rated = enrolments.filter(F.col(C.RATING).isNotNull()).groupBy(C.COURSE_ID)
    sums = rated.agg(F.sum(C.RATING).alias("sum"), F.count("*").alias("count")).toPandas()
    return sums.set_index(C.COURSE_ID)


def _csr(triples: pd.DataFrame, shape, value: str) -> sp.csr_matrix:
    return sp.csr_matrix(
        (
            triples[value].to_numpy(np.float32),
            (triples.iloc[:, 0].to_numpy(np.int64), triples.iloc[:, 1].to_numpy(np.int64)),
        ),
        shape=shape,
        dtype=np.float32,
    )


def text_space(spark, courses, cadres, n_courses: int, n_cadres: int, cfg, tokenizer):
    """(fitted TextSpace, course vectors, profile vectors, field shares, taxonomy).

    Tokens and document frequencies are Spark jobs; the vocabulary is pruned with the
    configured bounds, and sklearn's own ``TfidfTransformer`` weighs the counts."""
    from pyspark.sql import functions as F

    course_tokens = courses.mapInPandas(
        lambda it: token_counts(it, kind="courses", tokenizer=tokenizer), TOKENS
    ).cache()
    df = course_tokens.groupBy("term").agg(F.count("*").alias("df"))
    max_count = cfg.text_max_df if isinstance(cfg.text_max_df, int) else cfg.text_max_df * n_courses
    kept = df.filter((F.col("df") >= cfg.text_min_df) & (F.col("df") <= max_count))
    terms = sorted(r["term"] for r in kept.select("term").collect())
    vocab = {t: i for i, t in enumerate(terms)}
    term_index = spark.createDataFrame(
        pd.DataFrame({"term": terms, "_t": np.arange(len(terms), dtype=np.int64)})
    )
    term_index = F.broadcast(term_index)

    def counts(tokens, n):
        triples = tokens.join(term_index, "term").select(IDX, "_t", "tf").toPandas()
        return _csr(triples, (n, len(terms)), "tf")

    course_counts = counts(course_tokens, n_courses)
    profile_tokens = cadres.mapInPandas(
        lambda it: token_counts(it, kind="cadres", tokenizer=tokenizer), TOKENS
    )
    profile_counts = counts(profile_tokens, n_cadres)
    weigh = TfidfTransformer(sublinear_tf=True).fit(course_counts)
    space = TextSpace(tokenizer=tokenizer, min_df=cfg.text_min_df, max_df=cfg.text_max_df)
    space.vectorizer_ = TfidfVectorizer(
        tokenizer=tokenizer,
        token_pattern=None,
        lowercase=False,
        sublinear_tf=True,
        min_df=cfg.text_min_df,
        max_df=cfg.text_max_df,
        dtype=np.float32,
    )
    space.vectorizer_.vocabulary_ = vocab
    space.vectorizer_.idf_ = weigh.idf_
    space.course_matrix_ = weigh.transform(course_counts).astype(np.float32).tocsr()
    space.terms_ = space.vectorizer_.get_feature_names_out()
    profiles = weigh.transform(profile_counts).astype(np.float32).tocsr()
    taxonomy = FieldTaxonomy.load(cfg.fields_path)
    shares = cadres.mapInPandas(
        lambda it: field_shares(it, taxonomy=taxonomy), f"{IDX} bigint, shares array<float>"
    ).toPandas()
    fields = np.zeros((n_cadres, len(taxonomy.names)), np.float32)
    if len(shares):
        fields[shares[IDX].to_numpy()] = np.stack(shares["shares"].to_numpy())
    course_tokens.unpersist()
    return space, space.course_matrix_, profiles, fields, taxonomy


def interactions(completions, course_index, cadre_index, n_cadres, n_courses, half_life_days):
    """(history CSR, rows, cols, times, now, Spark frames) from Spark: ids mapped by joins,
    the strongest weight per cadre × course aggregated on executors; the frames
    (``enrolments``: r, c, enrolled_at, _row, …; ``history``: r, c, w) stay cached for the
    signals' statistics (the caller unpersists them)."""
    from pyspark.sql import functions as F

    mapped = (
        completions.join(F.broadcast(course_index), C.COURSE_ID)
        .join(cadre_index, C.CADRE_ID)
        .cache()
    )
    ordered = mapped.select(ROW, "r", "c", C.ENROLLED_AT).orderBy(ROW).toPandas()
    times = ordered[C.ENROLLED_AT].to_numpy(dtype="datetime64[s]")
    known = times[~np.isnat(times)]
    now = known.max() if len(known) else np.datetime64("now", "s")
    strongest = strongest_weights(mapped, now, half_life_days).cache()
    history = _csr(strongest.toPandas(), (n_cadres, n_courses), "w")
    frames = {"enrolments": mapped, "history": strongest}
    return (
        history,
        ordered["r"].to_numpy(np.int64),
        ordered["c"].to_numpy(np.int64),
        times,
        now,
        frames,
    )


def training_data(
    courses, cadres, completions, history, rows, cols, times, now, ratings
) -> TrainingData:
    """The :class:`TrainingData` ``TrainingData.build`` makes, from Spark's aggregates
    (``ratings``: :func:`rating_stats`)."""
    courses = courses.reset_index(drop=True)
    cadres = cadres.reset_index(drop=True)
    return TrainingData(
        courses=courses,
        cadres=cadres,
        completions=completions,
        course_ids=IdMap(courses[C.COURSE_ID].to_numpy()),
        cadre_ids=IdMap(cadres[C.CADRE_ID].to_numpy()),
        history=history,
        rows=rows,
        cols=cols,
        times=times,
        now=now,
        segments=segments(cadres),
        context=context_bits(cadres),
        quality=quality_from_ratings(courses, ratings),
    )
