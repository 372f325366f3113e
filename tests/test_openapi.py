"""The HTTP contract: what /openapi.json documents is what the service answers.

Every documented request example succeeds against the shipped sample model; every error
status the service can give is documented with the real error shape; responses are checked
against the document with schemathesis (the fuzzing itself is in tests/test_reliability.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from recommender.lifecycle.artifacts import save_model
from service.errors import Error
from tests.service_support import (
    API_KEY,
    WRITE,
    client_for,
    make_settings,
)

schemathesis = pytest.importorskip("schemathesis")

CJK = re.compile("[\u4e00-\u9fff]")
ERROR_REF = "#/components/schemas/Error"
#: operations whose request body must carry examples for Swagger's "Try it out"
WITH_BODY_EXAMPLES = {
    ("POST", "/v1/recommendations"),
    ("POST", "/v1/cadres/{cadre_id}/menu"),
    ("POST", "/v1/completions"),
    ("POST", "/v1/admin/reload"),
}


def conformance_checks(*, documented_5xx: bool = False) -> list:
    """schemathesis checks: status, content type and body as documented, and never a 5xx
    (unless ``documented_5xx``: a 503 the service answers on purpose)."""
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [
        *([] if documented_5xx else [not_a_server_error]),
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]


@pytest.fixture(scope="module")
def sample_models(sample_model, tmp_path_factory):
    """The model fitted on the shipped sample (data/sample, as `make run` trains it),
    published in a models root (the fit is shared with the other sample tests)."""
    root = tmp_path_factory.mktemp("sample_models")
    save_model(sample_model, root, {"model_version": "sample", "created_at": "2026-01-01T00:00:00"})
    return root


@pytest.fixture(scope="module")
def sample_app(sample_models, tmp_path_factory) -> Iterator:
    events = tmp_path_factory.mktemp("events") / "events.sqlite3"
    with client_for(make_settings(sample_models, events, api_key=API_KEY)) as c:
        yield c


@pytest.fixture(scope="module")
def spec(sample_app) -> dict:
    return sample_app.get("/openapi.json", headers=WRITE).json()


def _operations(spec: dict) -> Iterator[tuple[str, str, dict]]:
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            yield method.upper(), path, op


def _values(examples: dict) -> list:
    return [example["value"] for example in examples.values()]


def _example_requests(op: dict) -> Iterator[tuple[dict, dict, object]]:
    """(path params, query, body) per documented body example (one without a body when
    there is none), with the first documented example of every parameter filled in."""
    params: dict[str, dict] = {"path": {}, "query": {}}
    for p in op.get("parameters", []):
        if p.get("examples"):
            params[p["in"]][p["name"]] = _values(p["examples"])[0]
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    for value in _values(body["examples"]) if body.get("examples") else [None]:
        yield params["path"], params["query"], value


def test_every_documented_example_succeeds_on_the_sample_model(sample_app, spec):
    schema = schemathesis.openapi.from_dict(spec)
    sent = set()
    for method, path, op in _operations(spec):
        for path_params, query, body in _example_requests(op):
            url = path.format(**{k: quote(str(v), safe="") for k, v in path_params.items()})
            r = sample_app.request(method, url, params=query, json=body, headers=WRITE)
            assert 200 <= r.status_code < 300, (method, path, body, r.text[:500])
            extra = {} if body is None else {"body": body, "media_type": "application/json"}
            case = schema[path][method].Case(path_parameters=path_params, query=query, **extra)
            case.validate_response(r, checks=conformance_checks())
            sent.add((method, path))
    assert sent >= WITH_BODY_EXAMPLES
    for method, path in WITH_BODY_EXAMPLES:
        op = spec["paths"][path][method.lower()]
        assert op["requestBody"]["content"]["application/json"]["examples"], (method, path)


def _error_statuses(op: dict) -> set[int]:
    return {int(s) for s in op["responses"] if int(s) >= 400}


def test_each_error_status_is_documented_with_the_error_shape(spec):
    seen: set[int] = set()
    for method, path, op in _operations(spec):
        statuses = _error_statuses(op)
        seen |= statuses
        assert 431 in statuses, (method, path)
        if path.startswith("/v1/"):
            assert {401, 403, 503} <= statuses, (method, path)
            assert op["security"] == [{"ApiKey": []}, {"Bearer": []}]
        if method == "POST":
            assert {413, 422} <= statuses, (method, path)
        if "{" in path or path == "/v1/admin/reload":
            assert 404 in statuses, (method, path)
        for status in statuses - ({503} if path == "/readyz" else set()):
            content = op["responses"][str(status)]["content"]["application/json"]
            assert content["schema"] == {"$ref": ERROR_REF}, (method, path, status)
    assert seen >= {401, 403, 404, 409, 413, 422, 431, 503}
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "detail" in schemas["Error"]["properties"]
    key = spec["components"]["securitySchemes"]["ApiKey"]
    assert (key["in"], key["name"]) == ("header", "X-API-Key")
    assert all(f"`{scope}`" in key["description"] for scope in ("read", "write", "admin"))


def test_chinese_enum_spellings_are_documented_and_accepted(sample_app, spec):
    schemas = spec["components"]["schemas"]
    unit_level = schemas["ProfileRequest"]["properties"]["unit_level"]["anyOf"][0]["enum"]
    assert {"township", "乡镇", "街道", "县直"} <= set(unit_level)
    url = "/v1/cadres/G000002/recommendations"
    zh = sample_app.get(url, params={"format": "视频", "k": 5, "explain": False}, headers=WRITE)
    en = sample_app.get(url, params={"format": "video", "k": 5, "explain": False}, headers=WRITE)
    assert zh.status_code == en.status_code == 200 and zh.json()["items"] == en.json()["items"]
    assert {item["format"] for item in zh.json()["items"]} == {"video"}


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status", "error"),
    [
        ("GET", "/v1/cadres/G000002/recommendations", {"params": {"k": "abc"}}, 422, None),
        ("GET", "/v1/cadres/G000002/recommendations", {"params": {"k": 5000}}, 422, None),
        ("GET", "/v1/cadres/G000002/recommendations", {"params": {"format": "全息"}}, 422, None),
        ("POST", "/v1/recommendations", {"json": {"unit_level": "火星"}}, 422, None),
        ("POST", "/v1/recommendations", {"content": b"{oops"}, 422, "validation_error"),
        ("GET", "/v1/cadres/NOBODY/recommendations", {}, 404, "unknown_cadre"),
        ("GET", "/v1/courses/NOCOURSE/similar", {}, 404, "unknown_course"),
        ("GET", "/v1/no-such-endpoint", {}, 404, "not_found"),
        ("POST", "/v1/completions", {"json": []}, 401, "unauthorized"),
    ],
)
def test_error_messages_are_chinese_with_english_codes(
    sample_app, method, url, kwargs, status, error
):
    headers = {} if status == 401 else {**WRITE, "content-type": "application/json"}
    r = sample_app.request(method, url, headers=headers, **kwargs)
    assert r.status_code == status, r.text
    body = Error.model_validate(r.json())
    assert re.fullmatch("[a-z_]+", body.error) and body.error == (error or "validation_error")
    assert CJK.search(body.message), body.message
    assert all(CJK.search(d.msg) for d in body.detail), body.detail


def test_an_unready_service_answers_its_documented_503(tmp_path):
    """No model yet: the model routes answer 503 `model_not_loaded`, as documented."""
    settings = make_settings(
        tmp_path / "no_models", tmp_path / "events.sqlite3", api_key=API_KEY, require_model=False
    )
    with client_for(settings) as c:
        schema = schemathesis.openapi.from_dict(c.get("/openapi.json", headers=WRITE).json())
        for method, path, kwargs in [
            ("GET", "/v1/model", {}),
            (
                "GET",
                "/v1/cadres/{cadre_id}/recommendations",
                {"path_parameters": {"cadre_id": "G1"}},
            ),
            ("POST", "/v1/recommendations", {"body": {}, "media_type": "application/json"}),
        ]:
            case = schema[path][method].Case(**kwargs)
            url = path.replace("{cadre_id}", "G1")
            r = c.request(method, url, json=kwargs.get("body"), headers=WRITE)
            assert r.status_code == 503 and r.json()["error"] == "model_not_loaded", r.text
            assert r.headers["retry-after"] and CJK.search(r.json()["message"])
            case.validate_response(r, checks=conformance_checks(documented_5xx=True))
