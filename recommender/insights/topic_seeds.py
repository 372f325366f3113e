"""Fixed topic seeds: the fields of work of the domain taxonomy, then the catalog's other
categories.

A field seed is made of the field's own words (``resources/fields.toml``, read by
:class:`recommender.text.fields.FieldTaxonomy`) plus the mean text of the courses of the
categories it claims. The words do not depend on the catalog, so a field whose courses were all
dropped keeps its topic — its demand stays visible, with no supply: the gap a planner most needs
to see. Categories no field claims (业务知识, 领导艺术 …) get a seed of their own, as before.
Split from :mod:`recommender.insights.topics`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from recommender.insights.topic_text import Space, holds_any
from recommender.text.fields import FieldTaxonomy

__all__ = ["Seeds", "claimed_categories", "field_words", "topic_seeds"]


@dataclass(frozen=True)
class Seeds:
    """Seed topics: a name, a kind ('field' or 'category') and a unit vector each, plus the
    terms the fields' own words put in the space (demand topics leave those to the fields)."""

    names: list[str]
    kinds: list[str]
    vectors: np.ndarray
    field_terms: np.ndarray


def claimed_categories(taxonomy: FieldTaxonomy, categories: set[str]) -> dict[str, str]:
    """Category → the field whose topic it feeds: the field named like it, else the first
    field listing it. Categories no field lists are left out."""
    claims = {c: c for c in categories if c in taxonomy.names and c in _served(taxonomy, c)}
    for name, served in zip(taxonomy.names, taxonomy.categories, strict=True):
        for cat in served:
            if cat in categories:
                claims.setdefault(cat, name)
    return claims


def _served(taxonomy: FieldTaxonomy, name: str) -> tuple[str, ...]:
    return taxonomy.categories[taxonomy.names.index(name)]


def field_words(taxonomy: FieldTaxonomy) -> frozenset[str]:
    """Every word of every field."""
    return frozenset(w for words in taxonomy.words for w in words)


def _word_mask(space: Space, words: tuple[str, ...]) -> np.ndarray:
    """Terms of the space holding one of a field's words (the taxonomy matches by substring,
    so 应急救援 and 防汛抗旱 belong to the field of 应急 and 防汛)."""
    return holds_any(space.vocabulary, frozenset(words))


def _mean_row(x: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    if not rows.any():
        return np.zeros(x.shape[1])
    return np.asarray(x[rows].mean(axis=0)).ravel()


def topic_seeds(
    space: Space,
    categories: np.ndarray,
    taxonomy: FieldTaxonomy,
) -> Seeds:
    """One seed per field of ``taxonomy`` whose words or courses reach the space, then one per
    category no field claims (mean vector of its courses).

    A field seed is the sum of two unit vectors, its words and its claimed courses' mean, so
    neither a long course list nor a long word list drowns the other.
    """
    present = {c for c in categories if c}
    claims = claimed_categories(taxonomy, present)
    names, kinds, rows = [], [], []
    field_terms = np.zeros(space.vocabulary.size, dtype=bool)
    for name, words in zip(taxonomy.names, taxonomy.words, strict=True):
        mask = _word_mask(space, words)
        own = np.isin(categories, [c for c, f in claims.items() if f == name])
        vector = (
            normalize(mask[None, :].astype(float))[0]
            + normalize(_mean_row(space.courses, own)[None, :])[0]
        )
        if vector.any():
            names.append(name)
            kinds.append("field")
            rows.append(vector)
            field_terms |= mask
    for cat in sorted(present - set(claims)):
        names.append(cat)
        kinds.append("category")
        rows.append(_mean_row(space.courses, categories == cat))
    vectors = normalize(np.vstack(rows)) if rows else np.zeros((0, space.vocabulary.size))
    return Seeds(names, kinds, vectors, field_terms)
