"""Hot reload: admin endpoint, named versions, refusal of bad artifacts, no failed request."""

from __future__ import annotations

import threading
import time

import pytest

from recommender.lifecycle.artifacts import MODEL_FILE, publish_version
from tests.service_support import (
    API_KEY,
    add_version,
    client_for,
    copy_models,
    make_settings,
)

ADMIN = {"X-API-Key": API_KEY}


@pytest.fixture
def models(tiny_models, tmp_path):
    return copy_models(tiny_models, tmp_path / "models")


@pytest.fixture
def settings(models, tmp_path):
    return make_settings(models, tmp_path / "events.sqlite3", api_key=API_KEY)


def version_of(client):
    return client.get("/v1/model").json()["model_version"]


def test_reload_picks_up_newly_published_version(settings, models, tiny_model):
    with client_for(settings) as c:
        assert version_of(c) == tiny_model.version
        add_version(models, "v2-test")
        r = c.post("/v1/admin/reload", headers=ADMIN)
        assert r.status_code == 200, r.text
        assert r.json() == {
            **r.json(),
            "model_version": "v2-test",
            "previous_version": tiny_model.version,
            "changed": True,
        }
        assert version_of(c) == "v2-test"
        assert c.get("/v1/model").headers["x-model-version"] == "v2-test"
        assert 'xuanxue_model_info{version="v2-test"} 1.0' in c.get("/metrics").text
        # roll back by name
        r = c.post("/v1/admin/reload", headers=ADMIN, json={"version": tiny_model.version})
        assert r.status_code == 200 and version_of(c) == tiny_model.version
        r = c.post("/v1/admin/reload", headers=ADMIN, json={"version": "no-such-version"})
        assert r.status_code == 404
        r = c.post("/v1/admin/reload", headers=ADMIN, json={"version": "../etc"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "version"]


def test_corrupt_model_is_refused_and_old_keeps_serving(settings, models, tiny_model, cadre_ids):
    with client_for(settings) as c:
        bad = add_version(models, "v3-corrupt")
        (bad / MODEL_FILE).write_bytes(b"this is not a pickle \x00\xff" * 10)
        r = c.post("/v1/admin/reload", headers=ADMIN)
        assert r.status_code == 409, r.text
        body = r.json()
        assert body["error"] == "model_refused" and MODEL_FILE in body["message"]
        assert body["model_version"] == tiny_model.version
        assert version_of(c) == tiny_model.version
        assert c.get(f"/v1/cadres/{cadre_ids[0]}/recommendations").status_code == 200
        assert c.get("/readyz").status_code == 200
        assert 'xuanxue_model_reloads_total{result="refused"} 1.0' in c.get("/metrics").text


def test_incompatible_model_is_refused(settings, models, tiny_model):
    with client_for(settings) as c:
        add_version(models, "v4-future", format_version=999)
        r = c.post("/v1/admin/reload", headers=ADMIN)
        assert r.status_code == 409 and "format_version" in r.json()["message"]
        assert version_of(c) == tiny_model.version


def test_startup_with_corrupt_current_fails_when_model_required(settings, models):
    bad = add_version(models, "v5-corrupt")
    (bad / MODEL_FILE).write_bytes(b"garbage")
    with pytest.raises(Exception, match=MODEL_FILE.replace(".", r"\.")), client_for(settings):
        pass


def test_reload_under_concurrent_requests_never_fails_a_request(
    settings, models, tiny_model, cadre_ids
):
    add_version(models, "v2-test", publish=False)
    versions = [tiny_model.version, "v2-test"]
    statuses: list[int] = []
    seen: set[str] = set()
    stop = threading.Event()

    with client_for(settings) as c:

        def hammer(i: int) -> None:
            n = 0
            while not stop.is_set():
                cadre = cadre_ids[(i * 7 + n) % len(cadre_ids)]
                r = c.get(f"/v1/cadres/{cadre}/recommendations", params={"k": 5})
                statuses.append(r.status_code)
                seen.add(r.headers["x-model-version"])
                n += 1

        threads = [threading.Thread(target=hammer, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for n in range(6):
            publish_version(models, versions[(n + 1) % 2])
            r = c.post("/v1/admin/reload", headers=ADMIN)
            assert r.status_code == 200, r.text
            time.sleep(0.05)
        c.app.state.reload(force=True)  # the programmatic path (SIGHUP uses it too)
        stop.set()
        for t in threads:
            t.join()
    assert len(statuses) >= 20 and all(s == 200 for s in statuses), sorted(set(statuses))
    assert seen == set(versions)


def test_polling_reloads_when_current_changes(models, tmp_path, tiny_model):
    settings = make_settings(models, tmp_path / "e.sqlite3", poll_seconds=0.05)
    with client_for(settings) as c:
        add_version(models, "v6-polled")
        deadline = time.monotonic() + 10
        while version_of(c) != "v6-polled" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert version_of(c) == "v6-polled"
