"""API keys of the HTTP service: a JSON file of hashed keys, each with a name and scopes.

A key is a random 32-byte token shown once when it is created (``recommender keys add``);
the file keeps only its SHA-256 (a token that random cannot be guessed from its hash, so a
slow hash buys nothing), the name, the scopes and the times. Scopes nest: ``admin`` implies
``write``, which implies ``read``. :class:`KeyFile` re-reads the file when it changes, so a
key added or revoked with the CLI takes effect in a running service within a second.

The library half of authentication: no web framework here; ``service`` decides which scope
a request needs and calls :meth:`KeyRing.verify`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from recommender.data.safe_write import write_text

#: scopes from weakest to strongest; each one implies those before it
SCOPES = ("read", "write", "admin")
TOKEN_PREFIX = "xx_"
FORMAT_VERSION = 1
_NAME = re.compile(r"[\w.@-]{1,64}")


class KeyFileError(Exception):
    """The keys file cannot be read or written, or a request to change it is invalid."""


@dataclass(frozen=True)
class ApiKey:
    """One stored key (never the token itself)."""

    name: str
    scopes: tuple[str, ...]
    sha256: str
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def key_id(self) -> str:
        """A short public handle (first hex digits of the hash) for listings and logs."""
        return self.sha256[:8]


def scopes_grant(scopes: Iterable[str], needed: str) -> bool:
    """True when ``scopes`` include ``needed`` or a stronger scope (admin ⊇ write ⊇ read)."""
    if needed not in SCOPES:
        raise ValueError(f"unknown scope {needed!r}; use one of {', '.join(SCOPES)}")
    rank = SCOPES.index(needed)
    return any(s in SCOPES and SCOPES.index(s) >= rank for s in scopes)


def parse_scopes(text: str | Sequence[str]) -> tuple[str, ...]:
    """'read,write' (or a list) → ('read', 'write'); KeyFileError on an unknown scope."""
    items = text.split(",") if isinstance(text, str) else list(text)
    scopes = tuple(dict.fromkeys(s.strip().lower() for s in items if s.strip()))
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise KeyFileError(f"未知权限 {bad[0] if bad else '(空)'!r}；可选 {','.join(SCOPES)}")
    return scopes


def hash_token(token: str) -> str:
    """Hex SHA-256 of a presented token (UTF-8)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    """A fresh key: ``xx_`` + 32 random bytes, URL-safe base64 (47 characters)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class KeyRing:
    """The keys of one version of the file; :meth:`verify` finds the key a token belongs to."""

    def __init__(self, keys: Sequence[ApiKey] = ()) -> None:
        self.keys = tuple(keys)
        self._active = tuple(k for k in self.keys if k.active)

    def __len__(self) -> int:
        return len(self._active)

    def verify(self, token: str | None) -> ApiKey | None:
        """The active key whose hash matches ``token`` (constant-time compare against all)."""
        if not token:
            return None
        digest = hash_token(token).encode()
        found = None
        for key in self._active:  # no early exit: time does not depend on which key matched
            if hmac.compare_digest(digest, key.sha256.encode()):
                found = key
        return found

    def get(self, name: str) -> ApiKey | None:
        return next((k for k in self.keys if k.name == name and k.active), None)


def read_keys(path: Path) -> KeyRing:
    """The keys in ``path``; an empty ring when the file does not exist."""
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return KeyRing()
    except OSError as exc:
        raise KeyFileError(f"无法读取密钥文件 {path}：{exc}") from exc
    try:
        doc = json.loads(raw)
        keys = [
            ApiKey(
                name=str(k["name"]),
                scopes=tuple(str(s) for s in k["scopes"]),
                sha256=str(k["sha256"]),
                created_at=str(k.get("created_at", "")),
                revoked_at=k.get("revoked_at"),
            )
            for k in doc["keys"]
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyFileError(f"密钥文件 {path} 格式错误：{exc!r}") from exc
    bad = [k for k in keys if len(k.sha256) != 64]
    if bad:
        name = bad[0].name
        raise KeyFileError(f"密钥文件 {path} 格式错误：{name!r} 的 sha256 不是 64 位十六进制")
    return KeyRing(keys)


def _write(path: Path, ring: KeyRing) -> None:
    """Atomic replace, owner-only permissions (the hashes are not secret, but no need to share)."""
    doc = {"format_version": FORMAT_VERSION, "keys": [asdict(k) for k in ring.keys]}
    for k in doc["keys"]:
        k["scopes"] = list(k["scopes"])
    write_text(Path(path), json.dumps(doc, ensure_ascii=False, indent=2) + "\n", private=True)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def add_key(path: Path, name: str, scopes: str | Sequence[str]) -> tuple[str, ApiKey]:
    """Create a key; returns the token (show it once, it is not stored) and its record."""
    if not _NAME.fullmatch(name):
        raise KeyFileError(f"名称 {name!r} 无效：1–64 个字母、数字、汉字或 . _ - @")
    parsed = parse_scopes(scopes)
    ring = read_keys(path)
    if ring.get(name) is not None:
        raise KeyFileError(f"已有名为 {name!r} 的有效密钥；先 `recommender keys revoke {name}`")
    token = new_token()
    key = ApiKey(name=name, scopes=parsed, sha256=hash_token(token), created_at=_now())
    _write(path, KeyRing([*ring.keys, key]))
    return token, key


def revoke_key(path: Path, name: str) -> ApiKey:
    """Mark the active key ``name`` revoked (kept in the file for the record)."""
    ring = read_keys(path)
    key = ring.get(name)
    if key is None:
        raise KeyFileError(f"没有名为 {name!r} 的有效密钥（`recommender keys list` 查看）")
    revoked = ApiKey(**{**asdict(key), "revoked_at": _now()})
    _write(path, KeyRing([revoked if k is key else k for k in ring.keys]))
    return revoked


class KeyFile:
    """The keys file as a running service sees it: re-read when its mtime or size changes,
    looked at no more than once per ``recheck`` seconds."""

    def __init__(self, path: Path, *, recheck: float = 1.0) -> None:
        self.path, self.recheck = Path(path), recheck
        self._ring = KeyRing()
        self._stamp: tuple[int, int] | None = None
        self._checked = float("-inf")
        self._error: KeyFileError | None = None
        self._lock = threading.Lock()

    def ring(self) -> KeyRing:
        """The current keys; KeyFileError while the file is unreadable (fail closed)."""
        now = time.monotonic()
        if now - self._checked >= self.recheck:
            with self._lock:
                self._checked = now
                self._refresh()
        if self._error is not None:
            raise self._error
        return self._ring

    def _refresh(self) -> None:
        try:
            st = self.path.stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        except OSError as exc:
            self._error = KeyFileError(f"无法读取密钥文件 {self.path}：{exc}")
            return
        if stamp == self._stamp and self._error is None:
            return
        try:
            self._ring = read_keys(self.path) if stamp is not None else KeyRing()
            self._error = None
        except KeyFileError as exc:
            self._error = exc
        self._stamp = stamp
