"""Housekeeping of a models root: list versions with their signature check, prune old ones,
re-sign after a key rotation, upgrade format-4 versions (a signed pickle) to format 5.
Only :func:`upgrade_version` ever unpickles, and only after the HMAC of format 4 checked out.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from recommender.lifecycle import legacy
from recommender.lifecycle.artifacts import (
    DATA_FILES,
    FORMAT_VERSION,
    METADATA_FILE,
    TMP_PREFIX,
    UPGRADABLE_FORMAT,
    ArtifactError,
    clean_temp,
    current_version,
    fsync_dir,
    list_versions,
    pack,
    read_verified,
    signing_keys,
    smoke_check,
    trusted_keys,
    unpack,
    write_synced,
    write_version,
)
from recommender.lifecycle.signing import (
    SIGNATURE_FILE,
    SignatureError,
    Signer,
    TrustedKeys,
    add_trusted,
    private_key_file,
    sign,
    write_private_key,
)


def describe_versions(models_dir: str | Path, keys: TrustedKeys | None = None) -> list[dict]:
    """One row per version, oldest first: created, size, current?, signature check result."""
    root = Path(models_dir)
    current = current_version(root)
    if keys is None:
        try:
            keys = trusted_keys()
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
    version_dir: str | Path,
    signer: Signer,
    *,
    trusted: TrustedKeys | None = None,
    trust_unsigned: bool = False,
) -> str:
    """Re-sign one version with ``signer``; returns what was done. Decodes nothing.

    A version signed by a trusted (e.g. older) key is re-signed; an unsigned one only with
    ``trust_unsigned`` (the operator vouches for its origin); a tampered one never.
    """
    d = Path(version_dir)
    if trusted is None:
        try:
            trusted = trusted_keys()
        except ArtifactError:
            trusted = TrustedKeys.of(signer.public, source=signer.source)
    try:
        read_verified(d, trusted)
    except ArtifactError as exc:
        if not (exc.code == "artifact_unsigned" and trust_unsigned):
            raise
        status = "signed (trusted unsigned)"
    else:
        signed = json.loads((d / SIGNATURE_FILE).read_text(encoding="utf-8"))
        if signed.get("key_id") == signer.key_id:
            return "already signed with the current key"
        status = "re-signed"
    files = {name: (d / name).read_bytes() for name in DATA_FILES}
    tmp = d / f".{SIGNATURE_FILE}.{uuid.uuid4().hex[:6]}"
    write_synced(tmp, sign(files, d.name, signer))
    os.replace(tmp, d / SIGNATURE_FILE)
    fsync_dir(d)
    return status


def resign_all(
    models_dir: str | Path, signer: Signer, *, trust_unsigned: bool = False
) -> dict[str, str]:
    """:func:`resign_version` on every version; a refusal is reported as its error code."""
    root = Path(models_dir)
    done = {}
    for name in list_versions(root):
        try:
            done[name] = resign_version(root / name, signer, trust_unsigned=trust_unsigned)
        except ArtifactError as exc:
            done[name] = f"refused: {exc.code}"
    return done


def rotate_key(models_dir: str | Path, environ: dict[str, str] | None = None) -> tuple[str, dict]:
    """A new Ed25519 signing key (its public half trusted; the old public key stays trusted
    until removed from the trusted-keys file), then every version re-signed with it.

    Returns the new key id and what happened to each version. Replicas need the new public
    key (`recommender keys export-public` / `import-public`) before they load re-signed models.
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    old = signing_keys()  # the current key must be usable: its versions are verified
    add_trusted(old.public, environ)
    key = Ed25519PrivateKey.generate()
    add_trusted(key.public_key(), environ)
    write_private_key(private_key_file(environ), key, replace=True)
    signer = signing_keys()
    return signer.key_id, resign_all(models_dir, signer)


def upgrade_version(
    version_dir: str | Path,
    signer: Signer,
    *,
    legacy_keys: legacy.SigningKeys | None = None,
) -> str:
    """Convert a signed format-4 version (pickle) to format 5 in place; returns what was done.

    The format-4 HMAC is checked against ``legacy_keys`` (default: the old key settings)
    before a byte is unpickled; a tampered or unsigned version is refused (ArtifactError).
    The new files are written and signed in a private temporary folder, loaded back and
    smoke-tested, then swapped in under the same version name (``current`` keeps pointing).
    """
    d = Path(version_dir)
    meta = json.loads((d / METADATA_FILE).read_text(encoding="utf-8"))
    found = meta.get("format_version")
    if found == FORMAT_VERSION:
        return "already format 5"
    if found != UPGRADABLE_FORMAT:
        raise ArtifactError(
            f"{d}: 格式 {found!r} 无法升级，只能升级格式 {UPGRADABLE_FORMAT}；请重新训练"
            "（artifact_incompatible）",
            "artifact_incompatible",
        )
    model = _verified_legacy_model(d, legacy_keys)
    meta = {**meta, "format_version": FORMAT_VERSION, "upgraded_from_format": found}
    files = pack(model)
    files[METADATA_FILE] = json.dumps(meta, ensure_ascii=False, indent=2, default=str).encode()
    tmp = d.parent / f"{TMP_PREFIX}upgrade-{d.name}-{os.getpid()}"
    old = d.parent / f"{TMP_PREFIX}format4-{d.name}-{os.getpid()}"
    try:
        write_version(tmp, files, d.name, signer)
        trusted = TrustedKeys.of(signer.public, source=signer.source)
        meta_check, new_files = read_verified(tmp, trusted, version=d.name)
        smoke_check(_with_meta(unpack(new_files), meta_check))
        os.replace(d, old)
        os.replace(tmp, d)
        fsync_dir(d.parent)
    finally:
        for leftover in (tmp, old):
            if leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)
    return "upgraded 4 → 5"


def _with_meta(model, meta: dict):
    model.metadata = meta
    return model


def _verified_legacy_model(d: Path, keys: legacy.SigningKeys | None) -> object:
    from recommender.ranking.model import RecommenderModel

    files = {name: (d / name).read_bytes() for name in legacy.LEGACY_FILES}
    try:
        sig = (d / SIGNATURE_FILE).read_bytes()
    except FileNotFoundError:
        sig = None
    try:
        legacy.verify(files, sig, keys if keys is not None else legacy.SigningKeys.from_env())
    except SignatureError as exc:
        raise ArtifactError(f"{d}: {exc}", exc.code) from None
    try:
        model = legacy.unpack_verified(files)
    except Exception as exc:
        raise ArtifactError(f"{d}: 格式 4 模型无法读取（{exc}）", "artifact_corrupt") from exc
    if not isinstance(model, RecommenderModel):
        raise ArtifactError(f"{d}: 不是模型（{type(model).__name__}）", "artifact_corrupt")
    return model


def upgrade_all(models_dir: str | Path, signer: Signer) -> dict[str, str]:
    """:func:`upgrade_version` on every version; a refusal is reported as its error code."""
    root = Path(models_dir)
    done = {}
    for name in list_versions(root):
        try:
            done[name] = upgrade_version(root / name, signer)
        except ArtifactError as exc:
            done[name] = f"refused: {exc.code}"
    return done
