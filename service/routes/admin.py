"""Admin: load the newest published model (or a named version) without dropping a request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, ConfigDict, Field

from recommender import ArtifactError
from service import examples
from service.deps import AdminDep
from service.errors import ServiceError, invalid
from service.holder import VersionNotFound
from service.openapi import error_responses
from service.schemas import ReloadResult

router = APIRouter(prefix="/v1", tags=["admin"], dependencies=[AdminDep])


class ReloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str | None = Field(
        None,
        max_length=128,
        description="a version dir under the models root (rollback/pin); "
        "default: whatever `current` points at",
    )
    force: bool = Field(False, description="reload even if that version is already serving")


@router.post(
    "/admin/reload",
    response_model=ReloadResult,
    responses=error_responses(
        404,
        409,
        notes={
            404: "没有这个模型版本（`unknown_version`）",
            409: "新模型被拒绝（`model_refused`），旧模型继续服务",
        },
    ),
)
def reload_model(
    request: Request,
    body: Annotated[ReloadRequest | None, Body(openapi_examples=examples.RELOAD)] = None,
) -> dict:
    """Load, smoke-check and swap in the model; a corrupt or incompatible one is refused (409)."""
    body = body or ReloadRequest()
    try:
        result = request.app.state.reload(body.version, force=body.force)
    except VersionNotFound as exc:
        raise ServiceError(
            404, str(exc), error="unknown_version", hint="GET /v1/model 查看正在服务的版本"
        ) from None
    except ValueError as exc:
        raise invalid(("body", "version"), str(exc)) from None
    except ArtifactError as exc:
        raise ServiceError(
            409, f"新模型被拒绝，旧模型继续服务：{exc}", error="model_refused"
        ) from None
    request.state.model_version = result.loaded.version
    return {
        "model_version": result.loaded.version,
        "previous_version": result.previous_version,
        "changed": result.changed,
        "loaded_at": result.loaded.loaded_at.isoformat(),
    }
