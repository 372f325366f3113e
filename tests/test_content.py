"""Contract tests for the TF-IDF content model."""

from __future__ import annotations

import joblib
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from recommender.signals.content import ContentModel, profile_text
from recommender.text.tokenizer import ChineseTokenizer
from tests.frames import checkerboard


@pytest.fixture(scope="module")
def fitted():
    courses, cadres, _, _ = checkerboard()
    model = ContentModel(tokenizer=ChineseTokenizer())
    assert model.fit(courses) is model
    return model, courses, cadres


def test_not_fitted_raises():
    with pytest.raises(NotFittedError):
        ContentModel(tokenizer=ChineseTokenizer()).transform_texts(["应急管理"])


def test_profile_ranks_its_own_field_first(fitted):
    model, courses, cadres = fitted
    vecs = model.transform_texts([profile_text(r) for r in cadres.to_dict("records")])
    scores = model.score(vecs)
    block = courses["category"].to_numpy()
    for row, system in enumerate(cadres["system"]):
        field = "应急管理" if system == "系统0" else "乡村振兴"
        top = np.argsort(-scores[row])[:6]
        assert set(block[top]) == {field}


def test_history_text_moves_the_cadre(fitted):
    model, courses, _ = fitted
    empty = model.transform_texts([""])
    import scipy.sparse as sp

    hist = sp.csr_matrix(([1.0], ([0], [8])), shape=(1, len(courses)), dtype=np.float32)
    scores = model.score(model.cadre_vectors(empty, hist))[0]
    assert courses["category"].iloc[int(np.argmax(scores))] == courses["category"].iloc[8]


def test_dump_load_identical(fitted, tmp_path):
    model, _, cadres = fitted
    texts = [profile_text(r) for r in cadres.to_dict("records")]
    joblib.dump(model, tmp_path / "c.joblib")
    again = joblib.load(tmp_path / "c.joblib")
    np.testing.assert_array_equal(
        model.score(model.transform_texts(texts)), again.score(again.transform_texts(texts))
    )


def test_matched_terms_are_shared_words(fitted):
    model, _courses, _ = fitted
    vec = model.transform_texts(["从事应急管理和安全生产工作"])
    terms = model.matched_terms(vec, 0)
    assert terms and "应急管理" in terms
