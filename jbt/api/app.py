"""The FastAPI application factory: one app per (config, project), nothing module-level."""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from jbt import __version__
from jbt.api.auth import BearerTokenMiddleware
from jbt.api.context import ApiContext
from jbt.api.controllers import router
from jbt.api.jobs import JobConflict, JobManager
from jbt.config import Config
from jbt.errors import ExchangeError, JbtError, StrategyError
from jbt.routes import strategy_location
from jbt.sessions import SessionFailedError

log = logging.getLogger("jbt.api")

DESCRIPTION = """
The jbt engine over HTTP: the same import and backtest modes as the command line.

* `POST /candles/import` starts an import job; `GET /jobs/{id}` follows it; `GET /candles` shows
  what is stored.
* `POST /backtest` runs a backtest and returns the JSON `jbt backtest --json` writes;
  `GET /sessions` and `GET /sessions/{id}` read saved runs.

Errors are JSON with a one-line `detail`. When the server has a token, every request (these docs
and `/openapi.json` included) needs `Authorization: Bearer <token>`.
"""


def create_app(
    config: Config,
    project_dir: Path | str,
    *,
    token: str | None = None,
    import_workers: int = 2,
    max_backtests: int = 4,
) -> FastAPI:
    """Build the API for one project.

    ``token`` (or, when None, ``config.server.token``) makes every request need
    ``Authorization: Bearer <token>``. At most ``import_workers`` imports and ``max_backtests``
    backtests run at once; more wait their turn. The database at ``config.database_url()`` is
    opened when the app starts (its lifespan); import jobs are cancelled and awaited when it
    stops.
    """
    token = token if token is not None else config.server.token
    ctx = ApiContext(
        config=config,
        project_dir=Path(project_dir).resolve(),
        jobs=JobManager(max_workers=import_workers),
        backtest_slots=threading.BoundedSemaphore(max_backtests),
    )

    def open_db():
        from jbt.models import open_database

        db = open_database(config.database_url())
        db.close()  # requests and jobs connect in their own threads
        return db

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        ctx.db = await run_in_threadpool(open_db)
        ctx.jobs = JobManager(max_workers=import_workers)  # a fresh pool for each start
        try:
            yield
        finally:
            await run_in_threadpool(ctx.jobs.shutdown, wait=True)

    app = FastAPI(
        title="jbt",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.jbt = ctx
    app.include_router(router)
    _add_error_handlers(app, ctx)
    if token:
        app.add_middleware(BearerTokenMiddleware, token=token)
        _document_bearer(app)
    return app


# --------------------------------------------------------------------------------- errors


def _error(status: int, detail: str, kind: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, "error": kind, **extra}, status_code=status)


def _validation_message(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    items = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        msg = str(err.get("msg", "invalid value"))
        msg = msg.removeprefix("Value error, ")
        items.append({"loc": loc, "msg": msg, "type": err.get("type", "value_error")})
    detail = "; ".join(f"{'.'.join(i['loc']) or 'body'}: {i['msg']}" for i in items)
    return detail or "invalid request", items


def _add_error_handlers(app: FastAPI, ctx: ApiContext) -> None:
    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail, items = _validation_message(list(exc.errors()))
        return _error(422, detail, "ValidationError", errors=items)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "NotFound" if exc.status_code == 404 else "HTTPError"
        response = _error(exc.status_code, str(exc.detail), kind)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(StrategyError)
    async def on_strategy(request: Request, exc: StrategyError) -> JSONResponse:
        where = strategy_location(exc, ctx.project_dir)
        log.warning("strategy raised: %s", exc)
        return _error(422, str(exc), "StrategyError", **where)

    @app.exception_handler(JobConflict)
    async def on_conflict(request: Request, exc: JobConflict) -> JSONResponse:
        return _error(409, str(exc), "Conflict")

    @app.exception_handler(ExchangeError)
    async def on_exchange(request: Request, exc: ExchangeError) -> JSONResponse:
        return _error(502, str(exc), "ExchangeError")

    @app.exception_handler(SessionFailedError)
    async def on_failed_session(request: Request, exc: SessionFailedError) -> JSONResponse:
        return _error(409, str(exc), "SessionFailed")

    @app.exception_handler(JbtError)
    async def on_user_error(request: Request, exc: JbtError) -> JSONResponse:
        return _error(422, str(exc), type(exc).__name__)

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        # the message may hold paths, URLs or data: it goes to the log only
        return _error(500, f"internal error ({type(exc).__name__}); see the server log", "InternalError")


def _document_bearer(app: FastAPI) -> None:
    """Declare the bearer scheme in the OpenAPI schema so clients and the docs know about it."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"}
            }
            schema["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
