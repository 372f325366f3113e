"""The lighter request path (issue 22) gives the same lists and reasons as before.

The golden digests in ``tests/fixtures/sample_lists.json`` were written by the library as
it stood before the request path was trimmed (main at 2d99124 without b8a94df's request-path
changes: the same fit) from the model fitted on ``data/sample``: every cadre's top 10 with
reasons on and off (ids, scores, ranks, every reason's kind, text and details), hashed per
block of cadres. The fit counts too (a change in EASE's float sums moved 352 cadres' fourth
decimal): a change meant to change the fit or the lists rewrites them, says so in the commit,
and for a pure speed-up writes them with the tree before the change first:

    .venv/bin/python -m tests.test_request_path --write [--src TREE]
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

GOLDEN = Path(__file__).resolve().parent / "fixtures" / "sample_lists.json"
#: cadres per digest (a mismatch names its block's cadres)
BLOCK = 16


def encode(ranked) -> list:
    return [
        [r.course_id, r.score, r.rank, [[x.kind, x.text, x.detail] for x in r.reasons]]
        for r in ranked
    ]


def digests(model) -> dict[str, list]:
    """{first cadre id of a block: [cadre ids, digest]} over every cadre of the model."""
    ids = [str(c) for c in model.cadres["cadre_id"]]
    out = {}
    for start in range(0, len(ids), BLOCK):
        block = ids[start : start + BLOCK]
        lists = [[encode(model.recommend(c, 10)), encode(model.recommend(c, 10, explain=False))]
                 for c in block]  # fmt: skip
        text = json.dumps(lists, ensure_ascii=False, sort_keys=True, default=str)
        out[block[0]] = [len(block), hashlib.sha1(text.encode()).hexdigest()[:16]]
    return out


def test_every_sample_cadre_gets_the_same_lists_and_reasons_as_before(sample_model):
    want = json.loads(GOLDEN.read_text(encoding="utf-8"))
    got = digests(sample_model)
    assert sorted(got) == sorted(want), "the sample's cadres changed"
    bad = [first for first in want if got[first] != want[first]]
    assert not bad, f"{len(bad)} blocks of {BLOCK} cadres changed, from cadres {bad[:5]}"


def test_profile_view_holds_the_profile(sample_model):
    from recommender.ranking.results import UnknownIdError

    m = sample_model
    for cid in [str(c) for c in m.cadres["cadre_id"][::97]]:
        view = m.profile_view(cid)
        assert dict(view) == m.cadre_profile(cid)
        assert view.get("no_such_column") is None and len(view) == len(m.cadres.columns)
    with pytest.raises(UnknownIdError):
        m.profile_view("NO-SUCH-CADRE")


def test_memoised_audience_is_the_policys(sample_model):
    m = sample_model
    ids = [str(c) for c in m.cadres["cadre_id"]]
    admitted = [m.cadre_audience(c) for c in ids]
    assert all(np.array_equal(a, m.policy.audience(m.cadre_profile(c)))
               for a, c in zip(admitted, ids, strict=True))  # fmt: skip
    assert any(not a.all() for a in admitted), "the sample should restrict some audiences"
    assert m.cadre_audience(ids[0]) is admitted[0]  # memoised


def test_gathered_signal_rows_equal_the_sparse_sums(sample_model):
    """transition / instructor ``score_one`` and instructor's reason block, bit for bit."""
    m = sample_model
    tr, ins = m.hybrid.signal("transition"), m.hybrid.signal("instructor")
    checked = 0
    for cid in [str(c) for c in m.cadres["cadre_id"][::7]]:
        q = m.query(cid).query
        if not q.has_history:
            continue
        h = q.history
        mass = np.asarray(tr.counts_[h].sum(axis=0), dtype=np.float32)
        backoff = np.array([tr.backoff_[h].sum()], dtype=np.float32)
        want = tr._log_mean(mass, backoff, np.array([len(h)], np.float32))[0]
        assert np.array_equal(tr.score_one(q), want)
        want = np.asarray(ins.shared_[h].sum(axis=0), dtype=np.float32).ravel()
        assert np.array_equal(ins.score_one(q), want)
        items = np.flatnonzero(want > 0)[:10]
        if len(items):
            block = sp.csr_matrix(ins.shared_)[h][:, items].toarray()
            assert np.array_equal(ins._block(h, items), block)
        checked += 1
    assert checked > 100


def test_top_one_is_top_k_of_one_row():
    from recommender.ranking.ranker import top_one
    from recommender.ranking.scaling import top_k

    rng = np.random.default_rng(3)
    for _ in range(3000):
        scores = rng.integers(0, 4, int(rng.integers(1, 60))).astype(np.float32)  # many ties
        k = int(rng.integers(0, 15))
        assert top_one(scores, k).tolist() == top_k(scores, k)[0].tolist()


def main(argv: list[str]) -> None:
    """``--write [--src TREE]``: rewrite the golden digests with the library in ``TREE``."""
    if "--src" in argv:
        sys.path.insert(0, argv[argv.index("--src") + 1])
    from recommender import fit_recommender, load_dataset

    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    ds = load_dataset(sample, write_rejects=False)
    model = fit_recommender(ds.courses, ds.cadres, ds.completions)
    if "--write" in argv:
        GOLDEN.write_text(json.dumps(digests(model), indent=0) + "\n", encoding="utf-8")
        print(f"wrote {GOLDEN} with {sys.modules['recommender'].__file__}")


if __name__ == "__main__":
    main(sys.argv[1:])
