"""Feature building and request-path behaviour tested through public APIs: interaction
weights, the quality prior, context scores, the audience filter, the large-catalog content
path, batch recommendations, ``as_of`` and the CLI's happy paths."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from recommender.data.catalog import AudienceIndex, audience_tags
from recommender.data.features import interaction_weights, quality_prior
from recommender.data.schema import Columns as C
from recommender.ranking.pipeline import prepare_data
from recommender.signals import content as content_module
from recommender.signals.base import QueryBatch
from recommender.signals.content import ContentSignal
from recommender.signals.context import context_scores
from tests.frames import checkerboard


def test_interaction_weights_rank_finished_over_abandoned_and_rating_counts():
    df = pd.DataFrame(
        {
            C.PROGRESS: [1.0, 0.2, 0.0, 1.0, 1.0],
            C.COMPLETED_AT: [pd.Timestamp("2025-01-02"), pd.NaT, pd.NaT, pd.NaT, pd.NaT],
            C.RATING: [np.nan, np.nan, np.nan, 5, 1],
        }
    )
    w = interaction_weights(df)
    assert w[0] == pytest.approx(1.0)  # completed, no rating
    assert w[1] == pytest.approx(0.3 + 0.7 * 0.2)
    assert w[2] == pytest.approx(0.3)  # enrolled only still counts a little
    assert w[3] > w[0] > w[4]  # a good rating adds, a bad one subtracts


def test_quality_prior_shrinks_few_ratings_towards_the_instructor():
    courses = pd.DataFrame({C.COURSE_ID: ["a", "b", "c"], C.INSTRUCTOR_RATING: [4.0, 4.0, np.nan]})
    comps = pd.DataFrame({C.COURSE_ID: ["a"] * 50 + ["b"], C.RATING: [1.0] * 50 + [1.0]})
    q = quality_prior(courses, comps, strength=5.0)
    assert q[0] < 1.5  # many bad ratings win over the instructor
    assert 3.0 < q[1] < 4.0  # one bad rating barely moves it
    assert q[2] == pytest.approx(4.0)  # unknown instructor: the mean instructor rating


def test_context_scores_prefer_declared_formats_and_penalise_unreachable_sessions():
    fmt_hot = np.eye(2, dtype=np.float32)  # course 0 is format 0, course 1 format 1
    win_hot = np.array([[1, 0], [0, 1]], dtype=np.float32)  # course 0 day, course 1 weekend
    likes_fmt1_free_day = np.array([[0, 1, 1, 0]], dtype=np.float32)
    s = context_scores(likes_fmt1_free_day, fmt_hot, win_hot)[0]
    assert s[0] == pytest.approx(0.0)  # reachable, not preferred
    assert s[1] == pytest.approx(1.0 - 2.0)  # preferred but outside every window


def test_audience_filter_matches_rank_band_level_and_flags():
    idx = AudienceIndex(["", "全体干部", "乡科级|新提拔干部", "县处级", "乡镇"])
    tags = audience_tags({C.UNIT_LEVEL: "township", C.NEWLY_PROMOTED: True}, "乡科级")
    assert idx.mask(tags).tolist() == [True, True, True, False, True]
    tags = audience_tags({C.UNIT_LEVEL: "city"}, "县处级")
    assert idx.mask(tags).tolist() == [True, True, False, True, False]


def test_content_path_without_the_dense_cache_gives_the_same_scores(monkeypatch):
    """Catalogs above DENSE_LIMIT courses keep no course × course matrix; the request path
    then multiplies sparse rows and must give the batch scores all the same."""
    courses, cadres, comps, _ = checkerboard()
    _, data = prepare_data(courses, cadres, comps)
    batch = QueryBatch.for_cadres(data, np.arange(data.n_cadres))
    monkeypatch.setattr(content_module, "DENSE_LIMIT", 0)
    signal = ContentSignal().fit(data)
    signal.prepare()
    assert signal._serving_sim is None
    expected = signal.score(batch)
    for i in range(len(batch)):
        np.testing.assert_allclose(signal.score_one(batch.query(i)), expected[i], atol=1e-6)


def test_batch_recommend_equals_one_by_one(tiny_model):
    ids = [str(c) for c in tiny_model.cadres[C.CADRE_ID].head(5)]
    frame = tiny_model.recommend_batch(ids, k=4)
    assert list(frame.columns) == [C.CADRE_ID, "rank", C.COURSE_ID, "score"]
    for cid in ids:
        got = frame[frame[C.CADRE_ID] == cid][C.COURSE_ID].tolist()
        assert got == [r.course_id for r in tiny_model.recommend(cid, 4, explain=False)]


def test_as_of_closes_sessions_that_have_started(tiny_model):
    scheduled = tiny_model.courses[C.SESSION_START].notna().to_numpy()
    assert scheduled.any()
    try:
        tiny_model.as_of = np.datetime64("2100-01-01")
        open_later = tiny_model.open_courses()
        assert not open_later[scheduled].any() and open_later[~scheduled].all()
        cid = str(tiny_model.cadres[C.CADRE_ID].iloc[0])
        for rec in tiny_model.recommend(cid, 20):
            assert not scheduled[tiny_model.course_index(rec.course_id)]
    finally:
        tiny_model.as_of = None


def _cli(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "recommender", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_cli_recommend_and_menu_happy_paths(tiny_models, tiny_model, tmp_path):
    cid = str(tiny_model.cadres[C.CADRE_ID].iloc[0])
    proc = _cli("recommend", "--model", str(tiny_models), "--cadre", cid, "-k", "5", "--json")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    items = got["items"] if isinstance(got, dict) else got
    assert [i["course_id"] for i in items] == [r.course_id for r in tiny_model.recommend(cid, 5)]

    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(str(c) for c in tiny_model.cadres[C.CADRE_ID].head(3)) + "\n")
    out = tmp_path / "out.csv"
    proc = _cli(
        "recommend", "--model", str(tiny_models), "--cadres", str(ids), "--output", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    frame = pd.read_csv(out, dtype=str)
    assert frame["干部编号"].nunique() == 3 and len(frame) == 30  # Chinese headers for people

    proc = _cli("menu", "--model", str(tiny_models), "--cadre", cid, "--json")
    assert proc.returncode == 0, proc.stderr
    menu = json.loads(proc.stdout)
    assert menu["cadre_id"] == cid and menu["items"]
    assert menu["planned_hours"] == pytest.approx(sum(i["credit_hours"] for i in menu["items"]))


def test_artifact_metadata_records_the_rules_file_hash(tiny_models):
    import hashlib
    from importlib.resources import files

    from recommender.lifecycle.artifacts import read_metadata

    rules = files("recommender").joinpath("resources", "training_rules.toml").read_bytes()
    meta = read_metadata(tiny_models)
    assert meta["rules"]["sha256"] == hashlib.sha256(rules).hexdigest()
