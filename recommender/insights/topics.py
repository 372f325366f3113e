"""A topic layer shared by the catalog and cadre profiles, for demand-gap analysis.

Topics start from fixed seeds that do not depend on the catalog: one per field of work of the
domain taxonomy (its words plus its categories' courses), then one per category no field
claims (:mod:`recommender.insights.topic_seeds`). A field the catalog dropped entirely keeps its
topic, so its demand shows as a gap with no supply. NMF components of what the seeds miss add
catalog topics (mostly 专题 tag clusters); demand topics are NMF components of the words cadres
ask for in their declared needs that no course and no field uses, so a need nobody foresaw still
forms a topic. Courses and cadres get topic shares the same way (:func:`attribute`). Topic
names are readable (:mod:`recommender.insights.topic_names`); the text side (filler words, the
shared TF-IDF space) lives in :mod:`recommender.insights.topic_text`.
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
from recommender.insights.topic_names import need_phrases, tag_names, unique_names
from recommender.insights.topic_seeds import field_words, topic_seeds
from recommender.insights.topic_text import (
    Space,
    build_space,
    default_tokenizer,
    row_shares,
    topic_course_text,
)
from recommender.text.fields import FieldTaxonomy

__all__ = ["TopicModel", "attribute", "fit_topics", "row_shares", "topic_course_text"]

N_LABEL_TERMS = 3
N_TERMS = 8


@dataclass
class TopicModel:
    """Topics over courses and cadres.

    Attributes
    ----------
    topics : one row per topic: ``topic`` (int id), ``label`` (a readable name: the field or
        category, a course tag, or a phrase cadres write), ``terms`` (top terms,
        comma-separated), ``kind`` (field / category / catalog / demand), ``seed`` (the field
        or category it started from, or ''), ``category`` (dominant course category now, ''
        when hardly any course weighs on it), ``course_mass``, ``cadre_mass`` (summed row
        shares).
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


def _residual_topics(
    x_courses: sp.csr_matrix, seeds: np.ndarray, n: int, random_state: int
) -> np.ndarray:
    """NMF components (at most ``n``) of the course text the fixed seeds do not explain.

    Seeds are not refined: a thin category (3 courses on 心理健康) would otherwise be pulled
    towards a big one, and thin categories are exactly where gaps hide.
    """
    empty = np.zeros((0, x_courses.shape[1]))
    if n <= 0:
        return empty
    w = np.asarray(x_courses @ seeds.T) if len(seeds) else np.zeros((x_courses.shape[0], 0))
    if len(seeds):
        w = w * _ls_scale(x_courses, w, seeds)
    residual = np.clip(x_courses.toarray() - w @ seeds, 0.0, None)
    return _nmf(residual, min(n, x_courses.shape[0]), random_state) if residual.any() else empty


def _scarce_terms(space: Space, min_asks: int, known: np.ndarray) -> np.ndarray:
    """Mask of terms cadres ask for (declared needs, ``min_asks`` cadres or more) that no
    course uses and no field's own words (``known``) cover.

    A word any course uses belongs to the catalog topics, and a field's word to its field, so
    demand for them shows as a gap there; the other asked-for words form demand topics.
    Job-description words alone never make a demand topic: only what cadres ask for does.
    """
    course_count = np.asarray((space.courses > 0).sum(axis=0)).ravel()
    need_count = np.asarray((space.needs > 0).sum(axis=0)).ravel()
    return (course_count == 0) & (need_count >= min_asks) & ~known


def _demand_topics(space: Space, n: int | None, random_state: int, known: np.ndarray) -> np.ndarray:
    """NMF topics of the declared needs restricted to scarce words (n by default: a third of
    the scarce words, 3–8)."""
    n_cadres = space.needs.shape[0]
    scarce = np.flatnonzero(_scarce_terms(space, max(3, int(0.005 * n_cadres)), known))
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
    taxonomy: FieldTaxonomy | None = None,
    random_state: int = 0,
) -> TopicModel:
    """Fit the shared topic layer on the catalog and the cadre profiles.

    1. One TF-IDF space over course text (title, category, tags) and cadre profile text
       (job title, 岗位职责, declared needs); filler words and words too common on either
       side to mean a topic are dropped.
    2. Fixed seeds (:func:`recommender.insights.topic_seeds.topic_seeds`): one per field of
       ``taxonomy`` (default: the packaged ``fields.toml``) that its words or courses reach,
       one per category no field claims.
    3. Catalog topics: NMF components of the course text the seeds miss (mostly 专题 tag
       clusters of broad categories); ``n_topics`` (default 1.5 × the categories) caps seeds
       plus these.
    4. Demand topics: NMF on the declared needs restricted to words cadres ask for that no
       course and no field uses (:func:`_scarce_terms`).
    5. Courses and cadres get topic shares by splitting each word's weight among the topics
       that load on it (:func:`attribute`), so both sides are measured the same way.
    """
    tokenizer = tokenizer or default_tokenizer()
    taxonomy = taxonomy or FieldTaxonomy.load()
    space = build_space(courses, cadres, tokenizer, protected=field_words(taxonomy))
    if space.vocabulary.size == 0:
        raise ValueError("no usable text in courses or cadre profiles to fit topics on")
    categories = courses[C.CATEGORY].fillna("").astype(str).to_numpy()
    seeds = topic_seeds(space, categories, taxonomy)
    n_cat = len({c for c in categories if c})
    n_catalog = n_topics if n_topics is not None else n_cat + n_cat // 2
    n_extra = min(n_catalog, space.courses.shape[0], space.vocabulary.size) - len(seeds.names)
    h_extra = _residual_topics(space.courses, seeds.vectors, n_extra, random_state)
    h_demand = _demand_topics(space, n_demand_topics, random_state, seeds.field_terms)
    h = normalize(np.vstack([seeds.vectors, h_extra, h_demand]))
    kinds = [*seeds.kinds, *["catalog"] * len(h_extra), *["demand"] * len(h_demand)]
    names = [*seeds.names, *[""] * (len(h_extra) + len(h_demand))]
    keep = _distinct(h)
    h = h[keep]
    names, kinds = [names[i] for i in keep], [kinds[i] for i in keep]
    return _assemble(courses, cadres, space, h, names, kinds)


def _distinct(h: np.ndarray, max_cosine: float = 0.9) -> list[int]:
    """Rows of unit-norm ``h`` that are non-empty and not near-copies of an earlier row
    (NMF asked for more topics than the text holds repeats itself)."""
    keep: list[int] = []
    for i, row in enumerate(h):
        if row.any() and all(float(row @ h[j]) < max_cosine for j in keep):
            keep.append(i)
    return keep


def _names(
    courses: pd.DataFrame,
    cadres: pd.DataFrame,
    seeds: list[str],
    kinds: list[str],
    label_terms: list[list[str]],
    course_shares: np.ndarray,
) -> list[str]:
    """Readable names: the seed's name; a catalog topic's leading 专题 tag; a demand topic's
    most frequent phrase in the declared needs; else its leading words."""
    needs = cadres[C.DECLARED_NEEDS]
    candidates = []
    for t, (seed, kind, terms) in enumerate(zip(seeds, kinds, label_terms, strict=True)):
        if seed:
            found = [seed]
        elif kind == "catalog":
            found = tag_names(courses[C.TAGS], course_shares[:, t])[:3]
        else:
            found = need_phrases(needs, terms)[:3]
        candidates.append([*found, *terms[:1], "、".join(terms[:2])])
    return unique_names(candidates)


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
            "label": _names(courses, cadres, seeds, kinds, label_terms, course_shares),
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
