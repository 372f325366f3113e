"""Who may call what: API keys with scopes, decided from the request line and headers alone.

:class:`ServiceMiddleware` asks :meth:`Authenticator.decide` before it reads a byte of the
body, so a caller without the right key gets 401/403 whatever it sends (never a 422 about
a body it may not send, and no buffering of megabytes for a stranger). The scope a path
needs comes from one table (:func:`required_scope`), which also writes the OpenAPI security
section, so documentation and enforcement cannot drift apart.

Rules: with keys configured (an active key in ``keys_file``), every path but health,
readiness and metrics needs a key granting its scope (``admin`` ⊇ ``write`` ⊇ ``read``);
``XUANXUE_API_KEY`` is one more admin key. With no key in the file, reads answer only
clients in ``local_clients`` (loopback) and writes are refused with how to create a key.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from typing import Any

from recommender import KeyFile, KeyFileError, scopes_grant
from service.config import Settings

#: answered without a key (orchestrators and scrapers; the API's own documentation, so a
#: portal developer reaches Swagger's Authorize button — the calls it makes still need a
#: key); the console checks its own login
OPEN_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
)
OPEN_PREFIXES = ("/console", "/static-offline-docs/")
LOCAL = "(本机)"

_ADD = "recommender keys add NAME --scopes {scope}"
_HEADER_HINT = "在请求头 X-API-Key（或 Authorization: Bearer <密钥>）中携带密钥"


def required_scope(path: str) -> str | None:
    """The scope a path needs: admin for /v1/admin/*, write for completions, read otherwise."""
    if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return None
    p = path.lower()
    if p == "/v1/admin" or p.startswith("/v1/admin/"):
        return "admin"
    if p.rstrip("/") == "/v1/completions":
        return "write"
    return "read"  # default deny: docs, unknown paths and 404s need read too


def token_of(headers: Any) -> str | None:
    """The key from ``X-API-Key`` or ``Authorization: Bearer``; ``headers`` are ASGI pairs."""
    bearer = None
    for name, value in headers:
        if name == b"x-api-key":
            return value.decode("latin-1").strip() or None
        if name == b"authorization":
            scheme, _, rest = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and rest.strip():
                bearer = rest.strip()
    return bearer


@dataclass(frozen=True)
class Decision:
    """The outcome for one request: who (key name or local), or why not (status, error)."""

    allowed: bool
    who: str | None = None
    scopes: tuple[str, ...] = ()
    status: int = 200
    error: str = ""
    message: str = ""
    hint: str | None = None

    @property
    def headers(self) -> dict[str, str] | None:
        if self.status == 401:
            return {"WWW-Authenticate": 'Bearer realm="xuanxue", X-API-Key'}
        if self.status == 503:
            return {"Retry-After": "5"}
        return None


class Authenticator:
    """Keys from the keys file (re-read on change) plus the legacy ``XUANXUE_API_KEY``."""

    def __init__(self, settings: Settings) -> None:
        self.keys = KeyFile(settings.keys_file)
        secret = settings.api_key.get_secret_value() if settings.api_key else None
        self._admin = hashlib.sha256(secret.encode()).hexdigest().encode() if secret else None
        self._networks, self._names = [], set()
        for entry in settings.local_clients:
            try:
                self._networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self._names.add(entry)  # e.g. "testclient", the TestClient's host
        self._local: dict[str, bool] = {}

    def has_keys(self) -> bool:
        """An active key exists in the keys file (reads then need one; a bad file counts as
        keys, so nothing opens up while it is broken)."""
        try:
            return len(self.keys.ring()) > 0
        except KeyFileError:
            return True

    def identify(self, token: str | None) -> tuple[str, tuple[str, ...]] | None:
        """(key name, scopes) of a valid key, else None. KeyFileError when the file is bad."""
        if not token:
            return None
        ring = self.keys.ring()
        key = ring.verify(token)
        if self._admin is not None:
            digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
            if hmac.compare_digest(digest.encode(), self._admin):
                return "XUANXUE_API_KEY", ("admin",)
        return (key.name, key.scopes) if key is not None else None

    def key_for(self, token: str | None, scope: str) -> tuple[str, str] | None:
        """(name, SHA-256) of an active key granting ``scope``: what a console session
        records instead of the key itself. None for anything else (a bad keys file too)."""
        try:
            found = self.identify(token)
        except KeyFileError:
            return None
        if found is None or not scopes_grant(found[1], scope) or not token:
            return None
        return found[0], hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()

    def key_still_grants(self, name: str, key_hash: str, scope: str) -> bool:
        """The key a session was opened with is still active and still grants ``scope``
        (revoking the key ends its sessions too)."""
        if name == "XUANXUE_API_KEY":
            return self._admin is not None and hmac.compare_digest(key_hash.encode(), self._admin)
        try:
            key = self.keys.ring().get(name)
        except KeyFileError:
            return False
        return (
            key is not None
            and hmac.compare_digest(key.sha256.encode(), key_hash.encode())
            and scopes_grant(key.scopes, scope)
        )

    def check_key(self, token: str | None, scope: str) -> bool:
        """True when ``token`` is an active key granting ``scope`` (False on a bad keys file)."""
        try:
            found = self.identify(token)
        except KeyFileError:
            return False
        return found is not None and scopes_grant(found[1], scope)

    def is_local(self, host: str | None) -> bool:
        if not host:
            return False
        known = self._local.get(host)
        if known is None:
            known = host in self._names
            if not known:
                try:
                    addr = ipaddress.ip_address(host.split("%", 1)[0])
                    mapped = getattr(addr, "ipv4_mapped", None)
                    addr = mapped or addr
                    known = any(addr in net for net in self._networks)
                except ValueError:
                    known = False
            if len(self._local) < 4096:
                self._local[host] = known
        return known

    def decide(self, scope: str, token: str | None, host: str | None) -> Decision:
        """Allow, or 401 (no key where one is needed) / 403 (wrong key or scope) / 503."""
        try:
            configured = len(self.keys.ring()) > 0
            found = self.identify(token)
        except KeyFileError as exc:
            return Decision(False, status=503, error="auth_unavailable", message=str(exc))
        any_key = configured or self._admin is not None
        if found is not None:
            name, scopes = found
            if scopes_grant(scopes, scope):
                return Decision(True, who=name, scopes=scopes)
            return Decision(
                False,
                status=403,
                error="insufficient_scope",
                message=f"密钥 {name!r} 没有 {scope} 权限（它有：{','.join(scopes)}）",
                hint=f"用 `{_ADD.format(scope=scope)}` 创建有该权限的密钥",
            )
        if token:
            if not any_key:
                return self._no_keys(scope)
            return Decision(
                False,
                status=403,
                error="invalid_api_key",
                message="API 密钥无效或已吊销",
                hint="`recommender keys list` 查看有效密钥",
            )
        if scope == "read" and not configured and self.is_local(host):
            return Decision(True, who=LOCAL, scopes=("read",))
        if not any_key:
            return self._no_keys(scope)
        return Decision(
            False,
            status=401,
            error="unauthorized",
            message=f"缺少 API 密钥（需要 {scope} 权限）：{_HEADER_HINT}",
            hint=f"密钥由管理员用 `{_ADD.format(scope=scope)}` 创建",
        )

    def _no_keys(self, scope: str) -> Decision:
        if scope == "read":
            message = "尚未配置任何 API 密钥，只有本机可以读取"
        elif scope == "write":
            message = "尚未配置任何 API 密钥，写入（POST /v1/completions）已关闭"
        else:
            message = "尚未配置任何 API 密钥，管理接口已关闭（也可设置 XUANXUE_API_KEY）"
        return Decision(
            False,
            status=403,
            error="no_keys_configured",
            message=f"{message}：用 `{_ADD.format(scope=scope)}` 创建密钥，再{_HEADER_HINT}",
            hint=f"{_ADD.format(scope=scope)}  # 密钥只显示一次",
        )
