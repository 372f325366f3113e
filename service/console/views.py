"""The console's pages: one router, mounted by ``create_app`` with a single include line.

Every page calls the same library function as the JSON endpoint it mirrors (recommendations:
``model.recommend`` with the cadre's stored events; menu: ``plan_menu``; course page:
``model.similar``) through the API's own dependencies (:mod:`service.deps`: the loaded model,
the events read with its fallback, the filter checks), so what staff see is what the portal
gets, also when the event store is down.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from recommender import (
    FORMATS,
    IdentityError,
    MenuError,
    UnknownIdError,
    hours_record,
    looks_like_id_card,
    mask_id_card,
    plan_day,
    plan_menu,
    shown_id,
)
from service.console import data as D
from service.console.auth import (
    COOKIE,
    COOKIE_PATH,
    LoginRequired,
    Viewer,
    close_session,
    is_tls,
    open_session,
    open_without_login,
    safe_next,
)
from service.console.config import ConsoleSettings
from service.console.excel import menu_workbook
from service.deps import ModelDep, StoreDep, check_filters, read_events
from service.errors import ID_KIND, ServiceError
from service.identity import lookup_of

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
# Chinese labels of codes (solver, constraints) from the one label table
templates.env.globals["value_labels"] = D.VALUE_LABELS

#: nothing outside the service: no CDN, no external fonts, images or form targets
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
K_CHOICES = (10, 20, 50)
MAX_HOURS = 1000.0


class ConsoleError(Exception):
    """A page that cannot be shown (unknown id, no model): rendered as a Chinese error page."""

    def __init__(self, status: int, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.status, self.message, self.hint = status, message, hint


class ConsoleRoute(APIRoute):
    """Adds the security headers to every console response, errors and redirects included."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except LoginRequired as exc:
                response = RedirectResponse(exc.location, status_code=303)
            except ConsoleError as exc:
                response = _error_page(request, exc)
            except UnknownIdError as exc:  # the console's one place for unknown ids
                response = _error_page(request, _unknown(exc))
            except MenuError as exc:
                response = _error_page(request, ConsoleError(422, f"无法生成课程菜单：{exc}"))
            except ServiceError as exc:  # e.g. 503 before the model is loaded
                response = _error_page(
                    request, ConsoleError(exc.status, exc.message, exc.hint or "")
                )
            response.headers.update(SECURITY_HEADERS)
            if not request.url.path.startswith(f"{COOKIE_PATH}/static/"):
                response.headers.setdefault("Cache-Control", "no-store")  # cadre data
            return response

        return route


router = APIRouter(prefix=COOKIE_PATH, route_class=ConsoleRoute, include_in_schema=False)


# ----------------------------------------------------------------- helpers
def _settings(request: Request) -> ConsoleSettings:
    found = getattr(request.app.state, "console_settings", None)
    if found is None:
        found = request.app.state.console_settings = ConsoleSettings()
    return found


def _render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
    loaded = request.app.state.holder.current
    context.setdefault("viewer", "")
    return templates.TemplateResponse(
        request,
        name,
        {"badge": D.model_badge(loaded), "format_labels": D.FORMAT_LABELS, **context},
        status_code=status,
    )


def _error_page(request: Request, exc: ConsoleError) -> Response:
    return _render(request, "error.html", status=exc.status, message=exc.message, hint=exc.hint)


def _unknown(exc: UnknownIdError) -> ConsoleError:
    kind = getattr(exc, "kind", "id")
    hint = (
        "请按编号、单位或岗位查找；新干部的推荐请用 POST /v1/recommendations"
        if kind == "cadre"
        else ""
    )
    value = shown_id(getattr(exc, "value", ""), quoted=False)  # a mistyped 身份证号 is masked
    return ConsoleError(404, f"没有编号为 {value} 的{ID_KIND.get(kind, kind)}", hint)


def _number(raw: str | None, name: str, *, low: float, high: float) -> float | None:
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConsoleError(422, f"{name} 应为数字，收到 {raw[:20]!r}") from None
    if not low <= value <= high:
        raise ConsoleError(422, f"{name} 应在 {low:g} 到 {high:g} 之间，收到 {value:g}")
    return value


# ----------------------------------------------------------------- pages
@router.get("")
@router.get("/")
def home(request: Request, viewer: Viewer, loaded: ModelDep, q: str = "") -> Response:
    """Cadre lookup: an exact id or a full 身份证号 opens the cadre; other text searches
    姓名, unit, post and the masked id's digits."""
    return _home(request, viewer, loaded, q)


@router.post("")
@router.post("/")
async def home_post(request: Request, viewer: Viewer, loaded: ModelDep) -> Response:
    """The search form posts here, so a 姓名 or 身份证号 typed by staff stays out of URLs
    (and so out of proxy logs and browser history)."""
    if not _same_origin(request):
        raise ConsoleError(403, "查找请求来自其他站点，已拒绝")
    form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=5)
    return await run_in_threadpool(_home, request, viewer, loaded, (form.get("q") or [""])[0])


def _home(request: Request, viewer: str, loaded, q: str) -> Response:
    model, query = loaded.model, q.strip()[:100]
    lookup = lookup_of(request, model)
    if query:
        try:
            found = lookup.resolve(query)
        except IdentityError as exc:
            raise ConsoleError(404, str(exc), lookup.problem or "") from None
        if model.has_cadre(found):
            return RedirectResponse(f"{COOKIE_PATH}/cadres/{found}", status_code=303)
    results, total = D.search_cadres(model, query, lookup=lookup) if query else ([], 0)
    return _render(
        request,
        "home.html",
        viewer=viewer,
        q=mask_id_card(query) if looks_like_id_card(query) else query,  # never shown back
        has_names=D.has_names(model),
        identity_problem=lookup.problem or "",  # 身份证号 look-ups that cannot work, said
        results=results,
        total=total,
        examples=[] if query else D.example_cadres(model),
        cadre_count=len(model.cadres),
        course_count=len(model.course_ids),
    )


@router.get("/cadres/{cadre_id}")
def cadre_page(
    request: Request,
    cadre_id: str,
    viewer: Viewer,
    loaded: ModelDep,
    store: StoreDep,
    category: str = "",
    format: str = "",
    k: str = "10",
    year: str | None = None,
) -> Response:
    """The cadre's recommendations, exactly as GET /v1/cadres/{id}/recommendations lists them,
    and the 学时档案 of ``year`` (GET /v1/cadres/{id}/hours)."""
    if (moved := _moved(request, loaded, cadre_id)) is not None:
        return moved
    model = loaded.model
    profile = model.cadre_profile(cadre_id)  # an unknown cadre: 404 page (ConsoleRoute)
    categories = sorted(set(model.categories))
    cats, fmts = check_filters(loaded, [category], [format])  # the API's checks (422)
    category, format = (cats or [""])[0], (fmts or [""])[0]
    size = int(_number(k, "条数", low=1, high=max(K_CHOICES)) or 10)
    items = model.recommend(
        cadre_id,
        size,
        category=cats,
        format=fmts,
        include_completed=False,
        explain=True,
        events=(events := read_events(store, cadre_id)),  # store down: the model's history
    )
    hours_year = _year(year)
    hours = hours_record(model, cadre_id, hours_year, events=events).to_dict()
    api = f"/v1/cadres/{cadre_id}/recommendations?" + urlencode(
        {
            "k": size,
            **({"category": category} if category else {}),
            **({"format": format} if format else {}),
        }
    )
    return _render(
        request,
        "cadre.html",
        viewer=viewer,
        cadre=D.cadre_summary(profile),
        items=items,
        categories=categories,
        formats=FORMATS,
        category=category,
        format=format,
        k=size,
        k_choices=K_CHOICES,
        api_url=api,
        hours=hours,
        hours_years=_years(model, hours["year"], back=2),
    )


def _moved(request: Request, loaded, cadre_id: str) -> Response | None:
    """A redirect to the cadre's hashed id when the URL holds a full 身份证号 (so the number
    does not stay in the address bar); None otherwise."""
    if not looks_like_id_card(cadre_id):
        return None
    lookup = lookup_of(request, loaded.model)
    try:
        found = lookup.resolve(cadre_id)
    except IdentityError as exc:
        raise ConsoleError(404, str(exc), lookup.problem or "") from None
    if found == cadre_id:  # an academy id of 15/18 digits that is no 身份证号
        return None
    if not loaded.model.has_cadre(found):
        raise ConsoleError(404, *lookup.unknown_message(cadre_id))
    path = request.url.path.replace(cadre_id, found, 1)
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(path + query, status_code=303)


def _year(raw: str | None) -> int | None:
    """A year from a form (None when left to the default)."""
    value = _number(raw, "年度", low=2000, high=2100)
    return None if value is None else int(value)


def _years(model, chosen: int, back: int = 0) -> list[int]:
    """Years a selector offers: the plan day's year and the next (``back`` earlier ones)."""
    now = plan_day(model).year
    return sorted({*range(now - back, now + 2), chosen})


def _menu(loaded, store, cadre_id: str, target: str | None, budget: str | None, year=None):
    profile = loaded.model.cadre_profile(cadre_id)
    target_hours = _number(target, "目标学时", low=1, high=MAX_HOURS)
    weekly = _number(budget, "每周学时", low=0.5, high=80)
    plan = _year(year)
    menu = plan_menu(  # MenuError: a 422 page (ConsoleRoute)
        loaded.model,
        cadre_id,
        year=plan,
        events=read_events(store, cadre_id),
        target_hours=target_hours,
        weekly_hours_budget=weekly,
    )
    params = {
        key: value
        for key, value in (
            ("year", plan),
            ("target_hours", target_hours),
            ("weekly_budget", weekly),
        )
        if value is not None
    }
    return loaded, D.cadre_summary(profile), menu.to_dict(), params


@router.get("/cadres/{cadre_id}/menu")
def menu_page(
    request: Request,
    cadre_id: str,
    viewer: Viewer,
    loaded: ModelDep,
    store: StoreDep,
    target_hours: str | None = None,
    weekly_budget: str | None = None,
    year: str | None = None,
) -> Response:
    """Menu preview: hours by category and format, what is unmet and why, a form to adjust
    (the year too: by default the rules' plan year)."""
    if (moved := _moved(request, loaded, cadre_id)) is not None:
        return moved
    loaded, cadre, menu, params = _menu(loaded, store, cadre_id, target_hours, weekly_budget, year)
    cats = sorted(menu["totals_by_category"].items(), key=lambda kv: -kv[1])
    fmts = sorted(menu["totals_by_format"].items(), key=lambda kv: -kv[1])
    top = max([v for _, v in cats + fmts] + [1.0])
    budget = loaded.model.cadre_profile(cadre_id).get("weekly_hours_budget")
    return _render(
        request,
        "menu.html",
        viewer=viewer,
        cadre=cadre,
        menu=menu,
        by_category=cats,
        by_format=fmts,
        top=top,
        target_hours=params.get("target_hours", menu["target_hours"]),
        weekly_budget=params.get("weekly_budget", D.number_or_blank(budget)),
        years=_years(loaded.model, menu["year"]),
        download=f"{COOKIE_PATH}/cadres/{cadre_id}/menu.xlsx"
        + (f"?{urlencode(params)}" if params else ""),
    )


@router.get("/cadres/{cadre_id}/menu.xlsx")
def menu_excel(
    request: Request,
    cadre_id: str,
    viewer: Viewer,
    loaded: ModelDep,
    store: StoreDep,
    target_hours: str | None = None,
    weekly_budget: str | None = None,
    year: str | None = None,
) -> Response:
    """The same menu as an Excel workbook (formula-like text neutralised)."""
    if (moved := _moved(request, loaded, cadre_id)) is not None:
        return moved
    loaded, cadre, menu, _ = _menu(loaded, store, cadre_id, target_hours, weekly_budget, year)
    body = menu_workbook(menu, model_version=str(loaded.version), cadre=cadre)
    name = f"menu-{cadre_id}-{menu['year']}.xlsx"
    ascii_name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return Response(
        body,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{ascii_name}"'},
    )


@router.get("/courses/{course_id}")
def course_page(
    request: Request, course_id: str, viewer: Viewer, loaded: ModelDep, k: str = "10"
) -> Response:
    """A course and the courses like it (GET /v1/courses/{id}/similar)."""
    model = loaded.model
    size = int(_number(k, "条数", low=1, high=max(K_CHOICES)) or 10)
    course = D.course_record(model, course_id)  # an unknown course: 404 page (ConsoleRoute)
    similar = model.similar(course_id, size)
    return _render(request, "course.html", viewer=viewer, course=course, similar=similar)


@router.get("/gaps")
def gaps_page(request: Request, viewer: Viewer) -> Response:
    """Top demand gaps from the newest gap workbook in the reports directory."""
    directory = _settings(request).reports_dir
    report = D.latest_gap_report(directory)
    return _render(
        request,
        "gaps.html",
        viewer=viewer,
        report=report,
        directory=directory,
        command=D.GAPS_COMMAND.replace("var/reports", str(directory)),
    )


# ----------------------------------------------------------------- sign-in
@router.get("/login")
def login_page(request: Request, next: str = COOKIE_PATH) -> Response:
    return _render(
        request,
        "login.html",
        next=safe_next(next),
        error="",
        keys_needed=not open_without_login(request),
    )


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return origin.rstrip("/") == str(request.base_url).rstrip("/")


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the key, then open a server-side session: its random id goes into an HttpOnly,
    SameSite=Strict cookie (Secure over TLS); the key goes into no cookie and no URL."""
    if not _same_origin(request):
        raise ConsoleError(403, "登录请求来自其他站点，已拒绝")
    form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=5)
    key = (form.get("key") or [""])[0].strip()
    target = safe_next((form.get("next") or [COOKIE_PATH])[0])
    session_id = await run_in_threadpool(open_session, request, key)  # a store write
    if session_id is None:
        log.info("console sign-in refused from %s", request.client.host if request.client else "?")
        return _render(
            request,
            "login.html",
            status=401,
            next=target,
            error="密钥无效、已吊销或没有 read 权限",
            keys_needed=True,
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=int(request.app.state.settings.session_hours * 3600),
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=is_tls(request),
    )
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    if not _same_origin(request):
        raise ConsoleError(403, "退出请求来自其他站点，已拒绝")
    close_session(request)  # revoked in the store: the id is dead on every replica
    response = RedirectResponse(f"{COOKIE_PATH}/login", status_code=303)
    response.delete_cookie(
        COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=is_tls(request)
    )
    return response


@router.get("/static/{name}")
def static(name: str) -> Response:
    """The console's own CSS and JS (a fixed list: no path from the URL reaches the disk)."""
    files = {p.name: p for p in STATIC.iterdir() if p.is_file()}
    if name not in files:
        raise ConsoleError(404, "没有这个文件")
    return FileResponse(files[name], headers={"Cache-Control": "max-age=3600"})


@router.get("/{rest:path}")
def not_found(rest: str, viewer: Viewer) -> Response:
    """Unknown console paths get the console's own 404 page (with its headers)."""
    raise ConsoleError(404, "没有这个页面", f"/console/{rest[:80]} 不存在")
