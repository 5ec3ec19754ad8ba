"""The HTTP endpoints. Each one validates, calls the same mode function the CLI calls, and
returns its result as JSON. Endpoints are plain ``def``: FastAPI runs them on its thread pool, so
a long backtest never blocks the server, and each one holds its own database connection for the
duration of the request (``connection_context``)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path as FsPath
from typing import Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from jbt.api.context import ApiContext
from jbt.api.schemas import (
    BacktestOut,
    BacktestRequest,
    CoverageOut,
    ErrorOut,
    ImportRequest,
    JobOut,
    SessionSummary,
    StrategyErrorOut,
)
from jbt.config import public_config
from jbt.errors import StrategyError

router = APIRouter()

_BAD_INPUT: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorOut, "description": "Invalid input; `detail` says what to change."}
}
_INT64 = 2**63 - 1


def _ctx(request: Request) -> ApiContext:
    return request.app.state.jbt


def public_result(data: dict[str, Any]) -> dict[str, Any]:
    """A backtest's JSON fit to leave the server: in its ``config`` snapshot the passwords of the
    database and exchange URLs are masked and no server token appears."""
    config = data.get("config")
    if not isinstance(config, dict):
        return data
    config = public_config(config)
    return {**data, "config": config}


def _strategy_exit(exc: BaseException, project_dir: FsPath) -> StrategyError:
    """A strategy that called ``sys.exit()`` (or raised KeyboardInterrupt) ends its own request
    with a StrategyError naming the file and line, never the server."""
    from jbt.routes import strategy_location

    where = strategy_location(exc, project_dir)
    place = f"{where['file']} line {where['line']}" if where["file"] else "a strategy"
    what = f"called sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else "raised it"
    return StrategyError(
        f"{place}: {type(exc).__name__}: the strategy {what}; a strategy cannot stop the run "
        "(return from the hook instead)"
    )


def _period(start: str | None, end: str | None) -> tuple[int | None, int | None]:
    """The dates as epoch ms; the period itself is checked by the backtest (``plan_run``)."""
    from jbt.dates import parse_date

    start_ms = parse_date(start, name="start") if start is not None else None
    end_ms = parse_date(end, name="end") if end is not None else None
    return start_ms, end_ms


# ------------------------------------------------------------------------------- candles


@router.get("/candles", response_model=list[CoverageOut], tags=["candles"])
def get_coverage(
    request: Request,
    exchange: str | None = Query(None, max_length=64, description="Only this exchange."),
    symbol: str | None = Query(None, max_length=64, description="Only this symbol."),
) -> list[dict[str, Any]]:
    """What is stored: first/last open time (epoch ms), candle count and missing candles per
    exchange, symbol and timeframe."""
    from jbt import candles

    ctx = _ctx(request)
    with ctx.db.connection_context():
        rows = candles.coverage()
    return [
        asdict(r)
        for r in rows
        if (exchange is None or r.exchange == exchange) and (symbol is None or r.symbol == symbol)
    ]


@router.post(
    "/candles/import",
    status_code=202,
    response_model=JobOut,
    tags=["candles"],
    responses={
        **_BAD_INPUT,
        409: {"model": ErrorOut, "description": "An import of this symbol is already running."},
    },
)
def start_import(body: ImportRequest, request: Request, response: Response) -> dict[str, Any]:
    """Start importing 1m candles from the exchange as a background job; poll `GET /jobs/{id}`."""
    job = _ctx(request).start_import(body.exchange, body.symbol, body.start, body.end)
    response.headers["Location"] = f"/jobs/{job['id']}"
    return job


# ---------------------------------------------------------------------------------- jobs


@router.get("/jobs", response_model=list[JobOut], tags=["jobs"])
def list_jobs(request: Request) -> list[dict[str, Any]]:
    """Every job this server has run since it started (the most recent 200), newest first."""
    return _ctx(request).jobs.list()


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    tags=["jobs"],
    responses={404: {"model": ErrorOut, "description": "No such job."}},
)
def get_job(request: Request, job_id: str = Path(max_length=64)) -> dict[str, Any]:
    """A job's status (queued, running, finished, failed, cancelled), progress, counts, error."""
    job = _ctx(request).jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"job '{job_id}' not found; GET /jobs lists the known jobs")
    return job


@router.delete(
    "/jobs/{job_id}",
    status_code=202,
    response_model=JobOut,
    tags=["jobs"],
    responses={404: {"model": ErrorOut, "description": "No such job."}},
)
def cancel_job(request: Request, job_id: str = Path(max_length=64)) -> dict[str, Any]:
    """Ask a job to stop. Candles already stored are kept; a new import resumes from them."""
    job = _ctx(request).jobs.cancel(job_id)
    if job is None:
        raise HTTPException(404, f"job '{job_id}' not found; GET /jobs lists the known jobs")
    return job


# ------------------------------------------------------------------------------ backtest


@router.post(
    "/backtest",
    response_model=BacktestOut,
    tags=["backtest"],
    responses={
        422: {
            "model": StrategyErrorOut,
            "description": "Invalid input, missing candles, or the strategy raised "
            "(then `strategy`, `file` and `line` say where).",
        }
    },
)
def run_backtest(body: BacktestRequest, request: Request) -> JSONResponse:
    """Run a backtest and return the same JSON `jbt backtest --json` writes."""
    from jbt import report
    from jbt.modes import backtest_mode
    from jbt.results import RouteSpec

    ctx = _ctx(request)
    routes = [RouteSpec(**r.model_dump()) for r in body.routes]
    for route in routes:
        ctx.check_strategy(route.strategy)
    start_ms, end_ms = _period(body.start, body.end)
    config = ctx.config
    if body.config is not None and body.config.backtest is not None:
        overrides = body.config.backtest.model_dump(exclude_unset=True)
        config = config.with_overrides({"backtest": overrides}, source="request 'config'")
    with ctx.backtest_slots, ctx.db.connection_context():
        try:
            result = backtest_mode.run(
                config, routes, start_ms, end_ms, project_dir=ctx.project_dir, save=body.save,
                hyperparameters=body.hyperparameters,
            )
        except (SystemExit, KeyboardInterrupt) as exc:
            raise _strategy_exit(exc, ctx.project_dir) from exc
    return JSONResponse(public_result(report.result_dict(result)))


# ------------------------------------------------------------------------------ sessions


@router.get("/sessions", response_model=list[SessionSummary], tags=["sessions"])
def list_sessions(
    request: Request,
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=_INT64),
) -> list[dict[str, Any]]:
    """Saved backtest runs, newest first: period, routes, balances and metrics."""
    from jbt.api import sessions

    ctx = _ctx(request)
    with ctx.db.connection_context():
        return sessions.list_sessions(limit=limit, offset=offset)


@router.get(
    "/sessions/{session_id}",
    response_model=BacktestOut,
    tags=["sessions"],
    responses={
        404: {"model": ErrorOut, "description": "No such session."},
        409: {"model": ErrorOut, "description": "The run failed: `detail` has its error."},
    },
)
def get_session(request: Request, session_id: int = Path(ge=1, le=_INT64)) -> JSONResponse:
    """One saved run in the `jbt backtest --json` shape, value for value."""
    from jbt.api import sessions

    ctx = _ctx(request)
    with ctx.db.connection_context():
        data = sessions.session_dict(session_id)
    if data is None:
        raise HTTPException(404, f"session {session_id} not found; GET /sessions lists them")
    return JSONResponse(public_result(data))
