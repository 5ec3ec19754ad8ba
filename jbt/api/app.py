"""The FastAPI application factory: one app per (config, project), nothing module-level."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from jbt import __version__
from jbt.api.auth import BearerTokenMiddleware, HostCheckMiddleware, check_token
from jbt.api.backtests import BacktestRunner, QueueFull
from jbt.api.context import STOPPING, ApiContext
from jbt.api.controllers import router
from jbt.api.docs import add_docs
from jbt.api.errors import error_body, strategy_location, validation_message
from jbt.api.jobs import JobConflict, JobManager
from jbt.api.limits import BodyLimitMiddleware
from jbt.api.optimizations import OptimizeRunner
from jbt.config import Config
from jbt.errors import ExchangeError, JbtError, StrategyError
from jbt.sessions import SessionFailedError

__all__ = ["create_app", "serve", "strategy_location"]

log = logging.getLogger("jbt.api")

DESCRIPTION = """
The jbt engine over HTTP: the same import and backtest modes as the command line.

* `POST /candles/import` starts an import job; `GET /jobs/{id}` follows it; `GET /candles` shows
  what is stored.
* `POST /backtest` runs a backtest in its own worker process and returns the JSON
  `jbt backtest --json` writes; while it runs it is a job in `GET /jobs`, and
  `DELETE /jobs/{id}` stops it. `GET /sessions` and `GET /sessions/{id}` read saved runs.
* `POST /optimize` starts an optimisation job (`jbt optimize`); `GET /jobs/{id}` shows its
  progress, `DELETE /jobs/{id}` stops it (the same request continues it). `GET /studies` and
  `GET /studies/{name}` read the studies (`jbt optimize list`, `jbt optimize show --json`).

Errors are JSON with a one-line `detail`. When the server has a token, every request (these docs
and `/openapi.json` included) needs `Authorization: Bearer <token>`.
"""

#: Seconds the import jobs get to stop when the server stops.
JOBS_STOP_S = 3.0


def create_app(
    config: Config,
    project_dir: Path | str,
    *,
    token: str | None = None,
    host: str | None = None,
    import_workers: int = 2,
    max_backtests: int | None = None,
    max_queued_backtests: int | None = None,
    backtest_timeout: float | None = None,
    max_optimize_jobs: int | None = None,
    optimize_timeout: float | None = None,
) -> FastAPI:
    """Build the API for one project.

    ``token`` (or, when None, ``config.server.token``) makes every request need
    ``Authorization: Bearer <token>``. ``host`` (default ``config.server.host``) is the address
    the server is bound to: requests whose ``Host`` header is neither it, a loopback name nor
    one of ``config.server.allowed_hosts`` get a 400. At most ``import_workers`` imports and
    ``max_backtests`` backtests run at once (default ``[server] max_backtests``), each
    backtest in a worker process with ``backtest_timeout`` seconds; ``max_queued_backtests``
    more wait and the next one gets 429. One optimisation runs at a time, with at most
    ``max_optimize_jobs`` worker processes (default ``[server] max_optimize_jobs``: one per CPU
    core) for at most ``optimize_timeout`` seconds. The database at ``config.database_url()`` is
    opened when the app starts (its lifespan); jobs are cancelled when it stops.
    """
    server = config.server
    token = check_token(token if token is not None else server.token)
    ctx = ApiContext(
        config=config,
        project_dir=Path(project_dir).resolve(),
        jobs=JobManager(max_workers=import_workers),
        backtests=BacktestRunner(
            slots=max_backtests if max_backtests is not None else server.max_backtests,
            max_queued=(max_queued_backtests if max_queued_backtests is not None
                        else server.max_queued_backtests),
            time_limit=backtest_timeout if backtest_timeout is not None else server.backtest_timeout,
        ),
        optimizations=OptimizeRunner(
            max_jobs=max_optimize_jobs if max_optimize_jobs is not None else server.max_optimize_jobs,
            time_limit=optimize_timeout if optimize_timeout is not None else server.optimize_timeout,
        ),
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
        ctx.stopping = None
        await run_in_threadpool(ctx.backtests.start)
        try:
            yield
        finally:
            ctx.begin_shutdown(STOPPING)
            await asyncio.gather(
                run_in_threadpool(ctx.jobs.shutdown, wait=True, timeout=JOBS_STOP_S),
                run_in_threadpool(ctx.optimizations.shutdown),
            )
            await run_in_threadpool(ctx.backtests.shutdown)

    app = FastAPI(
        title="jbt",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.jbt = ctx
    app.include_router(router)
    add_docs(app, "jbt")
    _add_error_handlers(app, ctx)
    # the last added runs first: Host, then the token, then the body size
    app.add_middleware(BodyLimitMiddleware, limit=server.max_request_bytes)
    if token:
        app.add_middleware(BearerTokenMiddleware, token=token)
        _document_bearer(app)
    app.add_middleware(
        HostCheckMiddleware, bind_host=host or server.host, allowed_hosts=server.allowed_hosts or ()
    )
    return app


def serve(app: FastAPI, host: str, port: int, *, log_level: str = "info") -> None:
    """Run ``app`` on uvicorn until SIGINT or SIGTERM. The signal first cancels the running
    backtests (their requests answer 503 at once) and asks the import jobs to stop, so the
    server is gone within a few seconds."""
    import uvicorn

    ctx: ApiContext = app.state.jbt

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:  # type: ignore[override]
            ctx.begin_shutdown(STOPPING)
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5
    )
    Server(config).run()


# --------------------------------------------------------------------------------- errors

_KINDS = {404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}


def _error(status: int, detail: str, kind: str, **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(detail, kind, **extra), status_code=status)


def _add_error_handlers(app: FastAPI, ctx: ApiContext) -> None:
    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail, items = validation_message(list(exc.errors()))
        return _error(422, detail, "ValidationError", errors=items)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = _error(exc.status_code, str(exc.detail), _KINDS.get(exc.status_code, "HTTPError"))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(QueueFull)
    async def on_busy(request: Request, exc: QueueFull) -> JSONResponse:
        what = "backtests" if request.url.path == "/backtest" else "import checks"
        detail = getattr(exc, "detail", None) or (
            f"too many {what} at once; every slot is busy and the queue is full: try again in "
            f"{exc.retry_after} s (Retry-After)")
        response = _error(429, detail, "TooManyRequests")
        response.headers["Retry-After"] = str(exc.retry_after)
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
