"""uvicorn's httptools protocol with read timeouts for slow or idle clients.

uvicorn closes idle keep-alive connections but has no limit on how long a client may take
to *send* a request: a connection that sent ``GET / HTTP/1.1\\r\\nHost: x\\r\\n`` and stopped
stays open forever, and a few hundred such connections exhaust a worker. This protocol arms
a timer when a connection opens and when each request begins: the headers must be complete
within ``XUANXUE_HEADER_TIMEOUT`` seconds, then the body within ``XUANXUE_BODY_TIMEOUT``;
otherwise the connection is closed. Once a request is read the timer is off (a slow
*response*, e.g. a menu being solved, is not the client's fault).

Timeouts come from the environment (``service.main.run`` exports them) so that workers
started by uvicorn's supervisor, which re-import this class, get the same values.
"""

from __future__ import annotations

import asyncio
import os

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 30.0


def _seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


class TimedHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` that closes connections whose request arrives too slowly."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = _seconds("XUANXUE_HEADER_TIMEOUT", DEFAULT_HEADER_TIMEOUT)
        self.body_timeout = _seconds("XUANXUE_BODY_TIMEOUT", DEFAULT_BODY_TIMEOUT)
        self._read_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.header_timeout)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(self.body_timeout)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._read_timer = self.loop.call_later(seconds, self._read_timed_out)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if not self.transport.is_closing():
            self.transport.close()
