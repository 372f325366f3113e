"""Pure-ASGI middleware: Host allow-list, API keys, per-key rate limits, header and body
limits, X-Model-Version, nosniff/no-store, metrics, logs.

Pure ASGI (not ``BaseHTTPMiddleware``) so the key is checked from the headers before any of
the body is read, the body limit can count streamed bytes, and the route template (set in
the scope by the router) is visible after the call.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.auth import LOCAL, OPEN_PATHS, Authenticator, required_scope, token_of
from service.errors import error_body, model_version_of
from service.logs import ACCESS
from service.metrics import Metrics
from service.ratelimit import RateLimiter

access_log = logging.getLogger(ACCESS)
log = logging.getLogger(__name__)

UNMATCHED = "<unmatched>"


#: paths whose bodies may be larger (the completion-event batches)
EVENTS_PATH = "/v1/completions"


class _TooLarge(Exception):
    pass


#: Host names a loopback-only service answers to (with no API key configured)
LOOPBACK_NAMES = ("localhost", "*.localhost")
#: on every response unless the route set its own (cadre data must not be cached or sniffed)
DEFAULT_HEADERS = ((b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store"))


def host_of(headers: Sequence[tuple[bytes, bytes]]) -> str:
    """The Host header without its port, lower case ('' when missing)."""
    for name, value in headers:
        if name == b"host":
            host = value.decode("latin-1").strip().lower()
            if host.startswith("["):  # [::1]:8000
                return host[1 : host.find("]")] if "]" in host else host
            return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return ""


def host_allowed(host: str, patterns: Sequence[str]) -> bool:
    """``host`` matches a pattern: exact, ``*.suffix`` (subdomains), or ``*`` (any)."""
    for pattern in patterns:
        p = pattern.strip().lower()
        if p == "*" or p == host or (p.startswith("*.") and host.endswith(p[1:])):
            return True
    return False


def is_loopback_host(host: str) -> bool:
    if host_allowed(host, LOOPBACK_NAMES):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ServiceMiddleware:
    """Wraps every HTTP request of the app."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_body_bytes: int,
        max_events_body_bytes: int | None = None,
        max_header_bytes: int = 16 * 1024,
        auth: Authenticator | None = None,
        allowed_hosts: Sequence[str] = (),
        limiter: RateLimiter | None = None,
    ) -> None:
        self.app, self.metrics, self.limit = app, metrics, max_body_bytes
        self.events_limit = max_events_body_bytes or max_body_bytes
        self.header_limit, self.auth = max_header_bytes, auth
        self.allowed_hosts, self.limiter = tuple(allowed_hosts), limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", []))
                version = model_version_of(scope) or "none"
                headers.append((b"x-model-version", version.encode("latin-1", "replace")))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in DEFAULT_HEADERS if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        limit = self.events_limit if scope["path"].rstrip("/") == EVENTS_PATH else self.limit
        try:
            if not await self._admitted(scope, send_wrapper):
                return
            replay = await self._read_body(scope, receive, limit)
            await self.app(scope, replay, send_wrapper)
        except _TooLarge:
            await self._json(
                scope,
                send_wrapper,
                413,
                f"请求体超过 {limit} 字节上限",
                hint="POST /v1/completions 每次最多 1,000 条事件；更多请分批发送"
                if limit == self.events_limit
                else None,
            )
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], _route(scope))
            if not response_started:
                await self._json(scope, send_wrapper, 500, "服务内部错误，已记录日志")
        finally:
            self._record(scope, status, time.perf_counter() - started)

    async def _admitted(self, scope: Scope, send: Send) -> bool:
        """Header size and API key, from the request line and headers only (no body read)."""
        headers = scope.get("headers", ())
        size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        size += sum(len(name) + len(value) + 4 for name, value in headers)
        if size > self.header_limit:
            await self._json(scope, send, 431, f"请求头超过 {self.header_limit} 字节上限")
            return False
        if not self._host_ok(scope):
            await self._json(
                scope,
                send,
                400,
                "请求的 Host 不在本服务的允许列表中",
                error="host_not_allowed",
                hint="用本服务的地址访问，或把该域名加入 XUANXUE_ALLOWED_HOSTS",
            )
            return False
        needed = required_scope(scope["path"]) if self.auth is not None else None
        if needed is None:
            return True
        client = scope.get("client")
        decision = self.auth.decide(needed, token_of(headers), client[0] if client else None)
        if not decision.allowed:
            await self._json(
                scope,
                send,
                decision.status,
                decision.message,
                error=decision.error,
                hint=decision.hint,
                headers=decision.headers,
            )
            return False
        scope.setdefault("state", {})["auth"] = (decision.who, decision.scopes)
        keyed = decision.who is not None and decision.who != LOCAL  # keyless loopback: no limit
        wait = self.limiter.allow(decision.who) if self.limiter and keyed else 0
        if wait:
            await self._json(
                scope,
                send,
                429,
                f"请求过于频繁：密钥 {decision.who!r} 超过每秒 {self.limiter.rate:g} 次的上限",
                error="rate_limited",
                hint=f"{wait} 秒后重试（XUANXUE_RATE_LIMIT / XUANXUE_RATE_BURST）",
                headers={"Retry-After": str(wait)},
            )
            return False
        return True

    def _host_ok(self, scope: Scope) -> bool:
        """Host allow-list (DNS rebinding): the configured list, else loopback names while no
        API key exists (a loopback-only service) and any host once keys guard it."""
        if scope["path"] in OPEN_PATHS:
            return True  # health and metrics: probes use the pod's address
        host = host_of(scope.get("headers", ()))
        if self.allowed_hosts:
            return host_allowed(host, self.allowed_hosts)
        if self.auth is None or self.auth.has_keys():
            return True
        return is_loopback_host(host)

    async def _read_body(self, scope: Scope, receive: Receive, limit: int) -> Receive:
        """Check Content-Length, then buffer the body counting bytes (chunked uploads too)."""
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    if int(value) > limit:
                        raise _TooLarge
                except ValueError:
                    pass
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # client went away: let the app see it
                first: Message | None = message
                break
            body = message.get("body", b"")
            total += len(body)
            if total > limit:
                raise _TooLarge
            chunks.append(body)
            if not message.get("more_body", False):
                first = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                break
        pending = [first]

        async def replay() -> Message:
            if pending:
                return pending.pop()
            return await receive()

        return replay

    async def _json(
        self,
        scope: Scope,
        send: Send,
        status: int,
        message: str,
        *,
        error: str | None = None,
        hint: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        payload = error_body(scope, status, message, error=error, hint=hint)
        body = json.dumps(payload, ensure_ascii=False).encode()
        raw = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        raw += [(k.lower().encode(), v.encode("latin-1")) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route, method = _route(scope), scope["method"]
        self.metrics.requests.labels(method=method, route=route, status=str(status)).inc()
        self.metrics.latency.labels(method=method, route=route).observe(seconds)
        access_log.info(
            "request",
            extra={
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "model_version": model_version_of(scope),
            },
        )


def _route(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED
