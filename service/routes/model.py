"""What model is serving: version, when trained, data fingerprints, evaluation metrics."""

from __future__ import annotations

from fastapi import APIRouter

from service.deps import ModelDep
from service.openapi import error_responses
from service.schemas import ModelInfo

router = APIRouter(prefix="/v1", tags=["model"])

_PASSTHROUGH = (
    "format_version",
    "collaborative",
    "data",
    "evaluation",
    "weights",
    "params",
    "library_versions",
    "events_merged",
)


@router.get("/model", response_model=ModelInfo, responses=error_responses(503))
def model_info(loaded: ModelDep) -> dict:
    """The served model's metadata (from its metadata.json) and catalog size."""
    meta = loaded.model.metadata or {}
    model = loaded.model
    return {
        "model_version": loaded.version,
        "trained_at": meta.get("created_at"),
        "loaded_at": loaded.loaded_at.isoformat(),
        "artifact": loaded.path.name,
        **{key: meta[key] for key in _PASSTHROUGH if meta.get(key) is not None},
        "catalog": {
            "courses": len(model.course_ids),
            "active_courses": int(model.active.sum()),
            "cadres": len(model.cadres),
            "categories": sorted(set(model.categories)),
        },
    }
