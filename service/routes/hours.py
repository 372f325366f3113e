"""A cadre's 学时档案: the year's 学时 by category and format against the targets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from recommender import hours_record
from service.deps import ModelDep, StoreDep, read_events
from service.identity import CadreRef
from service.openapi import error_responses
from service.schemas import HoursRecord

router = APIRouter(prefix="/v1", tags=["hours"])


@router.get(
    "/cadres/{cadre_id}/hours",
    response_model=HoursRecord,
    responses=error_responses(404, 503, notes={404: "模型不认识的干部（`unknown_cadre`）"}),
)
def cadre_hours(
    cadre_id: CadreRef,
    loaded: ModelDep,
    store: StoreDep,
    year: Annotated[
        int | None,
        Query(ge=2000, le=2100, description="年度（默认：今年）"),
    ] = None,
) -> dict:
    """学时档案: 学时 earned in the year (training records, courses outside the catalog and
    completions posted since training), by category and format, against the annual target,
    the centralised/online split and the category minimums of the training rules."""
    # an unknown cadre is a 404 (the UnknownIdError handler in service.errors)
    record = hours_record(
        loaded.model,
        cadre_id,
        year,
        events=read_events(store, cadre_id),  # a sync route: already off the loop
    )
    return {"model_version": loaded.version, **record.to_dict()}
