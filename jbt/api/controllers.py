"""The HTTP endpoints. Each one validates, calls the same mode function the CLI calls, and
returns its result as JSON.

The endpoints that read the database are plain ``def``: FastAPI runs them on its thread pool,
and each holds its own database connection for the request (``connection_context``).
``POST /backtest`` is a coroutine that waits for a worker process (:mod:`jbt.api.backtests`)
without holding a thread, so any number of waiting backtests leaves the readers their threads;
``POST /optimize`` waits the same way for its coordinator's checks
(:mod:`jbt.api.optimizations`); ``/jobs`` reads memory only and never needs a thread.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from jbt.api.backtests import Outcome, describe_exit
from jbt.api.context import STOPPING, ApiContext
from jbt.api.errors import error_body
from jbt.api.jobs import CANCELLED, FAILED, FINISHED, Job
from jbt.api.schemas import (
    BacktestOut,
    BacktestRequest,
    CoverageOut,
    ErrorOut,
    ImportRequest,
    JobOut,
    OptimizeRequest,
    SessionSummary,
    StrategyErrorOut,
    StudySummary,
)
from jbt.api.worker import BacktestTask, public_result

__all__ = ["router", "public_result"]

log = logging.getLogger("jbt.api")

router = APIRouter()

_BAD_INPUT: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorOut, "description": "Invalid input; `detail` says what to change."}
}
_INT64 = 2**63 - 1


def _ctx(request: Request) -> ApiContext:
    return request.app.state.jbt


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
async def list_jobs(request: Request) -> list[dict[str, Any]]:
    """Every job this server has run since it started (the most recent 200), newest first:
    imports, backtests and optimisations."""
    return _ctx(request).jobs.list()


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    tags=["jobs"],
    responses={404: {"model": ErrorOut, "description": "No such job."}},
)
async def get_job(request: Request, job_id: str = Path(max_length=64)) -> dict[str, Any]:
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
async def cancel_job(request: Request, job_id: str = Path(max_length=64)) -> dict[str, Any]:
    """Ask a job to stop. An import keeps the candles it stored (a new import resumes from
    them); a backtest's worker process is stopped and its request answers 409; an optimisation
    stops once the batch that runs is stored (the same `POST /optimize` continues it)."""
    job = _ctx(request).jobs.cancel(job_id)
    if job is None:
        raise HTTPException(404, f"job '{job_id}' not found; GET /jobs lists the known jobs")
    return job


# ------------------------------------------------------------------------------ backtest


_BUSY = {429: {"model": ErrorOut, "description": "Every slot is busy and the queue is full; "
                                                "`Retry-After` says when to try again."}}


@router.post(
    "/backtest",
    response_model=BacktestOut,
    tags=["backtest"],
    responses={
        422: {
            "model": StrategyErrorOut,
            "description": "Invalid input, missing candles, the strategy raised, or the run "
            "passed its time limit (`TimeLimitExceeded`); `strategy`, `file` and `line` say "
            "where when it is known.",
        },
        409: {"model": ErrorOut, "description": "Cancelled with `DELETE /jobs/{id}`."},
        413: {"model": ErrorOut, "description": "The body is larger than the server takes."},
        **_BUSY,
        503: {"model": ErrorOut, "description": "The server stopped while the backtest ran."},
    },
)
async def run_backtest(body: BacktestRequest, request: Request) -> Response:
    """Run a backtest in a worker process and return the same JSON `jbt backtest --json`
    writes. While it waits or runs it is a job in `GET /jobs` (kind `backtest`)."""
    from jbt.results import RouteSpec

    ctx = _ctx(request)
    routes = tuple(RouteSpec(**r.model_dump()) for r in body.routes)
    for route in routes:
        ctx.check_strategy(route.strategy)
    start_ms, end_ms = _period(body.start, body.end)
    config = ctx.config
    if body.config is not None and body.config.backtest is not None:
        overrides = body.config.backtest.model_dump(exclude_unset=True)
        config = config.with_overrides({"backtest": overrides}, source="request 'config'")
    if ctx.stopping is not None:
        raise HTTPException(503, f"{ctx.stopping}; send the backtest again once it is back")
    runner = ctx.backtests
    runner.admit()
    task = BacktestTask(
        config=config, project_dir=ctx.project_dir, routes=routes, start=start_ms, end=end_ms,
        save=body.save, hyperparameters=body.hyperparameters, time_limit=runner.time_limit,
    )
    job = ctx.jobs.track("backtest", {
        "routes": [asdict(r) for r in routes], "start": body.start, "end": body.end,
        "save": body.save,
    })

    async def interrupted() -> str | None:
        if ctx.stopping is not None:
            return ctx.stopping
        if job.cancel.is_set():
            return f"DELETE /jobs/{job.id}"
        if await request.is_disconnected():
            return "the client disconnected"
        return None

    began = time.monotonic()
    try:
        reason = await runner.acquire(interrupted)
        if reason is None and not ctx.jobs.start(job):
            # cancelled while it waited, and handed a slot before it saw that: pass it on
            runner.release()
            reason = await interrupted() or f"DELETE /jobs/{job.id}"
        if reason is not None:  # left the queue before it ran: nothing to record
            ctx.jobs.finish(job, CANCELLED, error=f"cancelled ({reason})")
            return _stopped_answer(job, reason)
        try:
            outcome = await runner.run(task, interrupted)
        finally:
            runner.release()
    except Exception as exc:  # answered by the app's handlers (a 500 for the unexpected)
        ctx.jobs.finish(job, FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    except BaseException:  # the request's task was cancelled (the server's shutdown timeout)
        ctx.jobs.finish(job, CANCELLED, error="cancelled (the request was cancelled)")
        raise
    return await _answer(ctx, job, task, outcome, time.monotonic() - began)


def _stopped_answer(job: Job, reason: str) -> JSONResponse:
    if reason == STOPPING:
        return JSONResponse(error_body(
            f"{reason}: backtest job {job.id} was cancelled; send it again once the server "
            "is back", "ServerStopping"), status_code=503)
    return JSONResponse(error_body(f"backtest job {job.id} was cancelled ({reason})",
                                   "Cancelled"), status_code=409)


async def _answer(
    ctx: ApiContext, job: Job, task: BacktestTask, outcome: Outcome, seconds: float
) -> Response:
    """The HTTP answer for how a backtest ended; the job's end; a session row for a run the
    worker could not record itself (stopped, out of time, died)."""
    header = outcome.header
    if outcome.kind == "ok":
        ctx.jobs.finish(job, FINISHED, result={
            "session_id": header.get("session_id"), "save_error": header.get("save_error"),
            "duration_s": round(outcome.seconds, 3),
        })
        return Response(outcome.body, media_type="application/json")
    if outcome.kind == "error":
        if header.get("log"):
            log.error("backtest job %s failed:\n%s", job.id, header["log"])
        ctx.jobs.finish(job, FAILED, error=header["body"]["detail"])
        return JSONResponse(header["body"], status_code=int(header["status"]))

    if outcome.kind == "stopped":
        status, error = CANCELLED, f"cancelled ({outcome.reason})"
        log.warning("backtest job %s %s", job.id, error)
        response: Response = _stopped_answer(job, outcome.reason or "cancelled")
    elif outcome.kind == "timeout":
        status, error = FAILED, str(outcome.reason)
        response = JSONResponse(error_body(
            error, "TimeLimitExceeded", strategy=None, file=None, line=None), status_code=422)
    elif outcome.kind == "died":
        status = FAILED
        error = (f"the backtest's worker process ended without an answer "
                 f"({describe_exit(outcome.exitcode)}): out of memory, or a strategy ended its "
                 "process")
        response = JSONResponse(error_body(error, "WorkerDied"), status_code=500)
    else:  # unstarted: it failed while importing the server's main module (see the log)
        status = FAILED
        error = (f"the backtest's worker process could not start "
                 f"({describe_exit(outcome.exitcode)}); the server log has its error. A server "
                 "started from your own script must start it under "
                 "'if __name__ == \"__main__\":' (worker processes import that script)")
        log.error("backtest job %s: %s", job.id, error)
        response = JSONResponse(error_body(error, "WorkerDied"), status_code=500)
    ctx.jobs.finish(job, status, error=error)
    if task.save and outcome.kind != "unstarted":  # a run that began is always recorded
        await run_in_threadpool(_record_unfinished, ctx, task, status, error, seconds)
    return response


def _record_unfinished(
    ctx: ApiContext, task: BacktestTask, status: str, error: str, seconds: float
) -> None:
    from jbt.sessions import SessionSaveError, save_unfinished

    try:
        with ctx.db.connection_context():
            save_unfinished(
                task.config.snapshot(), task.routes, task.start, task.end, status=status,
                error=error, duration_s=seconds,
                starting_balance=task.config.backtest.starting_balance,
            )
    except SessionSaveError as exc:
        log.warning("%s", exc)


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


# ------------------------------------------------------------------------------ optimize


@router.post(
    "/optimize",
    status_code=202,
    response_model=JobOut,
    tags=["optimize"],
    responses={
        422: {
            "model": StrategyErrorOut,
            "description": "Invalid input: the message `jbt optimize` gives for the same "
            "options (a bad search space, missing candles, a study of that name with other "
            "settings, a strategy that raised while the study was set up).",
        },
        409: {"model": ErrorOut, "description": "Cancelled with `DELETE /jobs/{id}` before "
                                                "its first trial."},
        413: {"model": ErrorOut, "description": "The body is larger than the server takes."},
        429: {"model": ErrorOut, "description": "An optimisation is running (one runs at a "
                                                "time); `Retry-After` is its estimated end."},
        503: {"model": ErrorOut, "description": "The server is stopping."},
    },
)
async def start_optimize(body: OptimizeRequest, request: Request) -> Response:
    """Check the options as `jbt optimize` does, then run the study as a background job: its
    coordinator and worker processes are the server's. `GET /jobs/{id}` follows it (trials
    done, trials/s, best so far, ETA), `DELETE /jobs/{id}` stops it once the batch that runs is
    stored; the same request continues the study. `GET /studies/{name}` has the results."""
    from jbt.api.optimizer import OptimizeTask
    from jbt.dates import parse_date
    from jbt.modes.optimize_mode import check_options
    from jbt.results import RouteSpec

    ctx = _ctx(request)
    runner = ctx.optimizations
    start_ms, end_ms = _period(body.start, body.end)
    test_ms = parse_date(body.test_start, name="test_start") if body.test_start else None
    jobs = body.jobs if body.jobs is not None else runner.max_jobs
    check_options(trials=body.trials, jobs=jobs, batch=body.batch, min_trades=body.min_trades,
                  seed=body.seed, sampler=body.sampler, test=body.test, test_start=test_ms,
                  objectives=body.objectives)
    routes = None
    if body.routes is not None:
        routes = tuple(RouteSpec(**r.model_dump()) for r in body.routes)
        for route in routes:
            ctx.check_strategy(route.strategy)
    config = ctx.config
    if body.config is not None and body.config.backtest is not None:
        overrides = body.config.backtest.model_dump(exclude_unset=True)
        config = config.with_overrides({"backtest": overrides}, source="request 'config'")
    if ctx.stopping is not None:
        raise HTTPException(503, f"{ctx.stopping}; send the optimisation again once it is back")
    used = min(jobs, runner.max_jobs)
    task = OptimizeTask(
        config=config, project_dir=ctx.project_dir, routes=routes, start=start_ms, end=end_ms,
        trials=body.trials, jobs=used, objectives=tuple(body.objectives or ()) or None,
        sampler=body.sampler, seed=body.seed, study=body.study, test=body.test,
        test_start=test_ms, min_trades=body.min_trades, space=tuple(body.space),
        hp=tuple(body.hp), batch=body.batch,
    )
    params = {
        "study": body.study, "routes": None if routes is None else [asdict(r) for r in routes],
        "start": body.start, "end": body.end, "trials": body.trials, "jobs": used,
        "objectives": body.objectives, "sampler": body.sampler, "seed": body.seed,
        "test": body.test, "test_start": body.test_start, "min_trades": body.min_trades,
        "space": body.space, "hp": body.hp, "batch": body.batch,
    }
    if used < jobs:
        params["jobs_requested"] = jobs
    run = runner.reserve(task, lambda: ctx.jobs.track("optimize", params), ctx.jobs)
    try:
        await run_in_threadpool(runner.launch, run, lambda: ctx.stopping)
    except Exception as exc:
        ctx.jobs.finish(run.job, FAILED, error=f"{type(exc).__name__}: {exc}")
        raise

    async def interrupted() -> str | None:
        return "the client disconnected" if await request.is_disconnected() else None

    checked = await runner.wait_checked(run, interrupted)
    if not checked or run.started is not None:
        job = ctx.jobs.get(run.job.id)
        return JSONResponse(job, status_code=202, headers={"Location": f"/jobs/{run.job.id}"})
    await runner.wait_ended(run)  # its processes are gone: the next request may start one
    if run.reason is not None:
        if runner.timed_out(run):
            return JSONResponse(error_body(run.reason, "TimeLimitExceeded"), status_code=422)
        if run.server_stop:
            return JSONResponse(error_body(
                f"{run.reason}: optimize job {run.job.id} was cancelled; send it again once the "
                "server is back", "ServerStopping"), status_code=503)
        return JSONResponse(error_body(
            f"optimize job {run.job.id} was cancelled ({run.reason})", "Cancelled"),
            status_code=409)
    if run.error is not None:
        return JSONResponse(run.error["body"], status_code=int(run.error["status"]))
    job = ctx.jobs.get(run.job.id) or {}
    return JSONResponse(error_body(job.get("error") or "the optimisation ended without an "
                                   "answer", "WorkerDied"), status_code=500)


def _study_summary(row: Any, running: dict[str, str]) -> dict[str, Any]:
    s = row.settings
    return {
        "study": row.name, "created_at": s.created_at,
        "routes": [asdict(r) for r in s.routes],
        "objectives": [o.to_dict() for o in s.objectives], "sampler": s.sampler,
        "seed": s.seed, "train": list(s.train), "test": list(s.test), "trials": row.trials,
        "feasible": row.complete, "best": row.best, "job": running.get(row.name),
    }


@router.get("/studies", response_model=list[StudySummary], tags=["optimize"])
def list_studies(request: Request) -> list[dict[str, Any]]:
    """The studies in the project database, oldest first (`jbt optimize list`): routes,
    objectives, sampler, periods, trials, feasible trials, the best training value, and the
    id of the job optimising it now."""
    from jbt.optimize.storage import StudyStore

    ctx = _ctx(request)
    store = StudyStore(ctx.config.database_url(), create=False)
    try:
        rows = store.studies()
    finally:
        store.close()
    run = ctx.optimizations.active
    running = {}
    if run is not None and run.started is not None:
        running[run.started["study"]] = run.job.id
    return [_study_summary(row, running) for row in rows]


@router.get(
    "/studies/{name}",
    tags=["optimize"],
    responses={404: {"model": ErrorOut, "description": "No such study."}},
)
def get_study(request: Request, name: str = Path(max_length=128)) -> JSONResponse:
    """A study: its settings, counts, ranking (best first), the Pareto front and every trial
    with its params, `hp_args` (the `--hp` values that reproduce it), status, objective values
    and every metric of the training and testing periods — the document
    `jbt optimize show NAME --json` writes."""
    from jbt.errors import InputError
    from jbt.modes.optimize_mode import open_study
    from jbt.optimize.report import study_dict

    ctx = _ctx(request)
    try:
        settings, records = open_study(ctx.config, name)
    except InputError as exc:
        raise HTTPException(404, str(exc)) from None
    return JSONResponse(study_dict(settings, records))
