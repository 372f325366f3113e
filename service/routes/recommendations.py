"""Ranked courses: for a known cadre (GET) or for a profile sent in the body (POST).

The known-cadre handlers are ``async``: ranking is about a millisecond of numpy on the event
loop, cheaper than handing it to a worker thread; the event-store read of PostgreSQL, which waits on
the network, goes to the thread pool (SQLite in WAL mode answers on the loop). A profile of
ordinary length (≤ ``INLINE_PROFILE_CHARS`` characters of free text) is ranked on the event
loop too; a longer one in the thread pool: tokenising it costs tens of milliseconds of CPU,
which on the event loop would stall every other connection (``/healthz`` included), as would
the menu endpoint, which solves an optimisation.
"""

from __future__ import annotations

import functools
from typing import Annotated

from fastapi import APIRouter, Body, Query
from starlette.concurrency import run_in_threadpool

from service import examples
from service.deps import (
    KQuery,
    ModelDep,
    SettingsDep,
    StoreDep,
    check_filters,
    check_k,
    read_events_async,
)
from service.identity import CadreRef
from service.openapi import error_responses
from service.responses import FastJSON, ranked_payload
from service.routes._common import known_segment
from service.schemas import CompulsoryCourses, ProfileRequest, Recommendations

router = APIRouter(prefix="/v1", tags=["recommendations"])

UNKNOWN_CADRE = {404: "模型不认识的干部（`unknown_cadre`）；新干部请用 POST /v1/recommendations"}


@router.get(
    "/cadres/{cadre_id}/recommendations",
    response_model=Recommendations,
    responses=error_responses(404, 503, notes=UNKNOWN_CADRE),
)
async def cadre_recommendations(
    cadre_id: CadreRef,
    loaded: ModelDep,
    store: StoreDep,
    settings: SettingsDep,
    k: KQuery = 10,
    category: Annotated[
        list[str] | None,
        Query(
            max_length=200,
            description="课程类别 (as in GET /v1/model `catalog.categories`); repeat or "
            "comma-separate",
            openapi_examples=examples.CATEGORY,
        ),
    ] = None,
    format: Annotated[
        list[str] | None,
        Query(
            max_length=200,
            description="课程形式: video, micro, article, live, face_to_face, special_class, "
            "or as the loader spells them in Chinese (视频、微课、图文、直播、面授、专题班…)",
            openapi_examples=examples.FORMAT,
        ),
    ] = None,
    include_completed: bool = False,
    include_compulsory: Annotated[
        bool, Query(description="also list compulsory courses (default: electives only)")
    ] = False,
    explain: bool = True,
) -> FastJSON:
    """Top-k courses for a cadre the model knows; completions posted since training count."""
    check_k(k, settings)
    cats, fmts = check_filters(loaded, category, format)
    events = await read_events_async(store, cadre_id)  # a thread: the store may block
    items = loaded.model.recommend(  # an unknown cadre is a 404 (service.errors)
        cadre_id,
        k,
        category=cats,
        format=fmts,
        include_completed=include_completed,
        include_compulsory=include_compulsory,
        explain=explain,
        events=events,
    )
    return FastJSON(ranked_payload(loaded.version, cadre_id, items))


#: profiles whose free text is at most this many characters are ranked on the event loop
#: (a few milliseconds, like a known cadre's request); longer ones go to a worker thread
INLINE_PROFILE_CHARS = 1000


@router.post("/recommendations", response_model=Recommendations, responses=error_responses(503))
async def profile_recommendations(
    body: Annotated[ProfileRequest, Body(openapi_examples=examples.PROFILE)],
    loaded: ModelDep,
    settings: SettingsDep,
) -> FastJSON:
    """Top-k courses for a cadre the model has never seen (cold start), from their profile."""
    check_k(body.k, settings, ("body", "k"))
    cats, fmts = check_filters(loaded, body.category, body.format, where="body")
    profile = body.profile()
    profile["rank"], profile["system"] = known_segment(loaded.model, body.rank, body.system)
    rank = functools.partial(
        loaded.model.recommend_profile,
        profile,
        body.k,
        completed=body.completed,
        category=cats,
        format=fmts,
        include_compulsory=body.include_compulsory,
        explain=body.explain,
    )
    text = len(body.job_title) + len(body.job_description) + len(body.declared_needs)
    # a thread switch per request costs milliseconds of waiting under CPU contention; a long
    # text's tokenising (tens of ms) would stall every other connection on the event loop
    items = rank() if text <= INLINE_PROFILE_CHARS else await run_in_threadpool(rank)
    return FastJSON(ranked_payload(loaded.version, None, items))


@router.get(
    "/cadres/{cadre_id}/compulsory",
    response_model=CompulsoryCourses,
    responses=error_responses(404, 503, notes=UNKNOWN_CADRE),
)
async def cadre_compulsory(cadre_id: CadreRef, loaded: ModelDep, store: StoreDep) -> FastJSON:
    """The cadre's compulsory courses (必修) with their status; recommendation lists leave
    them out, the menu places them first."""
    events = await read_events_async(store, cadre_id)
    items = loaded.model.compulsory_courses(cadre_id, events=events)
    return FastJSON(
        {
            "model_version": loaded.version,
            "cadre_id": cadre_id,
            "count": len(items),
            "items": items,
        }
    )
