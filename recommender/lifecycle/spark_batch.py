"""``recommender recommend --engine spark --all``: every cadre's top-k, scored on executors.

The driver verifies the artifact's signature once and broadcasts its verified bytes; each
Python worker unpacks the model once (cached by broadcast id) and scores its cadres with
:func:`recommender.menu.unit.recommendation_table`, the code ``recommend --cadres`` runs, so
both give the same rows (rank, course, score, title, category, format, hours, reason).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from recommender.lifecycle.artifacts import ARRAYS_FILE, MODEL_FILE, read_verified, resolve, unpack
from recommender.lifecycle.spark_tables import plain
from recommender.menu.unit import BATCH_COLUMNS, recommendation_table

#: per Python worker: model version → unpacked model
_MODELS: dict[str, object] = {}
OUTPUT_SCHEMA = (
    "`cadre_id` string, `rank` bigint, `course_id` string, `score` double, `title` string, "
    "`category` string, `format` string, `credit_hours` double, `reason` string"
)


def _model(bc, version: str):
    model = _MODELS.get(version)
    if model is None:
        files = bc.value
        model = unpack({k: memoryview(v) for k, v in files.items()})
        _MODELS.clear()  # one model per worker at a time
        _MODELS[version] = model
    return model


def score_partition(batches, *, bc, version: str, k: int, include_compulsory: bool):
    """mapInPandas body: the recommendation rows of the cadres in each batch."""
    names = dict(zip(BATCH_COLUMNS, OUTPUT_SCHEMA_NAMES, strict=True))
    for pdf in batches:
        model = _model(bc, version)
        table = recommendation_table(
            model, pdf["cadre_id"].tolist(), k, include_compulsory=include_compulsory
        )
        yield plain(table.rename(columns=names))


OUTPUT_SCHEMA_NAMES = [part.split("`")[1] for part in OUTPUT_SCHEMA.split(", ")]


def recommend_all(
    spark,
    model_path: str | Path,
    output: str,
    *,
    k: int = 10,
    include_compulsory: bool = False,
    partitions: int | None = None,
) -> int:
    """Write every cadre's top-``k`` to ``output`` (Parquet); returns the number of rows."""
    meta, files = read_verified(resolve(model_path))
    payload = {MODEL_FILE: bytes(files[MODEL_FILE]), ARRAYS_FILE: bytes(files[ARRAYS_FILE])}
    model = unpack(files)
    ids = pd.DataFrame({"cadre_id": model.cadres["cadre_id"].astype(str).tolist()})
    bc = spark.sparkContext.broadcast(payload)
    version = str(meta.get("model_version"))
    n = partitions or max(2, spark.sparkContext.defaultParallelism * 2)
    cadres = spark.createDataFrame(ids).repartition(n)
    recs = cadres.mapInPandas(
        lambda it: score_partition(
            it, bc=bc, version=version, k=k, include_compulsory=include_compulsory
        ),
        OUTPUT_SCHEMA,
    )
    recs.write.mode("overwrite").parquet(str(output))
    written = spark.read.parquet(str(output)).count()
    bc.unpersist()
    return written
