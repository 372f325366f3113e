"""Artifacts: atomic versions, publish only good models, refuse corrupt ones."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from recommender.lifecycle.artifacts import (
    ArtifactError,
    list_versions,
    load_model,
    publish_version,
    read_metadata,
    resolve,
)


def test_published_model_loads_with_metadata(tiny_models):
    model = load_model(tiny_models)
    meta = read_metadata(tiny_models)
    assert model.version == meta["model_version"]
    assert meta["format_version"] == 3
    for name in ("courses", "cadres", "completions"):
        assert len(meta["data"][name]["sha256"]) == 64
    assert "validation" in meta["evaluation"]
    assert (tiny_models / "current").is_symlink()


def test_corrupt_model_is_refused(tiny_models, tmp_path):
    root = tmp_path / "m"
    shutil.copytree(tiny_models, root, symlinks=True)
    good = resolve(root)
    bad = root / "20990101T000000Z-bad0"
    shutil.copytree(good, bad)
    (bad / "model.joblib").write_bytes(b"not a pickle at all")
    with pytest.raises(ArtifactError, match="cannot be loaded"):
        load_model(bad)
    # current still points at the good one
    assert (
        load_model(root).version
        == json.loads((good / "metadata.json").read_text())["model_version"]
    )


def test_incompatible_format_is_refused(tiny_models, tmp_path):
    root = tmp_path / "m"
    shutil.copytree(resolve(tiny_models), root)
    meta = json.loads((root / "metadata.json").read_text())
    meta["format_version"] = 99
    (root / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="format_version 99"):
        load_model(root)


def test_missing_model_message(tmp_path):
    with pytest.raises(ArtifactError, match="recommender train"):
        load_model(tmp_path)


def test_publish_refuses_missing_version(tiny_models, tmp_path):
    root = tmp_path / "m"
    shutil.copytree(tiny_models, root, symlinks=True)
    before = os.readlink(root / "current")
    with pytest.raises(ArtifactError):
        publish_version(root, "does-not-exist")
    assert os.readlink(root / "current") == before
    assert list_versions(root)
