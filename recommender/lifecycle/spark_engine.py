"""``recommender train --engine spark``: the row-by-row work as Spark jobs, the small fit on
the driver, the same signed artifact as :func:`recommender.lifecycle.train.train`.

Executors: reading the tables (CSV or Parquet, any path Spark reads), validation with
rejects (:mod:`recommender.lifecycle.spark_tables`), id maps, tokenisation, document
frequencies and the interaction weights (:mod:`recommender.lifecycle.spark_stats`).
Driver: the validated tables (the model serves from them), the text space and training data
assembled from Spark's aggregates, then the unchanged hybrid fit (signals, blend weights)
and :func:`recommender.lifecycle.artifacts.save_model`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from recommender.data.rejects import summarise
from recommender.data.rules import rules_fingerprint
from recommender.data.schema import TABLES
from recommender.data.schema import Columns as C
from recommender.lifecycle.artifacts import new_version, save_model
from recommender.lifecycle.spark_folds import SparkFolds
from recommender.lifecycle.spark_session import spark_session
from recommender.lifecycle.spark_signals import signal_statistics
from recommender.lifecycle.spark_stats import (
    indexed,
    interactions,
    rating_stats,
    text_space,
    training_data,
)
from recommender.lifecycle.spark_tables import ROW, SparkTable, library_frame, load_table_spark
from recommender.lifecycle.train import _library_versions
from recommender.ranking.hybrid import Hybrid
from recommender.ranking.model import RecommenderModel
from recommender.ranking.pipeline import DEFAULT_CONFIG, TrainConfig, default_signals
from recommender.text.tokenizer import ChineseTokenizer

log = logging.getLogger(__name__)

SUFFIXES = (".parquet", ".csv")


@dataclass
class StageTimes:
    """Wall seconds per stage (the benchmark's table)."""

    seconds: dict[str, float] = field(default_factory=dict)
    on_mark: Callable[[str], None] | None = None  # e.g. a benchmark reading Spark's metrics
    _t: float = field(default_factory=time.perf_counter)

    def mark(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = round(now - self._t, 2)
        if self.on_mark is not None:
            self.on_mark(stage)
        self._t = time.perf_counter()


def table_paths(data: str | None, files: dict[str, str | None] | None = None) -> dict[str, str]:
    """Each table's path: ``files[name]``, else ``DATA/name.parquet`` or ``DATA/name.csv``
    (a local directory is searched; a remote one, hdfs:// or s3a://, is taken as Parquet
    unless the file is named)."""
    out = {k: str(v) for k, v in (files or {}).items() if v}
    for name in TABLES:
        if name in out:
            continue
        if data is None:
            raise ValueError(f"没有数据目录，也没有指定 --{name} 文件")
        local = Path(data)
        if "://" not in data or data.startswith("file://"):
            local = Path(data.removeprefix("file://"))
            found = [local / f"{name}{s}" for s in SUFFIXES if (local / f"{name}{s}").exists()]
            if not found:
                raise FileNotFoundError(f"{data}：找不到 {name}.parquet 或 {name}.csv")
            out[name] = str(found[0])
        else:
            out[name] = f"{data.rstrip('/')}/{name}.parquet"
    return out


def _frame(table: SparkTable) -> pd.DataFrame:
    """The accepted rows on the driver, in file order, with the library's dtypes."""
    return library_frame(table.accepted.orderBy(ROW).drop(ROW).toPandas(), table.name)


def load_tables(spark, paths: dict[str, str]) -> dict[str, SparkTable]:
    """Courses and cadres, then completions checked against their accepted ids."""
    courses = load_table_spark(spark, paths["courses"], "courses")
    cadres = load_table_spark(spark, paths["cadres"], "cadres")
    ids = {
        C.CADRE_ID: cadres.accepted.select(C.CADRE_ID).distinct(),
        C.COURSE_ID: courses.accepted.select(C.COURSE_ID).distinct(),
    }
    why = {C.CADRE_ID: cadres.rejected_ids, C.COURSE_ID: courses.rejected_ids}
    completions = load_table_spark(
        spark, paths["completions"], "completions", accepted_ids=ids, rejected=why
    )
    return {"courses": courses, "cadres": cadres, "completions": completions}


def write_rejects(tables: dict[str, SparkTable], directory: str) -> dict[str, pd.DataFrame]:
    """``DIR/<table>.rejects.parquet`` (Spark writes it) and the lines on the driver."""
    out = {}
    for name, table in tables.items():
        lines = table.rejects.orderBy("row").cache()
        if lines.limit(1).count():
            lines.coalesce(1).write.mode("overwrite").parquet(
                f"{directory.rstrip('/')}/{name}.rejects.parquet"
            )
        out[name] = lines.toPandas()
        lines.unpersist()
    return out


def train_spark(
    data: str | None,
    models_dir: str | Path,
    *,
    master: str | None = "local[*]",
    files: dict[str, str | None] | None = None,
    config: TrainConfig = DEFAULT_CONFIG,
    publish: bool = True,
    rules: str | Path | None = None,
    rejects_dir: str | None = None,
    spark=None,
    conf: dict[str, str] | None = None,
    on_stage: Callable[[str], None] | None = None,
    validation: str = "spark",
) -> tuple[Path, StageTimes]:
    """Train on Spark; returns the version directory and the seconds of each stage
    (``on_stage(name)`` is called as each stage ends). ``validation``: ``"spark"`` (the
    blend's validation folds as Spark jobs, only the sampled validation cadres' records on
    the driver) or ``"driver"`` (split from the collected records, as one machine does)."""
    if validation not in ("spark", "driver"):
        raise ValueError(f"validation 须为 spark 或 driver，而不是 {validation!r}")
    started = datetime.now(UTC)
    times = StageTimes(on_mark=on_stage)
    spark = spark or spark_session(master, app="xuanxue-train", conf=conf)
    times.mark("session")
    paths = table_paths(data, files)
    tables = load_tables(spark, paths)
    frames = {name: _frame(t) for name, t in tables.items()}
    rejects = write_rejects(tables, rejects_dir or data or str(Path(models_dir)))
    times.mark("validate")
    courses = indexed(tables["courses"].accepted)
    cadres = indexed(tables["cadres"].accepted)
    tokenizer = ChineseTokenizer()
    n_courses, n_cadres = len(frames["courses"]), len(frames["cadres"])
    space, _, profiles, fields, taxonomy = text_space(
        spark, courses, cadres, n_courses, n_cadres, config, tokenizer
    )
    times.mark("text")
    history, rows, cols, when, now, frames_ = interactions(
        tables["completions"].accepted,
        courses.select(C.COURSE_ID, courses["_idx"].alias("c")),
        cadres.select(C.CADRE_ID, cadres["_idx"].alias("r")),
        n_cadres,
        n_courses,
        config.history_half_life_days,
    )
    times.mark("interactions")
    data_ = training_data(
        frames["courses"],
        frames["cadres"],
        frames["completions"],
        history,
        rows,
        cols,
        when,
        now,
        rating_stats(frames_["enrolments"]),
    ).with_text(space.course_matrix_, profiles, fields, taxonomy)
    signals = default_signals(config, data_.n_items)
    stats = signal_statistics(
        spark,
        signals,
        frames_["enrolments"],
        frames_["history"],
        data_.segments,
        data_.n_items,
        now,
    )
    frames_["history"].unpersist()
    times.mark("statistics")
    folds = SparkFolds(spark, frames_["enrolments"], tables["completions"].accepted.columns, data_)
    if validation == "driver" or not folds.covers(signals):
        folds = None  # the folds split from the records on the driver
    hybrid = Hybrid(
        signals=signals,
        weights=config.weights,
        cold_weights=config.cold_weights,
        blend=config.blend,
    ).fit(data_, statistics=stats, folds=folds)
    frames_["enrolments"].unpersist()
    model = RecommenderModel(hybrid, space, data_)
    times.mark("fit")
    if folds is not None:  # part of "fit": the validation folds' Spark jobs
        times.seconds["fit: fold jobs"] = round(folds.seconds, 2)
    meta = _metadata(started, config, tables, frames, rejects, rules, model, paths, master)
    meta["spark"]["stage_seconds"] = times.seconds
    meta["spark"]["validation_folds"] = "spark" if folds is not None else "driver"
    path = save_model(model, models_dir, meta, publish=publish)
    times.mark("save")
    return path, times


def _metadata(started, config, tables, frames, rejects, rules, model, paths, master) -> dict:
    load, rejected = [], {}
    for name, table in tables.items():
        file = paths[name].rstrip("/").rsplit("/", 1)[-1]
        load.append(summarise(name, file, None, table.rows_in, len(frames[name]), rejects[name]))
        key = TABLES[name].key
        if key and table.rejected_ids:
            kept = set(frames[name][key])
            why = {k: v for k, v in table.rejected_ids.items() if k not in kept}
            if why:
                rejected[key] = dict(list(why.items())[:10_000])
    return {
        "model_version": new_version(started),
        "created_at": started.isoformat(),
        "trained_seconds": round((datetime.now(UTC) - started).total_seconds(), 2),
        "library_versions": _library_versions(),
        "params": asdict(config),
        "data": {
            name: {"path": paths[name], "rows": tables[name].rows_in, "accepted": len(f)}
            for name, f in frames.items()
        },
        "events_merged": 0,
        "load": load,
        "rejected_ids": rejected,
        "rules": rules_fingerprint(rules),
        "signals": [repr(s) for s in model.hybrid.signals_],
        "weights": model.hybrid.weights_,
        "cold_weights": model.hybrid.cold_weights_,
        "evaluation": {"validation": model.hybrid.validation_},
        "spark": {"engine": "spark", "master": master, "warnings": _warnings(tables)},
    }


def _warnings(tables: dict[str, SparkTable]) -> list[str]:
    return [f"{name}: {w}" for name, t in tables.items() for w in t.warnings]


def as_uri(path: str | Path | None) -> str | None:
    """A path as given on the command line (``hdfs://`` survives ``Path``'s collapsing)."""
    if path is None:
        return None
    text = str(path)
    if "://" not in text and not text.startswith("file:"):
        text = re.sub(r"^([A-Za-z][A-Za-z0-9+.-]+):/(?!/)", r"\1://", text)
    return text


def trainer(master: str | None):
    """A function with :func:`recommender.lifecycle.train.train`'s call shape that trains
    on Spark (the CLI's ``--engine spark``); events and workbook sheets are not read."""

    def run(data, models_dir, *, config=DEFAULT_CONFIG, publish=True, files=None, rules=None,
            rejects_dir=None, events_path=None, sheet=None):  # fmt: skip
        if events_path not in (None, "none"):
            log.warning("--engine spark does not merge events (%s)", events_path)
        files = {k: as_uri(v) for k, v in (files or {}).items()}
        path, times = train_spark(
            as_uri(data),
            models_dir,
            master=master,
            files=files,
            config=config,
            publish=publish,
            rules=rules,
            rejects_dir=str(rejects_dir) if rejects_dir is not None else None,
        )
        log.info("spark stages (s): %s", times.seconds)
        return path

    return run
