"""Staff console (/console): a real uvicorn server driven by a real headless Chromium.

The browser looks a cadre up, checks that the recommendations listed are the JSON API's
(ids and order), builds and downloads a menu as Excel, opens a course page, signs in with a
key; every page is screenshotted (and must not be blank), and no request may leave the
service. Without Debian's ``chromium`` + ``chromium-driver`` the browser tests skip — except
under CI (``CI=true``), where they fail. The last tests use ``TestClient`` (no browser).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from openpyxl import Workbook, load_workbook
from PIL import Image, ImageStat

from recommender import EventStoreUnavailable
from recommender.data.spreadsheet import is_risky
from recommender.lifecycle.keys import add_key, revoke_key
from service.config import Settings
from service.console.config import ConsoleSettings
from service.console.excel import menu_workbook
from service.main import create_app
from tests.helpers import assert_prints_as_a_table

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's httpx deprecation notice on import
    from fastapi.testclient import TestClient

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT = 20  # seconds for a page or a download
LOCAL_URL = "http://localhost"  # TestClient's name for the server (keyless mode: loopback only)


# ------------------------------------------------------------------ fixtures
def _find_browser() -> tuple[str, str]:
    browser = next((p for p in CHROMIUM if os.access(p, os.X_OK)), shutil.which("chromium"))
    driver = CHROMEDRIVER if os.access(CHROMEDRIVER, os.X_OK) else shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        browser = None
    if browser and driver:
        return browser, driver
    why = "needs selenium and Debian's chromium + chromium-driver (`make test` installs them)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests {why}")
    pytest.skip(f"browser tests {why}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The real app under uvicorn on a free loopback port, in a thread."""

    def __init__(self, settings: Settings, reports: Path) -> None:
        import uvicorn

        self.app = create_app(settings)
        self.app.state.console_settings = ConsoleSettings(reports_dir=reports)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert self.thread.is_alive(), "uvicorn stopped while starting"
            assert time.monotonic() < deadline, "uvicorn did not start within 60 s"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def _settings(models: Path, tmp: Path, **overrides) -> Settings:
    return Settings(
        model_path=models,
        events_path=tmp / "events.sqlite3",
        keys_file=overrides.pop("keys_file", tmp / "no_api_keys.json"),
        **overrides,
    )


@pytest.fixture(scope="module")
def browser_paths() -> tuple[str, str]:
    return _find_browser()


@pytest.fixture(scope="module")
def server(tiny_models, tmp_path_factory) -> Iterator[Server]:
    """No keys configured: loopback clients open the console without signing in."""
    tmp = tmp_path_factory.mktemp("console_server")
    with Server(_settings(tiny_models, tmp), tmp / "reports") as s:
        yield s


@pytest.fixture()
def driver(browser_paths, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, chromedriver = browser_paths
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
        "--lang=zh-CN",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
    ):
        options.add_argument(arg)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    browser = webdriver.Chrome(service=Service(chromedriver), options=options)
    browser.set_page_load_timeout(WAIT)
    browser.execute_cdp_cmd(
        "Browser.setDownloadBehavior",
        {"behavior": "allow", "downloadPath": str(downloads), "eventsEnabled": True},
    )
    browser.downloads = downloads
    try:
        yield browser
    finally:
        browser.quit()


# ------------------------------------------------------------------ helpers
def _wait(driver, css: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT).until(EC.presence_of_element_located((By.CSS_SELECTOR, css)))


def _wait_url(driver, fragment: str) -> None:
    """Until the browser has navigated to a URL holding ``fragment`` (the old page may hold
    the same elements, so waiting for an element alone can return before a submit lands)."""
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT).until(EC.url_contains(fragment))


def _ids(driver, css: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.get_attribute("data-course-id") for e in driver.find_elements(By.CSS_SELECTOR, css)]


def _shot(driver, tmp_path: Path, name: str) -> Path:
    """Screenshot the page and assert it is not blank (many colours, real contrast)."""
    path = tmp_path / f"{name}.png"
    assert driver.save_screenshot(str(path)), name
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20) or []
        spread = ImageStat.Stat(rgb.convert("L")).stddev[0]
    assert len(colours) > 50 and spread > 10, f"{name}: blank page ({len(colours)} colours)"
    return path


def _network(driver) -> tuple[list[str], list[dict]]:
    """URLs the browser requested and the document responses it got (performance log)."""
    urls, documents = [], []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            urls.append(params["request"]["url"])
        elif (
            message["method"] == "Network.responseReceived"
            and params.get("type") == "Document"
            and params["response"]["url"].startswith("http")  # not the driver's data:, page
        ):
            documents.append(params["response"])
    return urls, documents


def _assert_stayed_home(urls: list[str], documents: list[dict], base: str) -> None:
    assert urls, "the performance log recorded no requests"
    outside = [u for u in urls if not u.startswith(f"{base}/") and not u.startswith("data:")]
    assert not outside, f"requests left the service: {outside}"
    assert documents
    for response in documents:
        headers = {k.lower(): v for k, v in response["headers"].items()}
        assert "default-src 'self'" in headers.get("content-security-policy", ""), response["url"]


def _api_ids(base: str, cadre_id: str, **params) -> list[str]:
    r = httpx.get(f"{base}/v1/cadres/{cadre_id}/recommendations", params=params, timeout=WAIT)
    assert r.status_code == 200, r.text
    return [item["course_id"] for item in r.json()["items"]]


def _sample_cadre(model) -> dict:
    """A cadre with a unit and a post, to be found by text rather than by id."""
    cadres = model.cadres.dropna(subset=["unit", "job_title"])
    return cadres.iloc[len(cadres) // 3].to_dict()


# ------------------------------------------------------------------ browser tests
def test_console_lookup_recommendations_menu_excel_course(server, driver, tiny_model, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base = server.url
    cadre = _sample_cadre(tiny_model)
    cadre_id = str(cadre["cadre_id"])

    # 1. start page: header shows the model; look the cadre up by unit + post text
    driver.get(f"{base}/console")
    _wait(driver, "#search-form")
    assert driver.find_element(By.ID, "model-version").text == tiny_model.version
    assert driver.find_element(By.ID, "trained-at").text[:4].isdigit()
    _shot(driver, tmp_path, "01-home")
    box = driver.find_element(By.ID, "q")
    box.send_keys(f"{cadre['unit']} {cadre['job_title']}")
    box.submit()
    _wait(driver, "#cadre-results")
    found = [
        e.get_attribute("data-cadre-id")
        for e in driver.find_elements(By.CSS_SELECTOR, "#cadre-results tr[data-cadre-id]")
    ]
    assert cadre_id in found
    _shot(driver, tmp_path, "02-search")
    driver.find_element(By.CSS_SELECTOR, f'tr[data-cadre-id="{cadre_id}"] a').click()

    # 2. cadre page: the list is the API's, ids and order, also under a filter
    _wait(driver, "#recommendations")
    assert driver.find_element(By.ID, "cadre-id").text == cadre_id
    page = _ids(driver, "#recommendations tr.rec")
    assert page == _api_ids(base, cadre_id, k=10)
    assert all(
        row.find_elements(By.CSS_SELECTOR, "ul.reasons li")
        for row in driver.find_elements(By.CSS_SELECTOR, "#recommendations tr.rec")
    ), "every recommendation shows its reasons"
    _shot(driver, tmp_path, "03-cadre")
    category = driver.find_element(By.CSS_SELECTOR, "#recommendations tr.rec td:nth-child(3)").text
    Select(driver.find_element(By.ID, "category")).select_by_value(category)  # submits on change
    _wait(driver, f'#category option[value="{category}"][selected]')
    filtered = _ids(driver, "#recommendations tr.rec")
    assert filtered and filtered == _api_ids(base, cadre_id, k=10, category=category)

    # 3. menu preview, adjusted through its form, then the Excel download
    driver.get(f"{base}/console/cadres/{cadre_id}")
    driver.find_element(By.ID, "menu-link").click()
    _wait(driver, "#menu-summary")
    target = driver.find_element(By.ID, "target_hours")
    target.clear()
    target.send_keys("24")
    target.submit()
    _wait_url(driver, "target_hours=24")
    _wait(driver, "#menu-items")
    assert "目标 24 学时" in driver.find_element(By.ID, "menu-summary").text
    assert driver.find_elements(By.CSS_SELECTOR, "#by-category tr")
    planned = _ids(driver, "#menu-items tr.menu-item")
    assert planned
    _shot(driver, tmp_path, "04-menu")
    driver.find_element(By.ID, "download-excel").click()
    deadline = time.monotonic() + WAIT
    while not (books := list(driver.downloads.glob("*.xlsx"))):
        assert time.monotonic() < deadline, "the Excel file was not downloaded"
        time.sleep(0.1)
    wb = load_workbook(books[0], read_only=True)
    rows = list(wb["课程菜单"].iter_rows(values_only=True))
    assert rows[0][:3] == ("序号", "课程编号", "课程名称")
    assert [r[1] for r in rows[1:]] == planned
    facts = dict(list(wb["说明"].iter_rows(values_only=True))[1:])
    assert facts["干部编号"] == cadre_id and facts["目标学时"] == 24
    wb.close()

    # 4. course page with similar courses
    driver.get(f"{base}/console/cadres/{cadre_id}")
    first = page[0]
    driver.find_element(By.CSS_SELECTOR, f'tr.rec[data-course-id="{first}"] a').click()
    _wait(driver, "#course-title")
    assert driver.find_element(By.ID, "course-id").text == first
    similar = _ids(driver, "#similar tr.similar")
    r = httpx.get(f"{base}/v1/courses/{first}/similar", params={"k": 10}, timeout=WAIT)
    assert similar == [item["course_id"] for item in r.json()["items"]]
    _shot(driver, tmp_path, "05-course")

    # 5. gaps page without a report says how to make one
    driver.get(f"{base}/console/gaps")
    assert "尚未生成需求缺口报告" in _wait(driver, "#no-gap-report").text
    _shot(driver, tmp_path, "06-gaps")

    urls, documents = _network(driver)
    _assert_stayed_home(urls, documents, base)
    assert any(u.endswith("/console/static/console.css") for u in urls)


def test_console_sign_in_with_read_key(tiny_models, tmp_path, driver):
    """With keys configured: login page, key in an HttpOnly SameSite=Strict cookie only."""
    from selenium.webdriver.common.by import By

    keys = tmp_path / "api_keys.json"
    token, _ = add_key(keys, "培训科", "read")
    with Server(_settings(tiny_models, tmp_path, keys_file=keys), tmp_path / "reports") as s:
        driver.get(f"{s.url}/console/gaps")
        _wait(driver, "#login-form")
        assert urlsplit(driver.current_url).path == "/console/login"
        _shot(driver, tmp_path, "07-login")
        driver.find_element(By.ID, "key").send_keys("not-a-key")
        driver.find_element(By.ID, "login-submit").click()
        assert "密钥无效" in _wait(driver, "#login-error").text
        driver.find_element(By.ID, "key").send_keys(token)
        driver.find_element(By.ID, "login-submit").click()
        _wait(driver, "#no-gap-report")  # back where the user was going
        assert urlsplit(driver.current_url).path == "/console/gaps"
        cookies = driver.get_cookies()
        assert len(cookies) == 1
        (cookie,) = cookies
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert cookie["path"] == "/console"
        assert driver.execute_script("return document.cookie") == ""  # not readable by JS
        urls, documents = _network(driver)
        assert not [u for u in urls if token in u], "the key must never appear in a URL"
        _assert_stayed_home(urls, documents, s.url)
        # the API itself still wants the key in a header
        assert httpx.get(f"{s.url}/v1/model", timeout=WAIT).status_code == 401
        driver.find_element(By.CSS_SELECTOR, "form[action='/console/logout'] button").click()
        _wait(driver, "#login-form")
        assert driver.get_cookies() == []


# ------------------------------------------------------------------ without a browser
@pytest.fixture(scope="module")
def client(tiny_models, tmp_path_factory) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("console_client")
    app = create_app(_settings(tiny_models, tmp, local_clients=("127.0.0.0/8", "testclient")))
    app.state.console_settings = ConsoleSettings(reports_dir=tmp / "reports")
    with TestClient(app, base_url=LOCAL_URL) as c:
        yield c


def test_every_console_response_has_the_csp(client, tiny_model):
    cadre_id = str(tiny_model.cadres["cadre_id"].iloc[0])
    for path in (
        "/console",
        f"/console/cadres/{cadre_id}",
        "/console/cadres/NOBODY",
        "/console/login",
        "/console/static/console.css",
        "/console/no-such-page",
    ):
        r = client.get(path)
        assert r.headers["content-security-policy"].startswith("default-src 'self'"), path
        assert r.headers["x-content-type-options"] == "nosniff"
    assert client.get("/console/cadres/NOBODY").status_code == 404
    assert "没有编号为 NOBODY 的干部" in client.get("/console/cadres/NOBODY").text


def _page_ids(html: str, row_class: str) -> list[str]:
    return re.findall(rf'<tr class="{row_class}" data-course-id="([^"]+)"', html)


def test_console_answers_like_the_api_with_the_event_store_down(client, tiny_model, monkeypatch):
    """The console reads events through the API's dependency, fallback included: with the
    store down both list the model's own answer (200), neither answers 500."""
    cadre_id = str(tiny_model.cadres["cadre_id"].iloc[3])
    calls: list[str] = []

    def down(cid: str):
        calls.append(cid)
        raise EventStoreUnavailable("events_unavailable: 数据库连接失败（测试）")

    monkeypatch.setattr(client.app.state.store, "for_cadre", down)
    api = client.get(f"/v1/cadres/{cadre_id}/recommendations", params={"k": 10})
    assert api.status_code == 200, api.text
    page = client.get(f"/console/cadres/{cadre_id}", params={"k": 10})
    assert page.status_code == 200, page.text
    assert _page_ids(page.text, "rec") == [i["course_id"] for i in api.json()["items"]]
    api_menu = client.post(f"/v1/cadres/{cadre_id}/menu", json={})
    menu = client.get(f"/console/cadres/{cadre_id}/menu")
    assert api_menu.status_code == menu.status_code == 200, menu.text
    assert _page_ids(menu.text, "menu-item") == [i["course_id"] for i in api_menu.json()["items"]]
    assert client.get(f"/console/cadres/{cadre_id}/menu.xlsx").status_code == 200
    assert calls.count(cadre_id) == 5  # every read went to the (broken) store


def test_console_uses_the_api_filter_checks_and_unknown_id_pages(client, tiny_model):
    cadre_id = str(tiny_model.cadres["cadre_id"].iloc[0])
    r = client.get(f"/console/cadres/{cadre_id}", params={"category": "不存在的类别"})
    assert r.status_code == 422 and "未知课程类别" in r.text
    # the API's spellings: 视频 is the contract's video, as in GET …/recommendations
    r = client.get(f"/console/cadres/{cadre_id}", params={"format": "视频", "k": 50})
    api = client.get(
        f"/v1/cadres/{cadre_id}/recommendations", params={"format": "视频", "k": 50}
    ).json()
    assert r.status_code == 200 and _page_ids(r.text, "rec") == [
        i["course_id"] for i in api["items"]
    ]
    assert 'value="video" selected' in r.text
    r = client.get("/console/courses/NO-SUCH-COURSE")
    assert r.status_code == 404 and "没有编号为 NO-SUCH-COURSE 的课程" in r.text
    r = client.get("/console/cadres/NOBODY/menu")
    assert r.status_code == 404 and "POST /v1/recommendations" in r.text


def test_exact_id_opens_the_cadre_and_text_searches_unit_and_post(client, tiny_model):
    cadre = _sample_cadre(tiny_model)
    r = client.get("/console", params={"q": cadre["cadre_id"]}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith(f"/cadres/{cadre['cadre_id']}")
    r = client.get("/console", params={"q": f"{cadre['job_title']}  {cadre['unit']}"})
    assert f'data-cadre-id="{cadre["cadre_id"]}"' in r.text
    assert "没有找到" in client.get("/console", params={"q": "不存在的单位名称"}).text


def test_menu_excel_neutralises_formula_text():
    """Titles and reasons come from imported catalogs: = + - @ tab CR must stay text."""
    evil = ['=HYPERLINK("http://x","y")', "+1+1", "-2", "@SUM(A1)", "\tx", "\rx"]
    menu = {
        "cadre_id": "=cmd|' /C calc'!A0",
        "year": 2026,
        "target_hours": 50.0,
        "hours_credited": 0.0,
        "planned_hours": 3.0,
        "met": False,
        "solver": "milp",
        "items": [
            {
                "course_id": f"C{i}",
                "title": text,
                "category": "政治理论",
                "format": "video",
                "credit_hours": 1.5,
                "compulsory": False,
                "week": 1,
                "session_start": None,
                "reason": text,
            }
            for i, text in enumerate(evil)
        ],
        "totals_by_category": {"-政治理论": 3.0},
        "totals_by_format": {"video": 3.0},
        "unmet": [{"constraint": "hours", "shortfall_hours": 47.0, "message": "=1+1"}],
    }
    wb = load_workbook(io.BytesIO(menu_workbook(menu, model_version="v", cadre={})))
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    texts = [c for c in cells if isinstance(c.value, str)]
    risky = [c for c in texts if c.value[:1] in "=+-@\t\r\n" and c.value != "-2"]
    assert len(risky) >= 2 * (len(evil) - 1) + 3
    assert all(c.quotePrefix for c in risky), [c.value for c in risky if not c.quotePrefix]
    assert all(c.data_type == "s" for c in texts)  # "-2" too: text, not a number or formula
    assert not [c for c in cells if c.data_type == "f"]
    # numbers stay numbers
    sheet = wb["课程菜单"]
    assert sheet["F2"].value == 1.5 and sheet["F2"].data_type == "n"
    assert is_risky("=1+1") and not is_risky("-2")
    for ws in wb.worksheets:  # the clerk prints it
        assert_prints_as_a_table(ws)


def test_gaps_page_reads_the_newest_report(client):
    reports = client.app.state.console_settings.reports_dir
    reports.mkdir(parents=True, exist_ok=True)
    wb = Workbook()
    ws = wb.active
    ws.title = "主要缺口"
    ws.append(["主题编号", "主题", "课程类别", "需求占比", "供给占比", "缺口（需求−供给）"])
    ws.append([3, "应急处置", "应急管理", 0.12, 0.02, 0.10])
    wb.save(reports / "需求缺口.xlsx")
    r = client.get("/console/gaps")
    assert r.status_code == 200
    assert "应急处置" in r.text and "10.0%" in r.text and "尚未生成" not in r.text


def test_login_rules_without_a_browser(client, tiny_models, tmp_path):
    # no keys configured: a non-loopback client is sent to the login page
    app = create_app(_settings(tiny_models, tmp_path))  # "testclient" is not loopback here
    with TestClient(app, base_url=LOCAL_URL) as remote:
        r = remote.get("/console", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
    # a sign-in posted from another site is refused; no open redirect after sign-in
    r = client.post(
        "/console/login",
        content="key=x&next=/console",
        headers={
            "Origin": "http://evil.example",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert r.status_code == 403
    r = client.get("/console/login", params={"next": "//evil.example/console"})
    assert 'value="/console"' in r.text and "evil.example" not in r.text


def _sign_in(c: TestClient, key: str, **headers: str):
    return c.post(
        "/console/login",
        data={"key": key, "next": "/console/gaps"},
        headers=headers,
        follow_redirects=False,
    )


def test_console_cookie_is_a_session_not_the_key_and_logout_revokes_it(tiny_models, tmp_path):
    keys = tmp_path / "api_keys.json"
    token, _ = add_key(keys, "培训科", "read")
    settings = _settings(tiny_models, tmp_path, keys_file=keys)
    with TestClient(create_app(settings), base_url=LOCAL_URL) as c:
        assert _sign_in(c, "wrong").status_code == 401
        r = _sign_in(c, token)
        assert r.status_code == 303 and r.headers["location"] == "/console/gaps"
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
        assert "secure" not in cookie  # plain http, no trusted proxy
        session = c.cookies["xuanxue_console_session"]
        assert session and token not in r.headers["set-cookie"] and len(session) >= 40
        # the cookie opens the console; as an API key it is worthless
        assert c.get("/console/gaps", follow_redirects=False).status_code == 200
        assert c.get("/v1/model", headers={"X-API-Key": session}).status_code == 403
        assert c.get("/v1/model", headers={"X-API-Key": token}).status_code == 200
        r = c.post("/console/logout", follow_redirects=False)
        assert r.status_code == 303
        # replaying the old cookie after logout: revoked on the server, back to the login
        c.cookies.set("xuanxue_console_session", session, path="/console")
        r = c.get("/console/gaps", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
        # a new sign-in, then the key is revoked: its sessions end too
        c.cookies.clear()
        _sign_in(c, token)
        assert c.get("/console/gaps", follow_redirects=False).status_code == 200
        revoke_key(keys, "培训科")
        time.sleep(1.1)  # the keys file is re-read within a second
        assert c.get("/console/gaps", follow_redirects=False).status_code == 303


def test_console_sessions_are_shared_by_replicas(tiny_models, tmp_path):
    keys = tmp_path / "api_keys.json"
    token, _ = add_key(keys, "培训科", "read")
    settings = _settings(tiny_models, tmp_path, keys_file=keys)  # one event store for both
    with (
        TestClient(create_app(settings), base_url=LOCAL_URL) as a,
        TestClient(create_app(settings), base_url=LOCAL_URL) as b,
    ):
        _sign_in(a, token)
        b.cookies.set("xuanxue_console_session", a.cookies["xuanxue_console_session"])
        assert b.get("/console/gaps", follow_redirects=False).status_code == 200
        b.post("/console/logout", follow_redirects=False)  # logout on the other replica
        assert a.get("/console/gaps", follow_redirects=False).status_code == 303


def test_console_cookie_is_secure_behind_a_trusted_tls_proxy(tiny_models, tmp_path):
    keys = tmp_path / "api_keys.json"
    token, _ = add_key(keys, "培训科", "read")
    tls = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.0.0.7"}
    trusted = _settings(tiny_models, tmp_path, keys_file=keys, trusted_proxies=("*",))
    with TestClient(create_app(trusted), base_url=LOCAL_URL) as c:
        r = _sign_in(c, token, origin="https://localhost", **tls)
        assert r.status_code == 303 and "secure" in r.headers["set-cookie"].lower()
    untrusted = _settings(tiny_models, tmp_path, keys_file=keys)  # the client is no proxy
    with TestClient(create_app(untrusted), base_url=LOCAL_URL) as c:
        r = _sign_in(c, token, **tls)
        assert r.status_code == 303 and "secure" not in r.headers["set-cookie"].lower()


def test_legacy_admin_key_signs_in_through_a_session(tiny_models, tmp_path):
    settings = _settings(tiny_models, tmp_path, api_key="console-secret-123")
    with TestClient(create_app(settings), base_url=LOCAL_URL) as c:
        assert _sign_in(c, "wrong").status_code == 401
        r = _sign_in(c, "console-secret-123")
        assert r.status_code == 303 and "console-secret-123" not in r.headers["set-cookie"]
        assert c.get("/console/gaps", follow_redirects=False).status_code == 200


def test_console_pages_in_a_browser_show_no_bare_code(server, driver, tiny_model):
    """What a person sees in Chromium (visible text) names no constraint or enum code
    without its Chinese label: home, cadre, menu, course and gaps pages."""
    from selenium.webdriver.common.by import By

    from tests.test_chinese_surfaces import CODE

    base = server.url
    cadre_id = str(_sample_cadre(tiny_model)["cadre_id"])
    course = str(tiny_model.course_ids[0])
    pages = {
        "/console": "#search-form",
        f"/console/cadres/{cadre_id}": "#recommendations",
        f"/console/cadres/{cadre_id}/menu": "#menu-summary",
        f"/console/courses/{course}": "#course-title",
        "/console/gaps": "main",
    }
    for path, ready in pages.items():
        driver.get(base + path)
        _wait(driver, ready)
        seen = driver.find_element(By.TAG_NAME, "main").text
        for code in driver.find_elements(By.TAG_NAME, "code"):  # API paths for developers
            seen = seen.replace(code.text, " ")
        assert "学时" in seen or path.endswith(("/console", "/gaps")), path  # real content
        found = [m.group(1) for m in CODE.finditer(seen)]
        assert not found, (path, found[:5])
