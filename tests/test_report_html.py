"""`recommender report`: the planners' notebooks, run with parameters, as ONE self-contained
HTML file — charts as data URIs, no code, nothing fetched from elsewhere.

The fast tests check the notebooks' parameter cells and the HTML conversion on a notebook
with a real chart; the slow one runs the whole report on the sample and opens it in headless
Chromium, where every chart must be visible (screenshot saved).
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from recommender.insights.html_report import _REMOTE, _html, _merge, default_notebooks

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
REMOTE_REF = re.compile(r"(?:src=|href=|import\()\s*[\"']?https?://", re.I)


def _chart_png() -> str:
    import matplotlib

    matplotlib.use("agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2))
    fig.add_subplot().bar(["a", "b"], [3, 5])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode()


def test_every_notebook_takes_data_and_model_as_parameters():
    books = default_notebooks()
    assert {p.name for p in books} >= {"01_demand_gaps.ipynb", "02_catalog_health.ipynb"}
    for path in books:
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, path.name
        names = set(re.findall(r"^(\w+) = ", tagged[0].source, flags=re.M))
        assert names >= {"data", "model", "courses", "cadres", "completions"}, path.name
        later = "\n".join(c.source for c in nb.cells[nb.cells.index(tagged[0]) + 1 :])
        assert "Path(data)" in later and "model or " in later  # the values are used
        assert 'ROOT / "data" / "sample"' in later  # default: the sample


def test_html_is_self_contained_without_code():
    chart = _chart_png()
    code = nbformat.v4.new_code_cell("secret_code_line = 1\nplot()")
    code.outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": chart, "text/plain": "<Figure>"}),
        nbformat.v4.new_output("stream", name="stderr", text="a warning nobody needs\n"),
    ]
    params = nbformat.v4.new_code_cell('data = ""')
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(
        cells=[params, nbformat.v4.new_markdown_cell("## 主要缺口"), code]
    )
    html = _html(
        _merge([nb], {"data": "/d", "model": "/m", "courses": "", "cadres": "", "completions": ""})
    )
    assert "data:image/png;base64," + chart[:40] in html
    assert "主要缺口" in html and "选学 · 需求缺口与课程目录报告" in html and "/d" in html
    assert "secret_code_line" not in html and "a warning nobody needs" not in html
    assert not REMOTE_REF.search(html), REMOTE_REF.search(html)


def test_remote_pattern_removes_cdn_scripts_and_keeps_inline_ones():
    page = (
        '<script src="https://cdn.example/x.js"></script><script>var a = 1;</script>'
        '<script type="module">const m = await import("https://cdn.example/m.mjs");</script>'
        '<link rel="stylesheet" href="https://cdn.example/s.css">'
    )
    assert _REMOTE.sub("", page) == "<script>var a = 1;</script>"


# ---------------------------------------------------------------- the whole report, in Chromium
def _browser() -> tuple[str, str]:
    browser = next(
        (p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.access(p, os.X_OK)),
        shutil.which("chromium"),
    )
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if browser and os.access(driver, os.X_OK):
        return browser, driver
    why = "needs Debian's chromium + chromium-driver (`make test` installs them)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(why)
    pytest.skip(why)


@pytest.mark.slow
def test_report_opens_in_chromium_with_every_chart_visible(tmp_path):
    from PIL import Image, ImageStat
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, chromedriver = _browser()
    models = tmp_path / "models"
    env = {**os.environ, "XUANXUE_SIGNING_KEY_FILE": str(tmp_path / "signing.key")}
    run = [sys.executable, "-m", "recommender"]
    subprocess.run(
        [*run, "train", "--data", str(SAMPLE), "--out", str(models)], check=True, env=env
    )
    out = tmp_path / "报告.html"
    proc = subprocess.run(
        [*run, "report", "--data", str(SAMPLE), "--model", str(models), "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    assert "规划报告" in proc.stdout
    html = out.read_text(encoding="utf-8")
    assert not REMOTE_REF.search(html)
    n_charts = html.count('src="data:image/png;base64,')
    assert n_charts >= 6

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
        "--lang=zh-CN",
        "--disable-background-networking",
    ):
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        browser.get(out.resolve().as_uri())
        assert "需求缺口" in browser.title
        images = browser.execute_script(
            """return [...document.images].map(img => {
                img.scrollIntoView();
                const r = img.getBoundingClientRect(), s = getComputedStyle(img);
                return {complete: img.complete, w: img.naturalWidth, h: img.naturalHeight,
                        shownW: r.width, shownH: r.height,
                        visible: s.visibility !== 'hidden' && s.display !== 'none'};
            });"""
        )
        assert len(images) == n_charts
        for i, img in enumerate(images):
            assert img["complete"] and img["w"] > 200 and img["h"] > 100, (i, img)
            assert img["visible"] and img["shownW"] > 200 and img["shownH"] > 100, (i, img)
        text = browser.find_element("tag name", "body").text
        assert "主要缺口" in text and "需求占比（%）" in text and "import " not in text
        browser.execute_script("window.scrollTo(0, 0)")
        shot = tmp_path / "report.png"
        assert browser.save_screenshot(str(shot))
        with Image.open(shot) as image:
            assert ImageStat.Stat(image.convert("L")).stddev[0] > 10  # not a blank page
        print(f"screenshot: {shot}")
    finally:
        browser.quit()
