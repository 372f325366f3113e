"""Pure-ASGI middleware: body-size limit, X-Model-Version, metrics, one JSON log line.

Pure ASGI (not ``BaseHTTPMiddleware``) so the body limit can count streamed bytes and the
route template (set in the scope by the router) is visible after the call.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import error_body, model_version_of
from service.logs import ACCESS
from service.metrics import Metrics

access_log = logging.getLogger(ACCESS)
log = logging.getLogger(__name__)

UNMATCHED = "<unmatched>"


class _TooLarge(Exception):
    pass


class ServiceMiddleware:
    """Wraps every HTTP request of the app."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int) -> None:
        self.app, self.metrics, self.limit = app, metrics, max_body_bytes

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
                message = {**message, "headers": headers}
            await send(message)

        try:
            replay = await self._read_body(scope, receive)
            await self.app(scope, replay, send_wrapper)
        except _TooLarge:
            await self._json(
                scope, send_wrapper, 413, f"request body larger than {self.limit} bytes"
            )
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], _route(scope))
            if not response_started:
                await self._json(scope, send_wrapper, 500, "internal error; it has been logged")
        finally:
            self._record(scope, status, time.perf_counter() - started)

    async def _read_body(self, scope: Scope, receive: Receive) -> Receive:
        """Check Content-Length, then buffer the body counting bytes (chunked uploads too)."""
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    if int(value) > self.limit:
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
            if total > self.limit:
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

    async def _json(self, scope: Scope, send: Send, status: int, message: str) -> None:
        body = json.dumps(error_body(scope, status, message), ensure_ascii=False).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
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
