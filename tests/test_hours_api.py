"""GET /v1/cadres/{cadre_id}/hours (学时档案) and the menu's hours_earned over HTTP.

The figures are the library's (``recommender.hours_record``) on the same model, and a
completion posted to the service counts in both at once.
"""

from __future__ import annotations

import pytest

from recommender import hours_earned, hours_record
from tests.service_support import API_KEY, WRITE, client_for, make_settings


@pytest.fixture
def settings(tiny_models, tmp_path):
    return make_settings(tiny_models, tmp_path / "events.sqlite3", api_key=API_KEY)


def busy_cadre(model) -> tuple[str, int]:
    """A cadre with hours in the data's newest year, and that year."""
    year = model.reference_time().year
    for cid in model.cadres["cadre_id"].astype(str):
        if hours_earned(model, cid, year) > 0:
            return cid, year
    raise AssertionError("no cadre earned hours in the newest year")


def test_hours_record_over_http_is_the_librarys(client, tiny_model):
    cid, year = busy_cadre(tiny_model)
    r = client.get(f"/v1/cadres/{cid}/hours", params={"year": year})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version"] == tiny_model.version
    want = hours_record(tiny_model, cid, year).to_dict()
    assert {k: v for k, v in body.items() if k != "model_version"} == want
    assert body["hours_earned"] > 0 and body["records"]
    assert sum(x["hours"] for x in body["by_format"]) == pytest.approx(body["hours_earned"])
    assert all(x["label"] and x["label"] != x["code"] for x in body["by_format"])
    assert {p["label"] for p in body["parts"]} <= {"集中培训", "网络学习"}
    menu = client.post(f"/v1/cadres/{cid}/menu", json={"year": year}).json()
    assert menu["hours_earned"] == pytest.approx(body["hours_earned"])
    assert menu["hours_credited"] == menu["hours_earned"]
    given = client.post(f"/v1/cadres/{cid}/menu", json={"year": year, "hours_credited": 3})
    assert given.json()["hours_credited"] == 3 and given.json()["hours_earned"] > 0


def test_unknown_cadre_is_404_and_bad_year_422(client):
    r = client.get("/v1/cadres/NO-SUCH-CADRE/hours")
    assert r.status_code == 404 and r.json()["error"] == "unknown_cadre"
    r = client.get("/v1/cadres/NO-SUCH-CADRE/hours", params={"year": 1800})
    assert r.status_code == 422 and "year" in str(r.json()["detail"])


def test_a_posted_completion_counts_at_once(settings, tiny_model):
    cid, year = busy_cadre(tiny_model)
    taken = {r.course_id for r in hours_record(tiny_model, cid, year).records}
    new = next(c for c in tiny_model.course_ids if c not in taken)
    hours = float(tiny_model.hours[tiny_model.course_index(new)])
    with client_for(settings, WRITE) as c:
        before = c.get(f"/v1/cadres/{cid}/hours", params={"year": year}).json()["hours_earned"]
        done = f"{year}-12-30T10:00:00"
        event = {"cadre_id": cid, "course_id": new, "enrolled_at": done, "completed_at": done,
                 "progress": 1.0}  # fmt: skip
        assert c.post("/v1/completions", json=event).status_code == 200
        after = c.get(f"/v1/cadres/{cid}/hours", params={"year": year}).json()
        assert after["hours_earned"] == pytest.approx(before + hours)
        assert new in {r["course_id"] for r in after["records"]}


def test_reads_need_the_read_scope_when_keys_exist(tiny_models, tmp_path, tiny_model):
    from recommender.lifecycle.keys import add_key

    keys = tmp_path / "keys.json"
    token, _ = add_key(keys, "portal", "read")
    settings = make_settings(tiny_models, tmp_path / "e.sqlite3", keys_file=keys)
    cid = str(tiny_model.cadres["cadre_id"].iloc[0])
    with client_for(settings) as c:
        assert c.get(f"/v1/cadres/{cid}/hours").status_code == 401
        ok = c.get(f"/v1/cadres/{cid}/hours", headers={"X-API-Key": token})
        assert ok.status_code == 200, ok.text


def test_console_shows_the_hours_record_and_plans_the_chosen_year(
    tiny_models, tmp_path, tiny_model
):
    import re

    from recommender import plan_year

    cid, year = busy_cadre(tiny_model)
    record = hours_record(tiny_model, cid, year)
    settings = make_settings(tiny_models, tmp_path / "e.sqlite3")  # no keys: loopback reads
    with client_for(settings) as c:
        page = c.get(f"/console/cadres/{cid}", params={"year": year})
        assert page.status_code == 200, page.text
        html = page.text
        assert f"{year} 年学时档案" in html and 'id="hours-year"' in html
        earned = re.search(r'id="hours-earned">([\d.]+)<', html).group(1)
        assert float(earned) == pytest.approx(record.hours_earned)
        assert all(line.label in html for line in record.by_format + record.parts)
        menu = c.get(f"/console/cadres/{cid}/menu", params={"year": year})
        assert menu.status_code == 200 and 'id="menu-year"' in menu.text
        assert f"{year} 年课程菜单" in menu.text
        shown = re.search(r'id="earned-hours">([\d.]+)<', menu.text).group(1)
        assert float(shown) == pytest.approx(record.hours_earned)
        assert f"menu.xlsx?year={year}" in menu.text
        default = c.get(f"/console/cadres/{cid}/menu")
        assert f"{plan_year(tiny_model)} 年课程菜单" in default.text
        bad = c.get(f"/console/cadres/{cid}/menu", params={"year": "1800"})
        assert bad.status_code == 422 and "年度" in bad.text
