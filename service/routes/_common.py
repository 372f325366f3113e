"""Small helpers shared by the route modules."""

from __future__ import annotations

from recommender.ranking.model import UnknownIdError
from service.errors import ServiceError

CADRE_HINT = (
    "this cadre is not in the model's training data; for a new cadre POST /v1/recommendations "
    "with a profile (job_title, job_description, unit_level, system, rank, declared_needs, "
    "completed)"
)
COURSE_HINT = "course ids come from the catalog the model was trained on (see GET /v1/model)"


def not_found(exc: UnknownIdError) -> ServiceError:
    """404 for an id the model does not know, with a hint on what to do instead."""
    kind = getattr(exc, "kind", "id")
    hint = CADRE_HINT if kind == "cadre" else COURSE_HINT
    value = str(getattr(exc, "value", ""))[:64]
    return ServiceError(
        404,
        f"unknown {kind} {value!r}",
        error=f"unknown_{kind}",
        hint=hint,
        detail=[{"loc": ["path", f"{kind}_id"], "msg": f"unknown {kind}", "type": "not_found"}],
    )
