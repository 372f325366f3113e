"""Dependencies: the settings, the serving model (read once per request), the event store,
and the API-key checks other modules call (:func:`check_key`, :func:`check_request`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, Request

from recommender import FORMATS, scopes_grant
from recommender.lifecycle.events import EventStore
from service.auth import Authenticator, token_of
from service.config import Settings
from service.errors import ServiceError, invalid
from service.holder import Loaded, ModelHolder
from service.schemas import canonical_enum


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_holder(request: Request) -> ModelHolder:
    return request.app.state.holder


async def get_loaded(request: Request) -> Loaded:
    """The model for this whole request: one read of the holder, so a swap can't split it."""
    loaded = request.app.state.holder.current
    if loaded is None:
        raise ServiceError(
            503,
            "no model is loaded yet",
            error="model_not_loaded",
            hint="publish one with `recommender train` and POST /v1/admin/reload",
            headers={"Retry-After": "5"},
        )
    request.state.model_version = loaded.version
    return loaded


async def get_store(request: Request) -> EventStore:
    store = getattr(request.app.state, "store", None)
    if store is None:
        raise ServiceError(
            503, "the event store is not open (service starting)", headers={"Retry-After": "5"}
        )
    return store


def _authenticator(request: Request) -> Authenticator:
    auth = getattr(request.app.state, "auth", None)
    if auth is None:  # an app built without create_app's wiring
        auth = request.app.state.auth = Authenticator(request.app.state.settings)
    return auth


def check_key(key: str | None, scope: str, request: Request | None = None) -> bool:
    """True when ``key`` is an active API key granting ``scope`` (read < write < admin).

    For callers that authenticate on their own (the staff console): pass the request to use
    the app's settings and key cache; without it the ``XUANXUE_*`` environment is used.
    """
    if request is not None:
        return _authenticator(request).check_key(key, scope)
    return Authenticator(Settings()).check_key(key, scope)


def check_request(request: Request, scope: str) -> str:
    """The caller's key name (or ``(本机)``) when the request may use ``scope``; else the
    401/403/503 the middleware would give. Also applies the loopback rule for reads."""
    decision = _authenticator(request).decide(
        scope, token_of(request.headers.raw), request.client.host if request.client else None
    )
    if not decision.allowed:
        raise ServiceError(
            decision.status,
            decision.message,
            error=decision.error,
            hint=decision.hint,
            headers=decision.headers,
        )
    return decision.who or ""


def require_scope(scope: str):
    """A dependency re-checking, after routing, what the middleware decided from the path
    (defence in depth: a route whose scope the path table got wrong still refuses)."""

    async def dependency(request: Request) -> None:
        granted = (request.scope.get("state") or {}).get("auth")
        if granted is None or not scopes_grant(granted[1], scope):
            check_request(request, scope)

    return dependency


SettingsDep = Annotated[Settings, Depends(get_settings)]
HolderDep = Annotated[ModelHolder, Depends(get_holder)]
ModelDep = Annotated[Loaded, Depends(get_loaded)]
StoreDep = Annotated[EventStore, Depends(get_store)]
AdminDep = Depends(require_scope("admin"))


def check_k(k: int, settings: Settings, loc: Sequence[str | int] = ("query", "k")) -> int:
    if k > settings.max_k:
        raise invalid(
            loc, f"Input should be less than or equal to {settings.max_k}", "less_than_equal"
        )
    return k


def split_values(values: Sequence[str] | None) -> list[str] | None:
    """Repeated and comma-separated values (``?category=a&category=b`` or ``a,b``)."""
    if not values:
        return None
    out = [v.strip() for raw in values for v in raw.split(",") if v.strip()]
    return out or None


def check_filters(
    loaded: Loaded,
    category: Sequence[str] | None,
    fmt: Sequence[str] | None,
    where: str = "query",
) -> tuple[list[str] | None, list[str] | None]:
    """Categories must exist in the served catalog, formats in the contract (else 422)."""
    cats, fmts = split_values(category), split_values(fmt)
    if cats:
        known = set(loaded.model.categories)
        bad = [c for c in cats if c not in known]
        if bad:
            raise invalid(
                (where, "category"),
                f"unknown category {bad[0][:40]!r}; the catalog has: {'、'.join(sorted(known))}",
            )
    if fmts:
        fmts = [str(canonical_enum(f)) for f in fmts]  # 视频 → video, as the loader does
        bad = [f for f in fmts if f not in FORMATS]
        if bad:
            raise invalid(
                (where, "format"),
                f"unknown format {bad[0][:40]!r}; use one of {', '.join(FORMATS)}",
            )
    return cats, fmts
