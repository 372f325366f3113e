"""The Spark session of a training or batch job, and what every Spark module needs.

pyspark is an optional extra (``pip install 'xuanxue[spark]'``): it is imported here, when a
job starts, never when the library is imported, so single-machine training and serving run
without it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping


class SparkUnavailableError(RuntimeError):
    """pyspark (or Java) is missing: the message says how to install it."""


#: SQL settings every job needs (UTC timestamps both ways, Arrow batches for pandas UDFs),
#: applied unless spark-submit or ``conf`` already set them
BASE_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "20000",
    # a cluster job sets more (about 2-3 per executor core); 200 tiny tasks cost more locally
    "spark.sql.shuffle.partitions": "8",
}


#: pyspark 4.x warns on every pandas UDF under pandas 3 (driver and each Python worker)
PANDAS_WARNING = "PySpark does not yet fully support pandas"


def require_pyspark():
    """The pyspark module, or a Chinese message saying how to install it."""
    try:
        import pyspark
    except ImportError as exc:
        raise SparkUnavailableError(
            "未安装 pyspark：请执行 pip install 'xuanxue[spark]'（另需 Java 17 以上，"
            "Debian/Ubuntu：apt-get install default-jre-headless）"
        ) from exc
    return pyspark


def spark_session(
    master: str | None = "local[*]",
    *,
    app: str = "xuanxue",
    conf: Mapping[str, str] | None = None,
):
    """A SparkSession (the active one when ``master`` is None, e.g. under spark-submit).

    Python workers run this interpreter unless ``PYSPARK_PYTHON`` says otherwise, so local and
    localhost-cluster executors import the same library.
    """
    require_pyspark()
    import warnings

    from pyspark.sql import SparkSession

    # pyspark 4.x warns on every pandas UDF under pandas 3; the library's UDFs use plain frames
    warnings.filterwarnings("ignore", message=PANDAS_WARNING, category=FutureWarning)

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.appName(app)
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.executorEnv.PYTHONWARNINGS", f"ignore:{PANDAS_WARNING}:FutureWarning")
    )
    if master:
        builder = builder.master(master)
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # Java missing or the master unreachable
        raise SparkUnavailableError(f"无法启动 Spark（master={master}）：{exc}") from exc
    given = spark.sparkContext.getConf()
    for key, value in BASE_CONF.items():
        if not given.contains(key) and key not in (conf or {}):
            spark.conf.set(key, value)
    spark.sparkContext.setLogLevel("ERROR")
    return spark
