"""Explanations: why a course is recommended, as short Chinese strings plus structured fields."""

from __future__ import annotations

from dataclasses import dataclass, field

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
        return {"kind": self.kind, "text": self.text, "detail": dict(self.detail)}


@dataclass
class ExplainContext:
    """What the explainer needs to know about one cadre's request."""

    profile_vector: sp.csr_matrix
    history_items: np.ndarray
    last_item: int
    cohort_counts: np.ndarray | None
    components: dict[str, np.ndarray]


def _matched_terms(model, profile_vector: sp.csr_matrix, item: int, n: int = 3) -> list[str]:
    """Terms shared by the profile and the course, by weight product (plain numpy)."""
    cm = model.hybrid.content_.course_matrix_
    lo, hi = cm.indptr[item], cm.indptr[item + 1]
    common, pi, ci = np.intersect1d(
        profile_vector.indices, cm.indices[lo:hi], assume_unique=True, return_indices=True
    )
    if len(common) == 0:
        return []
    prod = profile_vector.data[pi] * cm.data[lo:hi][ci]
    terms = model.hybrid.content_.terms_
    return [str(terms[common[j]]) for j in np.argsort(-prod)[:n]]


def _resembles(model, history_items: np.ndarray, item: int) -> tuple[int, float]:
    """The taken course most like ``item`` by text, and the similarity."""
    sim = model._index.content_sim
    if sim is not None:
        sims = sim[history_items, item]
    else:
        cm = model.hybrid.content_.course_matrix_
        sims = np.asarray((cm[history_items] @ cm[item].T).toarray()).ravel()
    best = int(np.argmax(sims))
    return int(history_items[best]), float(sims[best])


def explain_item(model, ctx: ExplainContext, item: int, row: int = 0) -> list[Reason]:
    """Reasons for recommending course ``item``, strongest first."""
    h = model.hybrid
    reasons: list[Reason] = []
    terms = _matched_terms(model, ctx.profile_vector, item)
    if terms:
        reasons.append(
            Reason(
                "profile_terms",
                f"与您的岗位职责和学习需求相关：{'、'.join(terms)}",
                {"terms": terms},
            )
        )
    if ctx.cohort_counts is not None and ctx.cohort_counts[item] > 0:
        n = int(ctx.cohort_counts[item])
        reasons.append(
            Reason("similar_cadres", f"{n} 位同系统、同层级岗位的干部学习了这门课", {"cadres": n})
        )
    if len(ctx.history_items):
        cid, sim = _resembles(model, ctx.history_items, item)
        if sim >= RESEMBLES_MIN:
            reasons.append(
                Reason(
                    "resembles_completed",
                    f"与您已学的《{model.titles[cid]}》内容相近",
                    {"course_id": model.course_ids[cid], "similarity": round(sim, 3)},
                )
            )
    seq = ctx.components.get("sequence")
    if ctx.last_item >= 0 and seq is not None and np.ravel(seq)[item] > 0:
        reasons.append(
            Reason(
                "sequence",
                f"学完《{model.titles[ctx.last_item]}》的干部常接着学这门课",
                {"after_course_id": model.course_ids[ctx.last_item]},
            )
        )
    if model.compulsory[item]:
        reasons.append(Reason("compulsory", "本年度必修课程", {}))
    rating = float(h.quality_raw_[item])
    if rating >= HIGH_RATING:
        reasons.append(
            Reason("high_rating", f"学员评价高（{rating:.1f} 分）", {"rating": round(rating, 2)})
        )
    if h.item_counts_[item] == 0:
        reasons.append(Reason("new_course", "新上线课程", {}))
    if not reasons:
        reasons.append(Reason("popular", "同类干部中较受欢迎的课程", {}))
    return reasons
