"""Explanations: why a course is recommended, as short Chinese strings plus structured fields."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import scipy.sparse as sp

HIGH_RATING = 4.5
RESEMBLES_MIN = 0.2


@dataclass(frozen=True)
class Reason:
    """One reason: a machine-readable ``kind``, a Chinese ``text`` and details."""

    kind: str
    text: str
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ExplainContext:
    """What the explainer needs to know about one cadre's request."""

    profile_vector: sp.csr_matrix
    history_items: np.ndarray
    last_item: int
    cohort_counts: np.ndarray | None
    components: dict[str, np.ndarray]


def explain_item(model, ctx: ExplainContext, item: int, row: int = 0) -> list[Reason]:
    """Reasons for recommending course ``item``, strongest first."""
    h = model.hybrid
    reasons: list[Reason] = []
    terms = h.content_.matched_terms(ctx.profile_vector, item, n=3)
    if terms:
        reasons.append(
            Reason("profile_terms", f"与您的岗位职责和学习需求相关：{'、'.join(terms)}",
                   {"terms": terms})
        )
    if ctx.cohort_counts is not None and ctx.cohort_counts[item] > 0:
        n = int(ctx.cohort_counts[item])
        reasons.append(
            Reason("similar_cadres", f"{n} 位同系统、同层级岗位的干部学习了这门课", {"cadres": n})
        )
    if len(ctx.history_items):
        sims = h.content_.course_matrix_[ctx.history_items] @ h.content_.course_matrix_[item].T
        sims = np.asarray(sims.toarray()).ravel()
        best = int(np.argmax(sims))
        if sims[best] >= RESEMBLES_MIN:
            cid = ctx.history_items[best]
            title = model.titles[cid]
            reasons.append(
                Reason("resembles_completed", f"与您已学的《{title}》内容相近",
                       {"course_id": model.course_ids[cid], "similarity": round(float(sims[best]), 3)})
            )
    if ctx.last_item >= 0 and "sequence" in ctx.components and ctx.components["sequence"][row, item] > 0:
        title = model.titles[ctx.last_item]
        reasons.append(
            Reason("sequence", f"学完《{title}》的干部常接着学这门课",
                   {"after_course_id": model.course_ids[ctx.last_item]})
        )
    if model.compulsory[item]:
        reasons.append(Reason("compulsory", "本年度必修课程", {}))
    rating = float(h.quality_raw_[item])
    if rating >= HIGH_RATING:
        reasons.append(Reason("high_rating", f"学员评价高（{rating:.1f} 分）", {"rating": round(rating, 2)}))
    if h.item_counts_[item] == 0:
        reasons.append(Reason("new_course", "新上线课程", {}))
    if not reasons:
        reasons.append(Reason("popular", "同类干部中较受欢迎的课程", {}))
    return reasons
