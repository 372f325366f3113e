"""Artifacts: atomic signed versions with no pickle in them, publish only good models, refuse
corrupt, unsigned, renamed or tampered ones, Ed25519 keys (private where models are trained,
public on replicas), upgrade of format-4 versions, list/prune/re-sign a models root."""

from __future__ import annotations

import base64
import json
import os
import pickle
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from recommender.lifecycle import legacy
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
    ENV_PRIVATE_KEY_FILE,
    ENV_TRUSTED_KEYS,
    ENV_TRUSTED_KEYS_FILE,
    SIGNATURE_FILE,
    Signer,
    public_text,
    sign,
)
from recommender.lifecycle.versions import (
    describe_versions,
    prune_versions,
    resign_version,
    rotate_key,
    upgrade_version,
)

ROOT = Path(__file__).resolve().parents[1]
FILES = DATA_FILES
CADRE_X = ("--cadre", "X")


class Evil:
    """A pickle that, when loaded, writes a marker file: proof that its code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (
            exec,
            (f"import pathlib; pathlib.Path({self.marker!r}).write_text('pwned')",),
        )


def copy_root(tiny_models: Path, dest: Path) -> Path:
    shutil.copytree(tiny_models, dest, symlinks=True)
    return dest


def copy_version(tiny_models: Path, tmp_path: Path) -> Path:
    """A copy of the published version under its own name (the signature binds the name)."""
    src = resolve(tiny_models)
    return shutil.copytree(src, tmp_path / "copy" / src.name)


def evil_version(root: Path, name: str, marker: Path) -> Path:
    """A copy of the published version (renamed) whose model.json is a malicious pickle."""
    bad = root / name
    shutil.copytree(resolve(root), bad)
    (bad / MODEL_FILE).write_bytes(pickle.dumps(Evil(marker)))
    return bad


def resign_with(d: Path, signer: Signer, version: str | None = None) -> None:
    files = {n: (d / n).read_bytes() for n in FILES}
    (d / SIGNATURE_FILE).write_bytes(sign(files, version or d.name, signer))


def attacker() -> Signer:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Signer(Ed25519PrivateKey.generate(), "attacker")


@pytest.fixture
def keys() -> Signer:
    """The key the session's tiny model was signed with (the test account's private key)."""
    return signing_keys()


@pytest.fixture
def replica(tmp_path, monkeypatch, keys) -> Path:
    """This process as a replica: no private key, only the trained models' public key."""
    trusted = tmp_path / "replica" / "trusted_keys"
    trusted.parent.mkdir()
    trusted.write_text(public_text(keys.public) + "\n")
    monkeypatch.setenv(ENV_PRIVATE_KEY_FILE, str(tmp_path / "replica" / "no-private-key"))
    monkeypatch.setenv(ENV_TRUSTED_KEYS_FILE, str(trusted))
    monkeypatch.delenv(ENV_TRUSTED_KEYS, raising=False)
    return trusted


# ---------------------------------------------------------------- basics
def test_published_model_loads_with_metadata(tiny_models):
    model = load_model(tiny_models)
    meta = read_metadata(tiny_models)
    assert model.version == meta["model_version"] == resolve(tiny_models).name
    assert meta["format_version"] == FORMAT_VERSION == 5
    for name in ("courses", "cadres", "completions"):
        assert len(meta["data"][name]["sha256"]) == 64
    assert "validation" in meta["evaluation"]
    assert (tiny_models / "current").is_symlink()
    sig = json.loads((resolve(tiny_models) / SIGNATURE_FILE).read_text())
    assert sig["algorithm"] == "ed25519" and set(sig["files"]) == set(FILES)
    assert sig["version"] == model.version


def test_no_file_of_a_version_is_a_pickle(tiny_models):
    """Issue 20: 0 artifact files that a pickle loader would accept."""
    d = resolve(tiny_models)
    names = sorted(p.name for p in d.iterdir())
    assert names == sorted([*FILES, SIGNATURE_FILE])
    for name in names:
        with pytest.raises(pickle.UnpicklingError):
            pickle.loads((d / name).read_bytes())
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert {stat.S_IMODE((d / n).stat().st_mode) for n in names} == {0o600}


def test_arrays_file_is_a_real_safetensors_file(tiny_models):
    from safetensors.numpy import load as st_load

    from recommender.lifecycle.tensors import loads

    raw = (resolve(tiny_models) / ARRAYS_FILE).read_bytes()
    ours, _ = loads(raw)
    theirs = st_load(raw)
    assert set(ours) == set(theirs) and len(ours) > 10
    for name, a in ours.items():
        np.testing.assert_array_equal(a, theirs[name])


def test_corrupt_model_is_refused(tiny_models, tmp_path):
    root = copy_root(tiny_models, tmp_path / "m")
    good = resolve(root)
    bad = root / "20990101T000000Z-bad0"
    shutil.copytree(good, bad)
    (bad / MODEL_FILE).write_bytes(b"not a model at all")
    with pytest.raises(ArtifactError, match=re.escape(MODEL_FILE)) as err:
        load_model(bad)
    assert err.value.code == "artifact_tampered"
    # current still points at the good one
    assert (
        load_model(root).version
        == json.loads((good / "metadata.json").read_text())["model_version"]
    )


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        b'{"$t": "obj", "cls": "os.system", "state": {}}',
        b'{"$t": "obj", "cls": "builtins.exec", "state": {}}',
        b'{"$t": "obj", "cls": "recommender.lifecycle.artifacts.shutil", "state": {}}',
        b'{"$t": "obj", "cls": "recommender.lifecycle.artifacts.Path", "state": {}}',
        b'{"$t": "class", "v": "subprocess.Popen"}',
        b'{"$t": "obj", "cls": "recommender.__main__.main", "state": {}}',
        b'{"$t": "obj", "cls": "recommender.cli.app", "state": {}}',
        b'{"$t": "enum", "cls": "recommender.lifecycle.artifacts.ArtifactError", "v": 1}',
        b'{"$t": "nd", "name": "no-such-array"}',
        b'{"$t": "pickle", "v": "gASV"}',
    ],
)
def test_corrupt_but_signed_model_is_refused(tiny_models, tmp_path, keys, body):
    """Even signed, a document naming anything but the package's own classes loads nothing."""
    bad = copy_version(tiny_models, tmp_path)
    (bad / MODEL_FILE).write_bytes(body)
    resign_with(bad, keys)
    with pytest.raises(ArtifactError, match="cannot be loaded") as err:
        load_model(bad)
    assert err.value.code == "artifact_corrupt"


def test_incompatible_format_is_refused(tiny_models, tmp_path):
    root = copy_version(tiny_models, tmp_path)
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
    assert data.flags.writeable and not data.flags.owndata  # a view of the file's bytes
    assert (resolve(tiny_models) / ARRAYS_FILE).stat().st_size > data.nbytes
    cadre = str(tiny_model.cadres["cadre_id"].iloc[0])
    got, want = model.recommend(cadre, k=10), tiny_model.recommend(cadre, k=10)
    assert [r.course_id for r in got] == [r.course_id for r in want]
    np.testing.assert_allclose([r.score for r in got], [r.score for r in want], rtol=1e-6)


def test_dump_load_gives_identical_scores_on_the_sample_model(sample_model, tmp_path):
    """The whole object graph round-trips: same frames, same lists and scores, same menus."""
    final = save_model(sample_model, tmp_path / "models", {"model_version": "v-sample"})
    again = load_model(final)
    assert again.courses.equals(sample_model.courses) and again.cadres.equals(sample_model.cadres)
    assert (again.history_ != sample_model.history_).nnz == 0
    for cadre in list(sample_model.cadres["cadre_id"].astype(str))[:40:4]:
        got, want = again.recommend(cadre, k=10), sample_model.recommend(cadre, k=10)
        assert [r.course_id for r in got] == [r.course_id for r in want]
        assert [r.score for r in got] == [r.score for r in want]
        assert [r.reasons for r in got] == [r.reasons for r in want]
    profile = {
        "job_title": "乡镇干部",
        "job_description": "负责乡村振兴、基层治理和应急管理",
    }
    got = again.recommend_profile(profile, k=10)
    want = sample_model.recommend_profile(profile, k=10)
    assert [(r.course_id, r.score) for r in got] == [(r.course_id, r.score) for r in want]


# ---------------------------------------------------------------- every file signed
@pytest.mark.parametrize(
    ("name", "change"),
    [*((n, "append") for n in DATA_FILES), (ARRAYS_FILE, "flip"), (MODEL_FILE, "flip")],
)
def test_a_changed_byte_in_any_file_is_refused(tiny_models, tmp_path, name, change):
    d = copy_version(tiny_models, tmp_path)
    raw = bytearray((d / name).read_bytes())
    if change == "append":
        raw += b" "  # JSON stays valid JSON: only the signature can tell
    else:
        raw[len(raw) // 2] ^= 0x01
    (d / name).write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match=re.escape(name)) as err:
        load_model(d)
    assert err.value.code == "artifact_tampered"


@pytest.mark.parametrize("name", [ARRAYS_FILE, MODEL_FILE])
def test_a_missing_file_is_refused(tiny_models, tmp_path, name):
    d = copy_version(tiny_models, tmp_path)
    (d / name).unlink()
    with pytest.raises(ArtifactError, match=re.escape(name)) as err:
        load_model(d)
    assert err.value.code == "artifact_missing"


@pytest.mark.parametrize("name", [MODEL_FILE, ARRAYS_FILE, SIGNATURE_FILE])
def test_a_fifo_or_symlink_named_like_an_artifact_file_is_refused_at_once(
    tiny_models, tmp_path, name
):
    d = copy_version(tiny_models, tmp_path)
    (d / name).unlink()
    os.mkfifo(d / name)
    errors: list[ArtifactError] = []
    t = threading.Thread(target=_load_into, args=(d, errors), daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "load_model hung on a FIFO"
    assert [e.code for e in errors] == ["artifact_unsafe_file"]
    (d / name).unlink()
    (d / name).symlink_to(resolve(tiny_models) / name)
    with pytest.raises(ArtifactError, match="符号链接") as err:
        load_model(d)
    assert err.value.code == "artifact_unsafe_file"


def _load_into(d: Path, errors: list) -> None:
    try:
        load_model(d)
    except ArtifactError as exc:
        errors.append(exc)


def test_a_signature_must_cover_the_arrays(tiny_models, tmp_path, keys):
    """A valid signature over model.json + metadata.json only (the arrays left out) is
    refused, so the arrays can never be swapped under a signature that does not name them."""
    d = copy_version(tiny_models, tmp_path)
    partial = {n: (d / n).read_bytes() for n in (MODEL_FILE, METADATA_FILE)}
    (d / SIGNATURE_FILE).write_bytes(sign(partial, d.name, keys))
    with pytest.raises(ArtifactError, match=re.escape(ARRAYS_FILE)) as err:
        load_model(d)
    assert err.value.code == "artifact_tampered"
    resign_with(d, keys)  # control: the same files signed whole load
    assert load_model(d).version


def test_a_renamed_version_is_refused(tiny_models, tmp_path):
    """The signature binds the version name: an old version copied under a newer name (to be
    picked as current, or to roll a fix back) is refused."""
    root = copy_root(tiny_models, tmp_path / "m")
    shutil.copytree(resolve(root), root / "29990101T000000Z-aaaa")
    publish_version(root, "29990101T000000Z-aaaa")
    with pytest.raises(ArtifactError, match="版本名与签名不符") as err:
        load_model(root)
    assert err.value.code == "artifact_version_mismatch"


def test_arrays_header_out_of_bounds_is_corrupt_not_a_crash(tiny_models, tmp_path, keys):
    d = copy_version(tiny_models, tmp_path)
    header = json.dumps({"x": {"dtype": "F64", "shape": [10**8], "data_offsets": [0, 8 * 10**8]}})
    (d / ARRAYS_FILE).write_bytes(len(header).to_bytes(8, "little") + header.encode())
    resign_with(d, keys)
    with pytest.raises(ArtifactError, match="outside the data") as err:
        load_model(d)
    assert err.value.code == "artifact_corrupt"


# ---------------------------------------------------------------- no code runs
def test_a_signed_malicious_pickle_runs_nothing(tiny_models, tmp_path, keys):
    """Format 4 would have run this once signed; format 5 never unpickles: signed or not,
    the payload is data that does not parse."""
    marker = tmp_path / "pwned"
    root = copy_root(tiny_models, tmp_path / "m")
    bad = evil_version(root, resolve(root).name + "x", marker)
    resign_with(bad, keys)
    with pytest.raises(ArtifactError) as err:
        load_model(bad)
    assert err.value.code == "artifact_corrupt" and not marker.exists()


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
def test_malicious_model_is_refused_before_decoding(tiny_models, tmp_path, how, code, keys):
    marker = tmp_path / "pwned"
    root = copy_root(tiny_models, tmp_path / "m")
    name = "evil"
    bad = evil_version(root, name, marker)
    if how == "swapped":
        resign_with(bad, keys, version=name)
        (bad / MODEL_FILE).write_bytes(pickle.dumps(Evil(marker)) + b" ")
    elif how == "unsigned":
        (bad / SIGNATURE_FILE).unlink()
    elif how == "wrong-key":
        resign_with(bad, attacker())
    elif how == "forged-digests":  # digests of the evil file, the old (valid) signature kept
        sig = json.loads((bad / SIGNATURE_FILE).read_text())
        forged = sign({n: (bad / n).read_bytes() for n in FILES}, name, attacker())
        sig["files"], sig["version"] = json.loads(forged)["files"], name
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


def test_cli_refuses_tampered_model(tiny_models, tmp_path):
    marker = tmp_path / "pwned"
    bad = evil_version(copy_root(tiny_models, tmp_path / "m"), "evil", marker)
    for target in (bad, bad.parent):
        if target == bad.parent:
            publish_version(bad.parent, "evil")
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "recommender",
                "recommend",
                "--model",
                str(target),
                *CADRE_X,
            ],
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 1, proc.stderr
        assert "artifact_tampered" in proc.stderr and "Traceback" not in proc.stderr
        assert "拒绝加载" in proc.stderr
    assert not marker.exists()


def test_service_reload_refuses_tampered_model(tiny_models, tiny_model, tmp_path):
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
def test_first_save_creates_private_key_and_trusts_it(tiny_model, tmp_path, monkeypatch):
    key_file, trusted = (
        tmp_path / "cfg" / "signing.ed25519",
        tmp_path / "cfg" / "trusted",
    )
    monkeypatch.setenv(ENV_PRIVATE_KEY_FILE, str(key_file))
    monkeypatch.setenv(ENV_TRUSTED_KEYS_FILE, str(trusted))
    final = save_model(tiny_model, tmp_path / "models", dict(tiny_model.metadata))
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    signer = signing_keys()
    assert public_text(signer.public) in trusted.read_text()
    assert json.loads((final / SIGNATURE_FILE).read_text())["key_id"] == signer.key_id
    assert load_model(tmp_path / "models").version == final.name
    # elsewhere, with neither that private key nor its public key: refused
    monkeypatch.setenv(ENV_PRIVATE_KEY_FILE, str(tmp_path / "elsewhere.key"))
    monkeypatch.setenv(ENV_TRUSTED_KEYS_FILE, str(tmp_path / "elsewhere.trusted"))
    with pytest.raises(ArtifactError) as err:
        load_model(final)
    assert err.value.code == "signing_key_missing" and "import-public" in str(err.value)


def test_a_replica_verifies_with_the_public_key_only(tiny_models, replica, keys, tmp_path):
    assert load_model(tiny_models).version  # no private key here
    with pytest.raises(ArtifactError) as err:
        signing_keys()  # … so nothing can be signed here
    assert err.value.code == "signing_key_missing"
    replica.write_text(public_text(attacker().public) + "\n")
    with pytest.raises(ArtifactError) as err:
        load_model(tiny_models)
    assert err.value.code == "artifact_unknown_key"
    os.chmod(replica, 0o666)  # anyone could add their key: the file is refused
    with pytest.raises(ArtifactError) as err:
        load_model(tiny_models)
    assert err.value.code == "trusted_keys_writable"


def test_a_private_key_readable_by_others_is_refused(tmp_path, monkeypatch, keys):
    key_file = tmp_path / "k"
    shutil.copyfile(keys.source, key_file)
    monkeypatch.setenv(ENV_PRIVATE_KEY_FILE, str(key_file))
    for mode in (0o640, 0o604, 0o644):
        os.chmod(key_file, mode)
        with pytest.raises(ArtifactError, match="chmod 600") as err:
            signing_keys()
        assert err.value.code == "signing_key_exposed"
    os.chmod(key_file, 0o600)
    assert signing_keys().key_id == keys.key_id


def test_cli_exports_and_imports_the_public_key(tiny_models, keys, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from recommender.cli import app

    runner = CliRunner()
    out = runner.invoke(app, ["keys", "export-public"])
    assert out.exit_code == 0, out.output
    line = out.output.strip().splitlines()[0]
    assert line == public_text(keys.public)
    trusted = tmp_path / "replica" / "trusted_keys"
    monkeypatch.setenv(ENV_PRIVATE_KEY_FILE, str(tmp_path / "replica" / "none"))
    monkeypatch.setenv(ENV_TRUSTED_KEYS_FILE, str(trusted))
    with pytest.raises(ArtifactError, match="signing_key_missing"):
        load_model(tiny_models)
    out = runner.invoke(app, ["keys", "import-public", line])
    assert out.exit_code == 0, out.output
    assert keys.key_id in out.output
    assert load_model(tiny_models).version
    out = runner.invoke(app, ["keys", "import-public", "ed25519:not-a-key"])
    assert out.exit_code != 0 and "signing_key_invalid" in str(out.output) + str(out.exception)


def test_rotate_key_resigns_every_version(tiny_models, tmp_path, monkeypatch, keys):
    root = copy_root(tiny_models, tmp_path / "m")
    key_file, trusted = tmp_path / "k", tmp_path / "trusted"
    shutil.copyfile(keys.source, key_file)
    os.chmod(key_file, 0o600)
    monkeypatch.setenv(ENV_PRIVATE_KEY_FILE, str(key_file))
    monkeypatch.setenv(ENV_TRUSTED_KEYS_FILE, str(trusted))
    new_id, done = rotate_key(root)
    assert set(done.values()) == {"re-signed"} and new_id != keys.key_id
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert public_text(keys.public) in trusted.read_text()  # the old key still verifies
    assert json.loads((resolve(root) / SIGNATURE_FILE).read_text())["key_id"] == new_id
    assert load_model(root).version


def test_unsigned_needs_trust_to_resign(tiny_models, tmp_path, keys):
    d = copy_version(tiny_models, tmp_path)
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


# ---------------------------------------------------------------- format 4 → 5
HMAC_KEY = "a-format-4-hmac-key-0123456789"


def format4_version(root: Path, name: str, model, payload: bytes | None = None) -> Path:
    """A format-4 version as the previous release wrote it (a pickle, HMAC-signed)."""
    d = root / name
    d.mkdir(parents=True)
    files = legacy.pack(model)
    if payload is not None:
        files[legacy.PICKLE_FILE] = payload
    meta = {**model.metadata, "format_version": 4, "model_version": name}
    files[METADATA_FILE] = json.dumps(meta, ensure_ascii=False, default=str).encode()
    for n, data in files.items():
        (d / n).write_bytes(data)
    (d / SIGNATURE_FILE).write_bytes(legacy.sign(files, HMAC_KEY.encode()))
    return d


def test_upgrade_converts_a_signed_format4_version(tiny_model, tmp_path, monkeypatch, keys):
    monkeypatch.setenv(legacy.ENV_KEY, HMAC_KEY)
    root = tmp_path / "m"
    d = format4_version(root, "20260101T000000Z-old4", tiny_model)
    publish_version(root, d.name)
    with pytest.raises(ArtifactError, match="models upgrade") as err:
        load_model(root)
    assert err.value.code == "artifact_needs_upgrade"
    assert upgrade_version(d, keys) == "upgraded 4 → 5"
    assert sorted(p.name for p in d.iterdir()) == sorted([*FILES, SIGNATURE_FILE])
    again = load_model(root)
    assert again.version == d.name and read_metadata(root)["upgraded_from_format"] == 4
    cadre = str(tiny_model.cadres["cadre_id"].iloc[0])
    got, want = again.recommend(cadre, k=10), tiny_model.recommend(cadre, k=10)
    assert [(r.course_id, r.score) for r in got] == [(r.course_id, r.score) for r in want]
    assert upgrade_version(d, keys) == "already format 5"
    assert [p.name for p in root.iterdir() if p.name.startswith(".tmp")] == []


@pytest.mark.parametrize("how", ["tampered", "wrong-key", "unsigned"])
def test_upgrade_refuses_an_unverified_format4_version(
    tiny_model, tmp_path, monkeypatch, keys, how
):
    monkeypatch.setenv(legacy.ENV_KEY, HMAC_KEY)
    marker = tmp_path / "pwned"
    d = format4_version(tmp_path / "m", "20260101T000000Z-evil", tiny_model)
    if how == "tampered":
        (d / legacy.PICKLE_FILE).write_bytes(pickle.dumps(Evil(marker)))
    elif how == "wrong-key":
        d = format4_version(
            tmp_path / "m2",
            "20260101T000000Z-evil",
            tiny_model,
            pickle.dumps(Evil(marker)),
        )
        monkeypatch.setenv(legacy.ENV_KEY, "another-format-4-key-0123456789")
    else:
        (d / SIGNATURE_FILE).unlink()
    with pytest.raises(ArtifactError) as err:
        upgrade_version(d, keys)
    assert err.value.code in {
        "artifact_tampered",
        "artifact_unknown_key",
        "artifact_unsigned",
    }
    assert not marker.exists()
    assert json.loads((d / METADATA_FILE).read_text())["format_version"] == 4


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


def test_cli_models_upgrade(tiny_model, tmp_path, monkeypatch, keys):
    from typer.testing import CliRunner

    from recommender.cli import app

    monkeypatch.setenv(legacy.ENV_KEY, HMAC_KEY)
    root = tmp_path / "m"
    good = format4_version(root, "20260101T000000Z-good", tiny_model)
    bad = format4_version(root, "20260102T000000Z-bad0", tiny_model)
    (bad / legacy.PICKLE_FILE).write_bytes(b"changed after signing")
    publish_version(root, good.name)
    out = CliRunner().invoke(app, ["models", "upgrade", "--model", str(root)])
    assert out.exit_code == 1
    assert f"{good.name}: upgraded 4 → 5" in out.output
    assert f"{bad.name}: refused: artifact_tampered" in out.output
    assert load_model(root).version == good.name
    assert json.loads((bad / METADATA_FILE).read_text())["format_version"] == 4


def test_memory_mapped_arrays_give_the_same_answers(tiny_models, tiny_model):
    """``mmap=True``: the arrays are read-only views of the shared mapping, same answers."""
    model = load_model(tiny_models, mmap=True)
    data = model.history_.data
    assert not data.flags.writeable and not data.flags.owndata
    for cadre in list(tiny_model.cadres["cadre_id"].astype(str))[:5]:
        got, want = model.recommend(cadre, k=10), tiny_model.recommend(cadre, k=10)
        assert [(r.course_id, r.score) for r in got] == [(r.course_id, r.score) for r in want]
    profile = {"job_title": "乡镇干部", "job_description": "负责乡村振兴和基层治理"}
    got = model.recommend_profile(profile, k=10)
    want = tiny_model.recommend_profile(profile, k=10)
    assert [(r.course_id, r.score) for r in got] == [(r.course_id, r.score) for r in want]


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {"algorithm": "ed25519"},
        {"algorithm": "ed25519", "files": [], "version": "v", "signature": "AA=="},
        {"algorithm": "hmac-sha256", "files": {}, "version": "v", "signature": "AA=="},
        {"algorithm": "ed25519", "files": {}, "version": "v", "signature": "not base64!"},
        "KEYID",  # replaced below by a signature whose key_id is a list
    ],
)
def test_malformed_signature_documents_are_refused_not_crashes(tiny_models, tmp_path, keys, doc):
    d = copy_version(tiny_models, tmp_path)
    if doc == "KEYID":
        doc = json.loads((d / SIGNATURE_FILE).read_text())
        doc["key_id"] = ["not", "a", "string"]
        doc["signature"] = base64.b64encode(b"\0" * 64).decode()
    (d / SIGNATURE_FILE).write_text(json.dumps(doc))
    with pytest.raises(ArtifactError) as err:
        load_model(d)
    assert err.value.code in {
        "artifact_signature_invalid",
        "artifact_tampered",
        "artifact_unknown_key",
    }
