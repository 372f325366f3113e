"""Format-4 artifacts (before issue 20): a pickle signed with HMAC-SHA256. Read only to
upgrade them (``recommender models upgrade``): the HMAC is checked before a byte is unpickled.

A format-4 version is ``model.pkl`` (a pickle, protocol 5, of the model without its arrays),
``arrays.bin`` (the arrays, out of band), ``metadata.json`` and ``model.sig`` (the SHA-256 and
size of every file under an HMAC-SHA256 made with a secret key). Keys, as before:
``XUANXUE_SIGNING_KEY`` (+ ``XUANXUE_SIGNING_KEYS_OLD``), else the key file
``XUANXUE_SIGNING_KEY_FILE`` (default ``$XDG_CONFIG_HOME/xuanxue/signing.key``), one key a line.
HMAC is symmetric — whoever can verify can sign — which is why format 5 uses Ed25519
(:mod:`recommender.lifecycle.signing`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from recommender.lifecycle.signing import SignatureError, check_manifest, file_manifest

log = logging.getLogger(__name__)

ENV_KEY = "XUANXUE_SIGNING_KEY"
ENV_KEY_FILE = "XUANXUE_SIGNING_KEY_FILE"
ENV_OLD_KEYS = "XUANXUE_SIGNING_KEYS_OLD"
SIGNATURE_FILE = "model.sig"
ALGORITHM = "hmac-sha256"
SIGNATURE_FORMAT = 1
MIN_KEY_CHARS = 16
_DOMAIN = b"xuanxue-artifact-signature-v1\n"
#: a file's bytes: read whole (bytes) or into a buffer the loader then unpickles from
Data = bytes | bytearray | memoryview


def key_id(key: bytes) -> str:
    """A short public fingerprint of a key (safe to print and to store in ``model.sig``)."""
    return hashlib.sha256(b"xuanxue-key-id\n" + key).hexdigest()[:12]


def default_key_file(environ: Mapping[str, str] | None = None) -> Path:
    """``XUANXUE_SIGNING_KEY_FILE``, else ``$XDG_CONFIG_HOME/xuanxue/signing.key``."""
    env = os.environ if environ is None else environ
    if env.get(ENV_KEY_FILE):
        return Path(env[ENV_KEY_FILE]).expanduser()
    config = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "xuanxue" / "signing.key"


def _split_keys(text: str) -> list[bytes]:
    return [k.encode() for k in re.split(r"[\s,]+", text) if k]


def _check_length(keys: list[bytes], source: str) -> None:
    short = [key_id(k) for k in keys if len(k) < MIN_KEY_CHARS]
    if short:
        raise SignatureError(
            f"签名密钥太短（signing_key_weak）：{source} 中的密钥至少需要 {MIN_KEY_CHARS} 个字符"
            f"（密钥编号 {', '.join(short)}）",
            "signing_key_weak",
        )


@dataclass(frozen=True)
class SigningKeys:
    """The accepted keys, newest first: ``keys[0]`` signs, every key verifies."""

    keys: tuple[bytes, ...]
    source: str

    @property
    def signing(self) -> bytes:
        return self.keys[0]

    @property
    def ids(self) -> list[str]:
        return [key_id(k) for k in self.keys]

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, create: bool = False
    ) -> SigningKeys:
        """Keys from the environment or the key file; ``create`` makes the file if absent."""
        env = os.environ if environ is None else environ
        old = _split_keys(env.get(ENV_OLD_KEYS, ""))
        if env.get(ENV_KEY, "").strip():
            keys = [env[ENV_KEY].strip().encode(), *old]
            _check_length(keys, ENV_KEY)
            return cls(tuple(keys), ENV_KEY)
        path = default_key_file(env)
        if not path.exists() and create:
            create_key_file(path)
        keys = [*read_key_file(path), *old]
        _check_length(keys, str(path))
        if not key_file_is_private(path):
            log.warning("signing key file %s is readable by group/others: chmod 600 it", path)
        return cls(tuple(keys), str(path))


def read_key_file(path: Path) -> list[bytes]:
    """Keys of a key file, first line first; raises SignatureError if there are none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SignatureError(
            f"找不到模型签名密钥（signing_key_missing）：{path} 不存在。"
            f"请在训练模型的同一账户下运行，或用 {ENV_KEY_FILE} / {ENV_KEY} 指定训练时使用的密钥",
            "signing_key_missing",
        ) from None
    except OSError as exc:
        raise SignatureError(
            f"无法读取模型签名密钥（signing_key_unreadable）：{path}（{exc.strerror}）",
            "signing_key_unreadable",
        ) from exc
    keys = [ln.strip().encode() for ln in text.splitlines() if ln.strip() and ln[:1] != "#"]
    if not keys:
        raise SignatureError(
            f"模型签名密钥文件为空（signing_key_missing）：{path}", "signing_key_missing"
        )
    return keys


def create_key_file(path: Path, keys: list[str] | None = None) -> None:
    """Write a key file readable by its owner only (0600); a new random key if none given.

    Uses ``O_EXCL`` for a new file so two concurrent first trainings end with one key.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    new = keys is None
    lines = [secrets.token_hex(32)] if new else keys
    body = "".join(f"{k}\n" for k in lines).encode()
    if new:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return  # another process created it first: use theirs
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        return
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(body)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def key_file_is_private(path: Path) -> bool:
    """False when group or others may read the key file."""
    return not path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)


def _mac(key: bytes, manifest: Mapping[str, Mapping[str, object]]) -> str:
    lines = "".join(f"{n}\t{m['size']}\t{m['sha256']}\n" for n, m in sorted(manifest.items()))
    return hmac.new(key, _DOMAIN + lines.encode(), hashlib.sha256).hexdigest()


def sign(files: Mapping[str, Data], key: bytes) -> bytes:
    """The ``model.sig`` document for ``files`` (name → bytes)."""
    manifest = file_manifest(files)
    doc = {
        "signature_format": SIGNATURE_FORMAT,
        "algorithm": ALGORITHM,
        "key_id": key_id(key),
        "signed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": manifest,
        "mac": _mac(key, manifest),
    }
    return (json.dumps(doc, indent=2) + "\n").encode()


def verify(files: Mapping[str, Data], signature: bytes | None, keys: SigningKeys) -> str:
    """Check ``files`` against a ``model.sig`` document; return the id of the key that signed.

    Raises SignatureError with code ``artifact_unsigned``, ``artifact_signature_invalid``,
    ``artifact_tampered`` (a file differs from what was signed) or ``artifact_unknown_key``.
    """
    if signature is None:
        raise SignatureError(
            f"模型没有签名，拒绝加载（artifact_unsigned）：缺少 {SIGNATURE_FILE}。"
            "请确认文件来源后运行 `recommender models resign --trust-unsigned`，或重新训练",
            "artifact_unsigned",
        )
    try:
        doc = json.loads(signature.decode("utf-8"))
        recorded = {n: dict(m) for n, m in doc["files"].items()}
        mac = str(doc["mac"])
        if doc.get("algorithm") != ALGORITHM:
            raise ValueError(f"algorithm {doc.get('algorithm')!r}")
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise SignatureError(
            f"模型签名文件无法解析，拒绝加载（artifact_signature_invalid）：{SIGNATURE_FILE}（{exc}）",
            "artifact_signature_invalid",
        ) from None
    actual = check_manifest(files, recorded)
    for key in keys.keys:
        if hmac.compare_digest(_mac(key, actual), mac):
            return key_id(key)
    raise SignatureError(
        f"模型签名无效或所用密钥不被接受，拒绝加载（artifact_unknown_key）：签名密钥编号 "
        f"{doc.get('key_id')!r}，可接受的密钥编号 {', '.join(keys.ids)}（来自 {keys.source}）。"
        f"若是轮换前的旧密钥，请把它加入密钥文件或 {ENV_OLD_KEYS}",
        "artifact_unknown_key",
    )


# ---------------------------------------------------------------- format-4 files
LEGACY_FORMAT = 4
PICKLE_FILE = "model.pkl"
BUFFERS_FILE = "arrays.bin"
LEGACY_FILES = (PICKLE_FILE, BUFFERS_FILE, "metadata.json")
_TABLE_LEN = 8
_ALIGN = 64


def pack(model: object) -> dict[str, bytes | bytearray]:
    """``model.pkl`` and ``arrays.bin`` of a model (format 4; kept to test the upgrade)."""
    import pickle

    buffers: list[pickle.PickleBuffer] = []
    skeleton = pickle.dumps(model, protocol=5, buffer_callback=buffers.append)
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
    return {PICKLE_FILE: skeleton, BUFFERS_FILE: out}


def _aligned(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


def unpack_verified(files: Mapping[str, Data]) -> object:
    """The object of a format-4 version. Runs the pickle: only after :func:`verify` passed."""
    import pickle

    arrays = memoryview(files[BUFFERS_FILE])
    n = int.from_bytes(arrays[:_TABLE_LEN], "little")
    table = json.loads(bytes(arrays[_TABLE_LEN : _TABLE_LEN + n]))
    start = _aligned(_TABLE_LEN + n)
    if any(not 0 <= start + at <= start + at + size <= len(arrays) for at, size in table):
        raise ValueError(f"{BUFFERS_FILE}: a buffer lies outside the file")
    buffers = [arrays[start + at : start + at + size] for at, size in table]
    return pickle.loads(files[PICKLE_FILE], buffers=buffers)
