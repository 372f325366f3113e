"""Housekeeping of a models root: list versions with their signature check, prune old ones,
re-sign after a key rotation. Nothing here unpickles a model.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import uuid
from pathlib import Path

from recommender.lifecycle.artifacts import (
    DATA_FILES,
    METADATA_FILE,
    TMP_PREFIX,
    ArtifactError,
    clean_temp,
    current_version,
    fsync_dir,
    list_versions,
    read_verified,
    signing_keys,
    write_synced,
)
from recommender.lifecycle.signing import (
    ENV_KEY,
    ENV_OLD_KEYS,
    SIGNATURE_FILE,
    SignatureError,
    SigningKeys,
    create_key_file,
    default_key_file,
    key_id,
    read_key_file,
    sign,
)


def describe_versions(models_dir: str | Path, keys: SigningKeys | None = None) -> list[dict]:
    """One row per version, oldest first: created, size, current?, signature check result."""
    root = Path(models_dir)
    current = current_version(root)
    if keys is None:
        try:
            keys = signing_keys()
        except ArtifactError as exc:
            keys, key_problem = None, exc.code
    rows = []
    for name in list_versions(root):
        d = root / name
        try:
            meta = json.loads((d / METADATA_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
        if keys is None:
            status = key_problem
        else:
            try:
                read_verified(d, keys)
                status = "ok"
            except ArtifactError as exc:
                status = exc.code
        rows.append(
            {
                "version": name,
                "current": name == current,
                "created_at": meta.get("created_at", ""),
                "size_mb": round(sum(f.stat().st_size for f in d.iterdir()) / 2**20, 2),
                "signature": status,
            }
        )
    return rows


def prune_versions(models_dir: str | Path, keep: int, *, dry_run: bool = False) -> list[str]:
    """Delete all but the newest ``keep`` versions; ``current`` is never deleted."""
    if keep < 0:
        raise ValueError("keep must be >= 0")
    root = Path(models_dir)
    current = current_version(root)
    versions = list_versions(root)
    kept = set(versions[len(versions) - keep :] if keep else []) | {current}
    doomed = [v for v in versions if v not in kept]
    if dry_run:
        return doomed
    for name in doomed:  # rename first: a half-deleted folder never looks like a version
        trash = root / f"{TMP_PREFIX}pruned-{name}-{os.getpid()}"
        os.replace(root / name, trash)
        shutil.rmtree(trash, ignore_errors=True)
    if doomed:
        fsync_dir(root)
    clean_temp(root)
    return doomed


def resign_version(
    version_dir: str | Path, keys: SigningKeys, *, trust_unsigned: bool = False
) -> str:
    """Re-sign one version with ``keys.signing``; returns what was done. Never unpickles.

    A version signed by an accepted (e.g. older) key is re-signed; an unsigned one only with
    ``trust_unsigned`` (the operator vouches for its origin); a tampered one never.
    """
    d = Path(version_dir)
    try:
        read_verified(d, keys)
    except ArtifactError as exc:
        if not (exc.code == "artifact_unsigned" and trust_unsigned):
            raise
        status = "signed (trusted unsigned)"
    else:
        signed = json.loads((d / SIGNATURE_FILE).read_text(encoding="utf-8"))
        if signed.get("key_id") == key_id(keys.signing):
            return "already signed with the current key"
        status = "re-signed"
    files = {name: (d / name).read_bytes() for name in DATA_FILES}
    tmp = d / f".{SIGNATURE_FILE}.{uuid.uuid4().hex[:6]}"
    write_synced(tmp, sign(files, keys.signing))
    os.replace(tmp, d / SIGNATURE_FILE)
    fsync_dir(d)
    return status


def resign_all(
    models_dir: str | Path, keys: SigningKeys, *, trust_unsigned: bool = False
) -> dict[str, str]:
    """:func:`resign_version` on every version; a refusal is reported as its error code."""
    root = Path(models_dir)
    done = {}
    for name in list_versions(root):
        try:
            done[name] = resign_version(root / name, keys, trust_unsigned=trust_unsigned)
        except ArtifactError as exc:
            done[name] = f"refused: {exc.code}"
    return done


def rotate_key(models_dir: str | Path, environ: dict[str, str] | None = None) -> tuple[str, dict]:
    """New signing key first in the key file (old ones kept, still accepted), then re-sign.

    Only for a key file: a key given in ``XUANXUE_SIGNING_KEY`` is rotated by whoever sets it.
    Returns the new key id and what happened to each version.
    """
    env = dict(os.environ if environ is None else environ)
    if env.get(ENV_KEY, "").strip():
        raise ArtifactError(
            f"签名密钥来自环境变量 {ENV_KEY}，无法自动轮换（key_from_env）：请设置新密钥，"
            f"把旧密钥放入 {ENV_OLD_KEYS}，再运行 `recommender models resign --all`",
            "key_from_env",
        )
    path = default_key_file(env)
    try:
        old = [k.decode() for k in read_key_file(path)] if path.exists() else []
    except SignatureError as exc:
        raise ArtifactError(str(exc), exc.code) from None
    new = secrets.token_hex(32)
    create_key_file(path, [new, *old])
    keys = signing_keys()
    return key_id(new.encode()), resign_all(models_dir, keys)
