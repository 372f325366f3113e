"""Explanations: why a course is recommended, as short Chinese strings plus structured fields."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from recommender.signals.content import row_positions

HIGH_RATING = 4.5
RESEMBLES_MIN = 0.2


@dataclass(frozen=True)
class Reason:
    """One reason: a machine-readable ``kind``, a Chinese ``text`` and details."""

    kind: str
    text: str
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "text": self.text, "detail": dict(self.detail)}


@dataclass
class ExplainContext:
    """What the explainer needs to know about one cadre's request.

    ``terms``/``term_weights`` are the profile's TF-IDF entries (term index, weight).
    """

    terms: np.ndarray
    term_weights: np.ndarray
    history_items: np.ndarray
    last_item: int
    cohort_counts: np.ndarray | None
    components: dict[str, np.ndarray]
    fields: np.ndarray | None = None  # how strongly the profile names each field of work


def _matched_terms(model, ctx: ExplainContext, items: np.ndarray, n: int = 3) -> list[list[str]]:
    """For each item: terms shared by the profile and the course, strongest weight product
    first (the items' posting lists are gathered in one numpy pass)."""
    out: list[list[str]] = [[] for _ in range(len(items))]
    if not len(ctx.terms) or not len(items):
        return out
    cm = model.text.course_matrix_
    profile = np.zeros(cm.shape[1], dtype=np.float32)
    profile[ctx.terms] = ctx.term_weights
    pos, lens = row_positions(cm.indptr, items)
    term = cm.indices[pos]
    prod = profile[term] * cm.data[pos]
    hit = np.flatnonzero(prod > 0)
    owner = np.repeat(np.arange(len(items)), lens)[hit]
    order = np.lexsort((-prod[hit], owner))  # by item, then strongest first
    names = model.text.terms_
    for j, t in zip(owner[order].tolist(), term[hit][order].tolist(), strict=True):
        if len(out[j]) < n:
            out[j].append(str(names[t]))
    return out


def _resembles(model, history_items: np.ndarray, items: np.ndarray) -> list[tuple[int, float]]:
    """For each item: the taken course most like it by text, and the similarity."""
    content = model.hybrid.signal("content")
    if content is not None:
        block = content.similarity(history_items, items)
    else:
        cm = model.text.course_matrix_
        block = np.asarray((cm[history_items] @ cm[items].T).toarray())
    best = block.argmax(axis=0)
    return [(int(history_items[b]), float(block[b, j])) for j, b in enumerate(best.tolist())]


def _same_teacher(model, ctx: ExplainContext, items: np.ndarray) -> list[int | None]:
    """For each item: a taken course sharing a teacher with it, when the instructor signal
    counted for this cadre (``None`` otherwise)."""
    signal = model.hybrid.signal("instructor")
    if signal is None or "instructor" not in ctx.components or not len(ctx.history_items):
        return [None] * len(items)
    block = signal.shared_[ctx.history_items][:, items].toarray()
    best = block.argmax(axis=0)
    return [
        int(ctx.history_items[b]) if block[b, j] > 0 else None for j, b in enumerate(best.tolist())
    ]


def explain_items(model, ctx: ExplainContext, items: Sequence[int]) -> list[list[Reason]]:
    """Reasons for recommending each course in ``items``, strongest first."""
    if not len(items):
        return []
    items = np.asarray(items, dtype=np.int64)
    terms = _matched_terms(model, ctx, items)
    near = _resembles(model, ctx.history_items, items) if len(ctx.history_items) else None
    seq = ctx.components.get("sequence") if ctx.last_item >= 0 else None
    teacher = _same_teacher(model, ctx, items)
    return [
        _reasons(
            model,
            ctx,
            item,
            terms[j],
            near[j] if near else None,
            seq is not None and seq[item] > 0,
            teacher[j],
        )
        for j, item in enumerate(items.tolist())
    ]


def explain_item(model, ctx: ExplainContext, item: int) -> list[Reason]:
    """Reasons for recommending course ``item``, strongest first."""
    return explain_items(model, ctx, [item])[0]


def _fields_served(model, ctx: ExplainContext, item: int) -> list[str]:
    """The fields of work the profile names that this course's category serves."""
    field = model.hybrid.signal("field")
    if field is None or ctx.fields is None or model.field_taxonomy is None:
        return []
    hit = (field.course_fields_[item] > 0) & (np.asarray(ctx.fields) > 0)
    return [model.field_taxonomy.names[j] for j in np.flatnonzero(hit)]


def _reasons(
    model,
    ctx,
    item: int,
    terms: list[str],
    near: tuple[int, float] | None,
    follows: bool,
    teacher: int | None,
) -> list[Reason]:
    reasons: list[Reason] = []
    if terms:
        reasons.append(
            Reason(
                "profile_terms",
                f"与您的岗位职责和学习需求相关：{'、'.join(terms)}",
                {"terms": terms},
            )
        )
    named = _fields_served(model, ctx, item)
    if named:
        reasons.append(Reason("field", f"对口您的岗位领域：{'、'.join(named)}", {"fields": named}))
    if ctx.cohort_counts is not None and ctx.cohort_counts[item] > 0:
        n = int(ctx.cohort_counts[item])
        reasons.append(
            Reason("similar_cadres", f"{n} 位同系统、同层级岗位的干部学习了这门课", {"cadres": n})
        )
    if near is not None and near[1] >= RESEMBLES_MIN:
        cid, sim = near
        reasons.append(
            Reason(
                "resembles_completed",
                f"与您已学的《{model.titles[cid]}》内容相近",
                {"course_id": model.course_ids[cid], "similarity": round(sim, 3)},
            )
        )
    if follows:
        reasons.append(
            Reason(
                "sequence",
                f"学完《{model.titles[ctx.last_item]}》的干部常接着学这门课",
                {"after_course_id": model.course_ids[ctx.last_item]},
            )
        )
    if teacher is not None:
        reasons.append(
            Reason(
                "same_instructor",
                f"与您学过的《{model.titles[teacher]}》是同一位授课教师",
                {"course_id": model.course_ids[teacher]},
            )
        )
    if model.compulsory[item]:
        reasons.append(Reason("compulsory", "本年度必修课程", {}))
    rating = float(model.quality_[item])
    if rating >= HIGH_RATING:
        reasons.append(
            Reason("high_rating", f"学员评价高（{rating:.1f} 分）", {"rating": round(rating, 2)})
        )
    if model.item_counts_[item] == 0:
        reasons.append(Reason("new_course", "新上线课程", {}))
    if not reasons:
        reasons.append(Reason("popular", "同类干部中较受欢迎的课程", {}))
    return reasons
