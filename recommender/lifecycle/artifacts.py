"""Versioned model artifacts: ``MODELS/<version>/{model.joblib,metadata.json}`` + ``current``.

A version is written to a temporary directory, renamed into place, loaded back and
smoke-tested, and only then is ``current`` switched (an atomic symlink rename). A
crash at any point leaves the previously published model untouched.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import joblib

if TYPE_CHECKING:  # pragma: no cover
    from recommender.ranking.model import RecommenderModel

log = logging.getLogger(__name__)

FORMAT_VERSION = 3
MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
CURRENT = "current"


class ArtifactError(Exception):
    """A model artifact is missing, corrupt or incompatible."""


def new_version(now: datetime | None = None) -> str:
    """Sortable, unique version name such as ``20261127T021500Z-3fa2``."""
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:4]


def resolve(path: str | Path) -> Path:
    """The version directory behind ``path`` (a version dir, ``current``, or a models root)."""
    p = Path(path)
    if (p / MODEL_FILE).exists() or (p / METADATA_FILE).exists():
        return p.resolve()
    if (p / CURRENT).exists():
        return (p / CURRENT).resolve()
    raise ArtifactError(
        f"no model at {p}: expected {MODEL_FILE} there or a '{CURRENT}' link "
        "(train one with `recommender train --data DIR --out MODELS`)"
    )


def read_metadata(path: str | Path) -> dict:
    """The metadata.json of a version directory, checked for compatibility."""
    d = resolve(path)
    try:
        meta = json.loads((d / METADATA_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ArtifactError(f"{d}: {METADATA_FILE} is missing") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{d / METADATA_FILE}: not valid JSON ({exc})") from exc
    found = meta.get("format_version")
    if found != FORMAT_VERSION:
        raise ArtifactError(
            f"{d}: artifact format_version {found!r} is not supported "
            f"(this library reads {FORMAT_VERSION}); retrain with this version"
        )
    return meta


def load_model(path: str | Path) -> RecommenderModel:
    """Load and check a model; raises :class:`ArtifactError` with the reason if it can't."""
    from recommender.ranking.model import RecommenderModel

    d = resolve(path)
    meta = read_metadata(d)
    try:
        model = joblib.load(d / MODEL_FILE)
    except FileNotFoundError as exc:
        raise ArtifactError(f"{d}: {MODEL_FILE} is missing") from exc
    except Exception as exc:  # joblib/pickle raise many types on a corrupt file
        raise ArtifactError(
            f"{d / MODEL_FILE}: cannot be loaded ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(model, RecommenderModel):
        raise ArtifactError(f"{d / MODEL_FILE}: holds a {type(model).__name__}, not a model")
    model.metadata = meta
    return model


def smoke_check(model: RecommenderModel) -> None:
    """Recommend for one cadre and one new profile; raise ArtifactError if that fails."""
    try:
        if len(model.cadres):
            model.recommend(str(model.cadres.iloc[0]["cadre_id"]), k=3)
        model.recommend_profile(
            {"job_title": "综合管理岗", "job_description": "从事综合协调工作"}, k=3
        )
    except Exception as exc:
        raise ArtifactError(f"smoke check failed: {type(exc).__name__}: {exc}") from exc


def save_model(
    model: RecommenderModel, models_dir: str | Path, metadata: dict, *, publish: bool = True
) -> Path:
    """Write a new version atomically, verify it loads, and (optionally) publish it."""
    root = Path(models_dir)
    root.mkdir(parents=True, exist_ok=True)
    version = metadata.get("model_version") or new_version()
    metadata = {**metadata, "format_version": FORMAT_VERSION, "model_version": version}
    model.metadata = metadata
    tmp = root / f".tmp-{version}-{os.getpid()}"
    final = root / version
    try:
        tmp.mkdir()
        joblib.dump(model, tmp / MODEL_FILE)
        (tmp / METADATA_FILE).write_text(
            json.dumps(metadata, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
        )
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    smoke_check(load_model(final))
    if publish:
        publish_version(root, version)
    return final


def publish_version(models_dir: str | Path, version: str) -> None:
    """Point ``current`` at ``version`` with an atomic rename of a fresh symlink."""
    root = Path(models_dir)
    if not (root / version / MODEL_FILE).exists():
        raise ArtifactError(f"cannot publish {version}: {root / version / MODEL_FILE} is missing")
    link = root / f".{CURRENT}-{uuid.uuid4().hex[:6]}"
    link.symlink_to(version, target_is_directory=True)
    os.replace(link, root / CURRENT)
    log.info("published model %s", version)


def list_versions(models_dir: str | Path) -> list[str]:
    """Version directories, oldest first."""
    root = Path(models_dir)
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir()
        and (p / MODEL_FILE).exists()
        and not p.name.startswith(".")
        and p.name != CURRENT
    )
