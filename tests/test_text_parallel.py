"""Training tokenises across processes and remembers repeated pieces: the tokens must be the
plain serial path's, exactly, on the shipped sample and on real Hubei posts."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender.data.loading import load_dataset
from recommender.ranking.pipeline import course_text, profile_text
from recommender.text import space as space_mod
from recommender.text.space import TextSpace, tokenize_texts
from recommender.text.tokenizer import (
    _WHITESPACE,
    _ZERO_WIDTH,
    ChineseTokenizer,
    _is_missing,
    stopwords,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
HUBEI_FULL = ROOT.parent / "shared" / "data" / "hubei_2026_positions.csv"
HUBEI_FIXTURE = ROOT / "tests" / "fixtures" / "hubei_field_posts.csv"


def _hubei_texts() -> list[str]:
    """Real post texts (the full shared table when this checkout has it, else the committed
    subset), plus the same texts in traditional characters and full-width forms."""
    from opencc import OpenCC

    path = HUBEI_FULL if HUBEI_FULL.exists() else HUBEI_FIXTURE
    posts = pd.read_csv(path, dtype=str).fillna("")
    texts = [f"{r.employer} {r.job_title} {r.job_description}" for r in posts.itertuples()]
    s2t = OpenCC("s2t").convert
    wide = {ord(c): ord(c) + 0xFEE0 for c in "0123456789ABCDEFGHIJabcdefghij"}
    return texts + [s2t(t) for t in texts[:400]] + [t.translate(wide) for t in texts[:200]]


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    ds = load_dataset(SAMPLE, write_rejects=False)
    texts = course_text(ds.courses) + [profile_text(r) for r in ds.cadres.to_dict("records")]
    return texts + _hubei_texts() + ["", "  ", "乡村振兴 Excel 2026年 ☺ 黨風廉政", "\u200b从事"]


def _reference(tok: ChineseTokenizer):
    """The tokenizer as it was before any caching: whole-text OpenCC, whole-text jieba cut."""
    from opencc import OpenCC

    convert = OpenCC("t2s").convert
    jieba_tk = ChineseTokenizer(user_terms=tok.user_terms)._build()
    stop = stopwords()

    def run(text: object) -> list[str]:
        if _is_missing(text):
            return []
        text = unicodedata.normalize("NFKC", str(text)).translate(_ZERO_WIDTH)
        if not text.isascii():
            text = convert(text)
        text = _WHITESPACE.sub(" ", text.lower()).strip()
        if not text:
            return []
        return [
            t for t in jieba_tk.cut(text, HMM=False) if t not in stop and ChineseTokenizer._keep(t)
        ]

    return run


def test_cached_tokenizer_gives_the_uncached_tokens(corpus: list[str]) -> None:
    tok = ChineseTokenizer()
    reference = _reference(tok)
    expected = [reference(t) for t in corpus]
    assert sum(map(len, expected)) > 20_000  # the corpus really is cut into many tokens
    assert [tok(t) for t in corpus] == expected
    assert [tok(t) for t in corpus] == expected  # second pass: every block from the cache


def test_parallel_tokens_equal_serial_tokens(
    corpus: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(space_mod, "PARALLEL_MIN_TEXTS", 0)
    tok = ChineseTokenizer(user_terms=["白洋镇"])
    serial = tokenize_texts(tok, corpus, n_jobs=1)
    assert tokenize_texts(tok, corpus, n_jobs=2) == serial
    fresh = ChineseTokenizer(user_terms=["白洋镇"])
    assert serial == [fresh(t) for t in corpus]


def test_text_space_fitted_across_processes_is_the_serial_one(
    corpus: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    courses, profiles = corpus[:400], corpus[400:]
    monkeypatch.setenv(space_mod.JOBS_ENV, "1")
    serial = TextSpace(tokenizer=ChineseTokenizer()).fit(courses)
    monkeypatch.setenv(space_mod.JOBS_ENV, "2")
    monkeypatch.setattr(space_mod, "PARALLEL_MIN_TEXTS", 0)
    parallel = TextSpace(tokenizer=ChineseTokenizer()).fit(courses)
    assert list(parallel.terms_) == list(serial.terms_)
    np.testing.assert_array_equal(parallel.vectorizer_.idf_, serial.vectorizer_.idf_)
    assert (parallel.course_matrix_ != serial.course_matrix_).nnz == 0
    assert (parallel.transform(profiles) != serial.transform(profiles)).nnz == 0
    # the fitted vectorizer still reads raw text with its tokenizer (a service's request)
    assert parallel.vectorizer_.analyzer == "word"
    monkeypatch.setattr(space_mod, "PARALLEL_MIN_TEXTS", 10**9)
    one = parallel.transform(profiles[:50])
    assert (one != serial.transform(profiles[:50])).nnz == 0
    assert one.nnz > 0


def test_tokenize_jobs_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(space_mod.JOBS_ENV, "3")
    assert space_mod.tokenize_jobs() == 3
    monkeypatch.setenv(space_mod.JOBS_ENV, "x")
    with pytest.raises(ValueError, match="XUANXUE_TOKENIZE_JOBS"):
        space_mod.tokenize_jobs()
