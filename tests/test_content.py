"""Behaviour of the content signal on the checkerboard (the shared contract is in
tests/test_signals.py)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommender.ranking.pipeline import prepare_data
from recommender.signals.base import Query, QueryBatch
from recommender.signals.content import ContentSignal, profile_text
from tests.frames import checkerboard


def fitted():
    courses, cadres, comps, _ = checkerboard()
    text, data = prepare_data(courses, cadres, comps)
    return ContentSignal().fit(data), text, data, courses, cadres


def test_profile_ranks_its_own_field_first():
    signal, _text, data, courses, cadres = fitted()
    batch = QueryBatch.for_cadres(data, np.arange(data.n_cadres)).without_history()
    scores = signal.score(batch)
    block = courses["category"].to_numpy()
    for row, system in enumerate(cadres["system"]):
        field = "应急管理" if system == "系统0" else "乡村振兴"
        top = np.argsort(-scores[row])[:6]
        assert set(block[top]) == {field}
    assert profile_text(cadres.iloc[0].to_dict()).startswith("应急管理岗")


def test_history_text_moves_the_cadre():
    signal, text, data, courses, _ = fitted()
    # no profile text, one course of the 乡村振兴 block taken: that block comes first
    q = Query(history=np.array([8]), history_weights=np.float32([1.0]))
    scores = signal.score_one(q)
    assert courses["category"].iloc[int(np.argmax(scores))] == courses["category"].iloc[8]
    # a 应急管理 profile plus 乡村振兴 history: both blocks score, batch == single
    vec = text.transform(["从事应急管理和安全生产工作"])
    both = Query(
        terms=vec.indices, term_weights=vec.data, history=np.array([8]),
        history_weights=np.float32([1.0]),
    )  # fmt: skip
    s = signal.score_one(both)
    assert s[0] > 0 and s[8] > 0
    hist = sp.csr_matrix(([1.0], ([0], [8])), shape=(1, data.n_items), dtype=np.float32)
    batch = QueryBatch(vec, hist, np.array([8]), [("", "", "")], np.zeros((1, 9), np.float32))
    np.testing.assert_allclose(signal.score(batch)[0], s, rtol=1e-5, atol=1e-6)
