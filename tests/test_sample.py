"""The synthetic sample: generator contract (tiny scale) and the committed data/sample files."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from recommender.data.schema import (
    CADRES,
    CATEGORIES,
    COMPLETIONS,
    COURSES,
    FORMATS,
    METHODS,
    PERSONAL_COLUMNS,
    SCHEDULED_FORMATS,
    SOURCES,
    UNIT_LEVELS,
    WINDOWS,
)
from samplegen import generate_sample
from samplegen.cadres import POSITIONS_FILE

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
SPECS = {"courses": COURSES, "cadres": CADRES, "completions": COMPLETIONS}
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def _read(directory: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(directory / f"{name}.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def sample() -> dict[str, pd.DataFrame]:
    return {name: _read(SAMPLE, name) for name in SPECS}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    generate_sample(out, scale="tiny", seed=7)
    return out


def test_same_seed_gives_identical_bytes(tiny: Path, tmp_path: Path) -> None:
    counts = generate_sample(tmp_path, scale="tiny", seed=7)
    for name in SPECS:
        assert (tmp_path / f"{name}.csv").read_bytes() == (tiny / f"{name}.csv").read_bytes()
    assert counts == {name: len(_read(tmp_path, name)) for name in SPECS}


def test_different_seed_gives_different_data(tiny: Path, tmp_path: Path) -> None:
    generate_sample(tmp_path, scale="tiny", seed=8)
    assert (tmp_path / "completions.csv").read_bytes() != (tiny / "completions.csv").read_bytes()


def test_unknown_scale_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="scale"):
        generate_sample(tmp_path, scale="huge")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(SPECS))
def test_columns_are_the_contract_in_order(name: str, tiny: Path, sample) -> None:
    contract = [c for c in SPECS[name].columns if c not in PERSONAL_COLUMNS]  # pseudonymous
    assert list(_read(tiny, name).columns) == contract
    assert list(sample[name].columns) == contract


def test_cells_use_contract_encodings(sample) -> None:
    co, ca, cp = sample["courses"], sample["cadres"], sample["completions"]
    for frame, spec in ((co, COURSES), (ca, CADRES), (cp, COMPLETIONS)):
        for f in spec.fields:
            if f.name in PERSONAL_COLUMNS:  # the sample is pseudonymous: no names, no ids
                continue
            values = frame[f.name][frame[f.name] != ""]
            if f.kind == "bool":
                assert set(frame[f.name]) <= {"true", "false"}, f.name
            elif f.kind == "datetime":
                assert values.str.match(TIME_RE).all(), f.name
    assert set(cp["source"]) <= set(SOURCES)
    assert cp["rating"][cp["rating"] != ""].isin(list("12345")).all()


def test_committed_sample_is_what_the_generator_writes(sample, tmp_path: Path) -> None:
    generate_sample(tmp_path, scale="small", seed=20260101)
    for name in SPECS:
        assert (tmp_path / f"{name}.csv").read_bytes() == (SAMPLE / f"{name}.csv").read_bytes()


def test_catalog_is_rich(sample) -> None:
    co = sample["courses"]
    assert len(co) >= 600 and co["course_id"].is_unique
    assert co["category"].nunique() >= 12 and set(co["category"]) <= set(CATEGORIES)
    assert set(co["format"]) == set(FORMATS) and set(co["method"]) == set(METHODS)
    assert 0.03 <= (co["compulsory"] == "true").mean() <= 0.08
    assert (co.loc[co["compulsory"] == "true", "audience"] != "").all()
    hours = co["credit_hours"].astype(float)
    for fmt, (lo, hi) in {
        "micro": (0.5, 4),
        "video": (0.5, 4),
        "article": (0.5, 1),
        "live": (2, 4),
        "face_to_face": (4, 16),
        "special_class": (24, 40),
    }.items():
        assert hours[co["format"] == fmt].between(lo, hi).all(), fmt
    scheduled = co["format"].isin(SCHEDULED_FORMATS)
    assert (co.loc[scheduled, "session_start"] != "").all()
    assert (co.loc[~scheduled, "session_start"] == "").all()
    assert (co.loc[scheduled, "session_start"] < co.loc[scheduled, "session_end"]).all()
    assert co["instructor_rating"].astype(float).between(3.0, 5.0).all()
    prereq = co[co["prerequisites"] != ""]
    assert len(prereq) >= 5 and prereq["prerequisites"].isin(co["course_id"]).all()


def test_texts_are_varied(sample) -> None:
    co = sample["courses"]
    lengths = co["description"].str.len()
    assert lengths.between(60, 200).all()
    assert co["description"].nunique() >= 0.95 * len(co)
    assert co["title"].nunique() >= 0.95 * len(co)


def test_cadres_cover_the_province(sample) -> None:
    ca = sample["cadres"]
    assert len(ca) >= 3000 and ca["cadre_id"].is_unique
    assert set(ca["unit_level"]) == set(UNIT_LEVELS)
    assert ca["system"].nunique() >= 15
    assert ca["region"].nunique() == 10
    assert 0.6 <= (ca["declared_needs"] != "").mean() <= 0.8
    assert ca["weekly_hours_budget"].astype(float).between(1, 8).all()
    windows = ca["available_windows"].str.split("|").explode()
    assert set(windows) == set(WINDOWS)
    positions = pd.read_csv(POSITIONS_FILE, dtype=str, keep_default_na=False)
    assert ca["job_title"].isin(positions["job_title"]).all()


def test_completions_respect_time_and_references(sample) -> None:
    co, ca, cp = sample["courses"], sample["cadres"], sample["completions"]
    assert cp["cadre_id"].isin(ca["cadre_id"]).all() and cp["course_id"].isin(co["course_id"]).all()
    days = pd.to_datetime(cp["enrolled_at"])
    assert (days.max() - days.min()).days >= 700
    m = cp.merge(co[["course_id", "published_at", "session_start", "credit_hours"]], on="course_id")
    assert (m["enrolled_at"] > m["published_at"]).all()
    session = m["session_start"] != ""
    assert (m.loc[session, "enrolled_at"] < m.loc[session, "session_start"]).all()
    done = m["completed_at"] != ""
    assert 0.7 <= done.mean() <= 0.9
    assert (m.loc[done, "completed_at"] > m.loc[done, "enrolled_at"]).all()
    assert (m.loc[done, "progress"] == "1.0").all()
    assert (m.loc[done, "credit_hours_awarded"] == m.loc[done, "credit_hours"]).all()
    assert m.loc[~done, "progress"].astype(float).between(0.1, 0.9).all()
    assert (m.loc[~done, "rating"] == "").all()


def test_cold_cadres_and_cold_courses_exist(sample) -> None:
    co, ca, cp = sample["courses"], sample["cadres"], sample["completions"]
    assert 0.03 <= (~ca["cadre_id"].isin(cp["cadre_id"])).mean() <= 0.08
    assert 0.03 <= (co["published_at"] >= "2025-10-01").mean() <= 0.08
    per_cadre = cp.groupby("cadre_id").size()
    assert 10 <= per_cadre.median() <= 30


def test_content_signal(sample) -> None:
    """Cadres of a system complete more of that system's categories than other cadres do."""
    m = sample["completions"].merge(sample["courses"][["course_id", "category"]], on="course_id")
    m = m.merge(sample["cadres"][["cadre_id", "system"]], on="cadre_id")
    for system, category in (
        ("应急管理", "应急管理"),
        ("农业农村", "乡村振兴"),
        ("乡镇综合", "基层治理"),
        ("财政", "经济金融"),
    ):
        own = m.loc[m["system"] == system, "category"].eq(category).mean()
        other = m.loc[m["system"] != system, "category"].eq(category).mean()
        assert own > 1.5 * other, (system, own, other)


def test_planted_gaps_are_visible(sample) -> None:
    co, ca = sample["courses"], sample["cadres"]
    needs = ca["declared_needs"]
    digital = co["title"].str.contains("数据安全|人工智能|数字政府").mean()
    assert needs.str.contains("数据安全|人工智能|数字政府|大模型|AI").mean() > 10 * digital
    assert (co["category"] == "心理健康").sum() <= 5
    assert needs.str.contains("压力|心理|情绪").mean() > 0.1
    emergency = co[(co["category"] == "应急管理") & (co["format"] == "face_to_face")]
    start = pd.to_datetime(emergency["session_start"])
    assert (start.dt.day_of_week < 5).all() and (start.dt.hour < 12).all()
