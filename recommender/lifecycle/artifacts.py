"""Versioned model artifacts: ``MODELS/<version>/{model.json,arrays.safetensors,metadata.json,
model.sig}`` — no pickle anywhere: loading runs no code, whatever the bytes.

``model.json`` is the model's object graph written by :mod:`recommender.lifecycle.codec`
(classes of the installed ``recommender`` package by name, their state as JSON), its numeric
arrays are in ``arrays.safetensors`` (:mod:`recommender.lifecycle.tensors`), and ``model.sig``
an Ed25519 signature over every file and the version name (:mod:`.signing`).

A version is written to a private temporary directory (files 0600, fsynced), signed, renamed
into place, loaded back and smoke-tested, and only then is ``current`` switched (an atomic
symlink rename). A crash at any point leaves the previously published model untouched.
:func:`load_model` reads each file once (refusing symlinks and FIFOs), checks the signature
against those bytes and decodes them; the arrays are views of the verified bytes (no copy,
no per-element work), so a reload holds the GIL for milliseconds. They are read into memory,
not memory-mapped, because a mapped page would show a later write to the file: the bytes used
must be the bytes checked. Format-4 versions (a signed pickle) are refused with a pointer to
``recommender models upgrade`` (:mod:`.legacy`, :func:`.versions.upgrade_version`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from recommender.data.safe_write import (
    UnsafePathError,
    fsync_dir,
    open_regular,
    private_dir,
    write_bytes,
)
from recommender.lifecycle import codec, tensors
from recommender.lifecycle.signing import (
    SIGNATURE_FILE,
    SignatureError,
    Signer,
    TrustedKeys,
    load_signer,
    load_trusted,
    sign,
    verify,
)

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from recommender.ranking.model import RecommenderModel

log = logging.getLogger(__name__)

FORMAT_VERSION = 5
#: format 4: a signed pickle, converted by ``recommender models upgrade``
UPGRADABLE_FORMAT = 4
MODEL_FILE = "model.json"
ARRAYS_FILE = "arrays.safetensors"
METADATA_FILE = "metadata.json"
#: every file of a version the signature covers (and the loader reads)
DATA_FILES = (MODEL_FILE, ARRAYS_FILE, METADATA_FILE)
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


def signing_keys(*, create: bool = False) -> Signer:
    """The private key that signs new versions (``create``: make one when there is none)."""
    try:
        return load_signer(create=create)
    except SignatureError as exc:
        raise ArtifactError(str(exc), exc.code) from None


def trusted_keys() -> TrustedKeys:
    """The public keys a version may be signed with (see :mod:`.signing`)."""
    try:
        return load_trusted()
    except SignatureError as exc:
        raise ArtifactError(str(exc), exc.code) from None


def _read(d: Path, name: str) -> memoryview:
    """The whole file in one writable buffer: arrays decoded from it are writable views.

    ``np.empty`` + ``readinto``: ``bytearray(n)`` would zero-fill (~0.2 s holding the GIL
    for 200 MB); the read itself runs without the GIL. A symlink, a FIFO or any non-regular
    file is refused at once (a FIFO named like an artifact file once hung a reload).
    """
    try:
        with open_regular(d / name) as fh:
            buf = memoryview(np.empty(os.fstat(fh.fileno()).st_size, dtype=np.uint8))
            got = 0
            while got < len(buf) and (n := fh.readinto(buf[got:])):
                got += n
    except FileNotFoundError as exc:
        raise ArtifactError(f"{d}: {name} is missing（模型文件缺失）", "artifact_missing") from exc
    except UnsafePathError as exc:
        raise ArtifactError(
            f"{exc}，拒绝加载（artifact_unsafe_file）", "artifact_unsafe_file"
        ) from exc
    except OSError as exc:
        raise ArtifactError(f"{d / name}: cannot be read ({exc.strerror})") from exc
    return buf[:got]


def _nothing() -> None:
    pass


def _map(d: Path, name: str) -> tuple[memoryview, Callable[[], None]]:
    """The file mapped read-only and shared (``mmap``): every process on the host that maps
    it reads the same page-cache pages, so N workers hold one copy of the arrays.

    Returns the bytes and a check to call once they are verified: it raises
    ``artifact_changed`` if the file was written while it was being checked. A file swapped
    afterwards (a new file renamed over it, as every writer here publishes) leaves the mapping
    on the verified file. A file other accounts may write is not mapped: it is read into
    private memory instead (the bytes used are then exactly the bytes checked).
    """
    import mmap

    try:
        with open_regular(d / name) as fh:
            st = os.fstat(fh.fileno())
            if st.st_size == 0:
                return memoryview(b""), _nothing
            if st.st_mode & 0o022 or st.st_uid not in (os.geteuid(), 0):
                log.warning("%s: 他人可写或属主不同，不映射，读入私有内存", d / name)
                return _read(d, name), _nothing
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except FileNotFoundError as exc:
        raise ArtifactError(f"{d}: {name} is missing（模型文件缺失）", "artifact_missing") from exc
    except UnsafePathError as exc:
        code = "artifact_unsafe_file"
        raise ArtifactError(f"{exc}，拒绝加载（{code}）", code) from exc
    except OSError as exc:
        raise ArtifactError(f"{d / name}: cannot be mapped ({exc.strerror})") from exc
    stamp = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def unchanged() -> None:
        try:
            now = os.stat(d / name, follow_symlinks=False)
        except OSError:  # removed or renamed away: the mapping keeps the verified file
            return
        if now.st_ino != st.st_ino:  # a new file renamed over it: ours is still mapped
            return
        if (now.st_ino, now.st_size, now.st_mtime_ns, now.st_ctime_ns) != stamp:
            raise ArtifactError(
                f"{d / name}: 校验期间文件被改写，拒绝加载（artifact_changed）", "artifact_changed"
            )

    return memoryview(mapped), unchanged


def _parse_metadata(d: Path, raw: bytes | memoryview) -> dict:
    try:
        meta = json.loads(bytes(raw).decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(
            f"{d / METADATA_FILE}: not valid JSON ({exc})", "artifact_corrupt"
        ) from exc
    found = meta.get("format_version") if isinstance(meta, dict) else None
    if found == UPGRADABLE_FORMAT:
        raise ArtifactError(
            f"{d}: 模型是旧格式 4（含 pickle），本版本不再加载（artifact_needs_upgrade）："
            "在训练机器上运行 `recommender models upgrade --model MODELS` 转换为格式 5",
            "artifact_needs_upgrade",
        )
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
    path: str | Path,
    keys: TrustedKeys | None = None,
    *,
    version: str | None = None,
    mmap: bool = False,
) -> tuple[dict, dict[str, memoryview]]:
    """Metadata and the bytes of every data file of a version, read once and checked against
    ``model.sig`` (which must cover exactly :data:`DATA_FILES` and the version's name:
    the directory's, unless ``version`` names the one it is about to be renamed to).

    ``mmap``: map the arrays file read-only instead of reading it (see :func:`load_model`).

    Nothing is decoded here; raises ArtifactError (with ``code``) when the check fails.
    """
    d = resolve(path)
    files = {METADATA_FILE: _read(d, METADATA_FILE)}
    meta = _parse_metadata(d, files[METADATA_FILE])
    files[MODEL_FILE] = _read(d, MODEL_FILE)
    settled: Callable[[], None] = _nothing
    if mmap:
        files[ARRAYS_FILE], settled = _map(d, ARRAYS_FILE)
    else:
        files[ARRAYS_FILE] = _read(d, ARRAYS_FILE)
    try:
        sig: bytes | None = bytes(_read(d, SIGNATURE_FILE))
    except ArtifactError as exc:
        if exc.code != "artifact_missing":
            raise
        sig = None
    try:
        verify(files, sig, version or d.name, keys if keys is not None else load_trusted())
    except SignatureError as exc:
        raise ArtifactError(f"{d}: {exc}", exc.code) from None
    settled()  # a mapped file must not have been written while it was checked
    return meta, files


def pack(model: RecommenderModel) -> dict[str, bytes | bytearray]:
    """``model.json`` and ``arrays.safetensors`` of a model (its metadata goes apart)."""
    metadata, model.metadata = model.metadata, {}
    try:
        doc, arrays = codec.encode(model)
    finally:
        model.metadata = metadata
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=True)
    return {MODEL_FILE: body.encode("utf-8"), ARRAYS_FILE: tensors.dumps(arrays)}


def unpack(files: dict[str, memoryview]) -> object:
    """The object of ``model.json`` with its arrays as views of ``arrays.safetensors``.

    Decodes data only (classes of the installed package, by name): no code from the files.
    """
    arrays, _ = tensors.loads(files[ARRAYS_FILE])
    doc = json.loads(bytes(files[MODEL_FILE]).decode("utf-8"))
    return codec.decode(doc, arrays)


def load_model(
    path: str | Path, *, keys: TrustedKeys | None = None, mmap: bool = False
) -> RecommenderModel:
    """Verify the signature, then decode and check a model; ArtifactError says why it can't.

    ``mmap=True`` maps ``arrays.safetensors`` read-only and shared instead of reading it:
    the workers of a host then hold one copy of the arrays (read-only arrays), at the price
    that the bytes used are the file's, not a private copy of the bytes checked — use it
    where only the account that trains can write the models folder (0700, as written).
    """
    from recommender.ranking.model import RecommenderModel

    d = resolve(path)
    meta, files = read_verified(d, keys, mmap=mmap)
    try:  # the verified bytes themselves: a file swapped after the check is never read
        model = unpack(files)
    except Exception as exc:  # a signed but broken file: report, never crash the caller
        raise ArtifactError(
            f"{d / MODEL_FILE}: 模型文件无法解析，拒绝加载（artifact_corrupt）："
            f"cannot be loaded ({type(exc).__name__}: {exc})",
            "artifact_corrupt",
        ) from exc
    if not isinstance(model, RecommenderModel):
        raise ArtifactError(
            f"{d / MODEL_FILE}: holds a {type(model).__name__}, not a model", "artifact_corrupt"
        )
    model.metadata = meta
    return model


def smoke_check(model: RecommenderModel) -> None:
    """Recommend for one cadre and one new profile, and warm the menu planner (what a first
    menu would pay: ~0.7 s on the large model); raise ArtifactError if that fails."""
    from recommender.menu.planning import warm_up

    try:
        if len(model.cadres):
            model.recommend(str(model.cadres.iloc[0]["cadre_id"]), k=3)
        model.recommend_profile(
            {"job_title": "综合管理岗", "job_description": "从事综合协调工作"}, k=3
        )
        warm_up(model)
    except Exception as exc:
        raise ArtifactError(
            f"smoke check failed: {type(exc).__name__}: {exc}", "artifact_smoke_failed"
        ) from exc


def write_synced(path: Path, data: bytes | bytearray | memoryview) -> None:
    """A private (0600) file written through the one safe writer, fsynced."""
    write_bytes(path, data, private=True)


def save_model(
    model: RecommenderModel,
    models_dir: str | Path,
    metadata: dict,
    *,
    publish: bool = True,
    keys: Signer | None = None,
) -> Path:
    """Write and sign a new version atomically, verify it loads, and (optionally) publish it.

    The key comes from :func:`signing_keys`; a private key is created (0600) when there is
    none, and its public half trusted. The models root and the version are private (0700,
    files 0600): a model holds the cadre table.
    """
    keys = keys if keys is not None else signing_keys(create=True)
    root = Path(models_dir)
    private_dir(root)
    clean_temp(root)
    version = metadata.get("model_version") or new_version()
    metadata = {**metadata, "format_version": FORMAT_VERSION, "model_version": version}
    model.metadata = metadata
    tmp = root / f"{TMP_PREFIX}{version}-{os.getpid()}"
    final = root / version
    try:
        try:
            files = pack(model)
        except codec.CodecError as exc:
            raise ArtifactError(
                f"模型无法保存（artifact_unstorable）：{exc}", "artifact_unstorable"
            ) from exc
        files[METADATA_FILE] = json.dumps(
            metadata, ensure_ascii=False, indent=2, default=str
        ).encode("utf-8")
        write_version(tmp, files, version, keys)
        del files
        os.replace(tmp, final)
        fsync_dir(root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    smoke_check(load_model(final, keys=TrustedKeys.of(keys.public, source=keys.source)))
    if publish:
        publish_version(root, version)
    return final


def write_version(tmp: Path, files: dict, version: str, keys: Signer) -> None:
    """The files of a version and their signature into a new private directory ``tmp``."""
    tmp.mkdir(mode=0o700)
    for name, data in files.items():
        write_synced(tmp / name, data)
    write_synced(tmp / SIGNATURE_FILE, sign(files, version, keys))
    fsync_dir(tmp)


def publish_version(models_dir: str | Path, version: str) -> None:
    """Point ``current`` at ``version`` with an atomic rename of a fresh symlink (fsynced)."""
    root = Path(models_dir)
    if not (root / version / METADATA_FILE).exists():
        raise ArtifactError(
            f"cannot publish {version}: {root / version / METADATA_FILE} is missing",
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
