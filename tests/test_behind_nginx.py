"""The service behind a real nginx (Debian's package) terminating TLS, configured as the
deployment guide's example (docs/reference/replicas.md): the console cookie is Secure
through ``X-Forwarded-Proto``, the response headers reach the client, nginx's ``limit_req``
answers 429 and its header buffers refuse oversized headers, and 300 idle sockets parked on
nginx do not stop a normal request. Slow: a real ``recommender serve`` and nginx processes.
Without nginx it skips, except under CI (``CI=true``) where it fails (`make test` installs it).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from recommender.lifecycle.keys import add_key

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
NGINX = ("/usr/sbin/nginx", "/usr/bin/nginx")

CONF = """
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    limit_conn_zone $binary_remote_addr zone=xuanxue_conn:10m;
    limit_req_zone  $binary_remote_addr zone=xuanxue_req:10m rate=20r/s;
    upstream xuanxue {{
        server 127.0.0.1:{app};
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name xuanxue.test;
        ssl_certificate {tmp}/cert.pem;
        ssl_certificate_key {tmp}/key.pem;
        client_max_body_size 1m;
        client_header_buffer_size 1k;
        large_client_header_buffers 4 8k;
        client_header_timeout 10s;
        client_body_timeout 30s;
        keepalive_timeout 15s;
        limit_conn xuanxue_conn 32;
        limit_req zone=xuanxue_req burst=40 nodelay;
        limit_conn_status 429;
        limit_req_status 429;
        location /v1/admin/ {{ return 403; }}
        location / {{
            proxy_pass http://xuanxue;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 30s;
        }}
    }}
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _nginx() -> str:
    found = next((p for p in NGINX if os.access(p, os.X_OK)), shutil.which("nginx"))
    if found:
        return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("needs Debian's nginx (`make test` installs it)")
    pytest.skip("needs Debian's nginx (`make test` installs it)")


def _self_signed(tmp: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "xuanxue.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _wait(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{proc.args[0]} exited ({proc.returncode})"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1, verify=False).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready in {timeout} s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


@pytest.fixture(scope="module")
def stack(tiny_models, tmp_path_factory) -> Iterator[dict]:
    nginx = _nginx()
    tmp = tmp_path_factory.mktemp("nginx")
    keys = tmp / "api_keys.json"
    token, _ = add_key(keys, "门户", "read")
    app_port, port = _free_port(), _free_port()
    env = {
        **os.environ,
        "XUANXUE_KEYS_FILE": str(keys),
        "XUANXUE_EVENTS_PATH": str(tmp / "events.sqlite3"),
        "XUANXUE_ALLOWED_HOSTS": "xuanxue.test,127.0.0.1",
        "XUANXUE_LOG_LEVEL": "WARNING",
    }
    args = ["serve", "--model", str(tiny_models), "--host", "127.0.0.1", "--port", str(app_port)]
    serve = subprocess.Popen(
        [sys.executable, "-m", "recommender", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _self_signed(tmp)
    (tmp / "nginx.conf").write_text(CONF.format(tmp=tmp, app=app_port, port=port))
    proxy = None
    try:
        _wait(f"http://127.0.0.1:{app_port}/readyz", serve)
        proxy = subprocess.Popen(
            [nginx, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # nginx logs to {tmp}/error.log
            start_new_session=True,
        )
        _wait(f"https://127.0.0.1:{port}/healthz", proxy, timeout=30)
        yield {"base": f"https://127.0.0.1:{port}", "port": port, "token": token}
    finally:
        if proxy is not None:
            _stop(proxy)
        _stop(serve)


def _client(stack: dict) -> httpx.Client:
    # the certificate is self-signed; Host is the public name the service allows
    return httpx.Client(
        base_url=stack["base"], verify=False, timeout=10, headers={"Host": "xuanxue.test"}
    )


def test_api_answers_through_nginx_with_its_headers(stack):
    with _client(stack) as c:
        r = c.get("/v1/model", headers={"X-API-Key": stack["token"]})
        assert r.status_code == 200, r.text
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["cache-control"] == "no-store"
        assert c.get("/v1/model").status_code == 401  # the key is still required
        r = c.get("/v1/model", headers={"X-API-Key": stack["token"], "Host": "evil.example"})
        assert r.status_code == 400 and r.json()["error"] == "host_not_allowed"


def test_console_cookie_is_secure_behind_tls(stack):
    with _client(stack) as c:
        r = c.post(
            "/console/login",
            data={"key": stack["token"], "next": "/console"},
            headers={"Origin": "https://xuanxue.test"},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        cookie = r.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
        assert stack["token"].lower() not in cookie


def test_nginx_limits_requests_and_header_size(stack):
    with _client(stack) as c:
        codes = [
            c.get("/v1/model", headers={"X-API-Key": stack["token"]}).status_code for _ in range(80)
        ]
        assert codes.count(429) > 0 and codes.count(200) >= 30, codes
        time.sleep(3)  # the bucket refills (20 r/s)
        r = c.get("/v1/model", headers={"X-API-Key": stack["token"], "X-Pad": "a" * 20_000})
        assert r.status_code in (400, 494), r.status_code


def test_idle_sockets_on_nginx_do_not_stop_a_normal_request(stack):
    parked = []
    try:
        for _ in range(300):
            s = socket.create_connection(("127.0.0.1", stack["port"]))
            parked.append(s)
        time.sleep(0.5)
        with _client(stack) as c:
            t0 = time.perf_counter()
            r = c.get("/v1/model", headers={"X-API-Key": stack["token"]})
            assert r.status_code == 200 and time.perf_counter() - t0 < 2
    finally:
        for s in parked:
            s.close()
