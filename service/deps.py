"""Dependencies: the settings, the serving model (read once per request), the event store."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, Header, Request

from recommender.lifecycle.events import EventStore
from recommender.data.schema import FORMATS
from service.config import Settings
from service.errors import ServiceError, invalid
from service.holder import Loaded, ModelHolder


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


async def require_admin(
    request: Request,
    x_api_key: Annotated[str | None, Header(description="admin API key")] = None,
) -> None:
    """401 without a key, 403 with a wrong one, 403 when no key is configured."""
    settings: Settings = request.app.state.settings
    if settings.api_key is None:
        raise ServiceError(
            403, "admin API disabled: set XUANXUE_API_KEY to enable it", error="admin_disabled"
        )
    if not x_api_key:
        raise ServiceError(
            401, "missing X-API-Key header", headers={"WWW-Authenticate": "X-API-Key"}
        )
    expected = settings.api_key.get_secret_value().encode()
    if not hmac.compare_digest(x_api_key.encode("utf-8", "replace"), expected):
        raise ServiceError(403, "wrong API key")


SettingsDep = Annotated[Settings, Depends(get_settings)]
HolderDep = Annotated[ModelHolder, Depends(get_holder)]
ModelDep = Annotated[Loaded, Depends(get_loaded)]
StoreDep = Annotated[EventStore, Depends(get_store)]
AdminDep = Depends(require_admin)


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
        bad = [f for f in fmts if f not in FORMATS]
        if bad:
            raise invalid(
                (where, "format"),
                f"unknown format {bad[0][:40]!r}; use one of {', '.join(FORMATS)}",
            )
    return cats, fmts
