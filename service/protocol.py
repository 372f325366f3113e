"""uvicorn's httptools protocol, hardened against clients that hold connections.

uvicorn closes idle keep-alive connections but has no limit on how long a client may take
to *send* a request, no cap on the bytes of a request's headers (with httptools), and its
``limit_concurrency`` counts every connection of the worker: 300 idle sockets from one client
that reconnect whenever they are closed keep every slot taken, and everybody else gets 503.
This protocol adds, per worker:

- **read timeouts**: the headers must be complete within ``XUANXUE_HEADER_TIMEOUT`` seconds
  of the connection (or of the request's first byte), then the body within
  ``XUANXUE_BODY_TIMEOUT``; once a request is read the timer is off (a slow *response*, e.g.
  a menu being solved, is not the client's fault);
- **a header-size cap**: more than ``XUANXUE_MAX_HEADER_BYTES`` (+1 KiB for the request
  line) before the end of the headers gets 431 and the connection is closed, so megabytes
  of headers are never buffered;
- **an idle-connection budget**: a connection with no request in progress (just opened,
  trickling its headers, or a keep-alive between requests) is *idle*. Idle connections do
  not count against ``limit_concurrency`` (which then bounds the requests actually being
  served), so parked sockets no longer make uvicorn answer 503 to everybody else; instead
  at most ``XUANXUE_IDLE_CONNECTIONS`` may be idle, and past that the one idle the longest
  is closed (0 turns this off: plain uvicorn). A connection idle for less than
  ``MIN_IDLE_AGE`` is not picked (its request may already be waiting in the socket while
  the event loop accepts a burst of others) unless twice the budget is idle; so a client
  that sends its request promptly is not pushed out by sockets that reconnect at once;
- **a per-client connection limit**: one address holds at most
  ``XUANXUE_MAX_CONNECTIONS_PER_CLIENT`` connections; past it the client's own oldest idle
  connection is closed (or the new one, if none of its connections is idle). Trusted
  proxies (``XUANXUE_TRUSTED_PROXIES``, e.g. the nginx in front) are exempt: they carry
  many clients and limit them per client themselves (``limit_conn``).

Settings come from the environment (``service.main.run`` exports them) so that workers
started by uvicorn's supervisor, which re-import this class, get the same values.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
from collections import OrderedDict
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 30.0
DEFAULT_MAX_HEADER_BYTES = 16 * 1024
DEFAULT_IDLE_CONNECTIONS = 512  # ~10 KB each; well under a 1,024-descriptor soft limit
DEFAULT_MAX_CONNECTIONS_PER_CLIENT = 32
DEFAULT_TRUSTED_PROXIES = "127.0.0.1,::1"
REQUEST_LINE_SLACK = 1024
#: seconds a new or just-served connection is spared by the idle budget (up to twice it)
MIN_IDLE_AGE = 1.0


def _number(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


def _count(name: str, default: int) -> int:
    """A count from the environment; 0 turns the limit off (returned as 0)."""
    try:
        value = int(os.environ.get(name, default))
    except ValueError:
        return default
    return max(value, 0)


def trusted_networks(text: str) -> list[Any]:
    """``a.b.c.d``, networks and ``*`` (any) as ip networks (a bad entry is skipped)."""
    out: list[Any] = []
    for part in (p.strip() for p in text.split(",")):
        if part == "*":
            return [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            continue
    return out


def _in(networks: list[Any], host: str | None) -> bool:
    try:
        address = ipaddress.ip_address((host or "").split("%", 1)[0])
    except ValueError:
        return False
    return any(address in net for net in networks)


class _Registry:
    """Idle connections of one server (oldest first) and every connection per client."""

    def __init__(self) -> None:
        self.idle: OrderedDict[int, TimedHttpToolsProtocol] = OrderedDict()
        self.by_client: dict[str, OrderedDict[int, TimedHttpToolsProtocol]] = {}
        self.evicted = 0  # idle connections closed for the budget or the per-client limit
        self.refused = 0  # new connections closed because their client had no idle one


def registry(server_state: Any) -> _Registry:
    """The registry of the uvicorn server owning ``server_state`` (one per worker)."""
    found = getattr(server_state, "xuanxue_connections", None)
    if found is None:
        found = _Registry()
        server_state.xuanxue_connections = found
    return found


class TimedHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` with read timeouts, a header cap, an idle-connection budget
    and a per-client connection limit (see the module docstring)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = _number("XUANXUE_HEADER_TIMEOUT", DEFAULT_HEADER_TIMEOUT)
        self.body_timeout = _number("XUANXUE_BODY_TIMEOUT", DEFAULT_BODY_TIMEOUT)
        header_bytes = int(_number("XUANXUE_MAX_HEADER_BYTES", DEFAULT_MAX_HEADER_BYTES))
        self.header_cap = header_bytes + REQUEST_LINE_SLACK
        self.idle_budget = _count("XUANXUE_IDLE_CONNECTIONS", DEFAULT_IDLE_CONNECTIONS)
        self.per_client = _count(
            "XUANXUE_MAX_CONNECTIONS_PER_CLIENT", DEFAULT_MAX_CONNECTIONS_PER_CLIENT
        )
        self.trusted = trusted_networks(
            os.environ.get("XUANXUE_TRUSTED_PROXIES", DEFAULT_TRUSTED_PROXIES)
        )
        self._read_timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._reading_headers = True
        self._peer = ""
        self._idle_since = 0.0
        self._registry = registry(self.server_state)
        self._limit = self.limit_concurrency  # uvicorn's, for requests being served

    # ----------------------------------------------------------- connection life
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout)
        self._peer = self.client[0] if self.client else ""
        reg = self._registry
        mine = reg.by_client.setdefault(self._peer, OrderedDict())
        mine[id(self)] = self
        self._set_idle(True)
        if self.per_client and len(mine) > self.per_client and not _in(self.trusted, self._peer):
            oldest = next((p for p in mine.values() if id(p) in reg.idle and p is not self), None)
            if oldest is None:
                reg.refused += 1
                self._close()
                return
            reg.evicted += 1
            oldest._close()
        while self.idle_budget and len(reg.idle) > self.idle_budget:
            oldest = next(iter(reg.idle.values()))
            young = self.loop.time() - oldest._idle_since < MIN_IDLE_AGE
            if young and len(reg.idle) <= 2 * self.idle_budget:
                break  # everyone idle is new: over budget for a moment, not for long
            reg.evicted += 1
            oldest._close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._forget()
        super().connection_lost(exc)

    # ----------------------------------------------------------- request life
    def data_received(self, data: bytes) -> None:
        if self._reading_headers:
            self._header_bytes += len(data)
            if self._header_bytes > self.header_cap:
                self._too_large()
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.header_timeout)

    def on_headers_complete(self) -> None:
        self._reading_headers, self._header_bytes = False, 0
        self._set_idle(False)  # a request is in progress: never evicted
        if self.idle_budget and self._limit is not None:
            # uvicorn answers 503 when len(connections) or len(tasks) reaches its limit;
            # count only connections serving a request, not the idle ones
            busy = len(self.connections) - len(self._registry.idle)
            over = busy >= self._limit or len(self.tasks) >= self._limit
            self.limit_concurrency = self._limit if over else None
        super().on_headers_complete()
        self._arm(self.body_timeout)

    def on_message_complete(self) -> None:
        self._disarm()
        self._reading_headers = True  # the next bytes begin the next request
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._set_idle(True)  # a keep-alive waiting for its next request

    # ----------------------------------------------------------- helpers
    def _set_idle(self, idle: bool) -> None:
        reg = self._registry
        reg.idle.pop(id(self), None)
        if idle:
            reg.idle[id(self)] = self  # newest last: the budget closes the oldest first
            self._idle_since = self.loop.time()

    def _forget(self) -> None:
        reg = self._registry
        reg.idle.pop(id(self), None)
        mine = reg.by_client.get(self._peer)
        if mine is not None:
            mine.pop(id(self), None)
            if not mine:
                reg.by_client.pop(self._peer, None)

    def _close(self) -> None:
        self._disarm()
        self._forget()
        if not self.transport.is_closing():
            self.transport.close()

    def _too_large(self) -> None:
        message = f"请求头超过 {self.header_cap - REQUEST_LINE_SLACK} 字节上限"
        body = json.dumps(
            {"error": "request_header_fields_too_large", "message": message, "detail": []},
            ensure_ascii=False,
        ).encode()
        head = (
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\nconnection: close\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        self.transport.write(head + body)
        self._close()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._read_timer = self.loop.call_later(seconds, self._read_timed_out)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        self._close()
