"""A cadre's personal course menu for a year, under constraints."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from recommender import plan_menu
from service import examples
from service.deps import ModelDep, StoreDep, read_events
from service.errors import invalid
from service.identity import CadreRef
from service.openapi import error_responses
from service.schemas import Menu, MenuRequest

router = APIRouter(prefix="/v1", tags=["menus"])


@router.post(
    "/cadres/{cadre_id}/menu",
    response_model=Menu,
    responses=error_responses(404, 503, notes={404: "模型不认识的干部（`unknown_cadre`）"}),
)
def cadre_menu(
    cadre_id: CadreRef,
    loaded: ModelDep,
    store: StoreDep,
    body: Annotated[MenuRequest | None, Body(openapi_examples=examples.MENU)] = None,
) -> dict:
    """Courses chosen and scheduled for the year; `unmet` says what could not be met and why."""
    body = body or MenuRequest()
    unknown = _unknown_groups(body.category_minimums or {}, loaded.model)
    if unknown:
        raise invalid(("body", "category_minimums"), f"未知课程类别 {sorted(unknown)[0][:40]!r}")
    # an unknown cadre (404) and a refused request (MenuError, 422 naming its field) are
    # answered by the handlers in service.errors
    menu = plan_menu(
        loaded.model,
        cadre_id,
        events=read_events(store, cadre_id),  # a sync route: already off the loop
        **body.model_dump(exclude_none=True),
    )
    return {"model_version": loaded.version, **menu.to_dict()}


def _unknown_groups(minimums: dict[str, float], model) -> list[str]:
    """Category-minimum keys naming neither a catalog category nor a rule group one maps to
    (a key may join several with '+', e.g. 政治理论+党性教育)."""
    rules = model.rules
    known = set(model.categories) | {rules.rule_group(c) for c in model.categories}
    return sorted(p for key in minimums for p in key.split("+") if p not in known)
