"""Pre-serialised JSON for the hot endpoints.

FastAPI validates a returned dict against the ``response_model`` and then serialises it;
for the recommendation endpoints the payload is built by our own code from typed values,
so that second validation is pure overhead (about a third of the framework's time per
request). These endpoints return :class:`FastJSON` instead: the ``response_model`` still
documents the shape in OpenAPI, and the tests check real responses against it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.responses import Response

if TYPE_CHECKING:
    from recommender import Ranked


class FastJSON(Response):
    """``application/json`` rendered by orjson (UTF-8, Chinese kept as is)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def ranked_payload(version: str, cadre_id: str | None, items: Ranked) -> dict[str, Any]:
    """The body of a recommendation list (``Recommendations``): the FastAPI routes and the
    plain-ASGI answer of :mod:`service.fastpath` build it here, so their bytes agree."""
    return {
        "model_version": version,
        "cadre_id": cadre_id,
        "count": len(items),
        "items": [r.to_dict() for r in items],
        "shortfall": items.shortfall_dict(),
    }
