"""POST /v1/completions: validation, idempotency, effect at once, survival across restarts.

Every test runs against both event stores: SQLite and a real PostgreSQL (tests/pg.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.service_support import (
    API_KEY,
    WRITE,
    client_for,
    make_settings,
)


def store_settings(models, target: str, **overrides):
    """Settings whose event store is ``target`` (a SQLite path or a PostgreSQL URL)."""
    if target.startswith("postgresql://"):
        overrides["events_url"] = target
        path = Path(overrides.pop("scratch")) / "unused.sqlite3"
    else:
        overrides.pop("scratch", None)
        path = Path(target)
    return make_settings(models, path, api_key=API_KEY, **overrides)


@pytest.fixture
def settings(tiny_models, tmp_path, events_target):
    return store_settings(tiny_models, events_target, scratch=tmp_path)


def event(cadre, course, **extra):
    return {
        "cadre_id": cadre,
        "course_id": course,
        "enrolled_at": "2026-03-01T09:00:00",
        "completed_at": "2026-03-05 18:30",
        "progress": 1.0,
        "rating": 5,
        "source": "recommended",
        **extra,
    }


def top_course(client, cadre):
    r = client.get(f"/v1/cadres/{cadre}/recommendations", params={"k": 10, "explain": False})
    assert r.status_code == 200, r.text
    return [it["course_id"] for it in r.json()["items"]]


def test_posted_completion_changes_recommendations_at_once(settings, cadre_ids):
    cadre = cadre_ids[3]
    with client_for(settings, WRITE) as c:
        before = top_course(c, cadre)
        r = c.post("/v1/completions", json=event(cadre, before[0]))
        assert r.status_code == 200, r.text
        assert r.json()["stored"] == 1
        after = top_course(c, cadre)
        assert before[0] not in after
        menu = c.post(f"/v1/cadres/{cadre}/menu", json={}).json()
        assert before[0] not in {it["course_id"] for it in menu["items"]}


def test_duplicates_are_idempotent_and_counted(settings, cadre_ids, course_ids):
    a = event(cadre_ids[0], course_ids[0])
    b = event(cadre_ids[1], course_ids[1], event_id="portal-42")
    with client_for(settings, WRITE) as c:
        first = c.post("/v1/completions", json=a).json()
        assert (first["received"], first["stored"], first["duplicates"]) == (1, 1, 0)
        again = c.post("/v1/completions", json=[a, b, dict(b)]).json()
        assert (again["received"], again["stored"], again["duplicates"]) == (3, 1, 2)
        assert [e["status"] for e in again["events"]] == ["duplicate", "stored", "duplicate"]
        assert again["events"][1]["event_id"] == "portal-42"
        assert c.app.state.store.count() == 2


def test_same_event_id_with_other_content_is_409_naming_fields(settings, cadre_ids, course_ids):
    b = event(cadre_ids[1], course_ids[1], event_id="portal-42")
    with client_for(settings, WRITE) as c:
        assert c.post("/v1/completions", json=b).json()["stored"] == 1
        fresh = event(cadre_ids[2], course_ids[2], event_id="portal-43")
        r = c.post("/v1/completions", json=[fresh, {**b, "rating": 1, "progress": 0.5}])
        assert r.status_code == 409, r.text
        body = r.json()
        assert body["error"] == "event_conflict"
        assert "rating" in body["message"] and "progress" in body["message"]
        locs = [d["loc"] for d in body["detail"]]
        assert ["body", "events", 1, "rating"] in locs
        assert ["body", "events", 1, "progress"] in locs
        assert c.app.state.store.count() == 1  # the whole batch was refused
        # inside one batch too, and with a single event
        r = c.post("/v1/completions", json=[fresh, {**fresh, "source": "assigned"}])
        assert r.status_code == 409 and r.json()["detail"][0]["loc"][-1] == "source"
        r = c.post("/v1/completions", json={**b, "completed_at": "2026-03-06T10:00:00"})
        assert r.status_code == 409 and r.json()["detail"][0]["loc"] == ["body", "completed_at"]
        # the identical resend stays a harmless duplicate
        assert c.post("/v1/completions", json=b).json()["duplicates"] == 1


def test_history_per_cadre_is_capped_to_the_most_recent(
    tiny_models, tmp_path, events_target, cadre_ids, course_ids
):
    settings = store_settings(tiny_models, events_target, scratch=tmp_path, events_history_limit=3)
    cadre, courses = cadre_ids[6], course_ids[:5]
    with client_for(settings, WRITE) as c:
        batch = [
            event(cadre, course, enrolled_at=f"2026-0{m}-01T09:00:00", completed_at=None)
            for m, course in zip((5, 1, 4, 2, 3), courses, strict=True)
        ]
        assert c.post("/v1/completions", json=batch).json()["stored"] == 5
        frame = c.app.state.store.for_cadre(cadre)
        assert list(frame["course_id"]) == [courses[4], courses[2], courses[0]]  # Mar, Apr, May
        assert c.app.state.store.count() == 5  # all kept for training


def test_events_survive_a_restart(settings, cadre_ids):
    cadre = cadre_ids[4]
    with client_for(settings, WRITE) as c:
        taken = top_course(c, cadre)[0]
        assert c.post("/v1/completions", json=[event(cadre, taken)]).json()["stored"] == 1
    with client_for(settings, WRITE) as restarted:
        assert taken not in top_course(restarted, cadre)
        assert restarted.post("/v1/completions", json=event(cadre, taken)).json()["duplicates"] == 1


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"enrolled_at": "2026-02-30"}, "enrolled_at"),
        ({"enrolled_at": "昨天"}, "enrolled_at"),
        ({"progress": 1.5}, "progress"),
        ({"progress": -0.1}, "progress"),
        ({"rating": 6}, "rating"),
        ({"source": "magic"}, "source"),
        ({"completed_at": "2099-01-01"}, "completed_at"),
        ({"cadre_id": ""}, "cadre_id"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_events_are_422_naming_index_and_field(settings, cadre_ids, course_ids, bad, field):
    good = event(cadre_ids[0], course_ids[0])
    with client_for(settings, WRITE) as c:
        r = c.post("/v1/completions", json=[good, {**good, **bad}])
        assert r.status_code == 422, r.text
        locs = [d["loc"] for d in r.json()["detail"]]
        assert any(loc[-3:] == ["events", 1, field] or loc[-2:] == [1, field] for loc in locs), locs
        assert c.app.state.store.count() == 0  # nothing from a refused batch is stored


def test_completed_before_enrolled_is_422(settings, cadre_ids, course_ids):
    with client_for(settings, WRITE) as c:
        r = c.post(
            "/v1/completions",
            json=event(cadre_ids[0], course_ids[0], completed_at="2026-01-01T00:00:00"),
        )
        assert r.status_code == 422 and "completed_at" in r.json()["message"]
        # naive vs aware hides the order from the schema; the library rule still sees it
        r = c.post(
            "/v1/completions",
            json=event(
                cadre_ids[0],
                course_ids[0],
                enrolled_at="2026-03-01T09:00:00",  # naive: local (Asia/Shanghai) time
                completed_at="2026-03-01T00:30:00Z",  # 08:30 in Shanghai
            ),
        )
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["body", "completed_at"]
        assert c.app.state.store.count() == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"enrolled_at": "1999-12-31T23:00:00", "completed_at": None}, "enrolled_at"),
        ({"enrolled_at": "1990-01-01T00:00:00"}, "enrolled_at"),
        ({"completed_at": "+2h"}, "completed_at"),
        ({"enrolled_at": "+2h", "completed_at": None}, "enrolled_at"),
    ],
)
def test_times_out_of_range_are_422_naming_the_field(
    settings, cadre_ids, course_ids, change, field
):
    now = datetime.now(ZoneInfo(settings.timezone)).replace(tzinfo=None)
    change = {
        k: (now + timedelta(hours=2)).isoformat() if v == "+2h" else v for k, v in change.items()
    }
    with client_for(settings, WRITE) as c:
        r = c.post("/v1/completions", json=[event(cadre_ids[0], course_ids[0], **change)])
        assert r.status_code == 422, r.text
        locs = [d["loc"] for d in r.json()["detail"]]
        assert ["body", "events", 0, field] in locs
        assert field in r.json()["message"]
        assert c.app.state.store.count() == 0
        # a few minutes ahead (clock skew between portal and service) is accepted
        soon = (now + timedelta(minutes=5)).isoformat()
        ok = event(
            cadre_ids[0], course_ids[0], enrolled_at="2026-03-01T09:00:00", completed_at=soon
        )
        assert c.post("/v1/completions", json=ok).status_code == 200


def test_unknown_ids_rejected_with_index_and_field(settings, cadre_ids, course_ids):
    with client_for(settings, WRITE) as c:
        batch = [
            event(cadre_ids[0], course_ids[0]),
            event("陌生干部", course_ids[0]),
            event(cadre_ids[0], "NO-COURSE"),
        ]
        r = c.post("/v1/completions", json=batch)
        assert r.status_code == 422
        locs = [d["loc"] for d in r.json()["detail"]]
        assert ["body", "events", 1, "cadre_id"] in locs
        assert ["body", "events", 2, "course_id"] in locs
        assert c.app.state.store.count() == 0


def test_unknown_ids_accepted_and_flagged_when_configured(
    tiny_models, tmp_path, events_target, cadre_ids, course_ids
):
    settings = store_settings(tiny_models, events_target, scratch=tmp_path, unknown_ids="accept")
    with client_for(settings, WRITE) as c:
        r = c.post("/v1/completions", json=[event("陌生干部", course_ids[0])])
        assert r.status_code == 200 and r.json()["flagged"] == 1
        assert r.json()["events"][0]["flags"] == ["unknown_cadre"]


def test_timezone_aware_times_are_normalised(settings, cadre_ids, course_ids):
    with client_for(settings, WRITE) as c:
        r = c.post(
            "/v1/completions",
            json=[
                event(
                    cadre_ids[5],
                    course_ids[2],
                    enrolled_at="2026-03-01T01:00:00Z",
                    completed_at="2026-03-01T12:00:00+08:00",
                ),
                event(cadre_ids[5], course_ids[3]),
            ],
        )
        assert r.status_code == 200, r.text
        frame = c.app.state.store.for_cadre(cadre_ids[5])
        assert frame["enrolled_at"].notna().all()
        assert str(frame["enrolled_at"].iloc[0]) == "2026-03-01 09:00:00"
        assert c.get(f"/v1/cadres/{cadre_ids[5]}/recommendations").status_code == 200


def test_empty_and_oversized_batches(settings, cadre_ids, course_ids):
    with client_for(settings, WRITE) as c:
        assert c.post("/v1/completions", json=[]).status_code == 422
        many = [event(cadre_ids[0], course_ids[0], event_id=f"e{i}") for i in range(1001)]
        assert c.post("/v1/completions", json=many).status_code in (413, 422)
