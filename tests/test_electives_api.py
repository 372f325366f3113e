"""Electives by default over HTTP and the CLI; the cadre's compulsory courses with status;
the CLI reads the service's event store, so both give the same answer."""

from __future__ import annotations

import subprocess
import sys

from tests.service_support import API_KEY, client_for, make_settings


def _compulsory_ids(model) -> set[str]:
    return {str(c) for c, flag in zip(model.course_ids, model.compulsory, strict=True) if flag}


def _cadre_with_open_compulsory(model) -> tuple[str, list[dict]]:
    for cid in model.cadres["cadre_id"].astype(str):
        items = model.compulsory_courses(cid)
        if any(c["status"] == "open" for c in items):
            return cid, items
    raise AssertionError("the tiny sample has no cadre with an open compulsory course")


def test_lists_are_electives_unless_include_compulsory(client, tiny_model):
    cid, items = _cadre_with_open_compulsory(tiny_model)
    compulsory = _compulsory_ids(tiny_model)
    r = client.get(f"/v1/cadres/{cid}/recommendations", params={"k": 100})
    assert r.status_code == 200, r.text
    assert not {i["course_id"] for i in r.json()["items"]} & compulsory
    r = client.get(
        f"/v1/cadres/{cid}/recommendations", params={"k": 100, "include_compulsory": "true"}
    )
    got = {i["course_id"] for i in r.json()["items"]}
    assert {c["course_id"] for c in items if c["status"] == "open"} <= got
    body = {"job_title": "乡镇干部", "job_description": "乡村振兴、基层党建", "k": 100}
    r = client.post("/v1/recommendations", json=body)
    assert r.status_code == 200, r.text
    assert not {i["course_id"] for i in r.json()["items"]} & compulsory


def test_compulsory_endpoint_lists_status_and_404s_unknown(client, tiny_model):
    cid, items = _cadre_with_open_compulsory(tiny_model)
    r = client.get(f"/v1/cadres/{cid}/compulsory")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == len(items) and body["model_version"]
    assert [i["course_id"] for i in body["items"]] == [c["course_id"] for c in items]
    r = client.get("/v1/cadres/NOBODY/compulsory")
    assert r.status_code == 404 and r.json()["error"]


def test_cli_reads_the_service_event_store(tiny_models, tiny_model, tmp_path):
    """A completion posted over HTTP disappears from the CLI's list too."""
    events = tmp_path / "events.sqlite3"
    cid = str(tiny_model.cadres["cadre_id"].iloc[1])
    cli = [sys.executable, "-m", "recommender", "recommend", "--model", str(tiny_models)]
    first = tiny_model.recommend(cid, 5)[0].course_id
    with client_for(make_settings(tiny_models, events, api_key=API_KEY)) as c:
        event = {
            "cadre_id": cid,
            "course_id": first,
            "enrolled_at": "2025-12-30T09:00:00",
            "completed_at": "2025-12-30T11:00:00",
            "progress": 1.0,
        }
        r = c.post("/v1/completions", json=[event], headers={"X-API-Key": API_KEY})
        assert r.status_code == 200, r.text
        api = c.get(f"/v1/cadres/{cid}/recommendations", params={"k": 5}).json()["items"]
    proc = subprocess.run(
        [*cli, "--cadre", cid, "-k", "5", "--json", "--events", str(events)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    import json

    got = [i["course_id"] for i in json.loads(proc.stdout)["items"]]
    assert first not in got
    assert got == [i["course_id"] for i in api]
