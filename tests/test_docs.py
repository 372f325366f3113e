"""The documentation site builds in strict mode (a broken link or anchor fails), the README
stays a short front door, and the downloadable data template matches the loader."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TEMPLATE = DOCS / "downloads" / "数据模板.xlsx"


def _build(config: Path, site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        cwd=config.parent,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    proc = _build(ROOT / "mkdocs.yml", site)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return site


def test_site_builds_in_strict_mode_with_every_page(site):
    pages = {
        "quickstart",
        "data",
        "training",
        "menus",
        "gaps",
        "console",
        "api",
        "deploy",
        "security",
        "reference/models",
        "reference/performance",
    }
    for page in pages:
        assert (site / page / "index.html").is_file(), page
    assert (site / "downloads" / "数据模板.xlsx").is_file()
    for image in ("console.png", "report.png", "gaps_bars.png"):
        assert (site / "images" / image).is_file(), image


def test_data_page_tables_come_from_the_contract(site):
    from recommender.data.schema import CADRES, COMPLETIONS, COURSES

    html = (site / "data" / "index.html").read_text(encoding="utf-8")
    assert "<!-- columns:" not in html and "columns:" not in html
    for spec in (COURSES, CADRES, COMPLETIONS):
        for field in spec.fields:
            if field.aliases:
                assert f"<code>{field.name}</code>" in html, field.name
                assert field.aliases[0] in html, field.aliases[0]
    assert "面授（<code>face_to_face</code>）" in html  # enum values with Chinese labels
    assert "可带单位 学时" in html  # units


def test_pages_are_chinese_first(site):
    cjk = re.compile(r"[\u4e00-\u9fff]")
    for page in ("quickstart", "data", "training", "menus", "gaps", "console", "api", "deploy"):
        html = (site / page / "index.html").read_text(encoding="utf-8")
        main = html[html.index("<article") : html.index("</article>")]
        text = re.sub(r"<pre.*?</pre>|<code>.*?</code>|<[^>]+>", " ", main, flags=re.S)
        letters = [c for c in text if c.isalpha()]
        share = sum(bool(cjk.match(c)) for c in letters) / len(letters)
        assert share > 0.5, (page, share)


def test_strict_build_fails_on_a_broken_link(tmp_path):
    copy = tmp_path / "project"
    copy.mkdir()
    shutil.copytree(DOCS, copy / "docs")
    shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    index = copy / "docs" / "index.md"
    index.write_text(index.read_text(encoding="utf-8") + "\n[坏链接](no-such-page.md)\n", "utf-8")
    proc = _build(copy / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode != 0
    assert "no-such-page.md" in proc.stdout + proc.stderr


def test_readme_is_a_short_front_door():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) <= 200, len(lines)
    first_block = text.split("```bash", 1)[1].split("```", 1)[0]
    commands = [ln.split("#")[0].strip() for ln in first_block.strip().splitlines()]
    assert commands[:2] == ["make run", "make test"]
    assert "make run PORT=" in text and "HOST=" in text  # documented
    assert "English summary" in text
    for link in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (ROOT / link).exists(), link


def test_makefile_documents_port_host_and_docs():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "make run PORT=" in makefile and "HOST=" in makefile
    for target in ("docs:", "docs-serve:", "report:", "notebooks:"):
        assert f"\n{target}" in makefile, target


def test_template_workbook_is_current_and_loads_cleanly(tmp_path):
    from openpyxl import load_workbook

    from recommender.data.loading import load_dataset

    sys.path.insert(0, str(DOCS / "tools"))
    try:
        from make_template import write_template
    finally:
        sys.path.remove(str(DOCS / "tools"))
    fresh = write_template(tmp_path / "fresh.xlsx")

    def cells(path: Path) -> dict[str, list[tuple]]:
        book = load_workbook(path, read_only=True)
        return {ws.title: [tuple(r) for r in ws.iter_rows(values_only=True)] for ws in book}

    committed = cells(TEMPLATE)
    assert committed == cells(fresh), "docs/downloads/数据模板.xlsx is stale: run make_template.py"
    assert next(iter(committed)) == "填表说明"
    ds = load_dataset(files=dict.fromkeys(("courses", "cadres", "completions"), TEMPLATE))
    assert ds.rows_rejected == 0
    for t in ds.load_report():
        assert t["accepted"] == 2, t
    assert not [w for w in ds.warnings if "未知列" in w], ds.warnings
