"""Helpers and fixtures shared by the service tests (no tests in this module).

Service tests go through ``TestClient(create_app(settings))`` against the real tiny bundle
trained once per session by ``tests/conftest.py``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import service.holder
from recommender.lifecycle.artifacts import (
    METADATA_FILE,
    MODEL_FILE,
    publish_version,
    read_metadata,
    resolve,
)
from service.config import Settings
from service.main import create_app

with warnings.catch_warnings():
    # starlette 1.x asks for httpx2 on import; httpx is what is installed (pyproject ignore
    # entry proposed in the service report)
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

API_KEY = "test-key-0123456789"


#: headers of a request made with the admin key (admin ⊇ write ⊇ read), e.g. to post events
WRITE = {"X-API-Key": API_KEY}


def make_settings(models: Path, events: Path, **overrides) -> Settings:
    """No keys file (a private path) and the TestClient's host counted as loopback, so reads
    need no key, as from 127.0.0.1; tests/test_auth.py covers the keyed modes."""
    overrides.setdefault("keys_file", events.parent / "no_api_keys.json")
    overrides.setdefault("local_clients", ("127.0.0.0/8", "::1", "testclient"))
    return Settings(model_path=models, events_path=events, max_k=1000, **overrides)


def client_for(settings: Settings, headers: dict[str, str] | None = None) -> TestClient:
    """A client whose ``with`` block runs the app's lifespan (loads the model)."""
    return TestClient(create_app(settings), raise_server_exceptions=True, headers=headers)


def copy_models(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, symlinks=True)
    return dest


def add_version(root: Path, version: str, *, publish: bool = True, **meta_changes) -> Path:
    """A new version dir cloned from ``current`` with its own model_version (fast, no training)."""
    src = resolve(root)
    dest = root / version
    shutil.copytree(src, dest)
    meta = json.loads((dest / METADATA_FILE).read_text(encoding="utf-8"))
    meta.update({"model_version": version, **meta_changes})
    (dest / METADATA_FILE).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    if publish:
        publish_version(root, version)
    return dest


@pytest.fixture(scope="session", autouse=True)
def _fast_model_loads() -> Iterator[None]:
    """Deserialise each distinct model.joblib once per session (a load costs seconds).

    Every reload still reads and checks metadata.json, hashes model.joblib, smoke-checks and
    swaps for real; a file never seen before (e.g. a corrupt one) goes through the real
    ``load_model``. Each load returns its own shallow copy carrying its own metadata.
    """
    real = service.holder.load_model
    cache: dict[str, object] = {}

    def load(path):
        d = resolve(path)
        meta = read_metadata(d)
        key = hashlib.sha256((d / MODEL_FILE).read_bytes()).hexdigest()
        if key not in cache:
            cache[key] = real(d)
        model = copy.copy(cache[key])
        model.metadata = meta
        return model

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(service.holder, "load_model", load)
        yield


@pytest.fixture(scope="module")
def client(tiny_models, tmp_path_factory) -> Iterator[TestClient]:
    """One app for a module's read-mostly tests (events in a module-private store)."""
    events = tmp_path_factory.mktemp("events") / "events.sqlite3"
    with client_for(make_settings(tiny_models, events, api_key=API_KEY)) as c:
        yield c


@pytest.fixture(scope="module")
def cadre_ids(tiny_model) -> list[str]:
    return [str(c) for c in tiny_model.cadres["cadre_id"]]


@pytest.fixture(scope="module")
def course_ids(tiny_model) -> list[str]:
    return [str(c) for c in tiny_model.course_ids]


def history(model, cadre_id: str) -> set[str]:
    """Courses a cadre enrolled in within the training data."""
    row = model.cadre_map.index[cadre_id]
    return {str(model.course_ids[i]) for i in model.history_[row].indices}


def completion_event(cadre: str, course: str, event_id: str) -> dict:
    """A completed, rated enrolment as a portal posts it (used by the load/kill tests)."""
    return {
        "event_id": event_id,
        "cadre_id": cadre,
        "course_id": course,
        "enrolled_at": "2026-03-01T09:00:00",
        "completed_at": "2026-03-02T10:00:00",
        "progress": 1.0,
        "rating": 4,
        "source": "self_selected",
    }
