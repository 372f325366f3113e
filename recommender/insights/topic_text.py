"""The text side of the topic layer: which words may mean a topic, and the shared TF-IDF space.

Split from :mod:`recommender.insights.topics`; see :func:`recommender.insights.topics.fit_topics`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from recommender.data.schema import Columns as C

__all__ = [
    "FILLER",
    "Space",
    "build_space",
    "default_tokenizer",
    "holds_any",
    "row_shares",
    "topic_course_text",
    "topic_tokens",
]


def row_shares(weights: np.ndarray) -> np.ndarray:
    """Rows scaled to sum to 1 (all-zero rows stay zero)."""
    total = weights.sum(axis=1, keepdims=True)
    return np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)


#: survey, job-description and course-title filler that says nothing about a topic (on top of
#: the tokenizer's stopwords). Time-of-day words are here too: scheduling needs are measured by
#: :func:`recommender.insights.gaps.underserved`, not as topics.
_FILLER_WORDS = (
    "暂无 无 明确 需求 服从组织 技巧 希望 学习 想 想要 建议 开设 多开 系统 "
    "经常 遇到 问题 经验 能力 提高 急需 最好 多一些 针对性 薄弱 比较 有所 "
    "本职工作 安排 需要 方法 一些 更多 进一步 掌握 了解 熟悉 上课 周末 晚上 "
    "白天 工作日 时间 线上 短 参与 配合 做好 日常 本单位 单位 干部 从事 方面 "
    "内容 知识 培训 讲解 展开 围绕 本课程 课程 专题 讲 解析 视频 直播 在线 "
    "面授 现场 教学 课堂 导读 文选 阅读 材料 研讨 集中 培训班 研修班 示范 实践 "
    "实务 常见问题 要点 案例 路径 视角 背景 操作 读懂 若干 新形势下 实际 具体 "
    "有关 以及 "
)
FILLER = frozenset(_FILLER_WORDS.split())


def _is_cjk(token: str) -> bool:
    return all("\u4e00" <= ch <= "\u9fff" for ch in token)


def topic_tokens(tokens: list[str]) -> list[str]:
    """Tokens minus filler and numbers, plus the 2-character pieces of long Chinese words, so
    the dialects of both sides meet (防汛 ↔ 防汛抗旱, 调适 ↔ 心理调适)."""
    out = []
    for tok in tokens:
        if tok in FILLER or tok.isdigit():
            continue
        out.append(tok)
        if len(tok) in (4, 6) and _is_cjk(tok):
            out.extend(
                p for p in (tok[i : i + 2] for i in range(0, len(tok) - 1, 2)) if p not in FILLER
            )
    return out


def default_tokenizer() -> Callable[[str], list[str]]:
    from recommender.text.tokenizer import ChineseTokenizer

    return ChineseTokenizer()


def topic_course_text(courses: pd.DataFrame) -> list[str]:
    """Title (twice), category and tags: the topic words of a course.

    Descriptions are left out on purpose: they are mostly about format and teaching method
    (直播, 面授, 课后测试 …), which would form topics of their own.
    """
    tags = courses[C.TAGS].fillna("").astype(str).str.replace("|", " ", regex=False)
    title = courses[C.TITLE].fillna("").astype(str)
    cat = courses[C.CATEGORY].fillna("").astype(str)
    return (title + " " + title + " " + cat + " " + tags).tolist()


@dataclass
class Space:
    """The shared TF-IDF space: course rows, cadre profile rows, declared-needs rows; ``column``
    maps a term to its index."""

    courses: sp.csr_matrix
    cadres: sp.csr_matrix
    needs: sp.csr_matrix
    vocabulary: np.ndarray

    @property
    def column(self) -> dict[str, int]:
        return {str(t): j for j, t in enumerate(self.vocabulary)}


def _identity(tokens: list[str]) -> list[str]:
    return tokens


def build_space(
    courses: pd.DataFrame,
    cadres: pd.DataFrame,
    tokenizer: Callable[[str], list[str]],
    *,
    protected: frozenset[str] = frozenset(),
    course_max_df: float = 0.25,
    cadre_max_df: float = 0.6,
) -> Space:
    """TF-IDF over course and profile tokens, keeping the words that can mean a topic.

    Dropped: words in more than ``course_max_df`` of courses or ``cadre_max_df`` of cadres
    (title templates, survey boilerplate) and words spread evenly over the catalog's
    categories (:func:`_generic_terms`: 管理, 服务, 建设 …). ``protected`` words (the field
    taxonomy's) escape the course-side cuts: whether a field's word looks generic depends on
    the catalog, and the field must not vanish with its courses.
    """
    c_tok = [topic_tokens(tokenizer(t)) for t in topic_course_text(courses)]
    rows = cadres.to_dict("records")
    n_tok = [topic_tokens(tokenizer(r.get(C.DECLARED_NEEDS))) for r in rows]
    j_tok = [
        topic_tokens(tokenizer(f"{r.get(C.JOB_TITLE) or ''} {r.get(C.JOB_DESCRIPTION) or ''}"))
        for r in rows
    ]
    p_tok = [j + n + n for j, n in zip(j_tok, n_tok, strict=True)]  # what they ask counts double
    vec = TfidfVectorizer(
        analyzer=_identity,
        lowercase=False,
        sublinear_tf=True,
        dtype=np.float64,
        min_df=2 if len(c_tok) + len(p_tok) >= 50 else 1,
    )
    x = vec.fit_transform(c_tok + p_tok).tocsr()
    xc, xp = x[: len(c_tok)], x[len(c_tok) :]
    keep = _doc_share(xp) <= cadre_max_df
    if len(c_tok) >= 20:  # enough courses for course-side cuts
        categories = courses[C.CATEGORY].fillna("").astype(str).to_numpy()
        course_side = (_doc_share(xc) <= course_max_df) & ~_generic_terms(xc, categories)
        keep &= course_side | holds_any(vec.get_feature_names_out(), protected)
    cols = np.flatnonzero(keep)
    needs = vec.transform(n_tok).tocsr()[:, cols]
    vocab = vec.get_feature_names_out()[cols]
    return Space(normalize(xc[:, cols]), normalize(xp[:, cols]), normalize(needs), vocab)


def holds_any(terms: np.ndarray, words: frozenset[str]) -> np.ndarray:
    """Mask of ``terms`` holding one of ``words`` as a substring."""
    if not words:
        return np.zeros(len(terms), dtype=bool)
    pattern = re.compile("|".join(map(re.escape, sorted(words, key=len, reverse=True))))
    return np.array([bool(pattern.search(str(t))) for t in terms], dtype=bool)


def _doc_share(x: sp.csr_matrix) -> np.ndarray:
    """Share of rows using each term."""
    return np.asarray((x > 0).mean(axis=0)).ravel() if x.shape[0] else np.zeros(x.shape[1])


def _generic_terms(
    x_courses: sp.csr_matrix, categories: np.ndarray, cutoff: float = 0.7
) -> np.ndarray:
    """Words used across many categories about evenly (normalised entropy over categories above
    ``cutoff``, in at least 4 categories): they do not tell topics apart."""
    names, codes = np.unique(categories, return_inverse=True)
    if len(names) < 4:
        return np.zeros(x_courses.shape[1], dtype=bool)
    onehot = sp.csr_matrix(
        (np.ones(len(codes)), (codes, np.arange(len(codes)))), shape=(len(names), len(codes))
    )
    counts = np.asarray((onehot @ (x_courses > 0).astype(np.float64)).todense())  # cat × term
    share = row_shares(counts.T)  # term × cat
    logs = np.log(np.where(share > 0, share, 1.0))
    entropy = -(share * logs).sum(axis=1) / np.log(len(names))
    return ((counts > 0).sum(axis=0) >= 4) & (entropy > cutoff)
