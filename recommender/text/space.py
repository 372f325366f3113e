"""The shared TF-IDF space: course texts and profile texts as L2-normalised term vectors.

Fitted once on the catalog; the content signal, the cold-course bridge, explanations
("which profile terms matched") and similar-course pages all read the same space.
"""

from __future__ import annotations

import copy
import itertools
import os
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.validation import check_is_fitted

from recommender.text.fields import FieldTaxonomy

#: texts below which tokenising in this process beats starting worker processes
PARALLEL_MIN_TEXTS = 5000
#: seconds training's tokenising workers stay once idle (then the memory is the fit's)
WORKER_IDLE_SECONDS = 2
#: environment variable: processes that tokenise a large batch (1: this process only)
JOBS_ENV = "XUANXUE_TOKENIZE_JOBS"


def tokenize_jobs() -> int:
    """Processes for a large tokenising batch: ``$XUANXUE_TOKENIZE_JOBS``, else the cores this
    process may run on (at most 8)."""
    raw = os.environ.get(JOBS_ENV, "").strip()
    if raw:
        try:
            return max(1, int(raw))
        except ValueError:
            raise ValueError(f"{JOBS_ENV}={raw!r}：应为正整数（a positive integer）") from None
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


#: tokenizers built in a worker process, by their repr (a ChineseTokenizer's repr names every
#: setting), so each worker builds jieba once and keeps its block cache across chunks
_WORKER_TOKENIZERS: dict[str, Callable[[str], list[str]]] = {}


def _tokenize_chunk(tokenizer: Callable[[str], list[str]], texts: list[str]) -> list[list[str]]:
    from recommender.text.tokenizer import ChineseTokenizer

    if type(tokenizer) is ChineseTokenizer:
        tokenizer = _WORKER_TOKENIZERS.setdefault(repr(tokenizer), tokenizer)
    return [tokenizer(t) for t in texts]


def _profile_chunk(
    tokenizer: Callable[[str], list[str]], taxonomy: FieldTaxonomy | None, texts: list[str]
) -> tuple[list[list[str]], np.ndarray | None]:
    """Tokens and fields of work of profile texts, each text normalised once when the
    tokenizer is a ``ChineseTokenizer`` (its tokens are ``cut_normalized(normalize_text(t))``)."""
    from recommender.text.tokenizer import ChineseTokenizer, normalize_text

    if type(tokenizer) is not ChineseTokenizer:
        tokens = _tokenize_chunk(tokenizer, texts)
        return tokens, taxonomy.match(texts) if taxonomy is not None else None
    tokenizer = _WORKER_TOKENIZERS.setdefault(repr(tokenizer), tokenizer)
    norms = [normalize_text(t) for t in texts]
    fields = taxonomy.match_normalized(norms) if taxonomy is not None else None
    return [tokenizer.cut_normalized(n) for n in norms], fields


def _chunks(texts: list[str], n_jobs: int) -> list[list[str]]:
    # a few chunks per worker: an uneven chunk does not leave a core idle for long
    bounds = np.linspace(0, len(texts), n_jobs * 4 + 1).astype(int)
    return [texts[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def tokenize_texts(
    tokenizer: Callable[[str], list[str]], texts: Sequence[str], n_jobs: int | None = None
) -> list[list[str]]:
    """``[tokenizer(t) for t in texts]``, split across ``n_jobs`` worker processes (default
    :func:`tokenize_jobs`) when there are at least ``PARALLEL_MIN_TEXTS`` texts.

    Each worker unpickles the tokenizer and builds its own jieba from the packaged
    dictionaries (a ``ChineseTokenizer`` never pickles its jieba instance), so the tokens are
    the serial path's, in the same order.
    """
    texts = list(texts)
    n_jobs = tokenize_jobs() if n_jobs is None else max(1, n_jobs)
    if n_jobs == 1 or len(texts) < PARALLEL_MIN_TEXTS:
        return [tokenizer(t) for t in texts]
    from joblib import Parallel, delayed

    parts = Parallel(n_jobs=n_jobs, backend="loky")(
        delayed(_tokenize_chunk)(tokenizer, chunk) for chunk in _chunks(texts, n_jobs)
    )
    return [tokens for part in parts for tokens in part]


def _as_tokens(tokens: list[str]) -> list[str]:
    return tokens


def _pretokenized(vectorizer: TfidfVectorizer) -> TfidfVectorizer:
    """A shallow copy of ``vectorizer`` that reads token lists instead of texts (it shares the
    vocabulary and IDF; the original keeps its tokenizer for the texts a service sees)."""
    twin = copy.copy(vectorizer)
    twin.analyzer = _as_tokens
    return twin


class TextSpace(BaseEstimator):
    """TF-IDF over a tokenizer (``token_pattern=None``: the tokenizer decides).

    Parameters
    ----------
    tokenizer
        Callable str → tokens (a picklable ``ChineseTokenizer``).
    min_df, max_df
        Document-frequency bounds of the vocabulary, over the catalog.
    """

    def __init__(
        self, *, tokenizer: Callable[[str], list[str]], min_df: int = 1, max_df: float = 0.5
    ) -> None:
        self.tokenizer = tokenizer
        self.min_df = min_df
        self.max_df = max_df

    def fit(self, course_texts: Sequence[str]) -> TextSpace:
        """Learn vocabulary and IDF from the catalog; keep the course vectors."""
        return self._fit_tokens(tokenize_texts(self.tokenizer, course_texts))

    def fit_with_profiles(
        self,
        course_texts: Sequence[str],
        profile_texts: Sequence[str],
        taxonomy: FieldTaxonomy | None = None,
    ) -> Callable[[], tuple[sp.csr_matrix, np.ndarray | None]]:
        """Start :meth:`fit` on the catalog and reading ``profile_texts`` in worker processes,
        and return at once a ``finish()`` that waits for them (training builds its interaction
        data meanwhile). ``finish()`` fits the space and returns the profiles' vectors (as
        :meth:`transform`) and fields of work (as ``taxonomy.match``; ``None`` without a
        taxonomy), each distinct profile normalised once for both."""
        courses, texts = list(course_texts), list(profile_texts)
        uniq, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
        uniq = list(uniq)
        n_jobs = tokenize_jobs()
        results = None
        if n_jobs > 1 and len(courses) + len(uniq) >= PARALLEL_MIN_TEXTS:
            from joblib import Parallel, delayed

            course_chunks = _chunks(courses, n_jobs)
            tasks = [delayed(_tokenize_chunk)(self.tokenizer, c) for c in course_chunks] + [
                delayed(_profile_chunk)(self.tokenizer, taxonomy, c) for c in _chunks(uniq, n_jobs)
            ]
            # workers that linger (joblib keeps them 300 s) hold ~300 MB each through the fit
            results = Parallel(
                n_jobs=n_jobs,
                backend="loky",
                return_as="generator",
                idle_worker_timeout=WORKER_IDLE_SECONDS,
            )(tasks)

        def finish() -> tuple[sp.csr_matrix, np.ndarray | None]:
            if results is None:
                course_tokens = [self.tokenizer(t) for t in courses]
                profile_tokens = [self.tokenizer(t) for t in uniq]
                fields = taxonomy.match(uniq) if taxonomy is not None else None
            else:
                parts = list(results)
                course_tokens = [t for part in parts[: len(course_chunks)] for t in part]
                profile_parts = parts[len(course_chunks) :]
                profile_tokens = [t for part, _ in profile_parts for t in part]
                fields = (
                    np.concatenate([f for _, f in profile_parts]) if taxonomy is not None else None
                )
            self._fit_tokens(course_tokens)
            if not texts:
                return self.transform([]), fields
            vectors = _pretokenized(self.vectorizer_).transform(profile_tokens).tocsr()
            return vectors[inverse], fields[inverse] if fields is not None else None

        return finish

    def _fit_tokens(self, tokens: list[list[str]]) -> TextSpace:
        self.vectorizer_ = TfidfVectorizer(
            tokenizer=self.tokenizer,
            token_pattern=None,
            lowercase=False,
            sublinear_tf=True,
            min_df=self.min_df,
            max_df=self.max_df,
            dtype=np.float32,
        )
        twin = _pretokenized(self.vectorizer_)
        with warnings.catch_warnings():  # "tokenizer will not be used": it was, just before
            warnings.filterwarnings("ignore", message=".*will not be used since 'analyzer'")
            self.course_matrix_ = twin.fit_transform(tokens).tocsr()
        twin.analyzer = "word"
        self.vectorizer_ = twin  # the fitted copy, reading texts with the tokenizer again
        self.terms_ = self.vectorizer_.get_feature_names_out()
        return self

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """TF-IDF vectors (L2-normalised) of free texts; duplicates tokenised once."""
        check_is_fitted(self, "vectorizer_")
        if len(texts) == 0:
            return sp.csr_matrix((0, len(self.terms_)), dtype=np.float32)
        uniq, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
        if len(uniq) < PARALLEL_MIN_TEXTS:
            mat = self.vectorizer_.transform(list(uniq)).tocsr()
        else:  # a training batch (every profile): tokenised across processes
            tokens = tokenize_texts(self.tokenizer, list(uniq))
            mat = _pretokenized(self.vectorizer_).transform(tokens).tocsr()
        return mat[inverse]

    def similar_items(self, item: int) -> np.ndarray:
        """Cosine similarity of one course to every course."""
        check_is_fitted(self, "vectorizer_")
        row = self.course_matrix_[item]
        return np.asarray((row @ self.course_matrix_.T).toarray()).ravel()
