"""The twin's HTTP API: FastAPI app factory, shared state and lifespan (README "Public API")."""
from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__, auth, cache, control, db, faults, logs, ratelimit
from .errors import error_response
from .middleware import TwinMiddleware

log = logs.get_logger("api")


def database_error_response(exc: db.DatabaseUnavailable):
    """503 with the documented wording (DB-02/DB-03); faults pool_exhausted_500 / db_down_500 -> 500."""
    status = 503
    if exc.kind == "pool_exhausted" and faults.is_on("pool_exhausted_500"):
        status = 500
    if exc.kind == "unreachable" and faults.is_on("db_down_500"):
        status = 500
    code = "service_unavailable" if status == 503 else "internal_error"
    extra = {"detail": exc.detail} if exc.detail else {}
    return error_response(status, code, exc.message, **extra)


class AppState:
    """Everything the routers share: settings, pool, tokens, limiter, caches, event buffer."""

    def __init__(self, settings):
        from .events import EventBuffer

        self.settings = settings
        self.tokens = auth.TokenService(settings)
        self.limiter = ratelimit.RateLimiter()
        self.ws_cache = cache.TTLCache(settings.workspace_cache_ttl_s)
        self.events = EventBuffer(settings.event_buffer_max)
        self.pool: db.TwinPool | None = None
        self.http: httpx.AsyncClient | None = None
        self.exec_locks: dict[str, asyncio.Lock] = {}

    async def limits_for(self, workspace_id: str) -> ratelimit.Limits:
        """In-memory limits of a workspace; one DB read the first time an unknown one is seen."""
        limits = self.limiter.limits.get(workspace_id)
        if limits is None:
            row = await self.pool.fetch_one("SELECT tier, custom_limits FROM workspaces WHERE id = %s",
                                            (workspace_id,))
            tier, custom = (row["tier"], row["custom_limits"]) if row else ("free", {})
            limits = ratelimit.limits_from(tier, custom, self.settings.tiers)
            self.limiter.set_limits(workspace_id, limits)
        return limits

    async def apply_faults(self) -> None:
        """React to fault switches that reshape live objects (DB-01 pool size, DB-05 leak release)."""
        if self.pool is None:
            return
        want = 50 if faults.is_on("pool_max_50") else self.settings.pool_max
        if self.pool.pool.max_size != want:
            await self.pool.resize(want)
        if not faults.is_on("connection_leak"):
            await self.pool.release_leaked()


async def _startup(state: AppState) -> None:
    settings = state.settings
    logs.configure("api", settings.state_dir)
    control.init(settings.state_dir, settings.faults_at_start)
    control.write(offset_s=0.0, faults=list(settings.faults_at_start))
    faults.load_all()
    unknown = [f for f in settings.faults_at_start if faults.get(f) is None]
    if unknown:
        log.warn(f"unknown fault switches in TWIN_FAULTS: {', '.join(unknown)}")
    applied = await db.run_migrations(settings.database_url)
    if applied:
        log.info(f"applied migrations: {', '.join(applied)}")
    state.pool = db.create_pool(settings)
    await state.pool.open(wait=True, timeout=30.0)
    state.http = httpx.AsyncClient(timeout=10.0)
    from .seed import load_limits, seed

    if settings.seed_file:
        await seed(state, json.loads(settings.seed_file.read_text()))
    await load_limits(state)
    log.info(f"api started (version {__version__}, test_mode={settings.test_mode})")


def create_app(settings) -> FastAPI:
    """Build the FastAPI app; migrations, seed and pool happen in the lifespan."""
    state = AppState(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await _startup(state)
        from .health import HealthProbe

        state.health = HealthProbe(settings)
        try:
            yield
        finally:
            await state.health.close()
            await state.http.aclose()
            await state.pool.close()
            log.info("api stopped")
            logs.flush()

    app = FastAPI(title="CloudFlow API (twin)", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.twin = state

    @app.exception_handler(RequestValidationError)
    async def _validation(request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "body"
        return error_response(422, "validation_error", f"{where}: {first.get('msg', 'invalid request')}",
                              details=json.loads(json.dumps(errors, default=str)))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request, exc: StarletteHTTPException):
        codes = {404: "not_found", 405: "method_not_allowed"}
        return error_response(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))

    from . import (routes_auth, routes_control, routes_executions, routes_platform, routes_rbac,
                   routes_webhooks, routes_workflows, routes_workspaces)

    for module in (routes_platform, routes_auth, routes_rbac, routes_workspaces, routes_workflows,
                   routes_executions, routes_webhooks):
        app.include_router(module.router)
    if settings.test_mode:
        app.include_router(routes_control.router)
    app.add_middleware(TwinMiddleware, twin=state)
    return app
