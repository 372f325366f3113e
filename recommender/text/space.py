"""The shared TF-IDF space: course texts and profile texts as L2-normalised term vectors.

Fitted once on the catalog; the content signal, the cold-course bridge, explanations
("which profile terms matched") and similar-course pages all read the same space.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.validation import check_is_fitted


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
        self.vectorizer_ = TfidfVectorizer(
            tokenizer=self.tokenizer,
            token_pattern=None,
            lowercase=False,
            sublinear_tf=True,
            min_df=self.min_df,
            max_df=self.max_df,
            dtype=np.float32,
        )
        self.course_matrix_ = self.vectorizer_.fit_transform(list(course_texts)).tocsr()
        self.terms_ = self.vectorizer_.get_feature_names_out()
        return self

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """TF-IDF vectors (L2-normalised) of free texts; duplicates tokenised once."""
        check_is_fitted(self, "vectorizer_")
        if len(texts) == 0:
            return sp.csr_matrix((0, len(self.terms_)), dtype=np.float32)
        uniq, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
        mat = self.vectorizer_.transform(list(uniq)).tocsr()
        return mat[inverse]

    def similar_items(self, item: int) -> np.ndarray:
        """Cosine similarity of one course to every course."""
        check_is_fitted(self, "vectorizer_")
        row = self.course_matrix_[item]
        return np.asarray((row @ self.course_matrix_.T).toarray()).ravel()
