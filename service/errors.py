"""One error shape for every failure: ``{"error", "message", "detail", "hint", "model_version"}``.

``error`` is a stable machine code, ``message`` a sentence for people, ``detail`` a list of
``{"loc", "msg", "type"}`` naming the offending field (``loc`` as in FastAPI, e.g.
``["query", "k"]`` or ``["body", "events", 3, "enrolled_at"]``). Input values are never
echoed back (they may be profile text or megabytes long).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    431: "request_header_fields_too_large",
    422: "validation_error",
    500: "internal_error",
    503: "unavailable",
}


class ServiceError(Exception):
    """An error the service answers on purpose, with a status and the shared shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error: str | None = None,
        detail: Sequence[dict[str, Any]] = (),
        hint: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.error = error or _CODES.get(status, "error")
        self.detail, self.hint, self.headers = list(detail), hint, headers


def invalid(loc: Sequence[str | int], msg: str, type_: str = "value_error") -> ServiceError:
    """A 422 naming one field."""
    where = ".".join(str(p) for p in loc)
    return ServiceError(
        422, f"{where}: {msg}", detail=[{"loc": list(loc), "msg": msg, "type": type_}]
    )


def model_version_of(request_or_scope: Any) -> str | None:
    """The version that answered this request (or the one serving now)."""
    scope = request_or_scope.scope if hasattr(request_or_scope, "scope") else request_or_scope
    version = (scope.get("state") or {}).get("model_version")
    if version:
        return version
    holder = getattr(scope["app"].state, "holder", None) if "app" in scope else None
    return holder.version if holder else None


def error_body(
    scope_or_request: Any,
    status: int,
    message: str,
    *,
    error: str | None = None,
    detail: Sequence[dict[str, Any]] = (),
    hint: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "error": error or _CODES.get(status, "error"),
        "message": message,
        "detail": list(detail),
        "model_version": model_version_of(scope_or_request),
    }
    if hint:
        body["hint"] = hint
    return body


def _clean(errors: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "loc": list(e.get("loc", ())),
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in errors
    ]


async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
    body = error_body(
        request, exc.status, exc.message, error=exc.error, detail=exc.detail, hint=exc.hint
    )
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    detail = _clean(exc.errors())
    shown = "; ".join(".".join(str(p) for p in d["loc"]) + ": " + d["msg"] for d in detail[:5])
    more = f" (+{len(detail) - 5} more)" if len(detail) > 5 else ""
    body = error_body(request, 422, f"invalid request: {shown}{more}", detail=detail)
    return JSONResponse(body, status_code=422)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else _CODES.get(exc.status_code, "error")
    status, detail = exc.status_code, []
    if status == 404 and message == "Not Found":
        message = f"no endpoint {request.method} {request.url.path}; see /docs"
    elif status == 400 and "parsing the body" in message:  # e.g. bytes that are not UTF-8
        status, message = 422, "body: not valid JSON (send UTF-8 encoded JSON)"
        detail = [{"loc": ["body"], "msg": "JSON decode error", "type": "json_invalid"}]
    body = error_body(request, status, message, detail=detail)
    return JSONResponse(body, status_code=status, headers=getattr(exc, "headers", None))


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the shared shape."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


# ------------------------------------------------------------------- OpenAPI
class ErrorDetail(BaseModel):
    loc: list[str | int] = Field(examples=[["body", "events", 3, "enrolled_at"]])
    msg: str
    type: str


class ErrorBody(BaseModel):
    """The shape of every error response."""

    error: str = Field(description="stable machine code", examples=["insufficient_scope"])
    message: str = Field(description="for people (Chinese or English)")
    detail: list[ErrorDetail] = []
    hint: str | None = Field(None, description="what to do instead, when there is something")
    model_version: str | None = None


_DOCUMENTED = {
    401: "no API key where one is needed (`error: unauthorized`)",
    403: "wrong key (`invalid_api_key`), a key without this scope (`insufficient_scope`), "
    "or no key configured yet (`no_keys_configured`)",
    413: "body over the limit (64 KB; 1 MiB for POST /v1/completions)",
    422: "invalid input; `detail[].loc` names the field",
}
_SECURITY = {
    "ApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "a key from `recommender keys add NAME --scopes read|write|admin`; "
        "admin ⊇ write ⊇ read",
    },
    "Bearer": {"type": "http", "scheme": "bearer", "description": "the same key"},
}


def install_openapi(app: FastAPI, scope_of: Callable[[str], str | None]) -> None:
    """Document the error shape, the API-key schemes and each operation's scope and errors."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {})
        shape = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas = components.setdefault("schemas", {})
        schemas.update(shape.pop("$defs", {}))
        schemas["Error"] = shape
        components["securitySchemes"] = _SECURITY
        ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for path, operations in schema.get("paths", {}).items():
            scope = scope_of(path)
            for method, op in operations.items():
                responses = op.setdefault("responses", {})
                statuses = [401, 403] if scope else []
                if method in ("post", "put", "patch"):
                    statuses.append(413)
                if "422" in responses:
                    statuses.append(422)
                for status in statuses:
                    responses[str(status)] = {"description": _DOCUMENTED[status], "content": ref}
                op["security"] = [{"ApiKey": []}, {"Bearer": []}] if scope else []
                if scope:
                    note = f"**API key scope: `{scope}`**"
                    op["description"] = f"{op.get('description', '')}\n\n{note}".strip()
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
