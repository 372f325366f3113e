"""HTTP API: every endpoint, its filters, and every error code, against the real tiny model."""

from __future__ import annotations

import logging
import re

import pytest

from recommender.data.loading import load_dataset
from tests.service_support import API_KEY, client_for, make_settings

PROFILE = {
    "job_title": "乡镇党委副书记",
    "job_description": "负责基层党建、乡村振兴、安全生产和应急管理工作",
    "unit_level": "township",
    "system": "农业农村",
    "rank": "一级主任科员",
    "declared_needs": "希望提升应急处置和群众工作能力",
}


@pytest.fixture(scope="module")
def completed(tiny_data) -> dict[str, set[str]]:
    """cadre_id → courses it enrolled in, from the training data files."""
    comp = load_dataset(tiny_data).completions
    return comp.groupby("cadre_id")["course_id"].agg(lambda s: set(map(str, s))).to_dict()


def recs(client, cadre_id, **params):
    r = client.get(f"/v1/cadres/{cadre_id}/recommendations", params=params)
    assert r.status_code == 200, r.text
    return r.json()


# ---------------------------------------------------------------- recommendations
def test_recommendations_for_known_cadre(client, cadre_ids, tiny_model):
    body = recs(client, cadre_ids[0], k=5)
    assert body["model_version"] == tiny_model.version
    assert body["cadre_id"] == cadre_ids[0]
    assert 1 <= body["count"] == len(body["items"]) <= 5
    assert [it["rank"] for it in body["items"]] == list(range(1, body["count"] + 1))
    scores = [it["score"] for it in body["items"]]
    assert scores == sorted(scores, reverse=True)
    assert {"course_id", "title", "category", "format", "credit_hours", "reasons"} <= set(
        body["items"][0]
    )


def test_every_response_carries_model_version(client, tiny_model, cadre_ids):
    for method, path, kw in [
        ("get", f"/v1/cadres/{cadre_ids[0]}/recommendations", {}),
        ("get", "/v1/cadres/NOPE/recommendations", {}),
        ("get", "/v1/cadres/x/recommendations?k=0", {}),
        ("get", "/healthz", {}),
        ("get", "/metrics", {}),
        ("get", "/no/such/path", {}),
        ("post", "/v1/recommendations", {"content": b"x" * 70_000}),
    ]:
        r = getattr(client, method)(path, **kw)
        assert r.headers["x-model-version"] == tiny_model.version, (path, r.status_code)
        if r.headers["content-type"].startswith("application/json"):
            assert r.json()["model_version"] == tiny_model.version, path


def test_explain_false_has_no_reasons_true_has_some(client, cadre_ids):
    plain = recs(client, cadre_ids[1], k=10, explain="false")["items"]
    assert plain and all(it["reasons"] == [] for it in plain)
    explained = recs(client, cadre_ids[1], k=10, explain="true")["items"]
    assert any(it["reasons"] for it in explained)
    reason = next(r for it in explained for r in it["reasons"])
    assert {"kind", "text", "detail"} <= set(reason) and reason["text"]
    assert [it["course_id"] for it in plain] == [it["course_id"] for it in explained]


def test_category_and_format_filters_restrict_results(client, cadre_ids, tiny_model):
    category = str(tiny_model.categories[0])
    items = recs(client, cadre_ids[2], k=50, category=category)["items"]
    assert items and {it["category"] for it in items} == {category}
    fmt = str(tiny_model.formats[0])
    items = recs(client, cadre_ids[2], k=50, format=fmt)["items"]
    assert items and {it["format"] for it in items} == {fmt}
    two = sorted(set(map(str, tiny_model.categories)))[:2]
    items = recs(client, cadre_ids[2], k=200, category=",".join(two))["items"]
    assert {it["category"] for it in items} <= set(two)


def test_completed_courses_excluded_by_default(client, completed):
    cadre, done = max(completed.items(), key=lambda kv: len(kv[1]))
    everything = recs(client, cadre, k=1000, explain="false")["items"]
    assert everything and not {it["course_id"] for it in everything} & done
    included = recs(client, cadre, k=1000, explain="false", include_completed="true")["items"]
    assert {it["course_id"] for it in included} & done


def test_profile_recommendations_cold_start(client, tiny_model):
    r = client.post("/v1/recommendations", json={**PROFILE, "k": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version"] == tiny_model.version and body["cadre_id"] is None
    assert 1 <= body["count"] <= 5


def test_profile_completed_courses_are_not_recommended(client, course_ids):
    first = client.post("/v1/recommendations", json={**PROFILE, "k": 3}).json()["items"]
    taken = [it["course_id"] for it in first]
    again = client.post(
        "/v1/recommendations", json={**PROFILE, "k": 50, "completed": taken, "explain": False}
    ).json()["items"]
    assert not {it["course_id"] for it in again} & set(taken)


def test_profile_with_emoji_and_filters(client, tiny_model):
    category = str(tiny_model.categories[0])
    body = {
        **PROFILE,
        "job_description": "基层治理 🚀👍🏽 應急管理（全角）",
        "k": 20,
        "category": [category],
        "format": None,
    }
    r = client.post("/v1/recommendations", json=body)
    assert r.status_code == 200, r.text
    assert {it["category"] for it in r.json()["items"]} <= {category}


def test_similar_courses(client, course_ids, tiny_model):
    r = client.get(f"/v1/courses/{course_ids[0]}/similar", params={"k": 4})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version"] == tiny_model.version and body["course_id"] == course_ids[0]
    ids = [it["course_id"] for it in body["items"]]
    assert 1 <= len(ids) <= 4 and course_ids[0] not in ids


# ----------------------------------------------------------------------- menu
def test_menu_defaults_and_constraints(client, cadre_ids, tiny_model):
    r = client.post(f"/v1/cadres/{cadre_ids[0]}/menu")
    assert r.status_code == 200, r.text
    menu = r.json()
    assert menu["model_version"] == tiny_model.version and menu["cadre_id"] == cadre_ids[0]
    assert {"items", "planned_hours", "totals_by_category", "met", "unmet"} <= set(menu)
    r = client.post(
        f"/v1/cadres/{cadre_ids[0]}/menu",
        json={
            "year": 2026,
            "target_hours": 12,
            "hours_credited": 2,
            "weekly_hours_budget": 3,
            "windows": ["weekend"],
            "formats": ["video", "micro"],
            "max_per_topic": 1,
            "category_minimums": {str(tiny_model.categories[0]): 0.2},
        },
    )
    assert r.status_code == 200, r.text
    menu = r.json()
    assert menu["year"] == 2026 and menu["target_hours"] == 12
    for unmet in menu["unmet"]:
        assert unmet["constraint"] and unmet["message"]


def test_menu_split_as_of_and_rule_groups(client, cadre_ids, tiny_model):
    url = f"/v1/cadres/{cadre_ids[0]}/menu"
    r = client.post(url, json={"as_of": "2026-03-01", "format_split": {"centralised": 0}})
    assert r.status_code == 200, r.text
    menu = r.json()
    assert menu["year"] == 2026
    assert not {u["constraint"] for u in menu["unmet"]} & {"centralised_hours", "online_hours"}
    split = {"centralised": 500.0, "online": 1.0}  # more centralised hours than anyone offers
    r = client.post(url, json={"as_of": "2026-03-01", "target_hours": 501, "format_split": split})
    assert r.status_code == 200, r.text
    assert "centralised_hours" in {u["constraint"] for u in r.json()["unmet"]}
    r = client.post(url, json={"format_split": {"lectures": 10}})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][:2] == ["body", "format_split"]
    # a rule group that catalog categories map to is a valid key, alone or '+'-joined
    groups = sorted({tiny_model.rules.rule_group(c) for c in tiny_model.categories})
    r = client.post(url, json={"category_minimums": {"+".join(groups[:2]): 0.2}})
    assert r.status_code == 200, r.text


def test_menu_errors(client, cadre_ids):
    url = f"/v1/cadres/{cadre_ids[0]}/menu"
    r = client.post(url, json={"windows": ["midnight"]})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][:2] == ["body", "windows"]
    r = client.post(url, json={"category_minimums": {"政治理论": 2}})
    assert r.status_code == 422 and "category_minimums" in r.json()["detail"][0]["loc"]
    r = client.post(url, json={"category_minimums": {"不存在的类别": 0.2}})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "category_minimums"]
    r = client.post(url, json={"target_hourz": 3})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "target_hourz"]
    r = client.post("/v1/cadres/NOPE/menu", json={})
    assert r.status_code == 404 and "POST /v1/recommendations" in r.json()["hint"]


# ---------------------------------------------------------------------- errors
def test_unknown_cadre_is_404_with_hint(client):
    r = client.get("/v1/cadres/不存在的干部/recommendations")
    assert r.status_code == 404
    body = r.json()
    assert body["error"] == "unknown_cadre" and "POST /v1/recommendations" in body["hint"]


def test_every_unknown_cadre_answers_the_same_404(client):
    """One handler maps the library's UnknownIdError, whichever route raised it."""
    bodies = [
        client.get("/v1/cadres/NOPE/recommendations"),
        client.get("/v1/cadres/NOPE/compulsory"),
        client.post("/v1/cadres/NOPE/menu", json={}),
    ]
    assert [r.status_code for r in bodies] == [404, 404, 404]
    shapes = [{k: v for k, v in r.json().items() if k != "model_version"} for r in bodies]
    assert shapes[0] == shapes[1] == shapes[2]
    assert shapes[0]["error"] == "unknown_cadre"
    assert shapes[0]["detail"] == [
        {"loc": ["path", "cadre_id"], "msg": "编号不存在", "type": "not_found"}
    ]


def test_menu_error_names_its_field(client, cadre_ids, monkeypatch):
    """A request the planner refuses is a 422 whose loc is the MenuError's own field."""
    import service.routes.menus as menus

    real = menus.plan_menu
    monkeypatch.setattr(menus, "plan_menu", lambda *a, **kw: real(*a, **kw, solver="nope"))
    r = client.post(f"/v1/cadres/{cadre_ids[0]}/menu", json={})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "validation_error" and body["detail"][0]["loc"] == ["body", "solver"]
    assert "求解器" in body["message"]


def test_unknown_course_is_404(client):
    r = client.get("/v1/courses/NO-SUCH-COURSE/similar")
    assert r.status_code == 404 and r.json()["error"] == "unknown_course"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("k=0", "k"),
        ("k=10000", "k"),
        ("k=abc", "k"),
        ("k=-3", "k"),
        ("category=garbage", "category"),
        ("format=hologram", "format"),
        ("explain=maybe", "explain"),
        ("include_completed=2", "include_completed"),
    ],
)
def test_bad_query_is_422_naming_the_field(client, cadre_ids, query, field):
    r = client.get(f"/v1/cadres/{cadre_ids[0]}/recommendations?{query}")
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "validation_error" and body["detail"][0]["loc"] == ["query", field]
    assert field in body["message"]


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ([PROFILE], ["body"]),
        ({**PROFILE, "k": 0}, ["body", "k"]),
        ({**PROFILE, "k": 5000}, ["body", "k"]),
        ({**PROFILE, "unit_level": "星球"}, ["body", "unit_level"]),
        ({**PROFILE, "job_description": "长" * 5000}, ["body", "job_description"]),
        ({**PROFILE, "completed": "C1"}, ["body", "completed"]),
        ({**PROFILE, "category": ["乱码"]}, ["body", "category"]),
        ({**PROFILE, "format": ["hologram"]}, ["body", "format", 0]),
        ({**PROFILE, "jobtitle": "x"}, ["body", "jobtitle"]),
        ("just a string", ["body"]),
    ],
)
def test_bad_profile_body_is_422_naming_the_field(client, payload, loc):
    r = client.post("/v1/recommendations", json=payload)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfe\xfa not utf-8 {", b"{not json", b"", b"null", b"[]", b'{"k": 1e999}'],
)
def test_malformed_bodies_are_4xx_not_500(client, content):
    r = client.post(
        "/v1/recommendations", content=content, headers={"content-type": "application/json"}
    )
    assert 400 <= r.status_code < 500, (content, r.status_code, r.text)
    assert r.json()["error"] and "model_version" in r.json()


def test_oversized_body_is_413_by_header_and_by_stream(client):
    big = b'{"job_description": "' + "长".encode() * 30_000 + b'"}'
    r = client.post(
        "/v1/recommendations", content=big, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"

    def chunks():  # no Content-Length: transfer-encoding chunked
        for _ in range(100):
            yield b"x" * 1024

    r = client.post(
        "/v1/recommendations", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413


def test_docs_are_offline(client):
    r = client.get("/docs")
    assert r.status_code == 200
    html = r.text
    assert not re.search(r"(src|href)\s*=\s*[\"']?https?://", html)
    assert "cdn" not in html.lower()
    urls = re.findall(r"(?:src|href)\s*=\s*[\"']([^\"']+)[\"']", html)
    assert any(u.endswith(".js") for u in urls) and any(u.endswith(".css") for u in urls)
    for url in urls:
        assert client.get(url).status_code == 200, url
    assert client.get("/openapi.json").json()["paths"]["/v1/completions"]
    assert client.get("/redoc").status_code == 200


# --------------------------------------------------------------- model, admin
def test_model_info(client, tiny_model):
    r = client.get("/v1/model")
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["model_version"] == tiny_model.version
    assert info["trained_at"] == tiny_model.metadata["created_at"]
    assert info["data"]["completions"]["sha256"]
    assert info["evaluation"] and info["catalog"]["courses"] == len(tiny_model.course_ids)


def test_admin_reload_auth(client, tiny_models, tmp_path):
    url = "/v1/admin/reload"
    r = client.post(url)
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    r = client.post(url, headers={"X-API-Key": "wrong"})
    assert r.status_code == 403
    r = client.post(url, headers={"X-API-Key": API_KEY})
    assert r.status_code == 200, r.text
    assert r.json()["changed"] is False
    with client_for(make_settings(tiny_models, tmp_path / "e.sqlite3")) as no_key:
        r = no_key.post(url, headers={"X-API-Key": "anything"})
        assert r.status_code == 403 and "XUANXUE_API_KEY" in r.json()["message"]


def test_health_ready_metrics(client, tiny_model, cadre_ids):
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["model_version"] == tiny_model.version
    client.get(f"/v1/cadres/{cadre_ids[0]}/recommendations")
    client.get("/v1/cadres/NOPE/recommendations")
    text = client.get("/metrics").text
    route = "/v1/cadres/{cadre_id}/recommendations"
    assert f'xuanxue_http_requests_total{{method="GET",route="{route}",status="200"}}' in text
    assert f'route="{route}",status="404"' in text
    assert "xuanxue_http_request_duration_seconds_bucket" in text
    assert f'xuanxue_model_info{{version="{tiny_model.version}"}} 1.0' in text
    assert "NOPE" not in text  # labels are route templates, never raw paths


def test_readyz_503_before_a_model_is_loaded(tiny_models, tmp_path):
    empty = tmp_path / "models"
    empty.mkdir()
    settings = make_settings(empty, tmp_path / "e.sqlite3", require_model=False, api_key=API_KEY)
    with client_for(settings) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "not_ready"
        assert c.get("/healthz").status_code == 200
        r = c.get("/v1/cadres/x/recommendations")
        assert r.status_code == 503 and r.json()["error"] == "model_not_loaded"
        (empty / "current").symlink_to((tiny_models / "current").resolve())
        assert c.post("/v1/admin/reload", headers={"X-API-Key": API_KEY}).status_code == 200
        assert c.get("/readyz").status_code == 200


def test_access_log_is_one_line_per_request_without_bodies(client, caplog):
    secret = "机密岗位职责XYZ"
    with caplog.at_level(logging.INFO, logger="service.access"):
        client.post("/v1/recommendations", json={**PROFILE, "job_description": secret})
    records = [r for r in caplog.records if r.name == "service.access"]
    assert len(records) == 1
    rec = records[0]
    assert (rec.method, rec.route, rec.status) == ("POST", "/v1/recommendations", 200)
    assert rec.duration_ms >= 0 and rec.model_version
    from service.logs import JsonFormatter

    line = JsonFormatter().format(rec)
    assert secret not in line and secret not in caplog.text and "\n" not in line
