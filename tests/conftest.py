"""Shared fixtures: a tiny generated data directory and a real model trained on it."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """A small synthetic data directory (generated once per test session)."""
    from samplegen import generate_sample

    out = tmp_path_factory.mktemp("tiny_data")
    generate_sample(out, scale="tiny", seed=7)
    return out


@pytest.fixture(scope="session")
def tiny_models(tiny_data, tmp_path_factory) -> Path:
    """A models root with one published version trained on ``tiny_data``."""
    from recommender.lifecycle.train import train

    root = tmp_path_factory.mktemp("models")
    train(tiny_data, root)
    return root


@pytest.fixture(scope="session")
def tiny_model(tiny_models):
    """The published tiny model, loaded."""
    from recommender.lifecycle.artifacts import load_model

    return load_model(tiny_models)


# a throw-away PostgreSQL server (initdb/pg_ctl) for the event-store tests: tests/pg.py
from tests.pg import events_target, pg_cluster, pg_url  # noqa: E402, F401


@pytest.fixture(scope="session")
def sample_model():
    """A model fitted in memory on the shipped sample (data/sample), as `make run` trains."""
    from recommender import fit_recommender, load_dataset

    ds = load_dataset(SAMPLE, write_rejects=False)
    return fit_recommender(ds.courses, ds.cadres, ds.completions)


# ------------------------------------------------------------------ service fixtures
# (helpers the service tests call directly live in tests/service_support.py). Models load
# through the real, verifying loader every time: the tiny model loads in ~40 ms, so the
# session-wide cache that once stood in for it (and skipped the signature check) is gone.
@pytest.fixture(scope="module")
def client(tiny_models, tmp_path_factory):
    """One app for a module's read-mostly tests (events in a module-private store)."""
    from tests.service_support import API_KEY, client_for, make_settings

    events = tmp_path_factory.mktemp("events") / "events.sqlite3"
    with client_for(make_settings(tiny_models, events, api_key=API_KEY)) as c:
        yield c


@pytest.fixture(scope="module")
def cadre_ids(tiny_model) -> list[str]:
    return [str(c) for c in tiny_model.cadres["cadre_id"]]


@pytest.fixture(scope="module")
def course_ids(tiny_model) -> list[str]:
    return [str(c) for c in tiny_model.course_ids]
