"""Versioned model artifacts: ``MODELS/<version>/{model.pkl,arrays.bin,metadata.json,model.sig}``.

A version is written to a temporary directory (files and directory fsynced), signed
(:mod:`recommender.lifecycle.signing`), renamed into place, loaded back and smoke-tested, and
only then is ``current`` switched (an atomic symlink rename). A crash at any point leaves the
previously published model untouched. :func:`load_model` reads the files once, checks the
signature against those bytes and only then unpickles them: a tampered or unsigned file is
refused before any code in it can run.

``model.pkl`` is a pickle (protocol 5) whose arrays are stored out of band in ``arrays.bin``
(a JSON table of offsets, then the raw buffers, 64-byte aligned). Loading makes the arrays
views of the verified bytes: no per-element work and no copy, so a reload under load holds
the GIL for milliseconds, not seconds (``python -m benchmarks.bench_reload``). The arrays are
read into memory rather than memory-mapped because a mapped page would show a later write to
the file: the bytes used must be the bytes checked.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from recommender.lifecycle.signing import (
    SIGNATURE_FILE,
    SignatureError,
    SigningKeys,
    sign,
    verify,
)

if TYPE_CHECKING:  # pragma: no cover
    from recommender.ranking.model import RecommenderModel

log = logging.getLogger(__name__)

FORMAT_VERSION = 4
MODEL_FILE = "model.pkl"
ARRAYS_FILE = "arrays.bin"
METADATA_FILE = "metadata.json"
#: every file of a version the signature covers (and the loader reads)
DATA_FILES = (MODEL_FILE, ARRAYS_FILE, METADATA_FILE)
PICKLE_PROTOCOL = 5
ALIGN = 64
_TABLE_LEN = 8  # bytes of the little-endian length of the JSON table heading arrays.bin
CURRENT = "current"
TMP_PREFIX = ".tmp-"
#: unpublished temporary folders older than this (seconds) are removed by train and prune
TMP_MAX_AGE = 3600.0


class ArtifactError(Exception):
    """A model artifact is missing, corrupt, incompatible, unsigned or tampered.

    ``code`` is a stable English identifier for machines (``artifact_tampered`` …).
    """

    def __init__(self, message: str, code: str = "artifact_invalid") -> None:
        super().__init__(message)
        self.code = code


def new_version(now: datetime | None = None) -> str:
    """Sortable, unique version name such as ``20261127T021500Z-3fa2``."""
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:4]


def resolve(path: str | Path) -> Path:
    """The version directory behind ``path`` (a version dir, ``current``, or a models root)."""
    p = Path(path)
    if (p / MODEL_FILE).exists() or (p / METADATA_FILE).exists():
        return p.resolve()
    if (p / CURRENT).exists():
        return (p / CURRENT).resolve()
    raise ArtifactError(
        f"no model at {p}: expected {MODEL_FILE} there or a '{CURRENT}' link "
        "(train one with `recommender train --data DIR --out MODELS`)",
        "artifact_missing",
    )


def signing_keys(*, create: bool = False) -> SigningKeys:
    """The accepted signing keys from the environment (see :mod:`.signing`)."""
    try:
        return SigningKeys.from_env(create=create)
    except SignatureError as exc:
        raise ArtifactError(str(exc), exc.code) from None


def _read(d: Path, name: str) -> memoryview:
    """The whole file in one writable buffer: arrays unpickled from it are writable views.

    ``np.empty`` + ``readinto``: ``bytearray(n)`` would zero-fill (~0.2 s holding the GIL
    for 200 MB); the read itself runs without the GIL.
    """
    try:
        with open(d / name, "rb", buffering=0) as fh:
            buf = memoryview(np.empty(os.fstat(fh.fileno()).st_size, dtype=np.uint8))
            got = 0
            while got < len(buf) and (n := fh.readinto(buf[got:])):
                got += n
    except FileNotFoundError as exc:
        raise ArtifactError(f"{d}: {name} is missing", "artifact_missing") from exc
    except OSError as exc:
        raise ArtifactError(f"{d / name}: cannot be read ({exc.strerror})") from exc
    return buf[:got]


def _parse_metadata(d: Path, raw: bytes | memoryview) -> dict:
    try:
        meta = json.loads(bytes(raw).decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(
            f"{d / METADATA_FILE}: not valid JSON ({exc})", "artifact_corrupt"
        ) from exc
    found = meta.get("format_version") if isinstance(meta, dict) else None
    if found != FORMAT_VERSION:
        raise ArtifactError(
            f"{d}: artifact format_version {found!r} is not supported "
            f"(this library reads {FORMAT_VERSION}); retrain with this version",
            "artifact_incompatible",
        )
    return meta


def read_metadata(path: str | Path) -> dict:
    """The metadata.json of a version directory, checked for compatibility (not signature)."""
    d = resolve(path)
    return _parse_metadata(d, _read(d, METADATA_FILE))


def read_verified(
    path: str | Path, keys: SigningKeys | None = None
) -> tuple[dict, dict[str, memoryview]]:
    """Metadata and the bytes of every data file of a version, read once and checked against
    ``model.sig`` (which must cover exactly :data:`DATA_FILES`).

    Nothing is unpickled here; raises ArtifactError (with ``code``) when the check fails.
    """
    d = resolve(path)
    files = {METADATA_FILE: _read(d, METADATA_FILE)}
    meta = _parse_metadata(d, files[METADATA_FILE])
    files.update((name, _read(d, name)) for name in DATA_FILES if name != METADATA_FILE)
    try:
        sig = (d / SIGNATURE_FILE).read_bytes()
    except FileNotFoundError:
        sig = None
    try:
        verify(files, sig, keys if keys is not None else SigningKeys.from_env())
    except SignatureError as exc:
        raise ArtifactError(f"{d}: {exc}", exc.code) from None
    return meta, files


def pack(model: object) -> dict[str, bytes | bytearray]:
    """``model.pkl`` and ``arrays.bin`` of a model: its arrays out of band, 64-byte aligned."""
    buffers: list[pickle.PickleBuffer] = []
    skeleton = pickle.dumps(model, protocol=PICKLE_PROTOCOL, buffer_callback=buffers.append)
    raws = [b.raw() for b in buffers]
    table, offset = [], 0
    for raw in raws:
        table.append([offset, raw.nbytes])
        offset = _aligned(offset + raw.nbytes)
    head = json.dumps(table).encode()
    start = _aligned(_TABLE_LEN + len(head))
    out = bytearray(start + offset)
    out[:_TABLE_LEN] = len(head).to_bytes(_TABLE_LEN, "little")
    out[_TABLE_LEN : _TABLE_LEN + len(head)] = head
    for (at, size), raw in zip(table, raws, strict=True):
        out[start + at : start + at + size] = raw
    return {MODEL_FILE: skeleton, ARRAYS_FILE: out}


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _buffers(arrays: memoryview) -> list[memoryview]:
    """Views of the out-of-band buffers in ``arrays.bin`` (ValueError if the table is off)."""
    n = int.from_bytes(arrays[:_TABLE_LEN], "little")
    table = json.loads(bytes(arrays[_TABLE_LEN : _TABLE_LEN + n]))
    start, view = _aligned(_TABLE_LEN + n), memoryview(arrays)
    if any(not 0 <= start + at <= start + at + size <= len(arrays) for at, size in table):
        raise ValueError(f"{ARRAYS_FILE}: a buffer lies outside the file")
    return [view[start + at : start + at + size] for at, size in table]


def unpack(files: Mapping[str, memoryview]) -> object:
    """The object in ``model.pkl`` with its arrays as views of ``arrays.bin``.

    Runs the pickle: call it only on files whose signature has been checked.
    """
    return pickle.loads(files[MODEL_FILE], buffers=_buffers(files[ARRAYS_FILE]))


def load_model(path: str | Path, *, keys: SigningKeys | None = None) -> RecommenderModel:
    """Verify the signature, then load and check a model; ArtifactError says why it can't."""
    from recommender.ranking.model import RecommenderModel

    d = resolve(path)
    meta, files = read_verified(d, keys)
    try:  # the verified bytes themselves: a file swapped after the check is never read
        model = unpack(files)
    except Exception as exc:  # pickle raises many types on a corrupt file
        raise ArtifactError(
            f"{d / MODEL_FILE}: cannot be loaded ({type(exc).__name__}: {exc})",
            "artifact_corrupt",
        ) from exc
    if not isinstance(model, RecommenderModel):
        raise ArtifactError(
            f"{d / MODEL_FILE}: holds a {type(model).__name__}, not a model", "artifact_corrupt"
        )
    model.metadata = meta
    return model


def smoke_check(model: RecommenderModel) -> None:
    """Recommend for one cadre and one new profile; raise ArtifactError if that fails."""
    try:
        if len(model.cadres):
            model.recommend(str(model.cadres.iloc[0]["cadre_id"]), k=3)
        model.recommend_profile(
            {"job_title": "综合管理岗", "job_description": "从事综合协调工作"}, k=3
        )
    except Exception as exc:
        raise ArtifactError(
            f"smoke check failed: {type(exc).__name__}: {exc}", "artifact_smoke_failed"
        ) from exc


def write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable (POSIX; a no-op elsewhere)."""
    if os.name != "posix":  # pragma: no cover
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_model(
    model: RecommenderModel,
    models_dir: str | Path,
    metadata: dict,
    *,
    publish: bool = True,
    keys: SigningKeys | None = None,
) -> Path:
    """Write and sign a new version atomically, verify it loads, and (optionally) publish it.

    The key comes from :func:`signing_keys`; a key file is created (0600) when there is none.
    """
    keys = keys if keys is not None else signing_keys(create=True)
    root = Path(models_dir)
    root.mkdir(parents=True, exist_ok=True)
    clean_temp(root)
    version = metadata.get("model_version") or new_version()
    metadata = {**metadata, "format_version": FORMAT_VERSION, "model_version": version}
    model.metadata = metadata
    tmp = root / f"{TMP_PREFIX}{version}-{os.getpid()}"
    final = root / version
    try:
        tmp.mkdir()
        files = pack(model)
        files[METADATA_FILE] = json.dumps(
            metadata, ensure_ascii=False, indent=2, default=str
        ).encode("utf-8")
        for name, data in files.items():
            write_synced(tmp / name, data)
        write_synced(tmp / SIGNATURE_FILE, sign(files, keys.signing))
        del files
        fsync_dir(tmp)
        os.replace(tmp, final)
        fsync_dir(root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    smoke_check(load_model(final, keys=keys))
    if publish:
        publish_version(root, version)
    return final


def publish_version(models_dir: str | Path, version: str) -> None:
    """Point ``current`` at ``version`` with an atomic rename of a fresh symlink (fsynced)."""
    root = Path(models_dir)
    if not (root / version / MODEL_FILE).exists():
        raise ArtifactError(
            f"cannot publish {version}: {root / version / MODEL_FILE} is missing",
            "artifact_missing",
        )
    link = root / f".{CURRENT}-{uuid.uuid4().hex[:6]}"
    link.symlink_to(version, target_is_directory=True)
    os.replace(link, root / CURRENT)
    fsync_dir(root)
    log.info("published model %s", version)


def list_versions(models_dir: str | Path) -> list[str]:
    """Version directories of any format (so older ones can be listed and pruned), oldest first."""
    root = Path(models_dir)
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir()
        and (p / METADATA_FILE).exists()
        and not p.name.startswith(".")
        and p.name != CURRENT
    )


def current_version(models_dir: str | Path) -> str | None:
    """The version ``current`` points at, if any."""
    link = Path(models_dir) / CURRENT
    return link.resolve().name if link.exists() else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_temp(models_dir: str | Path, max_age: float = TMP_MAX_AGE) -> list[str]:
    """Remove unpublished temporary folders/links older than ``max_age`` s whose writer is gone."""
    root = Path(models_dir)
    removed = []
    now = time.time()
    for p in root.iterdir():
        if not (p.name.startswith(TMP_PREFIX) or p.name.startswith(f".{CURRENT}-")):
            continue
        if now - p.lstat().st_mtime < max_age:
            continue
        pid = p.name.rsplit("-", 1)[-1]
        if p.name.startswith(TMP_PREFIX) and pid.isdigit() and _pid_alive(int(pid)):
            continue  # a training still writing (same host)
        if p.is_symlink() or p.is_file():
            p.unlink(missing_ok=True)
        else:
            shutil.rmtree(p, ignore_errors=True)
        removed.append(p.name)
    if removed:
        log.info("removed %d stale temporary entries under %s", len(removed), root)
    return removed
