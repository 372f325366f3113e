"""Readable topic names: a field or category name, a course tag, or a phrase cadres write.

A planner reads "大模型辅助办公", not "大模型/辅助/办公". Seeded topics keep their field or
category name; a catalog topic found by NMF takes the 专题 tag its courses carry most; a demand
topic takes the phrase of the declared needs that its words span most often. Split from
:mod:`recommender.insights.topics`.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from recommender.data.catalog import split_list

__all__ = ["need_phrases", "tag_names", "unique_names"]

_CLAUSES = re.compile(r"[。；;！!？?\n，,、：:（）()\s]+")
#: longest phrase taken as a name; longer spans join two wishes of one sentence
MAX_PHRASE = 10


def _spans(clause: str, terms: Sequence[str]) -> str:
    """The stretch of ``clause`` from the first to the last topic word in it ('' if none)."""
    low = clause.lower()
    hits = [(i, i + len(t)) for t in terms for i in _find_all(low, t)]
    if not hits:
        return ""
    return clause[min(a for a, _ in hits) : max(b for _, b in hits)]


def _find_all(text: str, term: str) -> Iterable[int]:
    start = text.find(term)
    while term and start >= 0:
        yield start
        start = text.find(term, start + 1)


def need_phrases(texts: Iterable[str], terms: Sequence[str]) -> list[str]:
    """Phrases of ``texts`` spanning the topic's ``terms``, most frequent first (shorter first
    on ties): each clause's stretch from its first to its last topic word, at most
    :data:`MAX_PHRASE` characters."""
    counts: Counter[str] = Counter()
    low_terms = [t.lower() for t in terms if t]
    for text in texts:
        if not isinstance(text, str) or not text:
            continue
        for clause in _CLAUSES.split(unicodedata.normalize("NFKC", text)):
            span = _spans(clause, low_terms)
            if 0 < len(span) <= MAX_PHRASE:
                counts[span] += 1
    return sorted(counts, key=lambda s: (-counts[s], len(s)))


def tag_names(tags: pd.Series, shares: np.ndarray) -> list[str]:
    """Course tags ranked by the topic share of the courses carrying them."""
    weight: Counter[str] = Counter()
    for value, share in zip(tags.fillna("").astype(str), shares, strict=True):
        if share > 0:
            for tag in split_list(value):
                weight[tag] += float(share)
    return [t for t, _ in weight.most_common()]


def unique_names(candidates: Sequence[Sequence[str]]) -> list[str]:
    """One name per topic: its first candidate no earlier topic took (numbered when all were)."""
    taken: set[str] = set()
    out = []
    for i, names in enumerate(candidates):
        name = next((n for n in names if n and n not in taken), "")
        if not name:
            first = next((n for n in names if n), f"主题{i}")
            name = f"{first}（{i}）"
        taken.add(name)
        out.append(name)
    return out
