"""The public scoring path: one candidate policy, the ranker, the explainer, the batch path,
configuration that round-trips, and no private name crossing a sub-package."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

from recommender.cli import app
from recommender.data.loading import load_dataset
from recommender.data.schema import Columns as C
from recommender.ranking.blend_search import BlendConfig, listable
from recommender.ranking.candidates import RULES, CandidatePolicy, Filters, twin_matrix
from recommender.ranking.pipeline import ConfigError, TrainConfig, prepare_data
from recommender.ranking.ranker import Ranker, RankerConfig, cover_fields

ROOT = Path(__file__).resolve().parents[1]


def cadre_ids(model, n=None):
    ids = [str(c) for c in model.cadres[C.CADRE_ID]]
    return ids if n is None else ids[:n]


# ------------------------------------------------------------ private names
def _private_imports(base: Path = ROOT) -> list[str]:
    """``from recommender.X… import _name`` in a module that is not in sub-package X."""
    found = []
    for root in ("recommender", "service", "benchmarks", "samplegen"):
        for path in (base / root).rglob("*.py"):
            parts = path.relative_to(base).with_suffix("").parts
            here = ".".join(parts[:2]) if parts[0] == "recommender" else parts[0]
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.ImportFrom) and node.module):
                    continue
                if not node.module.startswith("recommender"):
                    continue
                there = ".".join(node.module.split(".")[:2])
                private = [
                    a.name
                    for a in node.names
                    if a.name.startswith("_") and not a.name.endswith("__")
                ]
                if there != here and private:
                    found.append(f"{path.relative_to(base)}: {node.module} → {private}")
    return found


def test_no_private_name_is_imported_across_sub_packages():
    assert _private_imports() == []


def test_private_import_check_can_fail(tmp_path):
    (tmp_path / "service").mkdir()
    (tmp_path / "service" / "probe.py").write_text(
        "from recommender.ranking.model import _DERIVED\n", encoding="utf-8"
    )
    (tmp_path / "recommender" / "ranking").mkdir(parents=True)
    (tmp_path / "recommender" / "ranking" / "ok.py").write_text(
        "from recommender.ranking.model import _DERIVED\n", encoding="utf-8"
    )  # the same sub-package may
    assert _private_imports(tmp_path) == [
        "service/probe.py: recommender.ranking.model → ['_DERIVED']"
    ]


# -------------------------------------------------------- candidate policy
def test_training_and_serving_candidates_are_identical(tiny_data, tiny_model):
    """The blend fit and evaluation rank among exactly the courses a request may list."""
    ds = load_dataset(tiny_data)
    _, data = prepare_data(ds.courses, ds.cadres, ds.completions)
    policy = CandidatePolicy(data.courses)
    rows = np.arange(data.n_cadres)
    train_side = listable(policy, data, rows, data.history)
    inactive = ~tiny_model.active
    assert inactive.any(), "the fixture should have inactive courses"
    for r in rows:
        cid = str(data.cadre_ids.ids[r])
        served = tiny_model.score(tiny_model.query(cid)).candidates.mask
        np.testing.assert_array_equal(train_side[r], served, err_msg=cid)
    assert not train_side[:, inactive].any()  # the old training filter kept these


def test_policy_counts_what_each_rule_removed(tiny_model):
    m = tiny_model
    cid = cadre_ids(m)[0]
    cat = str(pd.Series(m.categories).value_counts().index[-1])  # the rarest category
    scored = m.score(m.query(cid), filters=Filters.of(category=cat))
    cands = scored.candidates
    assert cands.count == int(cands.mask.sum())
    total = len(m.course_ids) - cands.count
    assert sum(cands.removed.values()) == total
    assert cands.removed["inactive"] == int((~m.active).sum())
    assert cands.removed["compulsory"] > 0 and cands.removed["category"] > 0
    assert set(cands.removed) <= set(RULES)
    recs = m.rank(scored, k=cands.count + 5)
    assert len(recs) == cands.count
    why = recs.shortfall
    assert why and f"只有 {cands.count} 门" in why and "不属于所选课程类别" in why


def test_empty_list_says_why(tiny_model):
    m = tiny_model
    recs = m.recommend(cadre_ids(m)[0], k=5, category="没有这个类别")
    assert list(recs) == []
    assert recs.shortfall.startswith("没有可推荐的课程")
    full = m.recommend(cadre_ids(m)[0], k=5)
    assert len(full) == 5 and full.shortfall is None


# ------------------------------------------------------------------ ranker
def test_cover_fields_adds_the_missing_field_and_keeps_score_order():
    scores = np.array([9, 8, 7, 6, 5, 4, 3], np.float32)
    course_fields = np.zeros((7, 2), np.float32)
    course_fields[[0, 1, 2], 0] = 1  # field 0: the top courses
    course_fields[5, 1] = 1  # field 1: only course 5, outside the top 3
    cands = np.arange(7)
    top = np.array([0, 1, 2])
    out = cover_fields(top, scores, cands, np.array([0.6, 0.4]), course_fields)
    assert out.tolist() == [0, 1, 5]  # the lowest course gave way, order by score
    # a field named below the share threshold is not covered
    weak = cover_fields(top, scores, cands, np.array([0.9, 0.1]), course_fields)
    assert weak.tolist() == [0, 1, 2]
    # at most max_covered fields; the pick for a covered field is never replaced
    course_fields3 = np.zeros((7, 3), np.float32)
    course_fields3[0, 0], course_fields3[5, 1], course_fields3[6, 2] = 1, 1, 1
    three = cover_fields(
        top, scores, cands, np.array([0.4, 0.3, 0.3]), course_fields3, RankerConfig(max_covered=2)
    )
    assert set(three.tolist()) == {0, 1, 5}
    both = cover_fields(top, scores, cands, np.array([0.4, 0.3, 0.3]), course_fields3)
    assert set(both.tolist()) == {0, 5, 6}


def test_cover_fields_never_lists_a_non_candidate():
    scores = np.array([9, 8, 7, 6], np.float32)
    fields = np.zeros((4, 2), np.float32)
    fields[3, 1] = 1
    out = cover_fields(np.array([0, 1]), scores, np.array([0, 1, 2]), np.array([0.5, 0.5]), fields)
    assert out.tolist() == [0, 1]  # course 3 serves the field but is not a candidate


def test_ranker_only_covers_fields_for_new_cadres():
    fields = np.zeros((4, 2), np.float32)
    fields[3, 1] = 1
    ranker = Ranker(fields, RankerConfig())
    scores, mask = np.array([4, 3, 2, 1], np.float32), np.ones(4, bool)
    named = np.array([0.5, 0.5])
    assert ranker.top(scores, mask, 2, fields=named, has_history=True).tolist() == [0, 1]
    assert ranker.top(scores, mask, 2, fields=named, has_history=False).tolist() == [0, 3]
    many = ranker.top_many(
        scores[None].repeat(2, 0), mask[None].repeat(2, 0), 2, fields=named[None].repeat(2, 0),
        has_history=np.array([True, False]),
    )  # fmt: skip
    assert [t.tolist() for t in many] == [[0, 1], [0, 3]]


# -------------------------------------------------------------- batch path
def test_batch_lists_equal_one_by_one(tiny_model):
    m = tiny_model
    ids = cadre_ids(m)
    lists, unknown = m.recommend_many([*ids, "NO-SUCH-CADRE"], 10, explain=True)
    assert unknown == ["NO-SUCH-CADRE"]
    same = sum(
        [r.course_id for r in lists[cid]] == [r.course_id for r in m.recommend(cid, 10)]
        for cid in ids
    )
    assert same >= 0.99 * len(ids)
    cid = ids[3]
    assert [r.reasons for r in lists[cid]] == [r.reasons for r in m.recommend(cid, 10)]


def test_batch_counts_newer_events(tiny_model):
    m = tiny_model
    cid = cadre_ids(m)[5]
    first = m.recommend(cid, 3)[0]
    events = pd.DataFrame(
        [dict(cadre_id=cid, course_id=first.course_id, enrolled_at=pd.Timestamp("2030-01-01"),
              completed_at=pd.Timestamp("2030-01-02"), progress=1.0, credit_hours_awarded=2.0,
              rating=np.nan, source="")]
    )  # fmt: skip

    class Store:
        def for_cadre(self, cadre_id):
            return events if cadre_id == cid else events.iloc[:0]

    lists, _ = m.recommend_many([cid], 3, events=Store())
    got = [r.course_id for r in lists[cid]]
    assert first.course_id not in got
    assert got == [r.course_id for r in m.recommend(cid, 3, events=Store(), explain=False)]


# ------------------------------------------------------------------ config
def test_train_config_round_trips_through_dict_and_toml(tmp_path):
    cfg = TrainConfig(
        blend=BlendConfig(random_state=3, min_validation=7, start={"content": 2.0}),
        ranker=RankerConfig(field_share=0.3),
        weights={"content": 1.0},
    )
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    path = tmp_path / "train.toml"
    path.write_text(cfg.to_toml(), encoding="utf-8")
    assert TrainConfig.from_file(path) == cfg
    assert TrainConfig.from_dict(TrainConfig().to_dict()) == TrainConfig()
    with pytest.raises(ConfigError, match=r"blend\.no_such"):
        TrainConfig.from_dict({"blend": {"no_such": 1}})
    with pytest.raises(ConfigError, match="未知"):
        TrainConfig.from_dict({"what": 1})


def test_train_config_rebuilds_the_same_model(tiny_data, tmp_path):
    """``train --config metadata.json`` trains a model with the recorded config again."""
    runner = CliRunner()
    cfg = tmp_path / "custom.toml"
    cfg.write_text(
        TrainConfig(
            blend=BlendConfig(random_state=5), ranker=RankerConfig(max_covered=2)
        ).to_toml(),
        encoding="utf-8",
    )
    first = runner.invoke(
        app, ["train", "--data", str(tiny_data), "--out", str(tmp_path / "a"),
              "--config", str(cfg)],
    )  # fmt: skip
    assert first.exit_code == 0, first.output
    meta_path = next((tmp_path / "a").glob("*/metadata.json"))
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    assert meta["params"]["blend"]["random_state"] == 5
    assert meta["params"]["ranker"]["max_covered"] == 2
    assert "ContentSignal" in {s["class"].rsplit(".", 1)[1] for s in meta["signals"]}
    assert all("params" in s for s in meta["signals"])
    again = runner.invoke(
        app, ["train", "--data", str(tiny_data), "--out", str(tmp_path / "b"),
              "--config", str(meta_path)],
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    meta_b = json.loads(next((tmp_path / "b").glob("*/metadata.json")).read_text("utf-8"))
    assert meta_b["params"] == meta["params"]
    assert meta_b["weights"] == meta["weights"]
    bad = tmp_path / "bad.toml"
    bad.write_text("[blend]\nnope = 1\n", encoding="utf-8")
    res = runner.invoke(
        app, ["train", "--data", str(tiny_data), "--out", str(tmp_path / "c"), "--config", str(bad)]
    )
    assert res.exit_code == 1 and "blend.nope" in str(res.exception)  # main() prints it


def test_the_online_twin_of_a_taken_course_is_not_listed():
    courses = pd.DataFrame(
        {
            C.COURSE_ID: ["A", "B", "C", "D"],
            C.TITLE: ["乡村振兴战略解读", "《乡村振兴战略解读》（网络版）", "安全生产", "乡村振兴"],
            C.CATEGORY: ["乡村振兴", "乡村振兴", "应急管理", "乡村振兴"],
            C.FORMAT: ["face_to_face", "video", "video", "video"],
        }
    )
    policy = CandidatePolicy(courses)
    at = np.datetime64("2026-01-01")
    one = policy.for_query({}, np.array([0]), Filters(), at)
    assert one.mask.tolist() == [False, False, True, True]
    assert one.removed["completed"] == 1 and one.removed["twin"] == 1
    assert "同名课程" in RULES["twin"]
    history = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 1, 0]], np.float32))
    batch = policy.for_batch([{}, {}], history, Filters(), at)
    assert batch.tolist() == [[False, False, True, True], [True, True, False, True]]
    again = policy.for_query({}, np.array([0]), Filters(include_completed=True), at)
    assert again.mask.all()
    # the same title in the same format (two universities' 高等数学 videos) is no twin
    same = twin_matrix(np.array([0, 0, 1]), np.array(["video", "video", "video"], object))
    assert same.nnz == 0


def test_a_short_list_says_why_over_http_cli_and_console(client, tiny_models, tiny_model):
    """The same shortfall, counted by rule, in the JSON API, the console and the CLI."""
    cid = cadre_ids(tiny_model)[0]
    full = client.get(f"/v1/cadres/{cid}/recommendations", params={"k": 5}).json()
    assert full["count"] == 5 and full["shortfall"] is None
    body = client.get(f"/v1/cadres/{cid}/recommendations", params={"k": 200}).json()
    short = body["shortfall"]
    assert short and short["candidates"] == body["count"] < 200
    assert short["removed"]["compulsory"] > 0 and "必修" in short["labels"]["compulsory"]
    assert short["message"].startswith(f"只有 {body['count']} 门课程可推荐")
    counts = {
        cat: tiny_model.score(tiny_model.query(cid), filters=Filters.of(category=cat)).candidates
        for cat in sorted(set(tiny_model.categories))
    }
    cat = min(counts, key=lambda c: counts[c].count)
    assert counts[cat].count < 10
    page = client.get(f"/console/cadres/{cid}", params={"k": 10, "category": cat})
    assert page.status_code == 200 and 'id="shortfall"' in page.text
    assert "不属于所选课程类别" in page.text
    runner = CliRunner()
    res = runner.invoke(
        app, ["recommend", "--model", str(tiny_models), "--cadre", cid, "-k", "200"]
    )
    assert res.exit_code == 0 and "只有" in res.output
    res = runner.invoke(
        app, ["recommend", "--model", str(tiny_models), "--cadre", cid, "--json", "-k", "200"]
    )
    assert json.loads(res.stdout)["shortfall"]["candidates"] == body["count"]


def test_one_unknown_id_does_not_fail_a_batch(tiny_models, tiny_model, tmp_path):
    ids = cadre_ids(tiny_model, 2)
    path = tmp_path / "名单.txt"
    path.write_text("\n".join([ids[0], "NO-SUCH-CADRE", ids[1]]), encoding="utf-8")
    out = tmp_path / "推荐.csv"
    res = CliRunner().invoke(
        app, ["recommend", "--model", str(tiny_models), "--cadres", str(path), "--output",
              str(out), "--columns", "en", "-k", "3"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "NO-SUCH-CADRE" in res.output and "已跳过" in res.output
    frame = pd.read_csv(out, dtype=str)
    assert sorted(set(frame["cadre_id"])) == sorted(ids) and len(frame) == 6
    path.write_text("NO-SUCH-CADRE\n", encoding="utf-8")
    res = CliRunner().invoke(
        app, ["recommend", "--model", str(tiny_models), "--cadres", str(path), "--output", str(out)]
    )
    assert res.exit_code == 1
