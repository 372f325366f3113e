"""The service's request-level defences: Host allow-list, per-key rate limits, nosniff and
no-store on every response, X-Forwarded-* only from trusted proxies, a CPU-heavy handler off
the event loop, dates range-checked, connection strings never printed."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from recommender.lifecycle.keys import add_key
from service.main import create_app
from tests.service_support import BASE_URL, TestClient, client_for, make_settings

ROOT = Path(__file__).resolve().parents[1]


def _client(settings, **kw) -> TestClient:
    return TestClient(create_app(settings), base_url=kw.pop("base_url", BASE_URL), **kw)


# ------------------------------------------------------------------ Host allow-list
def test_without_keys_only_loopback_host_names_are_served(tiny_models, tmp_path):
    settings = make_settings(tiny_models, tmp_path / "e.sqlite3")
    with client_for(settings) as c:
        for host in ("localhost", "127.0.0.1:8000", "[::1]:8000", "app.localhost"):
            assert c.get("/v1/model", headers={"Host": host}).status_code == 200, host
        for host in ("attacker.example", "attacker.example:8000", "10.0.0.5", ""):
            r = c.get("/v1/model", headers={"Host": host})
            assert r.status_code == 400, host
            assert (
                r.json()["error"] == "host_not_allowed"
                and "XUANXUE_ALLOWED_HOSTS" in r.json()["hint"]
            )
        # probes use the pod's address: health and metrics answer any Host
        assert c.get("/healthz", headers={"Host": "10.0.0.5"}).status_code == 200
        assert c.get("/console", headers={"Host": "attacker.example"}).status_code == 400


def test_with_keys_any_host_unless_a_list_is_configured(tiny_models, tmp_path):
    keys = tmp_path / "api_keys.json"
    token, _ = add_key(keys, "portal", "read")
    h = {"X-API-Key": token}
    with client_for(make_settings(tiny_models, tmp_path / "e.sqlite3", keys_file=keys)) as c:
        assert c.get("/v1/model", headers={**h, "Host": "api.example.org"}).status_code == 200
    listed = make_settings(
        tiny_models,
        tmp_path / "e.sqlite3",
        keys_file=keys,
        allowed_hosts=("api.example.org", "*.xuanxue.example"),
    )
    with client_for(listed) as c:
        for host, status in (
            ("api.example.org", 200),
            ("API.example.org:443", 200),
            ("node1.xuanxue.example", 200),
            ("xuanxue.example.evil", 400),
            ("localhost", 400),
        ):
            assert c.get("/v1/model", headers={**h, "Host": host}).status_code == status, host


# ------------------------------------------------------------------ rate limits
def test_a_key_over_its_rate_gets_429_with_retry_after(tiny_models, tmp_path):
    keys = tmp_path / "api_keys.json"
    busy, _ = add_key(keys, "busy", "read")
    other, _ = add_key(keys, "other", "read")
    settings = make_settings(
        tiny_models, tmp_path / "e.sqlite3", keys_file=keys, rate_limit=1, rate_burst=5
    )
    with client_for(settings) as c:
        codes = [c.get("/v1/model", headers={"X-API-Key": busy}).status_code for _ in range(8)]
        assert codes[:5] == [200] * 5 and codes[5:] == [429] * 3
        r = c.get("/v1/model", headers={"X-API-Key": busy})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        body = r.json()
        assert body["error"] == "rate_limited" and "'busy'" in body["message"]
        assert set(body) >= {"error", "message", "detail", "hint", "model_version"}
        # another key has its own bucket; health is never limited
        assert c.get("/v1/model", headers={"X-API-Key": other}).status_code == 200
        assert c.get("/healthz").status_code == 200
        time.sleep(1.1)  # one token back
        assert c.get("/v1/model", headers={"X-API-Key": busy}).status_code == 200


def test_keyless_loopback_reads_are_not_rate_limited(tiny_models, tmp_path):
    settings = make_settings(tiny_models, tmp_path / "e.sqlite3", rate_limit=1, rate_burst=2)
    with client_for(settings) as c:
        assert {c.get("/v1/model").status_code for _ in range(10)} == {200}


# ------------------------------------------------------------------ response headers
def test_every_api_response_is_nosniff_and_no_store(client, cadre_ids):
    for method, path in (
        ("GET", f"/v1/cadres/{cadre_ids[0]}/recommendations"),
        ("GET", "/v1/cadres/NOPE/recommendations"),  # errors too
        ("POST", f"/v1/cadres/{cadre_ids[0]}/menu"),
        ("GET", "/v1/model"),
        ("GET", "/openapi.json"),
        ("GET", "/healthz"),
    ):
        r = client.request(method, path)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["cache-control"] == "no-store", path
    # the console's own static files keep their cache lifetime
    r = client.get("/console/static/console.css")
    assert r.headers["cache-control"] == "max-age=3600"


# ------------------------------------------------------------------ proxies
def test_forwarded_headers_count_only_from_a_trusted_proxy(tiny_models, tmp_path):
    """No keys: reads are for loopback clients. A client that claims to forward for one is
    still itself; a trusted proxy's X-Forwarded-For names the real (remote) client."""
    claim = {"X-Forwarded-For": "10.0.0.9"}
    plain = make_settings(tiny_models, tmp_path / "e.sqlite3")  # testclient: not a proxy
    with client_for(plain) as c:
        assert c.get("/v1/model", headers=claim).status_code == 200
    proxied = make_settings(tiny_models, tmp_path / "e.sqlite3", trusted_proxies=("*",))
    with client_for(proxied) as c:
        r = c.get("/v1/model", headers=claim)
        assert r.status_code == 403 and r.json()["error"] == "no_keys_configured"
        assert c.get("/v1/model", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200


# ------------------------------------------------------------------ event loop
def test_long_profile_scoring_runs_off_the_event_loop(client, tiny_model, monkeypatch):
    """A slow (long) profile request must not hold /healthz: it runs in the thread pool;
    a profile of ordinary length is ranked on the event loop (no thread switch)."""
    from service.routes.recommendations import INLINE_PROFILE_CHARS

    model = client.app.state.holder.current.model
    real = type(model).recommend_profile
    entered = threading.Event()
    threads: list[str] = []

    def slow(self, *a, **kw):
        threads.append(threading.current_thread().name)
        if len(a[0]["job_description"]) > INLINE_PROFILE_CHARS:
            entered.set()
            time.sleep(1.0)  # stands in for tokenising a very large profile
        return real(self, *a, **kw)

    monkeypatch.setattr(type(model), "recommend_profile", slow)
    short = {"job_title": "乡镇干部", "job_description": "负责乡村振兴和基层治理"}
    assert client.post("/v1/recommendations", json=short).status_code == 200
    loop_thread = threads[-1]
    assert client.post("/v1/recommendations", json=short).status_code == 200
    assert threads[-1] == loop_thread  # the same (event loop) thread each time
    body = {"job_title": "乡镇干部", "job_description": "负责乡村振兴和基层治理。" * 100}
    done: list[int] = []
    worker = threading.Thread(
        target=lambda: done.append(client.post("/v1/recommendations", json=body).status_code)
    )
    worker.start()
    assert entered.wait(5)
    t0 = time.perf_counter()
    assert client.get("/healthz").status_code == 200
    waited = time.perf_counter() - t0
    worker.join(10)
    assert done == [200] and waited < 0.5, f"/healthz waited {waited:.2f} s"
    assert threads[-1] != loop_thread


# ------------------------------------------------------------------ dates
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"as_of": "0001-01-01"}, "as_of"),
        ({"as_of": "9999-12-31"}, "as_of"),
        ({"start": "9999-12-31T23:59:59-12:00"}, "start"),
    ],
)
def test_menu_dates_out_of_range_are_422(client, cadre_ids, body, field):
    r = client.post(f"/v1/cadres/{cadre_ids[0]}/menu", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0] == {
        "loc": ["body", field],
        "msg": "日期应在 2000 年到 2100 年之间",
        "type": "date_out_of_range",
    }


def test_event_dates_that_would_overflow_are_422(client, cadre_ids, course_ids):
    from tests.service_support import WRITE

    for when in ("0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-12:00"):
        event = {"cadre_id": cadre_ids[0], "course_id": course_ids[0], "enrolled_at": when}
        r = client.post("/v1/completions", json=event, headers=WRITE)
        assert r.status_code == 422 and r.json()["detail"][0]["type"] == "date_out_of_range"


# ------------------------------------------------------------------ redaction
def test_cli_never_prints_a_database_password(tiny_models):
    url = "postgresql://xuanxue:Sup3rSecret@127.0.0.1:1/xuanxue"
    args = ["recommend", "--model", str(tiny_models), "--cadre", "X", "--events", url]
    proc = subprocess.run(
        [sys.executable, "-m", "recommender", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "Sup3rSecret" not in out and "xuanxue:***@127.0.0.1" in out, out[-400:]
