"""The hottest route answered in plain ASGI: ``GET /v1/cadres/{cadre_id}/recommendations``.

FastAPI's dependency solving and query parsing for this route cost more than the rest of
the framework together (~0.25 ms a request: nine parameters and four dependencies, each
re-inspected per request). This layer sits inside :class:`service.middleware.ServiceMiddleware`
(so the Host allow-list, API keys, rate limits, header and body limits, X-Model-Version,
nosniff/no-store, metrics and logs are the same) and answers the plain form of the request
itself: ``k``, ``explain``, ``include_completed`` and ``include_compulsory`` written in their
simple spellings. Anything else — filters, another spelling, a repeated or unknown
parameter, an out-of-range ``k``, an unknown cadre or 身份证号, no model or no event store —
falls through to the FastAPI route, which gives the documented answer or error. The answer
is the route's own: same body, same headers (tests/test_fastpath.py compares them).
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote_plus

from starlette.types import ASGIApp, Receive, Scope, Send

from recommender import CadreLookup, IdentityError, UnknownIdError, cadre_lookup
from service.deps import read_events_async
from service.responses import FastJSON, ranked_payload

PATH = re.compile(r"^/v1/cadres/([^/]{1,64})/recommendations$")
#: what the middleware's metrics and logs read from ``scope["route"]``: the route template
ROUTE = SimpleNamespace(path="/v1/cadres/{cadre_id}/recommendations")
_K = re.compile(r"^[1-9][0-9]{0,5}$")
_BOOLS = {"true": True, "false": False, "1": True, "0": False}
_FLAGS = ("explain", "include_completed", "include_compulsory")


def _query(raw: bytes) -> dict[str, str] | None:
    """The simple form's parameters, or None when the FastAPI route must parse them."""
    out: dict[str, str] = {}
    if not raw:
        return out
    for part in raw.split(b"&"):
        name, eq, value = part.partition(b"=")
        key = name.decode("latin-1")
        if not eq or key in out or (key != "k" and key not in _FLAGS):
            return None
        out[key] = unquote_plus(value.decode("latin-1"))
    return out


class HotRoutes:
    """Answers the plain known-cadre recommendation request; everything else goes on."""

    def __init__(self, app: ASGIApp, *, service: Any) -> None:
        self.app, self.service = app, service  # the FastAPI app (its state)
        service.state.hot_routes = self
        self.served = 0  # how many requests this layer answered (tests, diagnostics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not await self._answer(scope, send)
        ):
            await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, send: Send) -> bool:
        match = PATH.match(scope["path"])
        if match is None:
            return False
        params = _query(scope.get("query_string", b""))
        state = self.service.state
        loaded, store = state.holder.current, state.store
        if params is None or loaded is None or store is None:
            return False
        k = params.get("k", "10")
        flags = {
            name: _BOOLS.get(params.get(name, "").lower()) for name in _FLAGS if name in params
        }
        if not _K.match(k) or int(k) > state.settings.max_k or None in flags.values():
            return False
        model, query = loaded.model, match.group(1)
        lookup: CadreLookup = cadre_lookup(model, state.id_secret, state.id_secret_problem)
        try:
            cadre_id = lookup.resolve(query)
        except IdentityError:
            return False
        if not model.has_cadre(cadre_id):
            return False  # the route's 404 (unknown cadre or 身份证号)
        events = await read_events_async(store, cadre_id)
        try:
            items = model.recommend(
                cadre_id,
                int(k),
                include_completed=flags.get("include_completed", False),
                include_compulsory=flags.get("include_compulsory", False),
                explain=flags.get("explain", True),
                events=events,
            )
        except UnknownIdError:
            return False
        body = FastJSON(ranked_payload(loaded.version, cadre_id, items)).body
        scope.setdefault("state", {})["model_version"] = loaded.version
        scope["route"] = ROUTE
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(body)).encode()),
                    (b"content-type", b"application/json"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        self.served += 1
        return True
