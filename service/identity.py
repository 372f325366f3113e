"""Cadres looked up by the full 身份证号: the service's identity secret, read once, and the
dependency every ``{cadre_id}`` route resolves its path through.

A portal may send ``/v1/cadres/429125197710213272/recommendations``: the number is hashed
with the deployment's secret (:class:`recommender.CadreLookup`) before anything else sees it,
so responses, events, error messages and logs carry the hashed id (``pid_…``) or the masked
form (``4291**********3272``), never the number. The access log records the route template.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Request

from recommender import CadreLookup, IdentityError, cadre_lookup, configured_secret
from service.config import Settings
from service.deps import CadreId, ModelDep
from service.errors import ServiceError

log = logging.getLogger(__name__)


def read_secret(settings: Settings) -> tuple[bytes | None, str | None]:
    """(secret, None) or (None, why): ``id_secret``, else the file ``id_secret_file``, else
    the default file of the machine (``~/.config/xuanxue/identity.key``)."""
    value = settings.id_secret.get_secret_value() if settings.id_secret else None
    return configured_secret(value, settings.id_secret_file)


def lookup_of(request: Request, model) -> CadreLookup:
    """The look-up of ``model`` under the secret read when the app was created."""
    state = request.app.state
    if not hasattr(state, "id_secret"):  # an app built without create_app's wiring
        state.id_secret, state.id_secret_problem = read_secret(state.settings)
    return cadre_lookup(model, state.id_secret, state.id_secret_problem)


def warn_if_mismatched(app, model) -> str | None:
    """Log (in Chinese) when this model's 身份证号 look-ups cannot work under the service's
    secret; returns the warning (None when all is well)."""
    state = app.state
    lookup = cadre_lookup(model, state.id_secret, state.id_secret_problem)
    if lookup.problem:
        log.warning("模型 %s：%s", model.version, lookup.problem)
    return lookup.problem


def resolve(request: Request, model, query: str, loc: tuple[str, ...]) -> str:
    """The cadre id for ``query``; a 身份证号 the model does not know is a 404 naming it
    masked (with the secret problem as the hint, when there is one)."""
    lookup = lookup_of(request, model)
    try:
        cadre_id = lookup.resolve(query)
    except IdentityError as exc:
        raise ServiceError(
            404,
            str(exc),
            error="unknown_cadre",
            hint=lookup.problem or "",
            detail=[{"loc": list(loc), "msg": "无法按身份证号查找", "type": "not_found"}],
        ) from None
    if cadre_id != query.strip() and not model.has_cadre(cadre_id):
        message, hint = lookup.unknown_message(query)
        raise ServiceError(
            404,
            message,
            error="unknown_cadre",
            hint=hint,
            detail=[{"loc": list(loc), "msg": "身份证号不存在", "type": "not_found"}],
        )
    return cadre_id


async def cadre_ref(cadre_id: CadreId, loaded: ModelDep, request: Request) -> str:
    """The ``{cadre_id}`` path parameter as the model knows it (a 身份证号 hashed)."""
    return resolve(request, loaded.model, cadre_id, ("path", "cadre_id"))


#: a ``{cadre_id}`` path parameter, resolved: use it in place of :data:`service.deps.CadreId`
CadreRef = Annotated[str, Depends(cadre_ref)]


def event_cadre(request: Request, model, value: str) -> tuple[str, str | None]:
    """(cadre id to store, problem) for the ``cadre_id`` of a posted event: a 身份证号 is
    stored as its keyed hash (known to the model or not); without a secret it cannot be
    stored at all, and the problem (masked) says so."""
    lookup = lookup_of(request, model)
    try:
        return lookup.resolve(value), None
    except IdentityError as exc:
        return "", str(exc)
