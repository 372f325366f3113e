"""The shipped sample loads cleanly, and identically from GBK and Excel re-encodings."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pandas as pd
import pytest

from recommender.data.loading import load_dataset
from tests.conftest import SAMPLE

TABLES = ("courses", "cadres", "completions")


@pytest.fixture(scope="module")
def original():
    return load_dataset(SAMPLE, write_rejects=False)


def test_sample_has_zero_rejects(original):
    summary = original.summary()
    assert summary["rejected"].sum() == 0
    assert (summary["rows_in"] == summary["accepted"]).all()


def test_validate_cli_reports_zero_rejects(tmp_path):
    data = tmp_path / "sample"
    shutil.copytree(SAMPLE, data)
    proc = subprocess.run(
        [sys.executable, "-m", "recommender", "validate", str(data)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("拒收 0 行，清空 0 格") == 3, proc.stdout
    assert not list(data.glob("*.rejects.csv"))


def test_gbk_reencoding_loads_identically(original, tmp_path):
    for name in TABLES:
        text = (SAMPLE / f"{name}.csv").read_text(encoding="utf-8")
        (tmp_path / f"{name}.csv").write_bytes(text.encode("gbk"))
    again = load_dataset(tmp_path, write_rejects=False)
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(original, name), getattr(again, name))


def _xlsx_roundtrip(original, tmp_path, completions_rows: int | None) -> None:
    for name in TABLES:
        raw = pd.read_csv(SAMPLE / f"{name}.csv", dtype=str, keep_default_na=False)
        if name == "completions" and completions_rows:
            raw = raw.head(completions_rows)
        raw.to_excel(tmp_path / f"{name}.xlsx", index=False)
    again = load_dataset(tmp_path, write_rejects=False)
    for name in TABLES:
        expected = getattr(original, name)
        if name == "completions" and completions_rows:
            expected = expected.head(completions_rows)
        pd.testing.assert_frame_equal(expected, getattr(again, name))


def test_xlsx_reencoding_loads_identically(original, tmp_path):
    """Courses and cadres in full, the first 5,000 enrolments (the full run is `slow`)."""
    _xlsx_roundtrip(original, tmp_path, 5000)


@pytest.mark.slow
def test_xlsx_reencoding_full_sample(original, tmp_path):
    _xlsx_roundtrip(original, tmp_path, None)
