"""One error shape for every failure: ``{"error", "message", "detail", "hint", "model_version"}``.

``error`` is a stable machine code (English), ``message`` a sentence for people (Chinese),
``detail`` a list of ``{"loc", "msg", "type"}`` naming the offending field: ``loc`` as in
FastAPI (``["query", "k"]``, ``["body", "events", 3, "enrolled_at"]``), ``type`` a code,
``msg`` in Chinese for pydantic's common errors. Input values are never echoed back (they may
be profile text or megabytes long). The OpenAPI side is :mod:`service.openapi`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from recommender import MenuError, UnknownIdError, shown_id

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
    429: "rate_limited",
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


#: pydantic's error types in Chinese (``{…}`` filled from the error's ``ctx``); a type not
#: listed keeps pydantic's own text. Only constraint values are filled in, never the input.
_ZH = {
    "missing": "缺少该字段",
    "extra_forbidden": "没有这个字段（拼写错误？）",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "finite_number": "应为有限的数字",
    "bool_parsing": "应为 true 或 false",
    "bool_type": "应为 true 或 false",
    "string_type": "应为字符串",
    "string_too_short": "至少 {min_length} 个字符",
    "string_too_long": "最多 {max_length} 个字符",
    "too_short": "至少 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "greater_than_equal": "不能小于 {ge}",
    "greater_than": "必须大于 {gt}",
    "less_than_equal": "不能大于 {le}",
    "less_than": "必须小于 {lt}",
    "literal_error": "应为以下之一：{expected}",
    "list_type": "应为数组",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "model_attributes_type": "应为对象",
    "datetime_type": "应为日期时间，如 2025-03-01T09:00:00+08:00",
    "datetime_parsing": "应为日期时间，如 2025-03-01T09:00:00+08:00",
    "datetime_from_date_parsing": "应为日期时间，如 2025-03-01T09:00:00+08:00",
    "json_invalid": "不是有效的 JSON",
    "date_out_of_range": "日期应在 {first} 年到 {last} 年之间",
}


def chinese(error: dict[str, Any]) -> str:
    """A pydantic error's message in Chinese (its own English text for unlisted types)."""
    template = _ZH.get(str(error.get("type", "")))
    if template is None:
        return str(error.get("msg", ""))
    try:
        return template.format(**(error.get("ctx") or {}))
    except (KeyError, IndexError, ValueError):
        return str(error.get("msg", ""))


def _clean(errors: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"loc": list(e.get("loc", ())), "msg": chinese(e), "type": str(e.get("type", ""))}
        for e in errors
    ]


async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
    body = error_body(
        request, exc.status, exc.message, error=exc.error, detail=exc.detail, hint=exc.hint
    )
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


CADRE_HINT = (
    "该干部不在模型的训练数据中；新干部请 POST /v1/recommendations 提交档案"
    "（job_title, job_description, unit_level, system, rank, declared_needs, completed）"
)
COURSE_HINT = "课程编号来自模型训练时的课程目录（见 GET /v1/model）"
#: the Chinese word for each kind of id
ID_KIND = {"cadre": "干部", "course": "课程"}


def not_found(exc: UnknownIdError) -> ServiceError:
    """404 for an id the model does not know, with a hint on what to do instead."""
    kind = getattr(exc, "kind", "id")
    hint = CADRE_HINT if kind == "cadre" else COURSE_HINT
    value = shown_id(getattr(exc, "value", ""))  # a mistyped 身份证号 is masked
    return ServiceError(
        404,
        f"模型中没有编号为 {value} 的{ID_KIND.get(kind, kind)}",
        error=f"unknown_{kind}",
        hint=hint,
        detail=[{"loc": ["path", f"{kind}_id"], "msg": "编号不存在", "type": "not_found"}],
    )


def menu_invalid(exc: MenuError) -> ServiceError:
    """422 for a menu request the planner refused, naming the field it carries."""
    loc = ["body", exc.field] if getattr(exc, "field", None) else ["body"]
    return ServiceError(
        422, str(exc), detail=[{"loc": loc, "msg": str(exc), "type": "value_error"}]
    )


async def _unknown_id(request: Request, exc: UnknownIdError) -> JSONResponse:
    return await _service_error(request, not_found(exc))


async def _menu_error(request: Request, exc: MenuError) -> JSONResponse:
    return await _service_error(request, menu_invalid(exc))


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    detail = _clean(exc.errors())
    shown = "；".join(".".join(str(p) for p in d["loc"]) + "：" + d["msg"] for d in detail[:5])
    more = f"（另有 {len(detail) - 5} 处）" if len(detail) > 5 else ""
    body = error_body(request, 422, f"请求无效：{shown}{more}", detail=detail)
    return JSONResponse(body, status_code=422)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else _CODES.get(exc.status_code, "error")
    status, detail = exc.status_code, []
    if status == 404 and message == "Not Found":
        message = f"没有接口 {request.method} {request.url.path[:200]}，接口列表见 /docs"
    elif status == 405:
        message = f"{request.url.path[:200]} 不支持 {request.method} 方法，见 /docs"
    elif status == 400 and "parsing the body" in message:  # e.g. bytes that are not UTF-8
        status, message = 422, "body：请求体不是有效的 JSON（请发送 UTF-8 编码的 JSON）"
        detail = [{"loc": ["body"], "msg": _ZH["json_invalid"], "type": "json_invalid"}]
    body = error_body(request, status, message, detail=detail)
    return JSONResponse(body, status_code=status, headers=getattr(exc, "headers", None))


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the shared shape."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(UnknownIdError, _unknown_id)  # any route: 404 with a hint
    app.add_exception_handler(MenuError, _menu_error)  # 422 naming the menu field
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


# ------------------------------------------------------------------ the shape
class ErrorDetail(BaseModel):
    """One offending field."""

    loc: list[str | int] = Field(examples=[["body", "events", 3, "enrolled_at"]])
    msg: str
    type: str = Field(description="machine code, e.g. `missing`, `less_than_equal`")


class Error(BaseModel):
    """The shape of every error response."""

    error: str = Field(description="stable machine code (English)", examples=["unknown_cadre"])
    message: str = Field(description="说明（中文），names the field or id at fault")
    detail: list[ErrorDetail] = []
    hint: str | None = Field(None, description="what to do instead, when there is something")
    model_version: str | None = None
