"""Who may open the console: the API's own rules, and server-side sessions for sign-in.

Rules (the same as the JSON API's reads, asked of the service's :class:`Authenticator`):
while no API key is configured, loopback clients open the console without signing in (the
``make run`` demo); once keys exist, staff sign in with a key that grants ``read``.

A sign-in opens a **session**: a random id (32 bytes) in an HttpOnly, SameSite=Strict cookie
scoped to ``/console`` (``Secure`` when the request came over TLS, also through a trusted
proxy's ``X-Forwarded-Proto``). The key itself never goes into a cookie or a URL. The event
store keeps only the id's SHA-256, the key's name and hash and the end time, so every
replica sharing the store knows the session; logout revokes it there, and revoking the key
(``recommender keys revoke``) ends its sessions too.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from recommender import EventStoreUnavailable, looks_like_id_card
from service.errors import ServiceError

log = logging.getLogger(__name__)

COOKIE = "xuanxue_console_session"
COOKIE_PATH = "/console"
LOCAL = "本机（未配置密钥）"
SCOPE = "read"


class LoginRequired(Exception):
    """Raised by :func:`console_auth`; the console's route class turns it into a redirect."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url

    @property
    def location(self) -> str:
        return f"{COOKIE_PATH}/login?next={quote(self.next_url, safe='/')}"


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


def _store(request: Request):
    store = getattr(request.app.state, "store", None)
    if store is None:
        raise ServiceError(
            503, "事件库尚未打开（服务正在启动），暂时无法登录", error="events_unavailable"
        )
    return store


def _unavailable(exc: EventStoreUnavailable) -> ServiceError:
    return ServiceError(
        503,
        f"事件库不可用，暂时无法核对登录：{exc}",
        error="events_unavailable",
        headers={"Retry-After": "5"},
    )


def open_session(request: Request, key: str | None) -> str | None:
    """A new session id for a key granting ``read`` (None for any other key)."""
    found = request.app.state.auth.key_for(key, SCOPE)
    if found is None:
        return None
    name, key_hash = found
    session_id = secrets.token_urlsafe(32)
    hours = request.app.state.settings.session_hours
    try:
        _store(request).add_session(
            _session_hash(session_id), name, key_hash, datetime.now(UTC) + timedelta(hours=hours)
        )
    except EventStoreUnavailable as exc:
        raise _unavailable(exc) from None
    log.info("console session opened for key %r", name)
    return session_id


def close_session(request: Request) -> None:
    """Revoke this request's session in the store (logout), if it has one."""
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        return
    try:
        _store(request).revoke_session(_session_hash(session_id))
    except EventStoreUnavailable as exc:
        raise _unavailable(exc) from None


def session_user(request: Request) -> str | None:
    """The key name of this request's session while it is valid (not revoked, not expired,
    its key still active with ``read``); None otherwise."""
    session_id = request.cookies.get(COOKIE)
    if not session_id or len(session_id) > 128:
        return None
    try:
        found = _store(request).session(_session_hash(session_id))
    except EventStoreUnavailable as exc:
        raise _unavailable(exc) from None
    if found is None:
        return None
    if not request.app.state.auth.key_still_grants(found["who"], found["key_hash"], SCOPE):
        return None
    return str(found["who"])


def is_tls(request: Request) -> bool:
    """The request came over TLS (directly, or per a trusted proxy's X-Forwarded-Proto,
    which ``ProxyHeadersMiddleware`` has already applied to the scheme)."""
    return request.url.scheme == "https"


def open_without_login(request: Request) -> bool:
    """May this client read without a key? The service's own rule (loopback, no keys)."""
    host = request.client.host if request.client else None
    return bool(request.app.state.auth.decide(SCOPE, None, host).allowed)


def console_auth(request: Request) -> str:
    """Dependency of every console page: who is looking (a key's name or the local demo).
    A plain ``def``: the session lookup may wait on the store, so FastAPI runs it in a thread."""
    who = session_user(request) if request.cookies.get(COOKIE) else None
    if who is not None:
        return f"已登录（{who}）"
    if open_without_login(request):
        return LOCAL
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if any(looks_like_id_card(part) for part in request.url.path.split("/")):
        target = COOKIE_PATH  # a 身份证号 is not carried on into the login page's URL
    raise LoginRequired(target)


Viewer = Annotated[str, Depends(console_auth)]


def safe_next(value: str | None) -> str:
    """Only same-site console paths are followed after sign-in (no open redirect)."""
    if not value or not value.startswith(COOKIE_PATH) or value.startswith("//"):
        return COOKIE_PATH
    if any(ch in value for ch in "\\\r\n"):
        return COOKIE_PATH
    return value
