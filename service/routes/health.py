"""Liveness, readiness and Prometheus metrics (unversioned paths, for orchestrators)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from service.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz(request: Request) -> dict:
    """The process answers (no model needed)."""
    return {"status": "ok", "model_version": request.app.state.holder.version}


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(request: Request) -> JSONResponse:
    """200 once a model is loaded and the event store is open; 503 before."""
    holder = request.app.state.holder
    if holder.current is None or getattr(request.app.state, "store", None) is None:
        reason = holder.last_error or "model not loaded yet"
        return JSONResponse(
            {"status": "not_ready", "model_version": None, "reason": reason}, status_code=503
        )
    return JSONResponse({"status": "ready", "model_version": holder.version})


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    body, content_type = request.app.state.metrics.render()
    return Response(body, media_type=content_type)
