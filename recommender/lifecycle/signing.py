"""Ed25519 signatures of model artifacts: sign where models are trained, verify everywhere.

``model.sig`` names every file of a version with its size and SHA-256, and the version name,
signed with an Ed25519 private key. The private key stays on the training machine; replicas
hold only public keys, so reading a replica's configuration never lets anyone sign a model
(HMAC, used by format 4, did). A renamed version fails: the signature covers its name.

Keys (paths resolved once per call, from explicit ``environ`` or the process environment):

- private key ``XUANXUE_PRIVATE_KEY_FILE`` (default ``$XDG_CONFIG_HOME/xuanxue/signing.ed25519``,
  i.e. ``~/.config/xuanxue/``): PKCS#8 PEM, created by the first ``train`` (0600, folder 0700).
  A private key file that group or others may read is refused, not just warned about.
- trusted public keys: the file ``XUANXUE_TRUSTED_KEYS_FILE`` (default
  ``$XDG_CONFIG_HOME/xuanxue/trusted_keys``), one ``ed25519:<base64>`` a line (``#`` comments),
  plus ``XUANXUE_TRUSTED_KEYS`` (the same, separated by spaces or commas), plus the public half
  of the local private key when there is one. ``recommender keys export-public`` prints a
  line; ``recommender keys import-public`` adds one on a replica.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

ENV_PRIVATE_KEY_FILE = "XUANXUE_PRIVATE_KEY_FILE"
ENV_TRUSTED_KEYS_FILE = "XUANXUE_TRUSTED_KEYS_FILE"
ENV_TRUSTED_KEYS = "XUANXUE_TRUSTED_KEYS"
SIGNATURE_FILE = "model.sig"
ALGORITHM = "ed25519"
SIGNATURE_FORMAT = 2
PUBLIC_PREFIX = "ed25519:"
_DOMAIN = b"xuanxue-artifact-signature-v2\n"
_INVALID = "signing_key_invalid"
_PUBLIC = re.compile(r"ed25519:([A-Za-z0-9_\-]{43}=?)")
#: a file's bytes: read whole, or a buffer the loader then decodes from
Data = bytes | bytearray | memoryview


class SignatureError(Exception):
    """A signature is missing, wrong or cannot be checked; ``code`` is for machines."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def _config_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "xuanxue"


def private_key_file(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get(ENV_PRIVATE_KEY_FILE):
        return Path(env[ENV_PRIVATE_KEY_FILE]).expanduser()
    return _config_dir(env) / "signing.ed25519"


def trusted_keys_file(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get(ENV_TRUSTED_KEYS_FILE):
        return Path(env[ENV_TRUSTED_KEYS_FILE]).expanduser()
    return _config_dir(env) / "trusted_keys"


def public_text(key: Ed25519PublicKey) -> str:
    """``ed25519:<urlsafe base64 of the 32 raw bytes>`` — what export/import exchange."""
    from cryptography.hazmat.primitives import serialization

    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PUBLIC_PREFIX + base64.urlsafe_b64encode(raw).decode()


def key_id(key: Ed25519PublicKey) -> str:
    """A short fingerprint of a public key (printed, and stored in ``model.sig``)."""
    return hashlib.sha256(public_text(key).encode()).hexdigest()[:16]


def parse_public(text: str) -> Ed25519PublicKey:
    """A public key from its ``ed25519:…`` text; SignatureError if it is not one."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    m = _PUBLIC.fullmatch(text.strip())
    if m is None:
        raise SignatureError(
            f"不是有效的公钥（signing_key_invalid）：{text.strip()[:80]!r}，"
            f"应为 `recommender keys export-public` 输出的 {PUBLIC_PREFIX}… 一行",
            "signing_key_invalid",
        )
    return Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(m.group(1)))


@dataclass(frozen=True)
class Signer:
    """The private key that signs new versions (training machine only)."""

    key: Ed25519PrivateKey
    source: str

    @property
    def public(self) -> Ed25519PublicKey:
        return self.key.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public)


@dataclass(frozen=True)
class TrustedKeys:
    """Public keys a signature may be made with, by key id."""

    keys: Mapping[str, Ed25519PublicKey]
    sources: tuple[str, ...]

    @property
    def ids(self) -> list[str]:
        return sorted(self.keys)

    @classmethod
    def of(cls, *keys: Ed25519PublicKey, source: str = "arguments") -> TrustedKeys:
        return cls({key_id(k): k for k in keys}, (source,))


def _check_private_mode(path: Path, st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise SignatureError(
            f"签名私钥 {path} 不是普通文件（signing_key_invalid）", "signing_key_invalid"
        )
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SignatureError(
            f"签名私钥文件 {path} 可被同组或其他用户读取，拒绝使用（signing_key_exposed）："
            f"请运行 chmod 600 {path}，并考虑更换密钥（`recommender models rotate-key`）",
            "signing_key_exposed",
        )


def read_private_key(path: Path) -> Ed25519PrivateKey:
    """The private key in ``path`` (PEM, PKCS#8), refused unless only its owner may read it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        with open(path, "rb") as fh:
            _check_private_mode(path, os.fstat(fh.fileno()))
            raw = fh.read(64 * 1024)
    except FileNotFoundError:
        raise SignatureError(
            f"找不到签名私钥（signing_key_missing）：{path} 不存在。私钥只在训练模型的机器上；"
            f"请在那里训练，或用 {ENV_PRIVATE_KEY_FILE} 指定私钥文件",
            "signing_key_missing",
        ) from None
    except OSError as exc:
        raise SignatureError(
            f"无法读取签名私钥（signing_key_unreadable）：{path}（{exc.strerror}）",
            "signing_key_unreadable",
        ) from exc
    try:
        key = serialization.load_pem_private_key(raw, password=None)
    except (ValueError, TypeError) as exc:
        raise SignatureError(
            f"签名私钥文件格式错误（signing_key_invalid）：{path}（{exc}）", "signing_key_invalid"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(
            f"签名私钥 {path} 不是 Ed25519 密钥（signing_key_invalid）", "signing_key_invalid"
        )
    return key


def write_private_key(path: Path, key: Ed25519PrivateKey, *, replace: bool = False) -> None:
    """Write ``key`` (0600, folder 0700); a new file is made with O_EXCL (two first trainings
    end with one key), a rotation replaces the file atomically."""
    from cryptography.hazmat.primitives import serialization

    from recommender.data.safe_write import private_dir, write_bytes

    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    if replace:
        write_bytes(path, pem, private=True)
        return
    if not path.parent.exists():
        private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
        fh.flush()
        os.fsync(fh.fileno())


def load_signer(environ: Mapping[str, str] | None = None, *, create: bool = False) -> Signer:
    """The signing key; ``create`` makes one (and trusts its public half) when there is none."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = private_key_file(environ)
    if create and not path.exists():
        try:
            write_private_key(path, Ed25519PrivateKey.generate())
        except FileExistsError:
            pass  # another process created it first: use theirs
        else:
            add_trusted(read_private_key(path).public_key(), environ)
    return Signer(read_private_key(path), str(path))


def _trusted_lines(text: str) -> list[str]:
    lines = (ln.split("#", 1)[0].strip() for ln in text.splitlines())
    return [ln.split()[0] for ln in lines if ln]


def load_trusted(environ: Mapping[str, str] | None = None) -> TrustedKeys:
    """Every accepted public key (file, environment, local private key); SignatureError when
    there is none, or when the trusted-keys file may be changed by group or others."""
    env = os.environ if environ is None else environ
    keys: dict[str, Ed25519PublicKey] = {}
    sources = []
    path = trusted_keys_file(env)
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            text = fh.read(1024 * 1024).decode("utf-8")
    except FileNotFoundError:
        text = ""
    else:
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise SignatureError(
                f"受信公钥文件 {path} 可被同组或其他用户修改，拒绝使用（trusted_keys_writable）："
                f"请运行 chmod 644 {path}",
                "trusted_keys_writable",
            )
        sources.append(str(path))
    inline = re.split(r"[\s,]+", env.get(ENV_TRUSTED_KEYS, "").strip())
    if any(inline):
        sources.append(ENV_TRUSTED_KEYS)
    for line in [*_trusted_lines(text), *(k for k in inline if k)]:
        key = parse_public(line)
        keys[key_id(key)] = key
    own = private_key_file(env)
    if own.exists():
        try:
            key = read_private_key(own).public_key()
        except SignatureError:
            pass  # an unusable private key signs nothing; loading does not need it
        else:
            keys[key_id(key)] = key
            sources.append(str(own))
    if not keys:
        raise SignatureError(
            f"没有受信的模型签名公钥（signing_key_missing）：{path} 不存在或为空。"
            "请在训练机器上运行 `recommender keys export-public`，"
            "再在本机运行 `recommender keys import-public <公钥>`",
            "signing_key_missing",
        )
    return TrustedKeys(keys, tuple(sources))


def add_trusted(key: Ed25519PublicKey, environ: Mapping[str, str] | None = None) -> Path:
    """Append ``key`` to the trusted-keys file (0644, atomic); nothing if already there."""
    from recommender.data.safe_write import private_dir, write_text

    path = trusted_keys_file(environ)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = "# 受信的模型签名公钥（recommender keys import-public 添加），每行一个\n"
    line = public_text(key)
    if line in _trusted_lines(text):
        return path
    if not path.parent.exists():
        private_dir(path.parent)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    body = text + ("" if text.endswith("\n") else "\n") + f"{line}  # {key_id(key)} {stamp}\n"
    write_text(path, body)
    return path


def file_manifest(files: Mapping[str, Data]) -> dict[str, dict[str, object]]:
    """Name → size and SHA-256 of each file: what a signature covers (formats 4 and 5)."""
    return {
        name: {"sha256": hashlib.sha256(data).hexdigest(), "size": memoryview(data).nbytes}
        for name, data in sorted(files.items())
    }


def check_manifest(
    files: Mapping[str, Data], recorded: Mapping[str, object]
) -> dict[str, dict[str, object]]:
    """Refuse (``artifact_tampered``) files that differ from the signed manifest, or that
    are missing from it or added to it; returns the files' manifest."""
    actual = file_manifest(files)
    changed = sorted(set(actual) ^ set(recorded)) + [
        n for n in sorted(set(actual) & set(recorded)) if actual[n] != recorded[n]
    ]
    if changed:
        raise SignatureError(
            f"模型文件与签名不符，可能被篡改，拒绝加载（artifact_tampered）：{', '.join(changed)}",
            "artifact_tampered",
        )
    return actual


def _message(version: str, manifest: Mapping[str, Mapping[str, object]]) -> bytes:
    lines = "".join(f"{n}\t{m['size']}\t{m['sha256']}\n" for n, m in sorted(manifest.items()))
    return _DOMAIN + f"version\t{version}\n".encode() + lines.encode()


def sign(files: Mapping[str, Data], version: str, signer: Signer) -> bytes:
    """The ``model.sig`` document for ``files`` (name → bytes) of version ``version``."""
    manifest = file_manifest(files)
    doc = {
        "signature_format": SIGNATURE_FORMAT,
        "algorithm": ALGORITHM,
        "key_id": signer.key_id,
        "version": version,
        "signed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": manifest,
        "signature": base64.b64encode(signer.key.sign(_message(version, manifest))).decode(),
    }
    return (json.dumps(doc, indent=2) + "\n").encode()


def verify(
    files: Mapping[str, Data], signature: bytes | None, version: str, trusted: TrustedKeys
) -> str:
    """Check ``files`` of version ``version`` against a ``model.sig``; the signing key's id.

    Raises SignatureError with code ``artifact_unsigned``, ``artifact_signature_invalid``,
    ``artifact_tampered`` (a file differs from what was signed), ``artifact_version_mismatch``
    (signed as another version) or ``artifact_unknown_key``.
    """
    from cryptography.exceptions import InvalidSignature

    if signature is None:
        raise SignatureError(
            f"模型没有签名，拒绝加载（artifact_unsigned）：缺少 {SIGNATURE_FILE}。"
            "请确认文件来源后运行 `recommender models resign --trust-unsigned`，或重新训练",
            "artifact_unsigned",
        )
    try:
        doc = json.loads(bytes(signature).decode("utf-8"))
        recorded = {str(n): dict(m) for n, m in doc["files"].items()}
        signed_version = str(doc["version"])
        sig = base64.b64decode(str(doc["signature"]), validate=True)
        if doc.get("algorithm") != ALGORITHM:
            raise ValueError(f"algorithm {doc.get('algorithm')!r}, expected {ALGORITHM}")
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise SignatureError(
            f"模型签名文件无法解析，拒绝加载（artifact_signature_invalid）：{SIGNATURE_FILE}（{exc}）",
            "artifact_signature_invalid",
        ) from None
    actual = check_manifest(files, recorded)
    if signed_version != version:
        raise SignatureError(
            f"模型版本名与签名不符，拒绝加载（artifact_version_mismatch）：目录名 {version!r}，"
            f"签名中的版本 {signed_version!r}（版本目录不可改名或复制为其他版本名）",
            "artifact_version_mismatch",
        )
    message = _message(version, actual)
    kid = doc.get("key_id") if isinstance(doc.get("key_id"), str) else None
    candidates = [trusted.keys[kid]] if kid in trusted.keys else []
    for key in candidates or list(trusted.keys.values()):
        try:
            key.verify(sig, message)
        except InvalidSignature:
            continue
        return key_id(key)
    raise SignatureError(
        f"模型签名无效或签名密钥不受信任，拒绝加载（artifact_unknown_key）：签名密钥编号 "
        f"{kid!r}，受信公钥编号 {', '.join(trusted.ids)}"
        f"（来自 {'、'.join(trusted.sources)}）。若是另一台训练机器的模型，"
        "请在那里运行 `recommender keys export-public`，再在本机 `recommender keys import-public`",
        "artifact_unknown_key",
    )
