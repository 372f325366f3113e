"""App factory and server entry point.

``create_app(settings)`` wires the routers, error handlers and middleware; the model and the
event store are opened in ``lifespan`` (never at import). ``run()`` is what
``recommender serve`` calls; with ``workers > 1`` the supervisor loads the model once and
forks the workers (:mod:`service.supervisor`), so they share one copy of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from recommender import ArtifactError, __version__, open_event_store, read_metadata, resolve
from service import errors, identity, openapi
from service.auth import Authenticator, required_scope
from service.config import Settings
from service.console import router as console_router
from service.fastpath import HotRoutes
from service.holder import ModelHolder, ReloadResult
from service.metrics import Metrics
from service.middleware import ServiceMiddleware
from service.ratelimit import RateLimiter
from service.routes import (
    admin,
    completions,
    courses,
    health,
    hours,
    menus,
    model,
    recommendations,
)

log = logging.getLogger(__name__)

DESCRIPTION = """选学 (xuanxue): personalised training-course recommendations and course menus
for cadres. Every response carries `model_version` (JSON body) and an `X-Model-Version` header.
Errors share one shape: `{"error", "message", "detail": [{"loc", "msg", "type"}], "hint",
"model_version"}`."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The FastAPI app; ``settings`` default to the ``XUANXUE_*`` environment."""
    settings = settings or Settings()
    holder = ModelHolder(settings.model_path)
    metrics = Metrics()
    app = FastAPIOffline(
        title="xuanxue 选学 API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=_lifespan,
    )
    app.state.settings, app.state.holder, app.state.metrics = settings, holder, metrics
    app.state.store = None
    # read once: a full 身份证号 in a request is hashed with it (service.identity)
    app.state.id_secret, app.state.id_secret_problem = identity.read_secret(settings)

    def reload(version: str | None = None, *, force: bool = False) -> ReloadResult:
        """Blocking: load + smoke-check + swap (call it from a thread, not the event loop)."""
        try:
            result = holder.reload(version, force=force)
        except ArtifactError:
            metrics.reloads.labels(result="refused").inc()
            raise
        metrics.reloads.labels(result="ok" if result.changed else "unchanged").inc()
        metrics.set_model(result.loaded.version, result.loaded.loaded_at.timestamp())
        if result.changed:  # 身份证号 look-ups that cannot work are said at load, in Chinese
            identity.warn_if_mismatched(app, result.loaded.model)
        return result

    app.state.reload = reload
    errors.install(app)
    app.state.auth = Authenticator(settings)
    openapi.install_openapi(app, required_scope)
    # innermost: the plain known-cadre recommendation request without FastAPI's parameter
    # and dependency solving (everything else, and every error, goes on to the routes)
    app.add_middleware(HotRoutes, service=app)
    app.add_middleware(
        ServiceMiddleware,
        metrics=metrics,
        max_body_bytes=settings.max_body_bytes,
        max_events_body_bytes=settings.max_events_body_bytes,
        max_header_bytes=settings.max_header_bytes,
        auth=app.state.auth,
        allowed_hosts=settings.allowed_hosts,
        limiter=RateLimiter(settings.rate_limit, settings.rate_burst),
    )
    # outermost: the client and scheme behind a trusted proxy (X-Forwarded-For/-Proto), so
    # the loopback rule, the logs and the console's Secure cookie see the real ones
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    for module in (recommendations, menus, hours, courses, completions, model, admin, health):
        app.include_router(module.router)  # routers carry their own /v1 prefix
    app.include_router(console_router)  # staff console under /console (HTML)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    if settings.blas_threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=settings.blas_threads)  # process-wide, for this worker
    # SQLite by default; with events_url (postgresql://…) every replica shares one database
    store = await run_in_threadpool(
        open_event_store, settings.events_target, **settings.events_options
    )
    app.state.store = store
    try:
        await run_in_threadpool(app.state.reload)
    except (ArtifactError, OSError) as exc:
        if settings.require_model:
            await run_in_threadpool(store.close)
            raise
        log.error("starting without a model (readyz answers 503): %s", exc)
    tasks = []
    if settings.poll_seconds > 0:
        tasks.append(asyncio.create_task(_poll(app, settings.poll_seconds)))
    loop = asyncio.get_running_loop()
    if settings.handle_sighup and hasattr(signal, "SIGHUP"):
        loop.add_signal_handler(
            signal.SIGHUP, lambda: tasks.append(asyncio.create_task(_reload_logged(app, "SIGHUP")))
        )
    try:
        yield
    finally:
        if settings.handle_sighup and hasattr(signal, "SIGHUP"):
            loop.remove_signal_handler(signal.SIGHUP)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if app.state.store is store:  # (a test harness may run a second lifespan on the app)
            app.state.store = None
        await run_in_threadpool(store.close)


async def _reload_logged(app: FastAPI, why: str) -> None:
    try:
        result = await run_in_threadpool(app.state.reload)
        log.info("%s reload: serving %s (changed=%s)", why, result.loaded.version, result.changed)
    except Exception as exc:  # a refused model is logged; the old one keeps serving
        log.error("%s reload refused, still serving %s: %s", why, app.state.holder.version, exc)


async def _poll(app: FastAPI, seconds: float) -> None:
    """Reload when ``models/current`` starts pointing somewhere new (a pinned version stays)."""
    root = app.state.settings.model_path
    loaded = app.state.holder.current
    last = loaded.path if loaded else None  # what `current` pointed at when we loaded
    while True:
        await asyncio.sleep(seconds)
        target = await run_in_threadpool(_target, root)
        if target is not None and target != last:
            last = target
            await _reload_logged(app, "poll")


def _target(root: Path) -> Path | None:
    try:
        return resolve(root)
    except (ArtifactError, OSError):
        return None


def run(
    model_path: str | Path = "models",
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    startup_timeout: int = 180,
    **settings: object,
) -> None:
    """Serve with uvicorn (``recommender serve``); SIGHUP reloads the model.

    Extra keyword arguments become settings (``events_path=…``, ``api_key=…``). With
    ``workers > 1`` the supervisor loads the model and forks the workers (copy-on-write: one
    copy per host); SIGHUP to it, or a new ``current`` seen every ``poll_seconds``, loads the
    new model there and replaces the workers one by one (each ready before the old one stops).
    """
    import uvicorn

    from service.logs import log_config
    from service.protocol import TimedHttpToolsProtocol

    env = {
        "XUANXUE_MODEL_PATH": str(model_path),
        "XUANXUE_HANDLE_SIGHUP": "1",
        "XUANXUE_REQUIRE_MODEL": "1",
    }
    env.update({f"XUANXUE_{key.upper()}": str(value) for key, value in settings.items()})
    os.environ.update(env)
    resolved = Settings()
    # connection limits for slow, idle or greedy clients: service/protocol.py reads them in
    # every worker (a worker started by uvicorn's supervisor re-imports it)
    os.environ.update(
        {
            "XUANXUE_HEADER_TIMEOUT": str(resolved.header_timeout),
            "XUANXUE_BODY_TIMEOUT": str(resolved.body_timeout),
            "XUANXUE_MAX_HEADER_BYTES": str(resolved.max_header_bytes),
            "XUANXUE_IDLE_CONNECTIONS": str(resolved.idle_connections),
            "XUANXUE_MAX_CONNECTIONS_PER_CLIENT": str(resolved.max_connections_per_client),
            "XUANXUE_TRUSTED_PROXIES": ",".join(resolved.trusted_proxies),
        }
    )
    read_metadata(resolved.model_path)  # fail fast with the artifact's own message
    common = dict(
        host=host,
        port=port,
        log_config=log_config(resolved.log_level.upper()),
        access_log=False,
        timeout_graceful_shutdown=30,
        # bounded work per worker: past limit_concurrency connections + requests uvicorn
        # answers 503 at once instead of queueing; idle keep-alives close after
        # timeout_keep_alive; h11 (if used instead of httptools) stops buffering headers
        # at max_header_bytes, and the middleware answers 431 above it with either parser
        limit_concurrency=resolved.limit_concurrency or None,
        timeout_keep_alive=resolved.timeout_keep_alive,
        h11_max_incomplete_event_size=resolved.max_header_bytes,
        # httptools plus read timeouts, a header cap, the idle-connection budget and the
        # per-client connection limit (uvicorn has none of them)
        http=TimedHttpToolsProtocol,
        # X-Forwarded-* are applied by the app (ProxyHeadersMiddleware, trusted_proxies)
        proxy_headers=False,
        # a new worker imports the stack and loads the model before it is ready; during
        # SIGHUP's rolling restart the old worker keeps serving until then
        timeout_worker_healthcheck=startup_timeout,
    )
    if workers > 1:  # one copy of the model: loaded here, shared by forked workers
        from service.supervisor import serve_preloaded

        # the supervisor polls `current` (a worker that polled would load a private copy)
        app = create_app(resolved.model_copy(update={"poll_seconds": 0.0}))
        serve_preloaded(uvicorn.Config(app, workers=workers, **common), app, resolved.poll_seconds)
    else:
        uvicorn.run(create_app(resolved), **common)
