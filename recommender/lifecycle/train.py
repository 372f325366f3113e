"""Training: data directory in, published model version out."""

from __future__ import annotations

import logging
import platform
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from recommender import __version__
from recommender.data.loading import Dataset, load_dataset
from recommender.data.rules import rules_fingerprint
from recommender.data.safe_write import private_dir
from recommender.data.schema import Columns as C
from recommender.lifecycle.artifacts import new_version, save_model
from recommender.lifecycle.events import is_database_url, open_event_store, sqlite_path
from recommender.ranking.model import RecommenderModel
from recommender.ranking.pipeline import (
    DEFAULT_CONFIG,
    StartedText,
    TrainConfig,
    fit_recommender,
    signal_specs,
    start_text,
)

log = logging.getLogger(__name__)

EVENTS_FILE = "events.sqlite3"


def merge_events(dataset: Dataset, events: pd.DataFrame) -> pd.DataFrame:
    """Training completions plus portal events for known cadres and courses (deduplicated)."""
    if events.empty:
        return dataset.completions
    known = (
        events[C.CADRE_ID].isin(dataset.cadres[C.CADRE_ID])
        & events[C.COURSE_ID].isin(dataset.courses[C.COURSE_ID])
        & events[C.ENROLLED_AT].notna()
    )
    merged = pd.concat([dataset.completions, events[known]], ignore_index=True)
    return merged.drop_duplicates(
        subset=[C.CADRE_ID, C.COURSE_ID, C.ENROLLED_AT, C.COMPLETED_AT], keep="first"
    ).reset_index(drop=True)


def read_events(target: str | Path) -> pd.DataFrame | None:
    """Every event of a store (None when a SQLite file does not exist: nothing posted yet)."""
    if not is_database_url(target) and not sqlite_path(target).exists():
        return None
    with open_event_store(target) as store:
        return store.to_frame()


def default_rejects_dir(models_dir: str | Path = "models") -> Path:
    """``rejects/`` beside the models root: a private (0700) folder of our own, not the
    input folder (anyone who can drop data files there could plant a symlink)."""
    return Path(models_dir).absolute().parent / "rejects"


def fit_model(
    dataset: Dataset, config: TrainConfig = DEFAULT_CONFIG, *, text: StartedText | None = None
) -> RecommenderModel:
    """Fit a model on a loaded dataset (no files written); ``text``: its text space already
    started (:func:`~recommender.ranking.pipeline.start_text`)."""
    return fit_recommender(
        dataset.courses,
        dataset.cadres,
        dataset.completions,
        config,
        external=dataset.external,
        text=text,
    )


def train(
    data_dir: str | Path,
    models_dir: str | Path,
    *,
    config: TrainConfig = DEFAULT_CONFIG,
    publish: bool = True,
    events_path: str | Path | None = None,
    files: Mapping[str, str | Path | None] | None = None,
    sheet: str | Mapping[str, str | None] | None = None,
    rules: str | Path | None = None,
    rejects_dir: str | Path | None = None,
) -> Path:
    """Load, fit, write a new version atomically and publish it; returns the version dir.

    ``rejects_dir``: where ``<table>.rejects.csv`` go (default :func:`default_rejects_dir`,
    beside the models; never the input folder, where a planted symlink could redirect them).

    ``files`` / ``sheet``: table files not named ``courses.*`` …, and the workbook sheet to read
    (see :func:`recommender.data.loading.load_dataset`). The metadata records the load report
    and the ids of rejected rows, so an "unknown cadre" can be explained later.

    ``rules``: the training rules file recorded in the metadata (default ``XUANXUE_RULES``,
    else the packaged one).

    ``events_path``: the event store to fold in — a path, ``sqlite:///PATH`` or
    ``postgresql://…`` (default ``DATA/events.sqlite3``; a missing file means no events).
    """
    started = datetime.now(UTC)
    rejects = private_dir(
        rejects_dir if rejects_dir is not None else default_rejects_dir(models_dir)
    )
    text: list[StartedText] = []  # course and profile texts tokenised while records load

    def start(courses: pd.DataFrame, cadres: pd.DataFrame) -> None:
        text.append(start_text(courses, cadres, config))

    dataset = load_dataset(
        data_dir, files=files, sheet=sheet, rejects_dir=rejects, on_catalog=start
    )
    n_events = 0
    events = read_events(events_path or Path(data_dir) / EVENTS_FILE)
    if events is not None:
        n_events = len(events)
        dataset.completions = merge_events(dataset, events)
    model = fit_model(dataset, config, text=text[0] if text else None)
    meta = {
        "model_version": new_version(started),
        "created_at": started.isoformat(),
        "trained_seconds": round((datetime.now(UTC) - started).total_seconds(), 2),
        "library_versions": _library_versions(),
        "params": config.to_dict(),  # `train --config` rebuilds the model from this
        "data": {
            name: {**dataset.loads[name].fingerprint(), "accepted": len(frame)}
            for name, frame in (
                ("courses", dataset.courses),
                ("cadres", dataset.cadres),
                ("completions", dataset.completions),
            )
        },
        "events_merged": n_events,
        "load": dataset.load_report(),
        "rejected_ids": dataset.rejected_ids(),
        "rules": rules_fingerprint(rules),
        "signals": signal_specs(model.hybrid.signals_),
        "weights": model.hybrid.weights_,
        "cold_weights": model.hybrid.cold_weights_,
        "evaluation": {"validation": model.hybrid.validation_},
    }
    return save_model(model, models_dir, meta, publish=publish)


def _library_versions() -> dict[str, str]:
    import jieba
    import scipy
    import sklearn

    return {
        "xuanxue": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "jieba": jieba.__version__,
    }
