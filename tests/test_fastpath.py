"""The plain known-cadre recommendation request answered in plain ASGI (service.fastpath).

The same request with one extra query parameter (which the FastAPI route ignores and the
fast path does not take) goes through the route: both answers must be the same bytes and
headers; everything the fast path does not take, and every error, is the route's answer.
"""

from __future__ import annotations

import pytest

from tests.service_support import WRITE, completion_event

PATH = "/v1/cadres/{}/recommendations"


def _pair(client, cadre, query: str):
    hot = client.app.state.hot_routes
    before = hot.served
    fast = client.get(PATH.format(cadre) + query)
    assert hot.served == before + 1, "the fast path did not answer"
    routed = client.get(PATH.format(cadre) + query + ("&" if query else "?") + "via=route")
    assert hot.served == before + 1, "the fast path answered a request it must pass on"
    return fast, routed


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?k=5",
        "?k=20&explain=false",
        "?explain=true&include_completed=1",
        "?include_compulsory=true&k=3",
        "?explain=False",
    ],
)
def test_fast_answer_is_the_routes_answer(client, cadre_ids, query):
    for cadre in cadre_ids[:5]:
        fast, routed = _pair(client, cadre, query)
        assert fast.status_code == routed.status_code == 200
        assert fast.content == routed.content
        assert dict(fast.headers) == dict(routed.headers)
        assert fast.headers["x-model-version"] and fast.headers["cache-control"] == "no-store"


def test_new_events_count_on_the_fast_path(client, cadre_ids, tiny_model):
    cadre = cadre_ids[7]
    first = client.get(PATH.format(cadre) + "?k=3").json()["items"][0]["course_id"]
    event = completion_event(cadre, first, "fastpath-event-1")
    r = client.post("/v1/completions", json=event, headers=WRITE)
    assert r.status_code == 200 and r.json()["stored"] == 1, r.text
    fast, routed = _pair(client, cadre, "?k=3")
    assert first not in [item["course_id"] for item in fast.json()["items"]]
    assert fast.content == routed.content


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("?k=0", 422),
        ("?k=abc", 422),
        ("?k=100000", 422),  # above max_k
        ("?explain=perhaps", 422),
        ("?k=3&k=4", 200),  # repeated: the route decides
        ("?category=no-such-category", 422),
        ("?format=video", 200),
    ],
)
def test_what_the_fast_path_does_not_take_goes_to_the_route(client, cadre_ids, query, status):
    hot = client.app.state.hot_routes
    before = hot.served
    r = client.get(PATH.format(cadre_ids[0]) + query)
    assert r.status_code == status, r.text
    assert hot.served == before
    if status != 200:
        assert r.json()["error"] and r.json()["model_version"]


def test_unknown_cadre_and_wrong_method_go_to_the_route(client):
    hot = client.app.state.hot_routes
    before = hot.served
    r = client.get(PATH.format("no-such-cadre"))
    assert r.status_code == 404 and r.json()["error"] == "unknown_cadre"
    assert client.post(PATH.format("no-such-cadre")).status_code == 405
    assert client.get(PATH.format("x" * 65)).status_code == 422  # longer than 64
    assert hot.served == before


def test_metrics_label_fast_answers_by_the_route_template(client, cadre_ids):
    def count() -> float:
        for line in client.get("/metrics").text.splitlines():
            if line.startswith("xuanxue_http_requests_total{") and (
                'route="/v1/cadres/{cadre_id}/recommendations"' in line and 'status="200"' in line
            ):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = count()
    for cadre in cadre_ids[:3]:
        assert client.get(PATH.format(cadre)).status_code == 200
    assert count() == before + 3
