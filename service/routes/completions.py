"""Completion events from the portal: validated, persisted (fsynced) before the 2xx, idempotent."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body
from pydantic import Discriminator, Tag

from recommender.ranking.model import UnknownIdError
from service.deps import ModelDep, SettingsDep, StoreDep
from service.errors import ServiceError
from service.schemas import CompletionEvent, CompletionsResult

router = APIRouter(prefix="/v1", tags=["completions"])

MAX_EVENTS = 1000
FUTURE_SLACK = timedelta(days=1)


def _shape(value: Any) -> str:
    return "events" if isinstance(value, list) else "event"


Events = Annotated[
    Annotated[CompletionEvent, Tag("event")] | Annotated[list[CompletionEvent], Tag("events")],
    Discriminator(_shape),
]


@router.post("/completions", response_model=CompletionsResult)
def post_completions(
    body: Annotated[Events, Body(description="one event, or a list of up to 1000")],
    loaded: ModelDep,
    store: StoreDep,
    settings: SettingsDep,
) -> dict:
    """Store events; a resent event (same event_id, or same content) is a duplicate, not an error.

    Unknown cadre or course ids: with ``unknown_ids=reject`` (default) the whole batch is
    refused with 422 naming each item (nothing is stored); with ``accept`` they are stored
    and flagged in the answer (they count for training once the ids are in the data).
    """
    many = isinstance(body, list)
    events = body if many else [body]
    if many and not 1 <= len(events) <= MAX_EVENTS:
        raise ServiceError(
            422,
            f"send between 1 and {MAX_EVENTS} events per request",
            detail=[
                {
                    "loc": ["body"],
                    "msg": "wrong number of events",
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
        for col in ("enrolled_at", "completed_at"):
            when = row[col]
            if when is not None and when.tzinfo is not None:
                row[col] = when.astimezone(zone).replace(tzinfo=None)
            if row[col] is not None and row[col] > now + FUTURE_SLACK:
                problems.append(
                    {"loc": [*loc, col], "msg": f"{col} is in the future", "type": "value_error"}
                )
        unknown = _unknown_ids(loaded.model, row)
        flags.append(unknown)
        if settings.unknown_ids == "reject":
            problems += [
                {
                    "loc": [*loc, f"{kind}_id"],
                    "msg": f"unknown {kind} {row[f'{kind}_id']!r} (not in the served model)",
                    "type": "unknown_id",
                }
                for kind in unknown
            ]
        rows.append(row)
    if problems:
        where = "; ".join(".".join(map(str, p["loc"])) + ": " + p["msg"] for p in problems[:5])
        raise ServiceError(422, f"nothing stored: {where}", detail=problems)
    results = store.add(rows)
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


def _unknown_ids(model: Any, row: dict) -> list[str]:
    out = [] if model.has_cadre(row["cadre_id"]) else ["cadre"]
    try:
        model.course_index(row["course_id"])
    except UnknownIdError:
        out.append("course")
    return out
