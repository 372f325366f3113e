"""Helpers shared by the service tests (plain functions and constants: the fixtures are in
``tests/conftest.py``).

Service tests go through ``TestClient(create_app(settings))`` against the real tiny bundle
trained once per session by ``tests/conftest.py``.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

from recommender.lifecycle.artifacts import (
    METADATA_FILE,
    load_model,
    publish_version,
    save_model,
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


#: what the test clients call the server: a loopback name, as a browser on the same machine
#: would (with no API key configured only loopback Host names are served)
BASE_URL = "http://localhost"


def client_for(settings: Settings, headers: dict[str, str] | None = None) -> TestClient:
    """A client whose ``with`` block runs the app's lifespan (loads the model)."""
    return TestClient(
        create_app(settings), base_url=BASE_URL, raise_server_exceptions=True, headers=headers
    )


def copy_models(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, symlinks=True)
    return dest


def add_version(root: Path, version: str, *, publish: bool = True, **meta_changes) -> Path:
    """A new version of the published model, written and signed by the real artifact
    functions (``load_model`` → ``save_model``) under its own model_version. ``meta_changes``
    are then written into its metadata.json unsigned (e.g. a future ``format_version``, which
    the loader checks before the signature)."""
    model = load_model(root)
    meta = {**(model.metadata or {}), "model_version": version}
    dest = save_model(model, root, meta, publish=False)
    if meta_changes:
        meta = json.loads((dest / METADATA_FILE).read_text(encoding="utf-8"))
        meta.update(meta_changes)
        (dest / METADATA_FILE).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    if publish:
        publish_version(root, version)
    return dest


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
