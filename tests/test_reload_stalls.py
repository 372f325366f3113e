"""What keeps a reload from stalling requests: compact segments, numeric-only counting at
load, jieba's dictionary read once per process, and a frozen heap that still frees the
replaced model (``python -m benchmarks.bench_reload`` measures the latency itself)."""

from __future__ import annotations

import gc
import pickle
import weakref
from collections import Counter

import numpy as np
import pytest

from recommender.data.schema import Columns as C
from recommender.ranking.queries import Coded, unique_rows
from tests.service_support import (
    API_KEY,
    client_for,
    copy_models,
    make_settings,
)


def test_coded_keeps_every_item_and_counts_them():
    items = [("正处", "县", "财政"), ("一级科员", "乡镇", "农业农村"), ("正处", "县", "财政")]
    coded = pickle.loads(pickle.dumps(Coded.of(items), protocol=5))
    assert [coded[i] for i in range(len(coded))] == items
    assert dict(zip(coded.values, coded.counts().tolist(), strict=True)) == Counter(items)
    assert coded.codes.dtype == np.int32 and len(coded.values) == 2


def test_model_segments_survive_pickling(tiny_model):
    again = pickle.loads(pickle.dumps(tiny_model, protocol=5))
    n = len(tiny_model.cadres)
    assert [again.segments_[r] for r in range(n)] == [tiny_model.segments_[r] for r in range(n)]
    assert isinstance(again.segments_, Coded) and len(again.segments_.values) < n


@pytest.mark.parametrize("seed", range(5))
def test_unique_rows_matches_numpy(seed):
    a = np.random.default_rng(seed).integers(0, 2, size=(500, 4)).astype(np.float32)
    rows, counts = unique_rows(a)
    want_rows, want_counts = np.unique(a, axis=0, return_counts=True)
    got = {tuple(r): c for r, c in zip(rows.tolist(), counts.tolist(), strict=True)}
    assert got == {tuple(r): c for r, c in zip(want_rows.tolist(), want_counts, strict=True)}
    assert unique_rows(a[:0])[0].shape == (0, 4)


def test_cohort_counts_match_a_row_by_row_count(tiny_model):
    cadres = tiny_model.cadres
    profile = tiny_model.cadre_profile(str(cadres[C.CADRE_ID].iloc[0]))
    same = (cadres[C.UNIT_LEVEL].fillna("") == (profile[C.UNIT_LEVEL] or "")) & (
        cadres[C.SYSTEM].fillna("") == (profile[C.SYSTEM] or "")
    )
    taken = (tiny_model.history_[np.flatnonzero(same.to_numpy())] > 0).sum(axis=0)
    np.testing.assert_array_equal(tiny_model.cohort_counts(profile), np.asarray(taken).ravel())
    assert tiny_model.cohort_counts({C.UNIT_LEVEL: "无此层级", C.SYSTEM: "x"}).sum() == 0


def test_jieba_dictionary_is_read_once_and_each_tokenizer_stays_private(monkeypatch):
    import jieba

    from recommender.text import tokenizer as tk_module

    reads = []
    real = jieba.Tokenizer.initialize
    monkeypatch.setattr(jieba.Tokenizer, "initialize", lambda self, *a: reads.append(real(self)))
    tk_module._prefix_dict.cache_clear()
    a = tk_module.ChineseTokenizer(user_terms=["红安将军县"])
    b = tk_module.ChineseTokenizer()
    text = "推进红安将军县乡村振兴"
    assert "红安将军县" in a(text) and "红安将军县" not in b(text)  # a's term stays a's
    assert len(reads) == 1  # one read of jieba's dictionary for both
    assert a._jieba.FREQ is not b._jieba.FREQ


def test_reload_freezes_the_heap_and_still_frees_the_replaced_model(tiny_models, tmp_path):
    models = copy_models(tiny_models, tmp_path / "models")
    gc.unfreeze()  # whatever an earlier test froze: the count below is this app's doing
    with client_for(make_settings(models, tmp_path / "e.sqlite3", api_key=API_KEY)) as c:
        assert gc.get_freeze_count() > 0
        old = weakref.ref(c.app.state.holder.current.model)
        r = c.post("/v1/admin/reload", headers={"X-API-Key": API_KEY}, json={"force": True})
        assert r.status_code == 200 and r.json()["changed"]
        assert c.app.state.holder.current.model is not old()
        gc.collect()
        assert old() is None  # no reference cycle keeps a frozen model alive


def test_content_similarity_rows_are_filled_on_first_use_and_exact(tiny_model):
    content = pickle.loads(pickle.dumps(tiny_model.hybrid.signal("content")))
    content.prepare()
    assert not content._serving_filled.any()  # nothing computed at load
    cm = content.course_matrix_
    rows, cols = np.array([3, 1, 3]), np.array([0, 2, 5])
    want = (cm[rows] @ cm.T).toarray()
    np.testing.assert_allclose(content.similarity(rows), want, rtol=1e-6, atol=1e-7)
    assert set(np.flatnonzero(content._serving_filled)) == {1, 3}
    block = content.similarity(np.array([1, 4]), cols)
    np.testing.assert_allclose(block, (cm[[1, 4]] @ cm[cols].T).toarray(), rtol=1e-6, atol=1e-7)
