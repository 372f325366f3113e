"""Content model: TF-IDF of course text ↔ cadre profile text, cosine scores.

A cadre is represented by their job title, 岗位职责 and declared needs, blended
with the text of the courses they completed, so the representation sharpens as
history accumulates and still works for a cadre with no history at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize
from sklearn.utils.validation import check_is_fitted

from recommender.data.schema import Columns as C

PROFILE_FIELDS = (C.JOB_TITLE, C.JOB_DESCRIPTION, C.DECLARED_NEEDS)


def course_text(courses: pd.DataFrame) -> list[str]:
    """Title (twice: titles are dense with topic words) + tags + description."""
    tags = courses[C.TAGS].fillna("").astype(str).str.replace("|", " ", regex=False)
    title = courses[C.TITLE].fillna("").astype(str)
    desc = courses[C.DESCRIPTION].fillna("").astype(str)
    cat = courses[C.CATEGORY].fillna("").astype(str)
    return (title + " " + title + " " + cat + " " + tags + " " + desc).tolist()


def profile_text(profile: pd.Series | dict) -> str:
    """The text a cadre is known by: job title, 岗位职责 and declared needs."""
    parts = [profile.get(f) for f in PROFILE_FIELDS]
    return " ".join(str(p) for p in parts if isinstance(p, str) and p)


class ContentModel(BaseEstimator):
    """TF-IDF content scorer.

    Parameters
    ----------
    tokenizer
        Callable turning a string into tokens (a picklable ``ChineseTokenizer``).
    history_weight
        Share of the cadre vector that comes from completed courses' text when the
        cadre has history; the rest comes from the profile text.
    """

    def __init__(
        self,
        *,
        tokenizer: Callable[[str], list[str]],
        history_weight: float = 0.5,
        min_df: int = 1,
        max_df: float = 0.5,
    ) -> None:
        self.tokenizer = tokenizer
        self.history_weight = history_weight
        self.min_df = min_df
        self.max_df = max_df

    def fit(self, courses: pd.DataFrame) -> ContentModel:
        """Learn the vocabulary and IDF from the catalog; store L2-normalised course vectors."""
        self.vectorizer_ = TfidfVectorizer(
            tokenizer=self.tokenizer,
            token_pattern=None,
            lowercase=False,
            sublinear_tf=True,
            min_df=self.min_df,
            max_df=self.max_df,
            dtype=np.float32,
        )
        self.course_matrix_ = self.vectorizer_.fit_transform(course_text(courses)).tocsr()
        self.terms_ = self.vectorizer_.get_feature_names_out()
        return self

    def transform_texts(self, texts: Sequence[str]) -> sp.csr_matrix:
        """TF-IDF vectors (L2-normalised) of free texts; duplicates tokenised once."""
        check_is_fitted(self, "vectorizer_")
        uniq, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
        mat = self.vectorizer_.transform(list(uniq)).tocsr()
        return mat[inverse]

    def cadre_vectors(
        self, profile_vectors: sp.csr_matrix, history: sp.csr_matrix | None
    ) -> sp.csr_matrix:
        """Blend profile vectors with the (weighted) mean of completed-course vectors."""
        check_is_fitted(self, "vectorizer_")
        if history is None or history.nnz == 0:
            return profile_vectors
        hist = normalize(history @ self.course_matrix_)
        has_hist = np.asarray(history.getnnz(axis=1) > 0)
        has_prof = np.asarray(profile_vectors.getnnz(axis=1) > 0)
        w_hist = np.where(has_hist, np.where(has_prof, self.history_weight, 1.0), 0.0)
        w_prof = 1.0 - w_hist
        blended = sp.diags(w_prof.astype(np.float32)) @ profile_vectors
        blended = blended + sp.diags(w_hist.astype(np.float32)) @ hist
        return normalize(blended.tocsr())

    def score(self, cadre_vectors: sp.csr_matrix) -> np.ndarray:
        """Cosine similarity of each cadre vector to every course: (n_rows, n_items)."""
        check_is_fitted(self, "vectorizer_")
        return np.asarray((cadre_vectors @ self.course_matrix_.T).toarray(), dtype=np.float32)

    def similar_items(self, item: int) -> np.ndarray:
        """Cosine similarity of one course to every course."""
        check_is_fitted(self, "vectorizer_")
        row = self.course_matrix_[item]
        return np.asarray((row @ self.course_matrix_.T).toarray()).ravel()

    def matched_terms(self, cadre_vector: sp.csr_matrix, item: int, n: int = 3) -> list[str]:
        """The terms that contribute most to a cadre ↔ course match (for explanations)."""
        check_is_fitted(self, "vectorizer_")
        prod = cadre_vector.multiply(self.course_matrix_[item]).tocoo()
        if prod.nnz == 0:
            return []
        order = np.argsort(-prod.data)[:n]
        return [str(self.terms_[j]) for j in prod.col[order]]

    def top_terms(self, vectors: sp.csr_matrix, n: int = 10) -> Iterable[list[str]]:
        """Highest-weighted terms of each row (for topic labels and reports)."""
        for i in range(vectors.shape[0]):
            row = vectors.getrow(i)
            order = np.argsort(-row.data)[:n]
            yield [str(self.terms_[j]) for j in row.indices[order]]
