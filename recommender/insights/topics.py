"""A topic layer shared by the catalog and cadre profiles, for demand-gap analysis.

Catalog topics start from the course categories (one fixed seed per category: the mean TF-IDF
vector of its courses) plus NMF components of what the seeds miss (mostly 专题 tag clusters).
Demand topics are NMF components of the words cadres ask for in their declared needs that no
course uses, so a need the catalog never names still forms a topic: that is how a vocabulary gap
appears. Courses and cadres get topic shares the same way (:func:`attribute`). The text side
(filler words, the shared TF-IDF space) lives in :mod:`recommender.insights.topic_text`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.decomposition import non_negative_factorization
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import normalize

from recommender.data.schema import Columns as C
from recommender.insights.topic_text import (
    Space,
    build_space,
    default_tokenizer,
    row_shares,
    topic_course_text,
)

__all__ = ["TopicModel", "attribute", "fit_topics", "row_shares", "topic_course_text"]

N_LABEL_TERMS = 3
N_TERMS = 8


@dataclass
class TopicModel:
    """Topics over courses and cadres.

    Attributes
    ----------
    topics : one row per topic: ``topic`` (int id), ``label`` (top terms joined by ``/``),
        ``terms`` (top terms, comma-separated), ``seed`` (the category it started from, or ''),
        ``category`` (dominant course category now, '' when hardly any course weighs on it),
        ``course_mass``, ``cadre_mass`` (summed row shares).
    course_topics : course_id × topic, each row a share vector (sums to 1, or 0 for empty text).
    cadre_topics : cadre_id × topic, same convention.
    components : topic × term NMF loadings; ``vocabulary`` the matching terms.
    """

    topics: pd.DataFrame
    course_topics: pd.DataFrame
    cadre_topics: pd.DataFrame
    components: np.ndarray
    vocabulary: np.ndarray

    @property
    def n_topics(self) -> int:
        return len(self.topics)

    @property
    def labels(self) -> pd.Series:
        """topic id → label."""
        return self.topics.set_index("topic")["label"]


def _category_seeds(
    x_courses: sp.csr_matrix, categories: np.ndarray
) -> tuple[list[str], np.ndarray]:
    """One seed per category: the normalised mean vector of its courses."""
    names = sorted({c for c in categories if c})
    rows = [np.asarray(x_courses[categories == c].mean(axis=0)).ravel() for c in names]
    if not rows:
        return [], np.zeros((0, x_courses.shape[1]))
    return names, normalize(np.vstack(rows))


def _ls_scale(x: sp.csr_matrix, w: np.ndarray, h: np.ndarray) -> float:
    """Least-squares scalar making ``w @ h`` match ``x`` in magnitude."""
    approx = w @ h
    denom = float((approx**2).sum())
    return float(x.multiply(approx).sum() / denom) if denom > 0 else 1.0


def _top_terms(
    components: np.ndarray, vocabulary: np.ndarray, n: int, floor: float
) -> list[list[str]]:
    """Top ``n`` words of each topic with a loading of at least ``floor`` × the topic's largest."""
    out = []
    for row in components:
        order = np.argsort(-row)[:n]
        top = row[order[0]] if len(order) else 0.0
        out.append([str(vocabulary[j]) for j in order if row[j] > 0 and row[j] >= floor * top])
    return out


def _unique_labels(terms: list[list[str]]) -> list[str]:
    """Top terms joined by '/'; a repeated label gets its topic id appended."""
    labels = ["/".join(t[:N_LABEL_TERMS]) or f"topic {i}" for i, t in enumerate(terms)]
    seen: set[str] = set()
    out = []
    for i, label in enumerate(labels):
        out.append(f"{label}#{i}" if label in seen else label)
        seen.add(label)
    return out


def _dominant_category(shares: np.ndarray, categories: np.ndarray) -> tuple[list[str], np.ndarray]:
    frame = pd.DataFrame(shares).assign(_cat=categories).groupby("_cat").sum()
    mass = shares.sum(axis=0)
    dominant = [str(frame[t].idxmax()) if mass[t] >= 0.5 and len(frame) else "" for t in frame]
    return dominant, mass


def _nmf(x, n: int, random_state: int, max_iter: int = 300) -> np.ndarray:
    """NMF topic loadings (n × terms) of ``x``; quiet when it stops before converging."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _, h, _ = non_negative_factorization(
            x, n_components=n, init="nndsvda", max_iter=max_iter, random_state=random_state
        )
    return h[h.sum(axis=1) > 0]


def _catalog_topics(
    x_courses: sp.csr_matrix, categories: np.ndarray, n: int, random_state: int
) -> tuple[list[str], np.ndarray]:
    """Catalog topics: one fixed seed per category, then NMF components of what they miss.

    Seeds are not refined: a thin category (3 courses on 心理健康) would otherwise be pulled
    towards a big one, and thin categories are exactly where gaps hide.
    """
    names, seeds = _category_seeds(x_courses, categories)
    names, seeds = names[:n], seeds[:n]
    n_extra = n - len(seeds)
    if not n_extra:
        return names, seeds
    w = np.asarray(x_courses @ seeds.T) if len(seeds) else np.zeros((x_courses.shape[0], 0))
    if len(seeds):
        w = w * _ls_scale(x_courses, w, seeds)
    residual = np.clip(x_courses.toarray() - w @ seeds, 0.0, None)
    extra = _nmf(residual, min(n_extra, x_courses.shape[0]), random_state) if residual.any() else []
    return names + [""] * len(extra), np.vstack([seeds, *([extra] if len(extra) else [])])


def _scarce_terms(space: Space, min_asks: int) -> np.ndarray:
    """Mask of terms cadres ask for (declared needs, ``min_asks`` cadres or more) that no
    course uses.

    A word any course uses belongs to the catalog topics, so demand for a thin part of the
    catalog shows as a gap on that catalog topic; a word no course uses forms demand topics.
    Job-description words alone never make a demand topic: only what cadres ask for does.
    """
    course_count = np.asarray((space.courses > 0).sum(axis=0)).ravel()
    need_count = np.asarray((space.needs > 0).sum(axis=0)).ravel()
    return (course_count == 0) & (need_count >= min_asks)


def _demand_topics(space: Space, n: int | None, random_state: int) -> np.ndarray:
    """NMF topics of the declared needs restricted to scarce words (n by default: a third of
    the scarce words, 3–8)."""
    n_cadres = space.needs.shape[0]
    scarce = np.flatnonzero(_scarce_terms(space, max(3, int(0.005 * n_cadres))))
    empty = np.zeros((0, space.needs.shape[1]))
    if len(scarce) == 0:
        return empty
    x = space.needs[:, scarce]
    x = x[np.asarray(x.getnnz(axis=1) > 0)]
    n = int(np.clip(len(scarce) // 3, 3, 8)) if n is None else n
    n = min(n, len(scarce), x.shape[0])
    if n <= 0:
        return empty
    h = np.zeros((0, space.needs.shape[1]))
    loadings = _nmf(x, n, random_state)
    if len(loadings):
        h = np.zeros((len(loadings), space.needs.shape[1]))
        h[:, scarce] = loadings
    return h


def attribute(x: sp.csr_matrix, h: np.ndarray) -> np.ndarray:
    """Topic shares of the rows of ``x``: each term's weight is split among topics in
    proportion to their loadings on it (terms no topic loads on are ignored)."""
    load = h.sum(axis=0)
    resp = np.divide(h, load, out=np.zeros_like(h), where=load > 0).T  # terms × topics
    return row_shares(np.asarray(x @ resp))


def fit_topics(
    courses: pd.DataFrame,
    cadres: pd.DataFrame,
    *,
    n_topics: int | None = None,
    n_demand_topics: int | None = None,
    tokenizer: Callable[[str], list[str]] | None = None,
    random_state: int = 0,
) -> TopicModel:
    """Fit the shared topic layer on the catalog and the cadre profiles.

    1. One TF-IDF space over course text (title, category, tags) and cadre profile text
       (job title, 岗位职责, declared needs); filler words and words too common on either
       side to mean a topic are dropped.
    2. Catalog topics (``n_topics``, default 1.5 × the categories): one fixed seed per
       category (mean vector of its courses) plus NMF components of what the seeds miss
       (mostly 专题 tag clusters of broad categories).
    3. Demand topics: NMF on the declared needs restricted to words cadres ask for and no
       course uses (:func:`_scarce_terms`) — the catalog cannot offer what it never names.
    4. Courses and cadres get topic shares by splitting each word's weight among the topics
       that load on it (:func:`attribute`), so both sides are measured the same way.
    """
    space = build_space(courses, cadres, tokenizer or default_tokenizer())
    if space.vocabulary.size == 0:
        raise ValueError("no usable text in courses or cadre profiles to fit topics on")
    categories = courses[C.CATEGORY].fillna("").astype(str).to_numpy()
    n_cat = len({c for c in categories if c})
    n_catalog = n_topics if n_topics is not None else n_cat + n_cat // 2
    n_catalog = max(1, min(n_catalog, space.courses.shape[0], space.vocabulary.size))
    seed_names, h_catalog = _catalog_topics(space.courses, categories, n_catalog, random_state)
    h_demand = _demand_topics(space, n_demand_topics, random_state)
    h = normalize(np.vstack([h_catalog, h_demand]))
    kinds = ["catalog"] * len(h_catalog) + ["demand"] * len(h_demand)
    seeds = seed_names + [""] * len(h_demand)
    keep = _distinct(h)
    h = h[keep]
    seeds, kinds = [seeds[i] for i in keep], [kinds[i] for i in keep]
    return _assemble(courses, cadres, space, h, seeds, kinds)


def _distinct(h: np.ndarray, max_cosine: float = 0.9) -> list[int]:
    """Rows of unit-norm ``h`` that are non-empty and not near-copies of an earlier row
    (NMF asked for more topics than the text holds repeats itself)."""
    keep: list[int] = []
    for i, row in enumerate(h):
        if row.any() and all(float(row @ h[j]) < max_cosine for j in keep):
            keep.append(i)
    return keep


def _assemble(courses, cadres, space: Space, h, seeds, kinds) -> TopicModel:
    vocabulary, n_topics = space.vocabulary, h.shape[0]
    course_shares, cadre_shares = attribute(space.courses, h), attribute(space.cadres, h)
    terms = _top_terms(h, vocabulary, N_TERMS, 0.1)
    label_terms = _top_terms(h, vocabulary, N_LABEL_TERMS, 0.3)
    categories = courses[C.CATEGORY].fillna("").astype(str).to_numpy()
    dominant, course_mass = _dominant_category(course_shares, categories)
    topic_ids = np.arange(n_topics)
    topics = pd.DataFrame(
        {
            "topic": topic_ids,
            "label": _unique_labels(label_terms),
            "terms": ["，".join(t) for t in terms],
            "kind": kinds,
            "seed": seeds,
            "category": dominant,
            "course_mass": course_mass.round(3),
            "cadre_mass": cadre_shares.sum(axis=0).round(3),
        }
    )
    return TopicModel(
        topics=topics,
        course_topics=pd.DataFrame(
            course_shares,
            index=pd.Index(courses[C.COURSE_ID].astype(str), name=C.COURSE_ID),
            columns=topic_ids,
        ),
        cadre_topics=pd.DataFrame(
            cadre_shares,
            index=pd.Index(cadres[C.CADRE_ID].astype(str), name=C.CADRE_ID),
            columns=topic_ids,
        ),
        components=h,
        vocabulary=vocabulary,
    )
