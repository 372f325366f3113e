"""Who may open the console.

Rules (the same as the JSON API's reads): while no API key is configured, loopback clients
open the console without signing in (the ``make run`` demo); once keys exist, staff sign in
with a key that grants ``read``. The key travels in an HttpOnly, SameSite=Strict cookie
scoped to ``/console`` — never in a URL. Everything that knows about the API-key scheme is
in :func:`verify_key` and :func:`open_without_login`, so wiring the console to another
scheme means changing those two functions only.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

log = logging.getLogger(__name__)

COOKIE = "xuanxue_console_key"
COOKIE_PATH = "/console"
COOKIE_MAX_AGE = 8 * 3600  # one working day
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


def verify_key(key: str | None, request: Request, scope: str = SCOPE) -> bool:
    """True when ``key`` grants ``scope``: ``service.deps.check_key`` if the service has it,
    else a constant-time comparison with ``Settings.api_key``."""
    if not key:
        return False
    try:
        from service.deps import check_key
    except ImportError:
        check_key = None
    if check_key is not None:
        try:
            return bool(check_key(key, scope, request=request))
        except TypeError:  # an older signature without the request
            return bool(check_key(key, scope))
    secret = getattr(request.app.state.settings, "api_key", None)
    if secret is None:
        return False
    return hmac.compare_digest(key.encode(), secret.get_secret_value().encode())


def _is_loopback(host: str | None) -> bool:
    try:
        return ipaddress.ip_address((host or "").split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def open_without_login(request: Request) -> bool:
    """May this client read without a key? Asks the service's authenticator when there is
    one (its loopback rule and key file); else: no ``api_key`` set and a loopback client."""
    host = request.client.host if request.client else None
    auth = getattr(request.app.state, "auth", None)
    decide = getattr(auth, "decide", None)
    if decide is not None:
        return bool(decide(SCOPE, None, host).allowed)
    settings = request.app.state.settings
    return getattr(settings, "api_key", None) is None and _is_loopback(host)


def signed_in(request: Request) -> bool:
    return verify_key(request.cookies.get(COOKIE), request)


async def console_auth(request: Request) -> str:
    """Dependency of every console page: who is looking (key holder or the local demo)."""
    if signed_in(request):
        return "已登录"
    if open_without_login(request):
        return LOCAL
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    raise LoginRequired(target)


Viewer = Annotated[str, Depends(console_auth)]


def safe_next(value: str | None) -> str:
    """Only same-site console paths are followed after sign-in (no open redirect)."""
    if not value or not value.startswith(COOKIE_PATH) or value.startswith("//"):
        return COOKIE_PATH
    if any(ch in value for ch in "\\\r\n"):
        return COOKIE_PATH
    return value
