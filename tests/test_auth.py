"""API keys with scopes, safe defaults without keys, and bounded work per request."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from recommender.lifecycle.keys import add_key, read_keys, revoke_key
from service.config import Settings
from service.deps import check_key
from service.main import create_app
from tests.service_support import BASE_URL, TestClient

ROOT = Path(__file__).resolve().parents[1]
LEGACY = "legacy-admin-key-0123456789"
PROFILE = {
    "job_title": "乡镇党委副书记",
    "job_description": "负责基层党建、乡村振兴、安全生产和应急管理工作",
    "unit_level": "township",
    "system": "农业农村",
    "rank": "一级主任科员",
}


def settings_for(tiny_models: Path, tmp: Path, **overrides) -> Settings:
    values = dict(
        model_path=tiny_models,
        events_path=tmp / "events.sqlite3",
        keys_file=tmp / "api_keys.json",
        max_k=1000,
    )
    return Settings(**{**values, **overrides})


def client(settings: Settings, host: str = "testclient") -> TestClient:
    return TestClient(create_app(settings), base_url=BASE_URL, client=(host, 50000))


@pytest.fixture(scope="module")
def keyed(tiny_models, tmp_path_factory):
    """An app with one key per scope in its keys file (and a revoked one)."""
    tmp = tmp_path_factory.mktemp("keyed")
    keys = {s: add_key(tmp / "api_keys.json", s, s)[0] for s in ("read", "write", "admin")}
    keys["revoked"] = add_key(tmp / "api_keys.json", "old", "admin")[0]
    revoke_key(tmp / "api_keys.json", "old")
    with client(settings_for(tiny_models, tmp, api_key=LEGACY)) as c:
        yield c, keys


def endpoints(cadre: str, course: str) -> list[tuple[str, str, dict | None, str | None]]:
    """(method, path, JSON body, scope needed) of every endpoint."""
    event = {
        "event_id": "auth-matrix-1",
        "cadre_id": cadre,
        "course_id": course,
        "enrolled_at": "2026-03-01T09:00:00",
    }
    return [
        ("GET", f"/v1/cadres/{cadre}/recommendations?k=3", None, "read"),
        ("POST", "/v1/recommendations", {**PROFILE, "k": 3}, "read"),
        ("POST", f"/v1/cadres/{cadre}/menu", {}, "read"),
        ("GET", f"/v1/courses/{course}/similar?k=3", None, "read"),
        ("GET", "/v1/model", None, "read"),
        ("GET", "/docs", None, None),  # the documentation opens without a key (Authorize)
        ("GET", "/redoc", None, None),
        ("GET", "/openapi.json", None, None),
        ("POST", "/v1/completions", event, "write"),
        ("POST", "/v1/admin/reload", None, "admin"),
        ("GET", "/healthz", None, None),
        ("GET", "/readyz", None, None),
        ("GET", "/metrics", None, None),
    ]


ORDER = ("read", "write", "admin")


def test_auth_matrix(keyed, cadre_ids, course_ids):
    c, keys = keyed
    for method, path, body, needed in endpoints(cadre_ids[0], course_ids[0]):
        for holder in (None, "read", "write", "admin", "revoked", "bogus"):
            headers = {}
            if holder == "bogus":
                headers = {"X-API-Key": "xx_not-a-key"}
            elif holder:
                headers = {"X-API-Key": keys[holder]}
            r = c.request(method, path, json=body, headers=headers)
            where = f"{method} {path} with {holder}"
            if needed is None or (holder in ORDER and ORDER.index(holder) >= ORDER.index(needed)):
                assert r.status_code == 200, (where, r.text)
                continue
            expected = 401 if holder is None else 403
            assert r.status_code == expected, (where, r.status_code, r.text)
            err = r.json()
            assert set(err) >= {"error", "message", "detail", "model_version"}, where
            assert err["error"] == {
                None: "unauthorized",
                "revoked": "invalid_api_key",
                "bogus": "invalid_api_key",
            }.get(holder, "insufficient_scope"), where
            if expected == 401:
                assert "WWW-Authenticate" in r.headers


def test_bearer_and_legacy_admin_key(keyed, cadre_ids):
    c, keys = keyed
    url = f"/v1/cadres/{cadre_ids[0]}/recommendations"
    assert c.get(url, headers={"Authorization": f"Bearer {keys['read']}"}).status_code == 200
    assert c.get(url, headers={"Authorization": "Basic abc"}).status_code == 401
    # XUANXUE_API_KEY is one more admin key: admin ⊇ write ⊇ read
    assert c.get(url, headers={"X-API-Key": LEGACY}).status_code == 200
    assert c.post("/v1/admin/reload", headers={"X-API-Key": LEGACY}).status_code == 200


def test_unknown_paths_need_a_key_too(keyed):
    c, keys = keyed
    assert c.get("/v1/nothing-here").status_code == 401
    assert c.get("/v1/nothing-here", headers={"X-API-Key": keys["read"]}).status_code == 404


def test_scope_is_checked_before_the_body_is_read(keyed):
    c, keys = keyed
    bad = {"content-type": "application/json"}
    for body in (b"{not json", b"\xff\xfe", b'{"k": 1e999}'):
        r = c.post("/v1/completions", content=body, headers={**bad, "X-API-Key": keys["read"]})
        assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"
        r = c.post("/v1/completions", content=body, headers=bad)
        assert r.status_code == 401
    # a stranger cannot make the service buffer a large body: refused before 413
    big = b"[" + b" " * (2 * 1024 * 1024) + b"]"
    assert c.post("/v1/completions", content=big, headers=bad).status_code == 401


def test_revoked_key_refused_by_a_running_service(keyed, tiny_models, tmp_path):
    settings = settings_for(tiny_models, tmp_path)
    token, _ = add_key(settings.keys_file, "portal", "read")
    add_key(settings.keys_file, "other", "read")  # keys stay configured after the revoke
    with client(settings) as c:
        c.app.state.auth.keys.recheck = 0  # the service re-reads within a second; now
        url = "/v1/model"
        assert c.get(url, headers={"X-API-Key": token}).status_code == 200
        revoke_key(settings.keys_file, "portal")
        r = c.get(url, headers={"X-API-Key": token})
        assert r.status_code == 403 and r.json()["error"] == "invalid_api_key"


def test_corrupt_keys_file_fails_closed(tiny_models, tmp_path):
    settings = settings_for(tiny_models, tmp_path)
    settings.keys_file.write_text("{not json", encoding="utf-8")
    with client(settings, host="127.0.0.1") as c:
        r = c.get("/v1/model")
        assert r.status_code == 503 and r.json()["error"] == "auth_unavailable"
        assert c.get("/healthz").status_code == 200


# ------------------------------------------------------------- no keys at all
def test_without_keys_reads_answer_loopback_only(tiny_models, tmp_path, cadre_ids):
    settings = settings_for(tiny_models, tmp_path)  # default local_clients: loopback only
    url = f"/v1/cadres/{cadre_ids[0]}/recommendations"
    for host in ("127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"):
        with client(settings, host=host) as c:
            assert c.get(url).status_code == 200, host
            assert c.get("/docs").status_code == 200
    for host in ("10.0.0.7", "192.168.1.20", "2001:db8::1", "testclient"):
        with client(settings, host=host) as c:
            r = c.get(url)
            assert r.status_code == 403, host
            assert r.json()["error"] == "no_keys_configured"
            assert "recommender keys add" in r.json()["message"]
            assert c.get("/healthz").status_code == 200


def test_without_keys_writes_are_refused_with_how_to(tiny_models, tmp_path, cadre_ids):
    settings = settings_for(tiny_models, tmp_path)
    event = {"cadre_id": cadre_ids[0], "course_id": "C1", "enrolled_at": "2026-03-01T09:00"}
    with client(settings, host="127.0.0.1") as c:
        for headers in ({}, {"X-API-Key": "xx_guess"}):
            r = c.post("/v1/completions", json=event, headers=headers)
            assert r.status_code == 403, r.text
            body = r.json()
            assert body["error"] == "no_keys_configured"
            assert "recommender keys add" in body["message"] and "--scopes write" in body["message"]
            assert "写入" in body["message"]
        r = c.post("/v1/admin/reload")
        assert r.status_code == 403 and "XUANXUE_API_KEY" in r.json()["message"]
        assert c.app.state.store.count() == 0


def test_check_key_for_other_callers(tmp_path, monkeypatch):
    path = tmp_path / "k.json"
    token, _ = add_key(path, "console", "write")
    monkeypatch.setenv("XUANXUE_KEYS_FILE", str(path))
    assert check_key(token, "read") and check_key(token, "write")
    assert not check_key(token, "admin")
    assert not check_key(None, "read") and not check_key("xx_nope", "read")


# ------------------------------------------------------------------- CLI keys
def _cli(*args: str, keys: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "recommender", "keys", *args, "--file", str(keys)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_keys_cli_add_list_revoke(tmp_path):
    keys = tmp_path / "var" / "api_keys.json"
    added = _cli("add", "portal", "--scopes", "read,write", keys=keys)
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert token.startswith("xx_") and len(token) > 40 and "\n" not in token
    assert "只显示这一次" in added.stderr
    text = keys.read_text(encoding="utf-8")
    assert token not in text and token[3:] not in text  # only the hash is stored
    stored = json.loads(text)["keys"][0]
    assert stored["scopes"] == ["read", "write"] and len(stored["sha256"]) == 64
    assert read_keys(keys).verify(token).name == "portal"
    assert (keys.stat().st_mode & 0o777) == 0o600

    listed = _cli("list", keys=keys)
    assert listed.returncode == 0 and "portal" in listed.stdout and "read,write" in listed.stdout
    assert token not in listed.stdout and stored["sha256"] not in listed.stdout

    again = _cli("add", "portal", keys=keys)
    assert again.returncode == 1 and "revoke" in again.stderr and "Traceback" not in again.stderr
    bad = _cli("add", "x", "--scopes", "root", keys=keys)
    assert bad.returncode == 1 and "root" in bad.stderr

    revoked = _cli("revoke", "portal", keys=keys)
    assert revoked.returncode == 0, revoked.stderr
    assert read_keys(keys).verify(token) is None
    assert "portal" not in _cli("list", keys=keys).stdout
    assert "revoked" in _cli("list", "--all", keys=keys).stdout
    missing = _cli("revoke", "portal", keys=keys)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr


# ------------------------------------------------------------ bounded work
def _event(cadre: str, course: str, i: int) -> dict:
    return {
        "event_id": f"portal-20260301-{i:06d}",
        "cadre_id": cadre,
        "course_id": course,
        "enrolled_at": "2026-03-01T09:00:00+08:00",
        "completed_at": "2026-03-05T18:30:00+08:00",
        "progress": 1.0,
        "credit_hours_awarded": 1.5,
        "rating": 5,
        "source": "recommended",
    }


def test_body_limits_fit_the_documented_batch(keyed, cadre_ids, course_ids):
    c, keys = keyed
    w = {"X-API-Key": keys["write"], "content-type": "application/json"}
    batch = [_event(cadre_ids[i % 5], course_ids[i % 7], i) for i in range(1000)]
    raw = json.dumps(batch).encode()
    assert 64 * 1024 < len(raw) < 1024 * 1024
    r = c.post("/v1/completions", content=raw, headers=w)
    assert r.status_code == 200, r.text[:300]
    assert r.json()["received"] == 1000
    too_big = b"[" + b" " * (1024 * 1024) + b"]"
    r = c.post("/v1/completions", content=too_big, headers=w)
    assert r.status_code == 413
    err = r.json()
    assert err["error"] == "payload_too_large" and "1048576" in err["message"]
    assert set(err) >= {"error", "message", "detail", "model_version"}
    # everywhere else the limit stays at 64 KB
    big = {**PROFILE, "job_description": "长" * 30_000}
    r = c.post("/v1/recommendations", json=big, headers={"X-API-Key": keys["read"]})
    assert r.status_code == 413 and "65536" in r.json()["message"]


def test_oversized_headers_are_431(keyed):
    c, keys = keyed
    r = c.get("/v1/model", headers={"X-API-Key": keys["read"], "X-Junk": "x" * 20_000})
    assert r.status_code == 431 and r.json()["error"] == "request_header_fields_too_large"


def test_free_text_rank_and_system_create_no_cache_entries(keyed):
    c, keys = keyed
    h = {"X-API-Key": keys["read"]}
    model = c.app.state.holder.current.model
    rows = model._state.rows
    base = c.post("/v1/recommendations", json={**PROFILE, "rank": "", "system": ""}, headers=h)
    assert base.status_code == 200
    before = len(rows)
    rnd = random.Random(7)
    for i in range(200):
        junk = "".join(chr(rnd.randint(0x4E00, 0x9FA5)) for _ in range(rnd.randint(1, 40)))
        body = {**PROFILE, "rank": f"{junk}{i}"[:40], "system": f"系统{junk}"[:40]}
        r = c.post("/v1/recommendations", json=body, headers=h)
        assert r.status_code == 200, r.text
        assert [it["course_id"] for it in r.json()["items"]] == [
            it["course_id"] for it in base.json()["items"]
        ]
    assert len(rows) <= before + 1
    r = c.post("/v1/recommendations", json={**PROFILE, "rank": "职" * 41}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "rank"]


def test_unit_level_accepts_chinese_and_refuses_unknown(keyed):
    c, keys = keyed
    h = {"X-API-Key": keys["read"]}
    en = c.post("/v1/recommendations", json={**PROFILE, "unit_level": "township"}, headers=h)
    zh = c.post("/v1/recommendations", json={**PROFILE, "unit_level": "乡镇"}, headers=h)
    assert en.status_code == zh.status_code == 200
    assert en.json()["items"] == zh.json()["items"]
    r = c.post("/v1/recommendations", json={**PROFILE, "unit_level": "火星基地"}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "unit_level"]
    fmt = c.post("/v1/recommendations", json={**PROFILE, "format": ["视频"]}, headers=h)
    assert fmt.status_code == 200
    assert {it["format"] for it in fmt.json()["items"]} <= {"video"}


def test_openapi_documents_keys_and_error_shape(keyed):
    c, keys = keyed
    spec = c.get("/openapi.json", headers={"X-API-Key": keys["read"]}).json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKey"]["name"] == "X-API-Key" and schemes["Bearer"]["scheme"] == "bearer"
    assert set(spec["components"]["schemas"]["Error"]["properties"]) >= {
        "error",
        "message",
        "detail",
        "hint",
        "model_version",
    }
    post = spec["paths"]["/v1/completions"]["post"]
    for status in ("401", "403", "413", "422"):
        ref = post["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/Error", status
    assert "`write`" in post["description"]
    assert "`admin`" in spec["paths"]["/v1/admin/reload"]["post"]["description"]
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    assert "401" not in spec["paths"]["/healthz"]["get"]["responses"]


def test_swagger_page_and_its_assets_load_without_a_key(keyed, cadre_ids):
    """A portal developer opens /docs in a browser to press Authorize; the calls need a key."""
    c, _keys = keyed
    page = c.get("/docs")
    assert page.status_code == 200 and "swagger" in page.text.lower()
    assets = re.findall(r'(/static-offline-docs/[^"\']+)', page.text)
    assert assets, "the offline Swagger page names its local assets"
    for asset in assets:
        assert c.get(asset).status_code == 200, asset
    assert c.get("/openapi.json").json()["info"]["title"]
    r = c.get(f"/v1/cadres/{cadre_ids[0]}/recommendations")
    assert r.status_code == 401
