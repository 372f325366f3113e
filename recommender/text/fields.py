"""Fields of work (领域): which training categories a job profile points at.

A small, editable taxonomy (``resources/fields.toml``) maps a field's words to the course
categories that serve it. :meth:`FieldTaxonomy.match` reads profile texts and returns, per
profile, how strongly each field is named; the field signal turns that into a score per
course through the course's category. The taxonomy does not depend on the catalog, so a
field the catalog lacks is still recognised (the planners' gap analysis needs exactly that).
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np

from recommender.text.tokenizer import normalize_text

FIELDS_FILE = "fields.toml"


class FieldTaxonomyError(ValueError):
    """The taxonomy file cannot be read (names the file and the entry)."""


@dataclass(frozen=True)
class FieldTaxonomy:
    """Field names, their words and the categories each field is served by."""

    names: tuple[str, ...]
    words: tuple[tuple[str, ...], ...]
    categories: tuple[tuple[str, ...], ...]

    @classmethod
    def load(cls, path: str | Path | None = None) -> FieldTaxonomy:
        """The packaged taxonomy, or the TOML file at ``path``."""
        if path is None:
            raw = files("recommender").joinpath("resources", FIELDS_FILE).read_text("utf-8")
            where = f"recommender/resources/{FIELDS_FILE}"
        else:
            raw, where = Path(path).read_text(encoding="utf-8"), str(path)
        try:
            doc = tomllib.loads(raw)
        except tomllib.TOMLDecodeError as exc:
            raise FieldTaxonomyError(f"{where}: 不是有效的 TOML：{exc}") from exc
        fields = doc.get("fields")
        if not isinstance(fields, dict) or not fields:
            raise FieldTaxonomyError(f"{where}: 缺少 [fields.<名称>] 条目")
        names, words, cats = [], [], []
        for name, entry in fields.items():
            w, c = entry.get("words"), entry.get("categories")
            if not (isinstance(w, list) and w and isinstance(c, list) and c):
                raise FieldTaxonomyError(f"{where}: [fields.{name}] 需要非空的 words 和 categories")
            names.append(str(name))
            words.append(tuple(normalize_text(x) for x in w if str(x).strip()))
            cats.append(tuple(str(x) for x in c))
        return cls(tuple(names), tuple(words), tuple(cats))

    def __len__(self) -> int:
        return len(self.names)

    def match(self, texts: Sequence[str]) -> np.ndarray:
        """(n texts × n fields) float32: the share of each field among the field words a
        text contains (distinct words counted once); all zeros for a text naming none."""
        return self.match_normalized([normalize_text(text) for text in texts])

    def match_normalized(self, texts: Sequence[str]) -> np.ndarray:
        """:meth:`match` of texts :func:`normalize_text` gave already."""
        none = [0] * len(self.words)
        counts = [
            [sum(1 for w in words if w in norm) for words in self.words] if norm else none
            for norm in texts
        ]
        out = np.array(counts, dtype=np.float32).reshape(len(texts), len(self.names))
        totals = out.sum(axis=1, keepdims=True)
        np.divide(out, totals, out=out, where=totals > 0)
        return out

    def category_matrix(self, course_categories: Sequence[str]) -> np.ndarray:
        """(n courses × n fields) float32: 1 where the course's category serves the field."""
        cats = np.asarray([str(c) for c in course_categories], dtype=object)
        return (
            np.stack([np.isin(cats, list(c)) for c in self.categories], axis=1).astype(np.float32)
            if len(self.names)
            else np.zeros((len(cats), 0), np.float32)
        )
