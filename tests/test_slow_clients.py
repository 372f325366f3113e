"""Slow or idle clients are closed after the header/body read timeouts (service/protocol.py);
a normal request on the same server is unaffected, and a slow response is never cut."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
import uvicorn

from service.protocol import TimedHttpToolsProtocol


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    if scope["path"] == "/slow":
        await asyncio.sleep(1.5)  # longer than the header timeout: must not be cut
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module")
def server():
    mp = pytest.MonkeyPatch()
    mp.setenv("XUANXUE_HEADER_TIMEOUT", "1")
    mp.setenv("XUANXUE_BODY_TIMEOUT", "1")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=TimedHttpToolsProtocol, log_level="warning",
        timeout_keep_alive=30, lifespan="off",
    )  # fmt: skip
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield port
    srv.should_exit = True
    thread.join(10)
    mp.undo()


def _closed_after(sock: socket.socket, limit: float) -> float | None:
    """Seconds until the server closed ``sock`` (None if still open after ``limit``)."""
    sock.settimeout(limit)
    start = time.monotonic()
    try:
        while sock.recv(1024):
            pass
    except TimeoutError:
        return None
    return time.monotonic() - start


def test_trickling_headers_are_cut_off(server):
    with socket.create_connection(("127.0.0.1", server)) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        waited = _closed_after(s, 5)
    assert waited is not None and waited < 2.5


def test_idle_connection_without_a_request_is_closed(server):
    with socket.create_connection(("127.0.0.1", server)) as s:
        waited = _closed_after(s, 5)
    assert waited is not None and waited < 2.5


def test_slow_body_is_cut_off(server):
    with socket.create_connection(("127.0.0.1", server)) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        waited = _closed_after(s, 5)
    assert waited is not None and waited < 2.5


def test_normal_and_slow_responses_are_served(server):
    for path, limit in (("/", 2), ("/slow", 5)):
        with socket.create_connection(("127.0.0.1", server)) as s:
            request = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            s.sendall(request.encode())
            s.settimeout(limit)
            data = b""
            while chunk := s.recv(1024):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200") and b"\r\nok\r\n" in data
