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
