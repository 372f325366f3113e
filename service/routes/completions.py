"""Completion events from the portal: validated, persisted (durable) before the 2xx, idempotent.

The rules live in the library (``recommender.lifecycle.events``), so the CLI and the service
agree: a resend with the same ``event_id`` and content is a duplicate, with different content
a 409 naming the fields; impossible times are a 422 naming the field. The store call blocks
(fsync, or a PostgreSQL commit), so the route is a plain ``def`` run in the thread pool.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Request
from pydantic import Discriminator, Tag

from recommender import (
    EventConflictError,
    EventStoreUnavailable,
    EventValidationError,
    UnknownIdError,
    validate_events,
)
from service import examples
from service.deps import ModelDep, SettingsDep, StoreDep, store_unavailable
from service.errors import ID_KIND, ServiceError
from service.identity import event_cadre
from service.openapi import error_responses
from service.schemas import CompletionEvent, CompletionsResult

router = APIRouter(prefix="/v1", tags=["completions"])

MAX_EVENTS = 1000


def _shape(value: Any) -> str:
    return "events" if isinstance(value, list) else "event"


Events = Annotated[
    Annotated[CompletionEvent, Tag("event")] | Annotated[list[CompletionEvent], Tag("events")],
    Discriminator(_shape),
]


@router.post(
    "/completions",
    response_model=CompletionsResult,
    responses=error_responses(
        409,
        503,
        notes={
            409: "同一 event_id 重发了不同内容（`event_conflict`，`detail[].loc` 指出字段），"
            "整批未保存",
            503: "尚未加载模型（`model_not_loaded`），或事件库不可用（`events_unavailable`）："
            "整批未保存，稍后原样重发",
        },
    ),
)
def post_completions(
    body: Annotated[
        Events,
        Body(
            description="one event, or a list of up to 1000", openapi_examples=examples.COMPLETIONS
        ),
    ],
    loaded: ModelDep,
    store: StoreDep,
    settings: SettingsDep,
    request: Request,
) -> dict:
    """Store events; a resent event (same event_id, or same content) is a duplicate, not an
    error; the same event_id with different content is a 409 naming the differing fields.

    Unknown cadre or course ids: with ``unknown_ids=reject`` (default) the whole batch is
    refused with 422 naming each item (nothing is stored); with ``accept`` they are stored
    and flagged in the answer (they count for training once the ids are in the data).
    A full 身份证号 as ``cadre_id`` is stored as its keyed hash (never as typed).
    """
    many = isinstance(body, list)
    events = body if many else [body]
    if many and not 1 <= len(events) <= MAX_EVENTS:
        raise ServiceError(
            422,
            f"每次请发送 1 到 {MAX_EVENTS} 条事件",
            detail=[
                {
                    "loc": ["body"],
                    "msg": f"应为 1 到 {MAX_EVENTS} 条",
                    "type": "too_long" if events else "too_short",
                }
            ],
        )
    zone = ZoneInfo(settings.timezone)
    now = datetime.now(zone).replace(tzinfo=None)
    rows, problems, flags = [], [], []
    for i, event in enumerate(events):
        loc = ["body", "events", i] if many else ["body"]
        row = event.model_dump()
        row["cadre_id"], why = event_cadre(request, loaded.model, row["cadre_id"])
        if why:  # a 身份证号 with no secret to hash it: never stored as typed
            problems.append({"loc": [*loc, "cadre_id"], "msg": why, "type": "unknown_id"})
            row["cadre_id"] = "-"
        for col in ("enrolled_at", "completed_at"):
            when = row[col]
            if when is not None and when.tzinfo is not None:
                row[col] = when.astimezone(zone).replace(tzinfo=None)
        unknown = [u for u in _unknown_ids(loaded.model, row) if not (why and u == "cadre")]
        flags.append(unknown)
        if settings.unknown_ids == "reject":
            problems += [
                {
                    "loc": [*loc, f"{kind}_id"],
                    "msg": f"当前模型中没有编号为 {row[f'{kind}_id']!r} 的{ID_KIND[kind]}",
                    "type": "unknown_id",
                }
                for kind in unknown
            ]
        rows.append(row)
    try:
        validate_events(rows, now=now, clock_skew=store.clock_skew)
    except EventValidationError as exc:
        problems += [_detail(p, many) for p in exc.problems]
    if problems:
        where = "; ".join(".".join(map(str, p["loc"])) + ": " + p["msg"] for p in problems[:5])
        raise ServiceError(422, f"整批未保存：{where}", detail=problems)
    try:
        results = store.add(rows, now=now)
    except EventConflictError as exc:
        raise _conflict(exc, many) from None
    except EventValidationError as exc:  # the same rules, should the clock have moved on
        raise ServiceError(422, str(exc), detail=[_detail(p, many) for p in exc.problems]) from None
    except EventStoreUnavailable as exc:
        raise store_unavailable(exc) from None
    out = [
        {
            "index": i,
            "event_id": eid,
            "status": "stored" if new else "duplicate",
            "flags": [f"unknown_{kind}" for kind in flags[i]],
        }
        for i, (eid, new) in enumerate(results)
    ]
    stored = sum(new for _, new in results)
    return {
        "model_version": loaded.version,
        "received": len(rows),
        "stored": stored,
        "duplicates": len(rows) - stored,
        "flagged": sum(bool(f) for f in flags),
        "events": out,
    }


def _loc(index: int, field: str, many: bool) -> list[str | int]:
    return ["body", "events", index, field] if many else ["body", field]


def _detail(problem: dict, many: bool) -> dict:
    return {
        "loc": _loc(problem["index"], problem["field"], many),
        "msg": f"{problem['field']}: {problem['message']}",
        "type": problem["code"],
    }


def _conflict(exc: EventConflictError, many: bool) -> ServiceError:
    detail = [
        {
            "loc": _loc(c["index"], field, many),
            "msg": f"event_id {c['event_id']!r} 已保存，{field} 的值不同",
            "type": "event_conflict",
        }
        for c in exc.conflicts
        for field in c["fields"]
    ]
    return ServiceError(
        409,
        str(exc),
        error="event_conflict",
        detail=detail,
        hint="同一事件请原样重发；内容不同的事件请使用新的 event_id",
    )


def _unknown_ids(model: Any, row: dict) -> list[str]:
    out = [] if model.has_cadre(row["cadre_id"]) else ["cadre"]
    try:
        model.course_index(row["course_id"])
    except UnknownIdError:
        out.append("course")
    return out
