"""Memory-mapped arrays (``load_model(mmap=True)``, what the service uses): the bytes served
are the bytes verified, whatever happens to the file afterwards."""

from __future__ import annotations

import mmap
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from recommender.lifecycle import artifacts
from recommender.lifecycle.artifacts import ARRAYS_FILE, ArtifactError, load_model, resolve


@pytest.fixture
def version(tiny_models, tmp_path) -> Path:
    root = tmp_path / "models"
    shutil.copytree(tiny_models, root, symlinks=True)
    return resolve(root)


def _answers(model) -> list:
    cadres = list(model.cadres["cadre_id"].astype(str))[:5]
    out = [[(r.course_id, r.score) for r in model.recommend(c, k=10)] for c in cadres]
    profile = {"job_title": "乡镇干部", "job_description": "负责乡村振兴和基层治理"}
    return [*out, [(r.course_id, r.score) for r in model.recommend_profile(profile, k=10)]]


def _tampered(path: Path) -> bytes:
    raw = bytearray(path.read_bytes())
    raw[-64:] = bytes(255 - b for b in raw[-64:])  # the tail of the data area
    return bytes(raw)


def test_a_file_swapped_after_verification_is_never_served(version: Path) -> None:
    model = load_model(version, mmap=True)
    before, history = _answers(model), model.history_.data.copy()
    assert not model.history_.data.flags.writeable
    arrays = version / ARRAYS_FILE
    tmp = version / "arrays.new"
    tmp.write_bytes(_tampered(arrays))
    os.replace(tmp, arrays)  # how a file is swapped on a live host
    assert _answers(model) == before  # the mapping stays on the verified file
    np.testing.assert_array_equal(model.history_.data, history)
    with pytest.raises(ArtifactError) as err:  # and the swapped file itself is refused
        load_model(version, mmap=True)
    assert err.value.code == "artifact_tampered"


def test_a_file_written_while_it_is_verified_is_refused(
    version: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arrays = version / ARRAYS_FILE
    real_verify = artifacts.verify

    def verify_while_written(files, *a, **kw):
        with open(arrays, "r+b") as fh:  # written in place (same inode) during the check
            head = fh.read(8)
            fh.seek(0)
            fh.write(head)
        os.utime(arrays, ns=(1, 1))
        return real_verify(files, *a, **kw)

    monkeypatch.setattr(artifacts, "verify", verify_while_written)
    with pytest.raises(ArtifactError) as err:
        load_model(version, mmap=True)
    assert err.value.code == "artifact_changed"


def test_a_file_others_may_write_is_read_not_mapped(
    version: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    want = _answers(load_model(version))
    (version / ARRAYS_FILE).chmod(0o664)
    mapped = []
    real = mmap.mmap
    monkeypatch.setattr(mmap, "mmap", lambda *a, **kw: mapped.append(a) or real(*a, **kw))
    model = load_model(version, mmap=True)
    assert mapped == [] and _answers(model) == want
    (version / ARRAYS_FILE).chmod(0o600)
    assert _answers(load_model(version, mmap=True)) == want
    assert len(mapped) == 1
