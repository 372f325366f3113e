"""Cadres looked up by the full 身份证号, end to end on the county export (issue 19 §1).

One model is trained on tests/fixtures/county under the test secret. Portals (HTTP), staff
(console) and analysts (CLI) look cadres up by the full number; answers, pages, workbooks,
events and log lines carry the keyed hash or the masked form, never the number.
"""

from __future__ import annotations

import io
import logging
import shutil
import sqlite3
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from recommender.cli import app as cli
from recommender.data.identity import TEST_ID_SECRET, hash_id_card, id_checksum, mask_id_card
from recommender.data.schema import Columns as C
from recommender.lifecycle.artifacts import load_model
from recommender.lifecycle.lookup import CadreLookup, identity_problem, recorded_key_ids
from recommender.lifecycle.train import train
from recommender.menu.unit import plan_menus, write_menus_workbook
from tests.service_support import API_KEY, WRITE, client_for, make_settings
from tests.test_county_data import FILES, roster_ids

SECRET = TEST_ID_SECRET.decode()
#: loggers of the service side (what `recommender serve` writes)
SERVER_LOGGERS = {"service", "recommender", "uvicorn", "fastapi", "starlette"}
OTHER_SECRET = "another-deployment-secret-0123456789"


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> Path:
    """The county export trained once, as exported, under the test secret (models root)."""
    tmp = tmp_path_factory.mktemp("county")
    data = tmp / "data"
    data.mkdir()
    files = {name: shutil.copy(path, data / path.name) for name, path in FILES.items()}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XUANXUE_ID_SECRET", SECRET)
        train(data, tmp / "models", files=files, rejects_dir=tmp / "rejects")
    return tmp / "models"


@pytest.fixture(scope="module")
def model(county):
    return load_model(county)


@pytest.fixture(scope="module")
def ids(model) -> list[str]:
    """The roster's 身份证号 that the model serves (one duplicate row is rejected at load)."""
    out = [i for i in dict.fromkeys(roster_ids()) if model.has_cadre(hash_id_card(i, SECRET))]
    assert len(out) >= 190
    return out


def leaks(text: str | bytes, ids: list[str]) -> list[str]:
    """The roster numbers (first 4 digits only) found in ``text``, in any case."""
    blob = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    blob = blob.upper()
    return [i[:4] for i in ids if i in blob or i[:17] in blob]


def unknown_number() -> str:
    """A well-formed 身份证号 that is in no roster."""
    first = "42912519990101123"
    return first + id_checksum(first)


@pytest.fixture(scope="module")
def service(county, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("svc")
    settings = make_settings(county, tmp / "events.sqlite3", id_secret=SECRET)
    with client_for(settings) as c:
        yield c


@pytest.fixture(scope="module")
def writer(county, tmp_path_factory):
    """A client with the admin key (writes need a key), its own event store."""
    tmp = tmp_path_factory.mktemp("svc-keyed")
    settings = make_settings(county, tmp / "events.sqlite3", id_secret=SECRET, api_key=API_KEY)
    with client_for(settings, headers=WRITE) as c:
        yield c


# ------------------------------------------------------------------ the library
def test_lookup_maps_numbers_and_says_when_the_secret_is_wrong(model, ids) -> None:
    assert recorded_key_ids(model.metadata)  # the fingerprint travels with the model
    good = CadreLookup(model, SECRET)
    assert good.problem is None and identity_problem(model.metadata, SECRET) is None
    for i in ids[:20]:
        cid = good.resolve(i)
        assert cid == hash_id_card(i, SECRET) and model.has_cadre(cid)
        assert good.resolve(f" {i.lower()} ") == cid
        shown = good.display(cid)
        assert shown[C.NAME] and shown[C.ID_MASKED] == mask_id_card(i)
    assert good.resolve(good.resolve(ids[0])) == good.resolve(ids[0])  # a hashed id as is
    wrong = CadreLookup(model, OTHER_SECRET)
    assert "密钥不一致" in wrong.problem and not model.has_cadre(wrong.resolve(ids[0]))
    none = CadreLookup(model, None, "身份标识密钥文件不存在：/x")
    assert "没有配置身份标识密钥" in none.problem and "/x" in none.problem
    with pytest.raises(ValueError, match=r"4291\*+\d{4}") as err:
        none.resolve(ids[0])
    assert not leaks(str(err.value), ids)


# ------------------------------------------------------------------ HTTP
def test_every_roster_cadre_is_served_by_the_full_number(service, ids) -> None:
    short, bodies = [], []
    for i in ids:
        r = service.get(f"/v1/cadres/{i}/recommendations", params={"k": 10})
        assert r.status_code == 200, r.text
        assert r.json()["cadre_id"] == hash_id_card(i, SECRET)
        short += [i[:4]] if r.json()["count"] < 5 else []
        bodies.append(r.text)
    assert not short
    assert not leaks("".join(bodies), ids)


def test_menu_compulsory_and_hours_take_the_full_number(service, ids) -> None:
    for i in ids[:5]:
        key = hash_id_card(i, SECRET)
        answers = [
            service.post(f"/v1/cadres/{i}/menu", json={}),
            service.get(f"/v1/cadres/{i}/compulsory"),
            service.get(f"/v1/cadres/{i}/hours"),
        ]
        for r in answers:
            assert r.status_code == 200, r.text
            assert r.json()["cadre_id"] == key
            assert not leaks(r.text, ids)
        assert answers[0].json()["items"]


def test_events_posted_with_the_number_are_stored_under_the_hash(writer, ids, model) -> None:
    who = ids[7]
    key = hash_id_card(who, SECRET)
    course = str(model.course_ids[0])
    event = {"cadre_id": who, "course_id": course, "enrolled_at": "2026-03-01T09:00:00"}
    r = writer.post("/v1/completions", json={**event, "event_id": "id-wiring-1"})
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == 1 and r.json()["events"][0]["flags"] == []
    store = writer.app.state.store
    stored = store.for_cadre(key)
    assert course in set(stored[C.COURSE_ID]) and set(stored[C.CADRE_ID]) == {key}
    assert store.for_cadre(who) is None or len(store.for_cadre(who)) == 0
    path = writer.app.state.settings.events_path
    with sqlite3.connect(path) as db:
        dump = "\n".join(db.iterdump())
    assert not leaks(dump, ids)


def test_an_unknown_number_is_a_masked_404(service, ids) -> None:
    number = unknown_number()
    for r in (
        service.get(f"/v1/cadres/{number}/recommendations"),
        service.post(f"/v1/cadres/{number}/menu", json={}),
        service.get(f"/v1/cadres/{number}/hours"),
    ):
        assert r.status_code == 404 and r.json()["error"] == "unknown_cadre"
        assert mask_id_card(number) in r.json()["message"]
        assert number not in r.text and number[:17] not in r.text


def test_no_log_line_holds_the_number(service, writer, ids, caplog) -> None:
    """The access log names the route template; nothing logs the raw path or the body."""
    caplog.set_level(logging.DEBUG)
    who = ids[11]
    assert service.get(f"/v1/cadres/{who}/recommendations").status_code == 200
    assert service.get(f"/v1/cadres/{unknown_number()}/hours").status_code == 404
    assert service.get(f"/console/cadres/{who}", follow_redirects=True).status_code == 200
    event = {"cadre_id": who, "course_id": "NOPE", "enrolled_at": "2026-03-01T09:00:00"}
    assert writer.post("/v1/completions", json=event).status_code == 422
    routes = [getattr(r, "route", None) for r in caplog.records if r.name == "service.access"]
    assert "/v1/cadres/{cadre_id}/recommendations" in routes
    assert "/v1/cadres/{cadre_id}/hours" in routes
    # the server's own records (httpx, the test client, logs the URL it sent: not the service)
    ours = [r for r in caplog.records if r.name.split(".")[0] in SERVER_LOGGERS]
    assert len(ours) >= 5
    text = "\n".join(f"{r.getMessage()} {vars(r)}" for r in ours)
    assert not leaks(text, ids) and unknown_number() not in text


def test_a_service_with_another_secret_warns_at_load_in_chinese(county, tmp_path, ids, caplog):
    caplog.set_level(logging.WARNING)
    settings = make_settings(county, tmp_path / "e.sqlite3", id_secret=OTHER_SECRET)
    with client_for(settings) as c:
        warned = [r.getMessage() for r in caplog.records if "身份标识密钥不一致" in r.getMessage()]
        assert warned, caplog.text
        r = c.get(f"/v1/cadres/{ids[0]}/recommendations")
        assert r.status_code == 404 and "密钥不一致" in r.json()["hint"]
        assert not leaks(r.text, ids)
        home = c.get("/console")  # staff see it too, above the search box
        assert 'id="identity-problem"' in home.text and "密钥不一致" in home.text


def test_a_service_without_a_secret_says_so(county, tmp_path, ids, caplog, monkeypatch):
    monkeypatch.delenv("XUANXUE_ID_SECRET", raising=False)
    caplog.set_level(logging.WARNING)
    missing = tmp_path / "no-such.key"
    settings = make_settings(
        county, tmp_path / "e.sqlite3", id_secret_file=missing, api_key=API_KEY
    )
    with client_for(settings, headers=WRITE) as c:
        assert any("没有配置身份标识密钥" in r.getMessage() for r in caplog.records)
        r = c.get(f"/v1/cadres/{ids[0]}/recommendations")
        assert r.status_code == 404 and mask_id_card(ids[0]) in r.json()["message"]
        assert not leaks(r.text, ids)
        event = {"cadre_id": ids[0], "course_id": "X", "enrolled_at": "2026-03-01T09:00:00"}
        r = c.post("/v1/completions", json=event)
        assert r.status_code == 422 and not leaks(r.text, ids)
        key = hash_id_card(ids[0], SECRET)  # the hashed id still works
        assert c.get(f"/v1/cadres/{key}/recommendations").status_code == 200
    caplog.clear()
    (tmp_path / "good.key").write_text(f"# 身份标识密钥\n{SECRET}\n")
    settings = make_settings(county, tmp_path / "e.sqlite3", id_secret_file=tmp_path / "good.key")
    with client_for(settings) as c:
        assert c.get(f"/v1/cadres/{ids[0]}/recommendations").status_code == 200
    assert not any("身份标识密钥" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------ console
def test_console_finds_cadres_by_name_and_no_page_holds_a_number(service, model, ids) -> None:
    pages = []
    cadres = model.cadres.set_index(C.CADRE_ID)
    for i in ids[::20]:
        key = hash_id_card(i, SECRET)
        name = str(cadres.loc[key, C.NAME])
        for r in (service.post("/console", data={"q": name}), service.get(f"/console?q={name}")):
            assert r.status_code == 200, r.text
            assert f'data-cadre-id="{key}"' in r.text or r.url.path.endswith(key)
            pages.append(r.text)
        found = service.post("/console", data={"q": name[:1]})  # part of a name
        assert found.status_code == 200
        pages.append(found.text)
        page = service.get(f"/console/cadres/{key}")
        assert page.status_code == 200
        heading = page.text.split('id="cadre-heading">', 1)[1].split("</h1>", 1)[0]
        assert name in heading and mask_id_card(i) in heading
        menu = service.get(f"/console/cadres/{key}/menu")
        assert menu.status_code == 200 and name in menu.text and mask_id_card(i) in menu.text
        pages += [page.text, menu.text]
    home = service.get("/console")
    assert 'id="identity-problem"' not in home.text
    unit = str(cadres[C.UNIT].iloc[0])
    by_unit = service.post("/console", data={"q": unit})
    by_digits = service.post("/console", data={"q": ids[3][-4:]})
    assert hash_id_card(ids[3], SECRET) in by_digits.text
    pages += [home.text, by_unit.text, by_digits.text]
    assert len(pages) >= 50
    assert not leaks("".join(pages), ids)


def test_console_opens_a_cadre_by_full_number_without_keeping_it(service, ids) -> None:
    who, key = ids[2], hash_id_card(ids[2], SECRET)
    r = service.post("/console", data={"q": who}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/console/cadres/{key}"
    r = service.get(f"/console/cadres/{who}/menu?year=2027", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/console/cadres/{key}/menu?year=2027"
    r = service.get(f"/console/cadres/{unknown_number()}")
    assert r.status_code == 404 and mask_id_card(unknown_number()) in r.text
    assert unknown_number() not in r.text
    r = service.post("/console", data={"q": unknown_number()})
    assert r.status_code == 200 and unknown_number() not in r.text


def test_console_menu_workbook_shows_name_and_masked_id(service, model, ids) -> None:
    key = hash_id_card(ids[4], SECRET)
    r = service.get(f"/console/cadres/{key}/menu.xlsx")
    assert r.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    facts = dict(book["说明"].iter_rows(min_row=2, values_only=True))
    assert facts["姓名"] == model.cadre_profile(key)[C.NAME]
    assert facts["身份证号（脱敏）"] == mask_id_card(ids[4])
    cells = " ".join(str(v) for ws in book for row in ws.iter_rows(values_only=True) for v in row)
    assert not leaks(cells, ids)


# ------------------------------------------------------------------ CLI and workbooks
def test_cli_takes_the_full_number(county, ids, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XUANXUE_ID_SECRET", SECRET)
    run = CliRunner().invoke
    base = ["--model", str(county), "--events", "none"]
    r = run(cli, ["recommend", *base, "--cadre", ids[0], "-k", "5", "--json"])
    assert r.exit_code == 0, r.output
    assert hash_id_card(ids[0], SECRET) in r.output and not leaks(r.output, ids)
    r = run(cli, ["menu", *base, "--cadre", ids[1], "--as-of", "2026-01-01"])
    assert r.exit_code == 0, r.output
    assert mask_id_card(ids[1]) in r.output.splitlines()[0] and not leaks(r.output, ids)
    (tmp_path / "名单.txt").write_text("\n".join(ids[:6]), encoding="utf-8")
    out = tmp_path / "推荐.csv"
    r = run(cli, ["recommend", *base, "--cadres", str(tmp_path / "名单.txt"), "-k", "5",
                  "--output", str(out)])  # fmt: skip
    assert r.exit_code == 0, r.output
    table = pd.read_csv(out, dtype=str)
    assert {"干部编号", "姓名", "身份证号（脱敏）"} <= set(table.columns)
    assert set(table["身份证号（脱敏）"]) == {mask_id_card(i) for i in ids[:6]}
    assert not leaks(out.read_bytes(), ids)
    r = run(cli, ["recommend", *base, "--cadre", unknown_number()])
    said = r.output + str(r.exception)  # a CLIError: main() prints it as 错误：…
    assert r.exit_code == 1 and mask_id_card(unknown_number()) in said
    assert unknown_number() not in said
    monkeypatch.setenv("XUANXUE_ID_SECRET", OTHER_SECRET)
    r = run(cli, ["recommend", *base, "--cadre", ids[0]])
    said = r.output + str(r.exception)
    assert r.exit_code == 1 and "密钥不一致" in said and not leaks(said, ids)


def test_unit_menus_workbook_shows_name_and_masked_id(model, ids, tmp_path) -> None:
    keys = [hash_id_card(i, SECRET) for i in ids[:3]]
    out = write_menus_workbook(model, plan_menus(model, keys, year=2027), tmp_path / "菜单.xlsx")
    book = openpyxl.load_workbook(out)
    summary = list(book["汇总"].iter_rows(values_only=True))
    head = summary[0]
    assert head[:3] == ("干部编号", "姓名", "身份证号（脱敏）")
    assert [r[2] for r in summary[1:4]] == [mask_id_card(i) for i in ids[:3]]
    assert book["课程菜单"]["B1"].value == "姓名"
    cells = " ".join(str(v) for ws in book for row in ws.iter_rows(values_only=True) for v in row)
    assert not leaks(cells, ids)


def test_sign_in_redirect_does_not_carry_the_number(county, ids, tmp_path) -> None:
    """A client that must sign in is sent to the login page; the number is not passed on in
    the login URL's ``next`` (the page opens from the search box after signing in)."""
    settings = make_settings(
        county, tmp_path / "e.sqlite3", id_secret=SECRET, local_clients=("127.0.0.1",)
    )  # "testclient" is not loopback here
    with client_for(settings) as remote:
        r = remote.get(f"/console/cadres/{ids[5]}/menu", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
        assert not leaks(r.headers["location"], ids)
        key = hash_id_card(ids[5], SECRET)
        r = remote.get(f"/console/cadres/{key}", follow_redirects=False)
        assert r.status_code == 303 and key in r.headers["location"]  # hashed ids come back
