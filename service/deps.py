"""Dependencies: the settings, the serving model (read once per request), the event store,
and the API-key checks other modules call (:func:`check_key`, :func:`check_request`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Annotated

import pandas as pd
from fastapi import Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from recommender import FORMATS, BaseEventStore, EventStoreUnavailable, scopes_grant
from service import examples
from service.auth import Authenticator, token_of
from service.config import Settings
from service.errors import ServiceError, invalid
from service.holder import Loaded
from service.schemas import canonical_enum

log = logging.getLogger(__name__)


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_loaded(request: Request) -> Loaded:
    """The model for this whole request: one read of the holder, so a swap can't split it."""
    loaded = request.app.state.holder.current
    if loaded is None:
        raise ServiceError(
            503,
            "尚未加载模型，服务暂不可用",
            error="model_not_loaded",
            hint="用 `recommender train` 发布模型，再 POST /v1/admin/reload",
            headers={"Retry-After": "5"},
        )
    request.state.model_version = loaded.version
    return loaded


async def get_store(request: Request) -> BaseEventStore:
    store = getattr(request.app.state, "store", None)
    if store is None:
        raise ServiceError(
            503,
            "事件库尚未打开（服务正在启动）",
            error="events_unavailable",
            headers={"Retry-After": "5"},
        )
    return store


def store_unavailable(exc: EventStoreUnavailable) -> ServiceError:
    """503 for a write the event store could not take (nothing was stored)."""
    return ServiceError(
        503,
        f"事件库不可用，整批未保存：{exc}",
        error="events_unavailable",
        hint="事件未保存，请稍后重发（同一 event_id 重发不会重复保存）",
        headers={"Retry-After": "5"},
    )


def read_events(store: BaseEventStore, cadre_id: str) -> pd.DataFrame | None:
    """A cadre's recent events for a read; blocking (call it from a thread). With the store
    down, reads degrade to the model's history alone rather than failing."""
    try:
        return store.for_cadre(cadre_id)
    except EventStoreUnavailable as exc:
        log.warning("event store unavailable, answering without new events: %s", exc)
        return None


async def read_events_async(store: BaseEventStore, cadre_id: str) -> pd.DataFrame | None:
    """:func:`read_events` for a request: SQLite (WAL: a reader never waits for a writer)
    answers an indexed read in tens of microseconds, on the event loop; PostgreSQL waits on
    the network, in a worker thread. (Handing every read to a thread cost a thread switch
    per request: under CPU contention, milliseconds of waiting to be scheduled.)"""
    if store.backend == "sqlite":
        return read_events(store, cadre_id)
    return await run_in_threadpool(read_events, store, cadre_id)


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
ModelDep = Annotated[Loaded, Depends(get_loaded)]
StoreDep = Annotated[BaseEventStore, Depends(get_store)]
AdminDep = Depends(require_scope("admin"))


#: path parameters naming a cadre or a course (the examples are sample ids)
CadreId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        description="干部编号，或完整身份证号（服务用身份标识密钥散列后查找；响应只给散列编号）",
        openapi_examples=examples.CADRE_ID,
    ),
]
CourseId = Annotated[
    str,
    Path(min_length=1, max_length=64, description="课程编号", openapi_examples=examples.COURSE_ID),
]
#: the ``k`` query parameter of the list endpoints (:func:`check_k` applies ``max_k``)
KQuery = Annotated[
    int,
    Query(
        ge=1,
        description="how many courses (at most max_k: 100 unless configured)",
        openapi_examples=examples.K,
    ),
]


def check_k(k: int, settings: Settings, loc: Sequence[str | int] = ("query", "k")) -> int:
    if k > settings.max_k:
        raise invalid(loc, f"不能大于 {settings.max_k}（本服务的 max_k）", "less_than_equal")
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
                f"未知课程类别 {bad[0][:40]!r}；目录中的类别：{'、'.join(sorted(known))}",
            )
    if fmts:
        fmts = [str(canonical_enum(f)) for f in fmts]  # 视频 → video, as the loader does
        bad = [f for f in fmts if f not in FORMATS]
        if bad:
            raise invalid(
                (where, "format"),
                f"未知课程形式 {bad[0][:40]!r}；可用：{', '.join(FORMATS)}（或视频、微课等中文）",
            )
    return cats, fmts
