"""Evaluation protocol: splits, one table with every baseline, consistent metrics."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from recommender.data.loading import load_dataset
from recommender.lifecycle.evaluate import EvaluationError, evaluate, split_completions
from recommender.ranking.blend_search import batch_ndcg
from recommender.ranking.metrics import ndcg_at_k

MODELS = {"random", "popularity", "segment_popularity", "content", "ease", "itemknn", "hybrid"}


@pytest.fixture(scope="module")
def dataset(tiny_data):
    return load_dataset(tiny_data, write_rejects=False)


def test_temporal_split_is_by_time(dataset):
    train, test = split_completions(dataset.completions, "temporal", fraction=0.2)
    assert len(train) + len(test) == len(dataset.completions)
    assert train["enrolled_at"].max() <= test["enrolled_at"].min()
    assert abs(len(test) / len(dataset.completions) - 0.2) < 0.01


def test_leave_last_holds_out_one_per_cadre(dataset):
    _train, test = split_completions(dataset.completions, "leave-last")
    assert test["cadre_id"].is_unique
    last = dataset.completions.sort_values("enrolled_at").groupby("cadre_id").tail(1)
    assert set(test.index) <= set(last.index)


def test_unknown_split_is_refused(dataset):
    with pytest.raises(EvaluationError, match="unknown split"):
        split_completions(dataset.completions, "sideways")


def test_report_has_every_model_and_slice(dataset):
    report = evaluate(dataset, k=10)
    table = report.table
    assert set(table["model"]) == MODELS
    assert set(table["slice"]) == {"all", "cold_cadres", "cold_courses"}
    allrows = table[table["slice"] == "all"].set_index("model")
    assert ((allrows["ndcg@10"] >= 0) & (allrows["ndcg@10"] <= 1)).all()
    # the hybrid is fitted on a validation split, so it should beat chance clearly
    assert allrows.loc["hybrid", "ndcg@10"] > 2 * allrows.loc["random", "ndcg@10"]
    assert report.details["test_cadres"] == allrows.loc["hybrid", "cadres"]
    json.dumps(report.to_dict(), default=str)


def test_batch_ndcg_matches_reference_metric():
    rng = np.random.default_rng(0)
    scores = rng.random((30, 25))
    relevant = rng.random((30, 25)) < 0.15
    fast = batch_ndcg(scores, relevant, 10)
    for i in range(30):
        ranked = np.argsort(-scores[i], kind="stable").tolist()
        rel = set(np.flatnonzero(relevant[i]).tolist())
        expected = ndcg_at_k(ranked, rel, 10) if rel else 0.0
        assert fast[i] == pytest.approx(expected)


def test_cli_prints_table_and_writes_json(tiny_data, tmp_path):
    out = tmp_path / "eval.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "recommender",
            "evaluate",
            "--data",
            str(tiny_data),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "选学（混合）" in proc.stdout and "NDCG@10" in proc.stdout  # for analysts, in Chinese
    assert {row["model"] for row in json.loads(out.read_text())["metrics"]} == MODELS
