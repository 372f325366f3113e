"""Small helpers shared by the route modules."""

from __future__ import annotations

import unicodedata
import weakref
from typing import Any

from recommender import UnknownIdError
from service.errors import ServiceError

CADRE_HINT = (
    "该干部不在模型的训练数据中；新干部请 POST /v1/recommendations 提交档案"
    "（job_title, job_description, unit_level, system, rank, declared_needs, completed）"
)
COURSE_HINT = "课程编号来自模型训练时的课程目录（见 GET /v1/model）"
#: the Chinese word for each kind of id
ID_KIND = {"cadre": "干部", "course": "课程"}


def not_found(exc: UnknownIdError) -> ServiceError:
    """404 for an id the model does not know, with a hint on what to do instead."""
    kind = getattr(exc, "kind", "id")
    hint = CADRE_HINT if kind == "cadre" else COURSE_HINT
    value = str(getattr(exc, "value", ""))[:64]
    return ServiceError(
        404,
        f"模型中没有编号为 {value!r} 的{ID_KIND.get(kind, kind)}",
        error=f"unknown_{kind}",
        hint=hint,
        detail=[{"loc": ["path", f"{kind}_id"], "msg": "编号不存在", "type": "not_found"}],
    )


_VOCABULARY: weakref.WeakKeyDictionary[Any, tuple[dict[str, str], dict[str, str]]] = (
    weakref.WeakKeyDictionary()
)


def _norm(text: object) -> str:
    return unicodedata.normalize("NFKC", str(text or "")).replace(" ", "").strip()


def _vocabulary(model: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Ranks (training data + the rules' rank table) and systems (training data) the model
    knows, by normalised spelling; built once per loaded model."""
    found = _VOCABULARY.get(model)
    if found is None:
        ranks = [*model.cadres["rank"].dropna().unique(), *model.rules.rank_bands]
        systems = model.cadres["system"].dropna().unique()
        found = (
            {_norm(r): str(r) for r in ranks if _norm(r)},
            {_norm(s): str(s) for s in systems if _norm(s)},
        )
        _VOCABULARY[model] = found
    return found


def known_segment(model: Any, rank: str, system: str) -> tuple[str, str]:
    """``rank`` and ``system`` as the model spells them, '' for values it does not know.

    The segment (rank × unit level × system) keys request-time memos; free text the model
    never saw would only add entries (and evict warm ones) while scoring the same as
    '' after the popularity back-off, so it is mapped to '' before it reaches the model.
    """
    ranks, systems = _vocabulary(model)
    return ranks.get(_norm(rank), ""), systems.get(_norm(system), "")
