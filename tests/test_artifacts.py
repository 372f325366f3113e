"""Artifacts: atomic signed versions, publish only good models, refuse corrupt, unsigned or
tampered ones before a byte of them is unpickled, list/prune/re-sign a models root."""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from recommender.lifecycle.artifacts import (
    ARRAYS_FILE,
    CURRENT,
    DATA_FILES,
    FORMAT_VERSION,
    METADATA_FILE,
    MODEL_FILE,
    ArtifactError,
    clean_temp,
    list_versions,
    load_model,
    publish_version,
    read_metadata,
    resolve,
    save_model,
    signing_keys,
)
from recommender.lifecycle.signing import (
    ENV_KEY,
    ENV_KEY_FILE,
    ENV_OLD_KEYS,
    SIGNATURE_FILE,
    SigningKeys,
    key_id,
    sign,
)
from recommender.lifecycle.versions import (
    describe_versions,
    prune_versions,
    resign_version,
    rotate_key,
)

ROOT = Path(__file__).resolve().parents[1]
FILES = DATA_FILES
CADRE_X = ("--cadre", "X")


class Evil:
    """A pickle that, when loaded, writes a marker file: proof that its code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"import pathlib; pathlib.Path({self.marker!r}).write_text('pwned')",))


def copy_root(tiny_models: Path, dest: Path) -> Path:
    shutil.copytree(tiny_models, dest, symlinks=True)
    return dest


def evil_version(root: Path, name: str, marker: Path) -> Path:
    """A copy of the published version whose model.pkl is the malicious pickle."""
    bad = root / name
    shutil.copytree(resolve(root), bad)
    (bad / MODEL_FILE).write_bytes(pickle.dumps(Evil(marker)))
    return bad


def resign_with(d: Path, key: bytes) -> None:
    files = {n: (d / n).read_bytes() for n in FILES}
    (d / SIGNATURE_FILE).write_bytes(sign(files, key))


@pytest.fixture
def keys() -> SigningKeys:
    """The keys the session's tiny model was signed with (the test account's key file)."""
    return signing_keys()


# ---------------------------------------------------------------- basics
def test_published_model_loads_with_metadata(tiny_models):
    model = load_model(tiny_models)
    meta = read_metadata(tiny_models)
    assert model.version == meta["model_version"]
    assert meta["format_version"] == FORMAT_VERSION == 4
    for name in ("courses", "cadres", "completions"):
        assert len(meta["data"][name]["sha256"]) == 64
    assert "validation" in meta["evaluation"]
    assert (tiny_models / "current").is_symlink()
    sig = json.loads((resolve(tiny_models) / SIGNATURE_FILE).read_text())
    assert sig["algorithm"] == "hmac-sha256" and set(sig["files"]) == set(FILES)


def test_corrupt_model_is_refused(tiny_models, tmp_path):
    root = copy_root(tiny_models, tmp_path / "m")
    good = resolve(root)
    bad = root / "20990101T000000Z-bad0"
    shutil.copytree(good, bad)
    (bad / MODEL_FILE).write_bytes(b"not a pickle at all")
    with pytest.raises(ArtifactError, match=r"model\.pkl") as err:
        load_model(bad)
    assert err.value.code == "artifact_tampered"
    # current still points at the good one
    assert (
        load_model(root).version
        == json.loads((good / "metadata.json").read_text())["model_version"]
    )


def test_corrupt_but_signed_model_is_refused(tiny_models, tmp_path, keys):
    bad = shutil.copytree(resolve(tiny_models), tmp_path / "v")
    (bad / MODEL_FILE).write_bytes(b"not a pickle at all")
    resign_with(bad, keys.signing)
    with pytest.raises(ArtifactError, match="cannot be loaded") as err:
        load_model(bad)
    assert err.value.code == "artifact_corrupt"


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
    root = copy_root(tiny_models, tmp_path / "m")
    before = os.readlink(root / "current")
    with pytest.raises(ArtifactError, match="does-not-exist"):
        publish_version(root, "does-not-exist")
    assert os.readlink(root / "current") == before
    assert list_versions(root)


def test_arrays_load_as_writable_views_with_the_same_answers(tiny_models, tiny_model):
    model = load_model(tiny_models)
    data = model.history_.data
    assert data.flags.writeable and not data.flags.owndata  # a view of arrays.bin, no copy
    assert (resolve(tiny_models) / ARRAYS_FILE).stat().st_size > data.nbytes
    cadre = str(tiny_model.cadres["cadre_id"].iloc[0])
    got, want = model.recommend(cadre, k=10), tiny_model.recommend(cadre, k=10)
    assert [r.course_id for r in got] == [r.course_id for r in want]
    np.testing.assert_allclose([r.score for r in got], [r.score for r in want], rtol=1e-6)


# ---------------------------------------------------------------- every file signed
@pytest.mark.parametrize(
    ("name", "change"),
    [*((n, "append") for n in DATA_FILES), (ARRAYS_FILE, "flip"), (MODEL_FILE, "flip")],
)
def test_a_changed_byte_in_any_file_is_refused(tiny_models, tmp_path, name, change):
    d = shutil.copytree(resolve(tiny_models), tmp_path / "v")
    raw = bytearray((d / name).read_bytes())
    if change == "append":
        raw += b" "  # metadata.json stays valid JSON: only the signature can tell
    else:
        raw[len(raw) // 2] ^= 0x01
    (d / name).write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match=re.escape(name)) as err:
        load_model(d)
    assert err.value.code == "artifact_tampered"


@pytest.mark.parametrize("name", [ARRAYS_FILE, MODEL_FILE])
def test_a_missing_file_is_refused(tiny_models, tmp_path, name):
    d = shutil.copytree(resolve(tiny_models), tmp_path / "v")
    (d / name).unlink()
    with pytest.raises(ArtifactError, match=re.escape(name)) as err:
        load_model(d)
    assert err.value.code == "artifact_missing"


def test_a_signature_must_cover_the_arrays(tiny_models, tmp_path, keys):
    """A valid MAC over model.pkl + metadata.json only (arrays.bin left out) is refused, so
    arrays.bin can never be swapped under a signature that does not name it."""
    d = shutil.copytree(resolve(tiny_models), tmp_path / "v")
    partial = {n: (d / n).read_bytes() for n in (MODEL_FILE, METADATA_FILE)}
    (d / SIGNATURE_FILE).write_bytes(sign(partial, keys.signing))
    with pytest.raises(ArtifactError, match=re.escape(ARRAYS_FILE)) as err:
        load_model(d)
    assert err.value.code == "artifact_tampered"
    resign_with(d, keys.signing)  # control: the same files signed whole load
    assert load_model(d).version


def test_swapped_arrays_are_refused_before_unpickling(tiny_models, tmp_path, monkeypatch):
    """Other arrays dropped in next to a signed model.pkl: refused, nothing unpickled."""
    d = shutil.copytree(resolve(tiny_models), tmp_path / "v")
    (d / ARRAYS_FILE).write_bytes(b"evil arrays")
    ran = []
    monkeypatch.setattr(pickle, "loads", lambda *a, **kw: ran.append(a))
    with pytest.raises(ArtifactError, match=re.escape(ARRAYS_FILE)) as err:
        load_model(d)
    assert err.value.code == "artifact_tampered" and not ran


def test_arrays_table_out_of_bounds_is_corrupt_not_a_crash(tiny_models, tmp_path, keys):
    d = shutil.copytree(resolve(tiny_models), tmp_path / "v")
    table = json.dumps([[0, 10**9]]).encode()
    (d / ARRAYS_FILE).write_bytes(len(table).to_bytes(8, "little") + table)
    resign_with(d, keys.signing)
    with pytest.raises(ArtifactError, match="outside the file") as err:
        load_model(d)
    assert err.value.code == "artifact_corrupt"


# ---------------------------------------------------------------- no code runs
def test_malicious_pickle_runs_when_signed_control(tiny_models, tmp_path, keys):
    """Control: the payload really runs when loaded — so 'marker absent' below means 'refused'."""
    marker = tmp_path / "pwned"
    bad = evil_version(copy_root(tiny_models, tmp_path / "m"), "evil", marker)
    resign_with(bad, keys.signing)
    with pytest.raises(ArtifactError):
        load_model(bad)
    assert marker.exists()


@pytest.mark.parametrize(
    ("how", "code"),
    [
        ("swapped", "artifact_tampered"),
        ("unsigned", "artifact_unsigned"),
        ("wrong-key", "artifact_unknown_key"),
        ("forged-digests", "artifact_unknown_key"),
        ("garbage-sig", "artifact_signature_invalid"),
    ],
)
def test_malicious_pickle_is_refused_before_unpickling(tiny_models, tmp_path, how, code):
    marker = tmp_path / "pwned"
    root = copy_root(tiny_models, tmp_path / "m")
    bad = evil_version(root, "evil", marker)
    if how == "unsigned":
        (bad / SIGNATURE_FILE).unlink()
    elif how == "wrong-key":
        resign_with(bad, b"an-attacker-key-0123456789")
    elif how == "forged-digests":  # digests of the evil file, the old (valid) MAC kept
        sig = json.loads((bad / SIGNATURE_FILE).read_text())
        sig["files"] = json.loads(sign({n: (bad / n).read_bytes() for n in FILES}, b"x" * 16))[
            "files"
        ]
        (bad / SIGNATURE_FILE).write_text(json.dumps(sig))
    elif how == "garbage-sig":
        (bad / SIGNATURE_FILE).write_bytes(b"\x80\x04garbage")
    for target in (bad, root / "evil"):
        with pytest.raises(ArtifactError) as err:
            load_model(target)
        assert err.value.code == code
        assert code in str(err.value) and "拒绝加载" in str(err.value)
    publish_version(root, "evil")
    with pytest.raises(ArtifactError, match=code):
        load_model(root)
    assert not marker.exists()


def test_cli_refuses_malicious_model(tiny_models, tmp_path):
    marker = tmp_path / "pwned"
    bad = evil_version(copy_root(tiny_models, tmp_path / "m"), "evil", marker)
    for target in (bad, bad.parent):
        if target == bad.parent:
            publish_version(bad.parent, "evil")
        proc = subprocess.run(
            [sys.executable, "-m", "recommender", "recommend", "--model", str(target), *CADRE_X],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 1, proc.stderr
        assert "artifact_tampered" in proc.stderr and "Traceback" not in proc.stderr
    assert not marker.exists()


def test_service_reload_refuses_malicious_model(tiny_models, tiny_model, tmp_path):
    from tests.service_support import API_KEY, client_for, make_settings

    marker = tmp_path / "pwned"
    root = copy_root(tiny_models, tmp_path / "m")
    evil_version(root, "evil", marker)
    with client_for(make_settings(root, tmp_path / "e.sqlite3", api_key=API_KEY)) as c:
        publish_version(root, "evil")
        r = c.post("/v1/admin/reload", headers={"X-API-Key": API_KEY})
        assert r.status_code == 409, r.text
        assert r.json()["error"] == "model_refused"
        assert "artifact_tampered" in r.json()["message"]
        assert c.get("/v1/model").json()["model_version"] == tiny_model.version
        cadre = str(tiny_model.cadres["cadre_id"].iloc[0])
        assert c.get(f"/v1/cadres/{cadre}/recommendations").status_code == 200
    assert not marker.exists()


# ---------------------------------------------------------------- keys
def test_first_save_creates_private_key_file(tiny_model, tmp_path, monkeypatch):
    key_file = tmp_path / "cfg" / "signing.key"
    monkeypatch.delenv(ENV_KEY, raising=False)
    monkeypatch.setenv(ENV_KEY_FILE, str(key_file))
    final = save_model(tiny_model, tmp_path / "models", dict(tiny_model.metadata))
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_text().strip()) == 64
    sig = json.loads((final / SIGNATURE_FILE).read_text())
    assert sig["key_id"] == key_id(key_file.read_text().strip().encode())
    assert load_model(tmp_path / "models").version == final.name
    monkeypatch.setenv(ENV_KEY_FILE, str(tmp_path / "elsewhere.key"))  # another key: refused
    with pytest.raises(ArtifactError) as err:
        load_model(final)
    assert err.value.code == "signing_key_missing"


def test_key_from_env_and_old_keys(tiny_models, tmp_path, monkeypatch, keys):
    d = shutil.copytree(resolve(tiny_models), tmp_path / "v")
    monkeypatch.setenv(ENV_KEY, "a-brand-new-key-0123456789")
    with pytest.raises(ArtifactError) as err:
        load_model(d)
    assert err.value.code == "artifact_unknown_key"
    monkeypatch.setenv(ENV_OLD_KEYS, keys.signing.decode())
    assert load_model(d).version  # an old key still verifies …
    assert resign_version(d, signing_keys()) == "re-signed"  # … until re-signed with the new
    monkeypatch.delenv(ENV_OLD_KEYS)
    assert load_model(d).version
    monkeypatch.setenv(ENV_KEY, "short")
    with pytest.raises(ArtifactError, match="signing_key_weak"):
        load_model(d)


def test_rotate_key_resigns_every_version(tiny_models, tmp_path, monkeypatch, keys):
    root = copy_root(tiny_models, tmp_path / "m")
    key_file = tmp_path / "signing.key"
    key_file.write_text(keys.signing.decode() + "\n")
    monkeypatch.delenv(ENV_KEY, raising=False)
    monkeypatch.setenv(ENV_KEY_FILE, str(key_file))
    new_id, done = rotate_key(root)
    assert set(done.values()) == {"re-signed"}
    lines = key_file.read_text().split()
    assert len(lines) == 2 and lines[1] == keys.signing.decode()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key_file.write_text(lines[0] + "\n")  # the old key dropped: still loads
    assert json.loads((resolve(root) / SIGNATURE_FILE).read_text())["key_id"] == new_id
    assert load_model(root).version


def test_unsigned_needs_trust_to_resign(tiny_models, tmp_path, keys):
    d = shutil.copytree(resolve(tiny_models), tmp_path / "v")
    (d / SIGNATURE_FILE).unlink()
    with pytest.raises(ArtifactError, match="resign --trust-unsigned") as err:
        load_model(d)
    assert err.value.code == "artifact_unsigned"
    with pytest.raises(ArtifactError):
        resign_version(d, keys)
    assert resign_version(d, keys, trust_unsigned=True) == "signed (trusted unsigned)"
    assert load_model(d).version
    (d / MODEL_FILE).write_bytes(b"changed")
    with pytest.raises(ArtifactError, match="artifact_tampered"):
        resign_version(d, keys, trust_unsigned=True)  # tampered is never re-signed


# ---------------------------------------------------------------- list / prune / clean
def _fake_versions(root: Path, names: list[str]) -> None:
    for name in names:
        shutil.copytree(resolve(root), root / name)


def test_prune_keeps_newest_and_current(tiny_models, tmp_path):
    root = copy_root(tiny_models, tmp_path / "m")
    current = resolve(root).name
    _fake_versions(root, ["00000000T000000Z-old1", "99990101T000000Z-new1", "99990102T00Z-new2"])
    assert prune_versions(root, keep=1, dry_run=True) == [
        "00000000T000000Z-old1",
        "99990101T000000Z-new1",
    ]
    removed = prune_versions(root, keep=1)
    assert current not in removed
    assert set(list_versions(root)) == {current, "99990102T00Z-new2"}
    assert prune_versions(root, keep=0) == ["99990102T00Z-new2"]
    assert list_versions(root) == [current] and load_model(root).version == current
    rows = describe_versions(root)
    assert rows == [{**rows[0], "version": current, "current": True, "signature": "ok"}]


def test_older_format_versions_are_listed_refused_and_prunable(tiny_models, tmp_path):
    root = copy_root(tiny_models, tmp_path / "m")
    old = root / "00000000T000000Z-v3"
    old.mkdir()
    (old / "model.joblib").write_bytes(b"a format-3 pickle")
    (old / METADATA_FILE).write_text(json.dumps({"format_version": 3}))
    rows = {r["version"]: r["signature"] for r in describe_versions(root)}
    assert rows[old.name] == "artifact_incompatible" and rows[resolve(root).name] == "ok"
    assert prune_versions(root, keep=0) == [old.name] and not old.exists()


def test_clean_temp_removes_only_stale_orphans(tiny_models, tmp_path):
    root = copy_root(tiny_models, tmp_path / "m")
    stale, fresh, alive = (root / n for n in (".tmp-v1-999999999", ".tmp-v2-1", ".tmp-v3-1"))
    for d in (stale, fresh, alive):
        d.mkdir()
    alive = alive.rename(root / f".tmp-v3-{os.getpid()}")  # a writer still running
    old = time.time() - 7200
    os.utime(stale, (old, old))
    os.utime(alive, (old, old))
    assert clean_temp(root) == [stale.name]
    assert fresh.exists() and alive.exists() and (root / CURRENT).exists()


def test_cli_models_list_and_prune(tiny_models, tmp_path):
    from typer.testing import CliRunner

    from recommender.cli import app

    root = copy_root(tiny_models, tmp_path / "m")
    _fake_versions(root, ["00000000T000000Z-old1"])
    (root / "00000000T000000Z-old1" / SIGNATURE_FILE).unlink()
    runner = CliRunner()
    out = runner.invoke(app, ["models", "list", "--model", str(root)])
    assert out.exit_code == 0, out.output
    assert "artifact_unsigned" in out.output and "current" in out.output
    out = runner.invoke(app, ["models", "prune", "--model", str(root), "--keep", "0"])
    assert out.exit_code == 0, out.output
    assert list_versions(root) == [resolve(root).name]
