"""Course-side lists: a cadre's compulsory courses with their status, and similar courses."""

from __future__ import annotations

from typing import Any

import numpy as np

from recommender.ranking.scaling import zscore
from recommender.signals.base import Reason, quote


def compulsory_courses(model: Any, cadre_id: str, *, events=None) -> list[dict[str, Any]]:
    """The active compulsory courses whose audience includes this cadre, with a status:
    ``taken`` (enrolled or completed, events included), ``open`` (can still be taken),
    ``closed`` (its session has started and the cadre did not take it). Recommendation
    lists leave these out; portals show them as 必修 from here."""
    q = model.query(cadre_id, events=events)
    mask = model.compulsory & model.active & model.policy.audience(q.profile)
    taken = np.zeros(len(model.course_ids), dtype=bool)
    taken[q.history] = True
    open_now = model.open_courses()
    out = []
    for i in np.flatnonzero(mask).tolist():
        status = "taken" if taken[i] else ("open" if open_now[i] else "closed")
        start = model.session_start[i]
        out.append(
            {
                "course_id": model.course_ids[i],
                "title": model.titles[i],
                "category": model.categories[i],
                "format": model.formats[i],
                "credit_hours": float(model.hours[i]),
                "status": status,
                "session_start": None if np.isnat(start) else str(start),
            }
        )
    order = {"open": 0, "closed": 1, "taken": 2}
    return sorted(out, key=lambda c: (order[c["status"]], c["course_id"]))


def similar(model: Any, course_id: str, k: int = 10) -> list:
    """Courses like ``course_id``: text similarity blended with every signal that relates
    courses to courses (co-completion)."""
    i = model.course_index(course_id)
    content = model.text.similar_items(i)
    blended = zscore(content)[0]
    for signal in model.hybrid.signals_:
        related = signal.related(i)
        if related is not None:
            blended = blended + related[1] * zscore(related[0])[0]
    blended[i] = -np.inf
    blended[~model.active] = -np.inf
    k = min(k, int(np.isfinite(blended).sum()))
    top = np.argsort(-blended, kind="stable")[:k]
    reasons = [
        (
            Reason(
                "similar_course",
                f"与{quote(model.titles[i])}内容相近或常被一起学习",
                {"similarity": round(float(content[j]), 3)},
            ),
        )
        for j in top
    ]
    return model.as_recommendations(top, blended, reasons)
