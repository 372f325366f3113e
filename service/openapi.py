"""The OpenAPI document tells the truth: every error status an operation can answer, with
the real error shape (:class:`service.errors.Error`), and the API-key security schemes.

Statuses a route's own code raises (404, 409, 503 from its dependencies) are declared on the
route with :func:`error_responses`; the ones every request can meet are added to each
operation by :func:`install_openapi` from the same tables that enforce them: 401/403 (and 503
for an unreadable keys file) from the scope a path needs (:func:`service.auth.required_scope`),
413 for request bodies, 431 for oversized headers (the middleware), and FastAPI's 422, whose
schema is replaced by ours.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI

from service.errors import Error

_RETRY = {"Retry-After": {"description": "秒数，稍后重试", "schema": {"type": "integer"}}}
_CHALLENGE = {
    "WWW-Authenticate": {"description": "the schemes accepted", "schema": {"type": "string"}}
}

#: what each error status means here (``error`` codes in backticks)
ERROR_STATUSES: dict[int, str] = {
    400: "Host 不在允许列表中（`host_not_allowed`，见 XUANXUE_ALLOWED_HOSTS）",
    401: "缺少 API 密钥（`unauthorized`）",
    403: "密钥无效或已吊销（`invalid_api_key`）、密钥没有该权限（`insufficient_scope`），"
    "或尚未配置任何密钥（`no_keys_configured`）",
    404: "编号不存在（`unknown_cadre`、`unknown_course`）",
    409: "与已有状态冲突",
    413: "请求体超过上限（`payload_too_large`：64 KB；POST /v1/completions 为 1 MiB）",
    422: "输入无效（`validation_error`）：`detail[].loc` 指出字段，`message` 说明原因",
    429: "该密钥请求过于频繁（`rate_limited`），按 `Retry-After` 秒后重试",
    431: "请求头超过上限（`request_header_fields_too_large`，16 KB）",
    503: "暂不可用，按 `Retry-After` 稍后重试：尚未加载模型（`model_not_loaded`），"
    "或事件库尚未打开（`events_unavailable`）",
}
_HEADERS = {401: _CHALLENGE, 429: _RETRY, 503: _RETRY}
_AUTH_503 = "密钥文件无法读取（`auth_unavailable`）"

SCOPES = {
    "read": "推荐、必修课、课程菜单、相似课程、模型信息、接口文档",
    "write": "read + 提交学习记录（POST /v1/completions）",
    "admin": "write + 管理接口（/v1/admin/*）",
}
_KEY_HELP = (
    "`recommender keys add NAME --scopes read|write|admin` 创建的密钥（只显示一次）；"
    "权限：" + "；".join(f"`{s}` = {what}" for s, what in SCOPES.items()) + "。"
    "`XUANXUE_API_KEY` 也是一把 admin 密钥。未配置任何密钥时，本机（loopback）无需密钥即可读取。"
)
SECURITY_SCHEMES = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": _KEY_HELP},
    "Bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "the same key as `Authorization: Bearer <密钥>`",
    },
}


def error_responses(
    *statuses: int, notes: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status with the shared error model and its meaning
    (``notes`` replace the general description where the route's cause is narrower)."""
    notes = notes or {}
    return {
        status: {
            "model": Error,
            "description": notes.get(status, ERROR_STATUSES[status]),
            **({"headers": _HEADERS[status]} if status in _HEADERS else {}),
        }
        for status in statuses
    }


def _document(responses: dict[str, Any], status: int, description: str) -> None:
    """Add ``status`` with the error shape, or extend its description if already there."""
    entry = responses.get(str(status))
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    if entry is None or "$ref" not in str(entry.get("content", {})):
        entry = responses[str(status)] = {"description": description}
    elif description not in entry["description"]:
        entry["description"] = f"{entry['description']}；{description}"
    entry["content"] = content
    if status in _HEADERS:
        entry["headers"] = _HEADERS[status]


def _document_operation(op: dict[str, Any], method: str, scope: str | None) -> None:
    responses = op.setdefault("responses", {})
    if responses.pop("422", None) is not None:  # FastAPI's {"detail": …} model: ours instead
        _document(responses, 422, ERROR_STATUSES[422])
    if scope:
        for status in (400, 401, 403, 429):
            _document(responses, status, ERROR_STATUSES[status])
        _document(responses, 503, _AUTH_503)
        op["security"] = [{"ApiKey": []}, {"Bearer": []}]
        note = f"**API 密钥权限：`{scope}`**（{SCOPES[scope]}）"
        op["description"] = f"{op.get('description', '')}\n\n{note}".strip()
    else:
        op["security"] = []
    if method in ("post", "put", "patch"):
        _document(responses, 413, ERROR_STATUSES[413])
    _document(responses, 431, ERROR_STATUSES[431])


def install_openapi(app: FastAPI, scope_of: Callable[[str], str | None]) -> None:
    """Document the error shape, the API-key schemes, and each operation's scope and errors."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        shape = Error.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(shape.pop("$defs", {}))
        schemas["Error"] = shape
        components["securitySchemes"] = SECURITY_SCHEMES
        for path, operations in schema.get("paths", {}).items():
            for method, op in operations.items():
                _document_operation(op, method, scope_of(path))
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
