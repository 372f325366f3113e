"""One client cannot take every connection slot (service/protocol.py), against real uvicorn.

Parked sockets are closed oldest-first once the idle budget is spent, so a normal request
still gets through while uvicorn's ``limit_concurrency`` would otherwise answer 503; one
address holds at most its per-client share (trusted proxies exempt); a request in progress
is never evicted; megabytes of headers get 431 instead of being buffered.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn

from service.protocol import TimedHttpToolsProtocol, registry

LIMIT_CONCURRENCY = 20


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    if scope["path"] == "/slow":
        await asyncio.sleep(1.0)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@contextlib.contextmanager
def serve(monkeypatch, **env: str) -> Iterator[tuple[int, uvicorn.Server]]:
    for name, value in {"XUANXUE_HEADER_TIMEOUT": "30", **env}.items():
        monkeypatch.setenv(name, value)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=TimedHttpToolsProtocol, log_level="error",
        lifespan="off", limit_concurrency=LIMIT_CONCURRENCY, timeout_keep_alive=30,
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield port, server
    finally:
        server.should_exit = True
        thread.join(10)


def park(port: int, n: int, partial: bytes = b"") -> list[socket.socket]:
    """``n`` connections that send at most the start of a request, then nothing."""
    out = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        if partial:
            s.sendall(partial)
        out.append(s)
        time.sleep(0.005)  # distinct ages: the oldest are the first ones
    time.sleep(0.3)
    return out


def closed(sock: socket.socket) -> bool:
    sock.settimeout(0.05)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def get(port: int, path: str = "/", timeout: float = 5) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return data


def test_parked_sockets_cannot_starve_a_normal_request(monkeypatch):
    with serve(monkeypatch, XUANXUE_IDLE_CONNECTIONS="8") as (port, server):
        parked = park(port, 3 * LIMIT_CONCURRENCY, partial=b"GET / HTTP/1.1\r\nHost: x\r\n")
        try:
            for _ in range(5):
                assert get(port).startswith(b"HTTP/1.1 200"), "a normal request got through"
            # all were parked within a second: new ones are spared up to twice the budget
            shut = [closed(s) for s in parked]
            assert sum(shut) >= len(parked) - 2 * 8
            assert all(shut[: len(parked) - 2 * 8 - 5]), "the oldest idle ones closed first"
            assert registry(server.server_state).evicted >= len(parked) - 2 * 8
        finally:
            for s in parked:
                s.close()


def test_idle_sockets_within_the_budget_do_not_count_against_the_limit(monkeypatch):
    """More parked sockets than limit_concurrency, fewer than the idle budget: none is
    closed, and a normal request is still served (uvicorn alone would answer 503)."""
    with serve(monkeypatch, XUANXUE_IDLE_CONNECTIONS="200") as (port, server):
        parked = park(port, 2 * LIMIT_CONCURRENCY, partial=b"GET / HTTP/1.1\r\nHost: x\r\n")
        try:
            for _ in range(5):
                assert get(port).startswith(b"HTTP/1.1 200")
            assert not any(closed(s) for s in parked)
            assert registry(server.server_state).evicted == 0
        finally:
            for s in parked:
                s.close()


def test_without_the_budget_parked_sockets_do_starve_it(monkeypatch):
    """The control: uvicorn alone answers 503 once parked sockets fill limit_concurrency."""
    with serve(monkeypatch, XUANXUE_IDLE_CONNECTIONS="0") as (port, _):
        parked = park(port, LIMIT_CONCURRENCY + 5)
        try:
            assert get(port).startswith(b"HTTP/1.1 503")
        finally:
            for s in parked:
                s.close()


def test_one_client_holds_at_most_its_share_unless_it_is_a_trusted_proxy(monkeypatch):
    env = {"XUANXUE_IDLE_CONNECTIONS": "100", "XUANXUE_MAX_CONNECTIONS_PER_CLIENT": "5"}
    with serve(monkeypatch, XUANXUE_TRUSTED_PROXIES="10.9.9.9", **env) as (port, _):
        parked = park(port, 12)
        try:
            shut = [closed(s) for s in parked]
            assert shut == [True] * 7 + [False] * 5  # its own oldest idle ones go
        finally:
            for s in parked:
                s.close()
    with serve(monkeypatch, XUANXUE_TRUSTED_PROXIES="127.0.0.1", **env) as (port, _):
        parked = park(port, 12)  # nginx on loopback carries many clients: not limited
        try:
            assert not any(closed(s) for s in parked)
        finally:
            for s in parked:
                s.close()


def test_a_request_in_progress_is_never_evicted(monkeypatch):
    with serve(monkeypatch, XUANXUE_IDLE_CONNECTIONS="2") as (port, _):
        result: list[bytes] = []
        slow = threading.Thread(target=lambda: result.append(get(port, "/slow")))
        slow.start()
        time.sleep(0.2)
        parked = park(port, 30)
        slow.join(10)
        for s in parked:
            s.close()
    assert result and result[0].startswith(b"HTTP/1.1 200") and b"\r\nok\r\n" in result[0]


def test_megabytes_of_headers_get_431_not_buffered(monkeypatch):
    with serve(monkeypatch, XUANXUE_MAX_HEADER_BYTES="16384") as (port, _):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            answer = b""
            with contextlib.suppress(OSError):  # the server may close while we still send
                for _ in range(8 * 64):  # up to 8 MB of one header, 16 KB at a time
                    s.sendall(b"X-Pad-" + b"a" * 16378 + b"\r\n")
            with contextlib.suppress(OSError):
                while chunk := s.recv(4096):
                    answer += chunk
        assert answer.startswith(b"HTTP/1.1 431"), answer[:80]
        assert "请求头超过 16384 字节上限".encode() in answer
        assert get(port).startswith(b"HTTP/1.1 200")  # the server is fine
