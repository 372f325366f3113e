"""Field signal: courses on the shelf of the catalog that the cadre's field of work points at.

A post's wording and a catalog's rarely share many words (a 审计 post, a course on
财政资金绩效), so TF-IDF alone leaves a new cadre with generic lists. The field taxonomy
(:class:`recommender.text.fields.FieldTaxonomy`) reads which fields a profile names; a
course scores the share of the profile's fields that its category serves.
"""

from __future__ import annotations

import numpy as np

from recommender.data.schema import Columns as C
from recommender.signals.base import ExplainContext, Query, QueryBatch, Reason, Signal


class FieldSignal(Signal):
    """``profile fields · course category`` (0 for a profile that names no field)."""

    name = "field"

    def fit_from_statistics(self, stats, meta) -> FieldSignal:
        """Catalog side only (no statistics of the records)."""
        if meta.field_taxonomy is None:
            raise ValueError("FieldSignal needs data.field_taxonomy (set by prepare_data)")
        self.course_fields_ = meta.field_taxonomy.category_matrix(meta.courses[C.CATEGORY])
        self.n_items_ = len(self.course_fields_)
        return self

    def score(self, batch: QueryBatch) -> np.ndarray:
        self._check_fitted()
        if batch.fields is None:
            return np.zeros((len(batch), self.n_items_), dtype=np.float32)
        return (np.asarray(batch.fields, np.float32) @ self.course_fields_.T).astype(np.float32)

    def score_one(self, query: Query) -> np.ndarray:
        self._check_fitted()
        if query.fields is None:
            return np.zeros(self.n_items_, dtype=np.float32)
        return (self.course_fields_ @ np.asarray(query.fields, np.float32)).astype(np.float32)

    def memo_on(self) -> tuple[str, ...]:
        return ("fields",)

    def memo_key(self, query: Query):
        f = b"" if query.fields is None else np.asarray(query.fields, np.float32).tobytes()
        return (self.name, f)

    def explain(self, query: Query, items: np.ndarray, context: ExplainContext):
        """The fields of work the profile names that each course's category serves."""
        if query.fields is None or context.field_names is None:
            return None
        named = np.asarray(query.fields) > 0
        hits = (self.course_fields_[np.asarray(items, np.int64)] > 0) & named
        out = []
        for row in hits.tolist():  # one boolean block for all items, not a pass per item
            names = [context.field_names[j] for j, hit in enumerate(row) if hit]
            text = f"对口您的岗位领域：{'、'.join(names)}"
            out.append([Reason("field", text, {"fields": names})] if names else [])
        return out
