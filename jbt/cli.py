"""The ``jbt`` command line: one small function per command.

Heavy modules (ccxt, fastapi, the engine) are imported inside the commands that need
them so ``jbt --help`` stays instant. Errors the user can fix are one line on stderr and a
non-zero exit code; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import typer.core

from jbt import __version__
from jbt.errors import JbtError

app = typer.Typer(
    name="jbt",
    help="Backtest crypto trading strategies: import candles, run backtests, serve the engine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class State:
    """What the global options set; commands build their services from it."""

    project_dir: Path = field(default_factory=Path.cwd)
    debug: bool = False
    _config: Any = None

    def config(self):
        """The project's config.toml, loaded once per command."""
        if self._config is None:
            from jbt.config import load_config

            self._config = load_config(self.project_dir)
        return self._config

    def open_db(self, *, create: bool = True):
        """Bind and open the project's database. Commands that write create it on first use;
        those that only read (``create=False``) get None when there is none yet, and create
        nothing."""
        from jbt.models import database_exists, open_database

        url = self.config().database_url()
        if not create and not database_exists(url):
            return None
        return open_database(url)


def _err(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"[bold red]Error:[/] {message}", markup=True
    )


def handle_errors(fn: F) -> F:
    """Turn user-fixable errors into one line and an exit code; tracebacks only with --debug.

    The decorated command takes ``ctx: typer.Context`` so the wrapper can read ``--debug``.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = next((a for a in (*args, *kwargs.values()) if hasattr(a, "find_object")), None)
        state = ctx.find_object(State) if ctx is not None else None
        debug = bool(state and state.debug)
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except JbtError as exc:
            if debug:
                raise
            _err(_escape(str(exc)))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            if debug:
                raise
            _err("interrupted; everything saved so far is kept")
            raise typer.Exit(130) from None
        except Exception as exc:  # noqa: BLE001 - last-resort message, traceback with --debug
            if debug:
                raise
            from jbt.dberrors import database_error_message

            message = database_error_message(exc)
            if message is None:
                message = f"{type(exc).__name__}: {exc} (run with --debug for the traceback)"
            _err(_escape(message))
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"jbt {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    project: Path = typer.Option(
        Path("."), "--project", "-p", help="Project folder (strategies/, routes.py, config.toml)."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """jbt: honest, fast backtests of crypto strategies from the command line."""
    if not project.is_dir():
        # a typo must not become a new project: only `jbt new --project DIR` creates one
        what = "is not a folder" if project.exists() else "does not exist"
        _err(_escape(f"--project {project} {what}; create a project with: "
                     f"jbt new --project {project}"))
        raise typer.Exit(2)
    ctx.obj = State(project_dir=project.resolve(), debug=debug)


def state(ctx: typer.Context) -> State:
    obj = ctx.find_object(State)
    return obj if obj is not None else State()


def main() -> None:
    """Console-script entry point."""
    app(prog_name="jbt")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


# --- jbt import-candles ----------------------------------------------------------------------


@app.command("import-candles")
@handle_errors
def import_candles_command(
    ctx: typer.Context,
    exchange: str = typer.Argument(..., help="binance, binance-futures, or any ccxt exchange id."),
    symbol: str = typer.Argument(..., help="Pair written like BTC-USDT."),
    start: str = typer.Argument(
        None, help="First minute to import, UTC: 2020-01-01 or 2020-01-01T12:30."
    ),
    end: str = typer.Option(
        None, "--end", help="Stop before this moment, UTC (default: the last closed minute)."
    ),
    file: Path = typer.Option(
        None,
        "--file",
        "-f",
        help="Import this file instead of the exchange: jbt CSV (.csv, .csv.gz) or a Binance "
        "kline file (.csv, .zip).",
    ),
    timeframe: str = typer.Option(
        None,
        "--timeframe",
        "-t",
        help="With --file: the file's timeframe (default: the most common step between rows).",
    ),
    refetch_gaps: bool = typer.Option(
        False,
        "--refetch-gaps",
        help="Ask the exchange again for minutes it had no candles for on earlier runs (and "
        "for the listing), in case it has filled them since.",
    ),
    funding: bool = typer.Option(
        False, "--funding",
        help="Import the funding-rate history of a perpetual contract (binance-futures) "
        "instead of candles.",
    ),
    mark: bool = typer.Option(
        False, "--mark",
        help="Import mark-price 1m candles of a perpetual contract (binance-futures) instead "
        "of trade candles; stored as EXCHANGE:mark.",
    ),
    source: str = typer.Option(
        "api", "--source",
        help="api: the exchange's REST API through ccxt; archive: Binance's public data files "
        "(binance, binance-futures), checksummed, then the API for the newest days.",
    ),
) -> None:
    """Import 1m candles from an exchange (a re-run resumes), or a file's candles with --file;
    a perpetual's funding rates (--funding) or mark prices (--mark); Binance's public data files
    with --source archive."""
    from jbt.errors import InputError

    if file is not None:
        if start is not None or end is not None:
            raise InputError("--file imports the whole file; START and --end are for exchanges")
        if refetch_gaps:
            raise InputError("--refetch-gaps is for exchange imports, not --file")
        if funding or mark or source != "api":
            raise InputError("--funding, --mark and --source are for exchange imports, not "
                             "--file")
        from rich.console import Console

        from jbt.importers.files import import_file
        from jbt.importers.render import file_progress, render_file_summary

        if not file.is_file():  # before the database is opened (and created)
            raise InputError(f"{file}: file not found")
        st = state(ctx)
        st.open_db()
        with file_progress(file) as progress:
            summary = import_file(exchange, symbol, file, timeframe, progress=progress)
        render_file_summary(summary, Console())
        return
    if timeframe is not None:
        raise InputError("--timeframe goes with --file; exchange imports fetch 1m candles")

    from jbt.modes import import_candles_mode

    if start is None:
        raise InputError(
            "give START, the first day to import (e.g. 2020-01-01), or --file PATH"
        )
    if funding or mark or source != "api":
        from jbt.modes import import_sources

        import_sources.run_cli(state(ctx), exchange, symbol, start, end, funding=funding,
                               mark=mark, source=source, refetch_gaps=refetch_gaps)
        return
    import_candles_mode.run_cli(state(ctx), exchange, symbol, start, end, refetch_gaps)


# --- jbt candles -----------------------------------------------------------------------------


@app.command("candles")
@handle_errors
def candles_command(ctx: typer.Context) -> None:
    """What is stored: exchange, symbol, timeframe, first, last, count, missing."""
    from rich.console import Console

    from jbt import candles
    from jbt.importers.render import render_coverage

    db = state(ctx).open_db(create=False)
    render_coverage(candles.coverage() if db is not None else [], Console())
    if db is not None:
        from jbt.funding import funding_coverage
        from jbt.importers.render import render_funding_coverage

        render_funding_coverage(funding_coverage(), Console())


# --- jbt backtest ----------------------------------------------------------------------------


class Breakdown(str, Enum):
    day = "day"
    week = "week"
    month = "month"


# The report and export options shared by `backtest` and `sessions show`.
TradesOpt = Annotated[bool, typer.Option("--trades", help="Also list every closed trade.")]
BreakdownOpt = Annotated[
    Breakdown | None,
    typer.Option("--breakdown", help="Also print the return of each UTC day, week or month."),
]
JsonOpt = Annotated[
    Path | None,
    typer.Option(
        "--json", dir_okay=False,
        help="Write the whole result (config, routes, metrics, trades, orders, equity) to this "
        "JSON file.",
    ),
]
CsvOpt = Annotated[
    Path | None,
    typer.Option(
        "--csv", file_okay=False,
        help="Write trades.csv, orders.csv and equity.csv into this folder.",
    ),
]
ChartOpt = Annotated[
    Path | None,
    typer.Option(
        "--chart", dir_okay=False,
        help="Write an interactive chart (one offline HTML page) here.",
    ),
]


def _report_and_export(
    result: Any,
    console: Any,
    *,
    trades: bool,
    breakdown: Breakdown | None,
    json_path: Path | None,
    csv_dir: Path | None,
    chart_path: Path | None,
) -> None:
    """Print the report (and the run's warnings), then write the exports asked for."""
    from jbt.notices import summarize
    from jbt.report import render_report, write_csv, write_json

    render_report(result, console, trades=trades,
                  breakdown=breakdown.value if breakdown is not None else None)
    for line in summarize(result.extra.get("warnings", [])):
        console.print(f"[yellow]Warning:[/] {_escape(line)}")
    from jbt.report import log_lines

    for line in log_lines(result):
        console.print(_escape(line))
    if json_path is not None:
        console.print(f"Wrote {_escape(str(write_json(result, json_path)))}")
    if csv_dir is not None:
        written = write_csv(result, csv_dir)
        names = ", ".join(p.name for p in written)
        console.print(f"Wrote {names} in {_escape(str(csv_dir))}")
    if chart_path is not None:
        from jbt.chart import write_chart
        from jbt.sessions import route_candles

        console.print(f"Wrote {_escape(str(write_chart(result, route_candles(result), chart_path)))}")


@app.command("backtest")
@handle_errors
def backtest_command(
    ctx: typer.Context,
    start: str = typer.Argument(
        None, help="First moment, UTC (default: the first with the full warm-up stored)."
    ),
    end: str = typer.Argument(
        None, help="End, UTC, exclusive: 2021-01-01 stops after 2020 (default: the stored end)."
    ),
    no_save: bool = typer.Option(False, "--no-save", help="Do not save the session."),
    walk_all: bool = typer.Option(
        False,
        "--walk-all",
        help="Walk every base candle instead of only those where an order can fill "
        "(verification: same trades, slower).",
    ),
    show_trades: TradesOpt = False,
    breakdown: BreakdownOpt = None,
    json_path: JsonOpt = None,
    csv_dir: CsvOpt = None,
    chart_path: ChartOpt = None,
    hp: list[str] = typer.Option(
        None,
        "--hp",
        metavar="NAME=VALUE",
        help="Set a strategy hyperparameter for this run (repeatable), e.g. --hp fast=12; "
        "Strategy.NAME=VALUE sets it for that strategy only. Checked against the declared type "
        "and min/max.",
    ),
    from_study: str = typer.Option(
        None, "--from-study", metavar="NAME",
        help="Run a trial of this study (jbt optimize): its routes and hyperparameters; START "
        "and END default to the study's testing period.",
    ),
    rank: int = typer.Option(
        1, "--rank", min=1, help="With --from-study: the trial of this rank (1 = the best).",
    ),
    storage: str = typer.Option(
        None, "--storage", metavar="URL",
        help="With --from-study: where the study is (default: the project's database).",
    ),
    symbols: str = typer.Option(
        None, "--symbols", metavar="A,B,...",
        help="Run the routes once per symbol (every route's symbol replaced), one session "
        "each, and print one comparison table.",
    ),
    symbols_file: Path = typer.Option(
        None, "--symbols-file", dir_okay=False, metavar="FILE",
        help="As --symbols, from a file: one symbol a line, # comments.",
    ),
    jobs: int = typer.Option(
        None, "--jobs", "-j", min=1,
        help="With --symbols: worker processes (default: one per CPU core).",
    ),
    ray: str = typer.Option(
        None, "--ray", metavar="ADDRESS",
        help="With --symbols: run the symbols on a Ray cluster (auto, HOST:PORT or "
        "ray://HOST:PORT), not with --jobs. Needs jbt[ray].",
    ),
) -> None:
    """Backtest the routes in routes.py and print a summary; the session is saved."""
    from rich.console import Console

    from jbt import routes as routes_mod
    from jbt.dates import parse_date
    from jbt.errors import CandlesMissingError
    from jbt.modes import backtest_mode
    from jbt.timeframes import to_ms

    st = state(ctx)
    config = st.config()
    start_ms = parse_date(start, name="START") if start else None
    end_ms = parse_date(end, name="END") if end else None
    console = Console(highlight=False, soft_wrap=True)
    if from_study is not None:
        from jbt.modes import optimize_mode

        trial = optimize_mode.backtest_of_trial(config, st.project_dir, from_study, rank,
                                                hp or [], storage)
        routes, extra, strategies, hyperparameters = (
            trial.routes, trial.extra, trial.strategies, trial.hyperparameters)
        if start_ms is None and end_ms is None:
            start_ms, end_ms = trial.test
        console.print(trial.describe(start_ms, end_ms), markup=False)
    else:
        if storage is not None or rank != 1:
            from jbt.errors import InputError

            raise InputError("--rank and --storage go with --from-study NAME")
        # everything that can be checked without candles is, before the database is touched
        declared = routes_mod.load_routes(st.project_dir)
        routes, extra = declared.routes, declared.extra_candles
        strategies = routes_mod.load_strategies(st.project_dir, routes)
        hyperparameters = None
        if hp:
            from jbt.strategies.hyperparameters import from_assignments

            hyperparameters = from_assignments(hp, [r.strategy for r in routes], strategies)
    if symbols is not None or symbols_file is not None or jobs is not None or ray is not None:
        _backtest_symbols(st, console, symbols, symbols_file, jobs, ray, routes, extra,
                          hyperparameters, start_ms, end_ms, save=not no_save,
                          fast_path=not walk_all, exports=dict(
                              trades=show_trades, breakdown=breakdown, json=json_path,
                              csv=csv_dir, chart=chart_path))
        return
    if st.open_db(create=False) is None:  # no database yet: nothing is stored, nothing created
        r = routes[0]
        warm_ms = config.backtest.warmup_candles * max(
            to_ms(x.timeframe) for x in routes if (x.exchange, x.symbol) == (
                r.exchange, r.symbol))
        raise CandlesMissingError(backtest_mode.no_candles_message(
            r.exchange, r.symbol, start_ms, end_ms, warm_ms, []))
    with _ctrl_c_is_interrupted():
        result = backtest_mode.run(
            config, routes, start_ms, end_ms, project_dir=st.project_dir,
            extra_candles=extra, save=not no_save, fast_path=not walk_all,
            strategies=strategies, hyperparameters=hyperparameters,
        )
    _report_and_export(result, console, trades=show_trades, breakdown=breakdown,
                       json_path=json_path, csv_dir=csv_dir, chart_path=chart_path)
    took = f"engine {result.duration_s:.2f}s, loading {result.extra.get('load_s', 0.0):.2f}s"
    if result.session_id is not None:
        console.print(f"Saved as session {result.session_id} ({took})")
    elif result.extra.get("save_error"):
        _err(_escape(f"not saved: {result.extra['save_error']}"))
        raise typer.Exit(1)
    else:
        console.print(f"Not saved ({took})")


def _backtest_symbols(st: State, console: Any, symbols: str | None, symbols_file: Path | None,
                      jobs: int | None, ray: str | None, routes: list[Any], extra: list[Any],
                      hyperparameters: Any, start_ms: int | None, end_ms: int | None, *,
                      save: bool, fast_path: bool, exports: dict[str, Any]) -> None:
    """``jbt backtest --symbols``: the routes once per symbol (jbt.modes.batch_mode)."""
    import os

    from jbt.errors import InputError
    from jbt.modes import backtest_mode, batch_mode
    from jbt.notices import summarize
    from jbt.parallel import ProcessExecutor, local_executor
    from jbt.report import BATCH_STATUS, batch_table
    from jbt.timeframes import to_ms

    if symbols is not None and symbols_file is not None:
        raise InputError("give --symbols or --symbols-file, not both")
    if symbols is None and symbols_file is None:
        raise InputError(f"{'--jobs' if jobs is not None else '--ray'} goes with --symbols or "
                         "--symbols-file")
    if ray is not None and jobs is not None:
        raise InputError("give --jobs or --ray, not both: with --ray every CPU of the cluster "
                         "runs symbols")
    ray_executor: Any = None
    if ray is not None:  # Ray installed and the address well formed, before anything else
        from jbt.optimize.ray_executor import RayMapExecutor

        ray_executor = RayMapExecutor(ray, st.project_dir)
    used = [f"--{k}" for k, v in exports.items() if v]
    if used:
        raise InputError(f"{used[0]} shows or exports one session; with --symbols, use "
                         f"jbt sessions show ID {used[0]} for the session of a symbol")
    names = (batch_mode.read_symbols_file(symbols_file) if symbols_file is not None
             else batch_mode.parse_symbols(symbols.split(",")))
    batch_mode.route_symbol(routes)
    jobs = min(jobs or os.cpu_count() or 1, len(names))
    config = st.config()
    if st.open_db(create=False) is None:  # no database yet: nothing stored, nothing created
        warm_ms = config.backtest.warmup_candles * max(to_ms(r.timeframe) for r in routes)
        for symbol in names:
            _err(_escape(f"{symbol}: " + backtest_mode.no_candles_message(
                routes[0].exchange, symbol, start_ms, end_ms, warm_ms, [])))
        raise typer.Exit(1)
    if ray_executor is not None:
        executor: Any = ray_executor
        executor.warm()  # connected (or one line) before anything runs
    else:
        executor = local_executor(jobs)
        if isinstance(executor, ProcessExecutor):
            executor.warm()  # the workers start while the tasks are made
    done = []

    def progress(outcome: Any) -> None:
        done.append(outcome)
        what = BATCH_STATUS.get(outcome.status, "done") if not outcome.ok else (
            f"session {outcome.session_id}" if outcome.session_id is not None else "done")
        if not outcome.ok and outcome.session_id is not None:
            what += f", session {outcome.session_id}"
        console.print(f"[{len(done)}/{len(names)}] {outcome.symbol}: {what} "
                      f"({outcome.duration_s:.2f}s)", markup=False)

    try:
        with _ctrl_c_is_interrupted():
            batch = batch_mode.run(config, st.project_dir, names, start_ms, end_ms,
                                   routes=routes, extra_candles=extra,
                                   hyperparameters=hyperparameters, save=save,
                                   fast_path=fast_path, executor=executor, on_outcome=progress)
    finally:
        executor.close(cancel=True)  # closed already unless the batch did not start
    console.print(batch_table(batch.outcomes))
    for o in batch.outcomes:
        for line in summarize(o.result.extra.get("warnings", [])) if o.ok else []:
            console.print(f"[yellow]Warning:[/] {_escape(f'{o.symbol}: {line}')}")
    ok = [o for o in batch.outcomes if o.ok]
    where = f"the {executor.where}" if hasattr(executor, "where") else (
        f"{batch.jobs} worker{'s' if batch.jobs > 1 else ''}")
    console.print(f"{len(ok)} of {len(names)} symbols ran in {batch.duration_s:.2f}s on "
                  f"{where}"
                  + (f"; saved as sessions {', '.join(str(o.session_id) for o in ok)}"
                     if save and ok and all(o.session_id is not None for o in ok) else ""),
                  markup=False)
    failed = False
    for o in batch.outcomes:
        if not o.ok:
            failed = True
            saved = f" (saved as failed session {o.session_id})" if o.session_id else ""
            _err(_escape(f"{o.symbol}: {o.error}{saved}"))
        elif save and o.result.extra.get("save_error"):
            failed = True
            _err(_escape(f"{o.symbol}: not saved: {o.result.extra['save_error']}"))
    if failed:
        raise typer.Exit(1)


@contextlib.contextmanager
def _ctrl_c_is_interrupted() -> Iterator[None]:
    """While the block runs, Ctrl-C raises :class:`jbt.errors.Interrupted`, so a
    KeyboardInterrupt that a strategy raises itself is told apart from the user's."""
    import signal

    from jbt.errors import Interrupted

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum: int, frame: Any) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# --- jbt sessions ----------------------------------------------------------------------------

sessions_app = typer.Typer(
    help="List the saved backtest sessions (newest first). 'jbt sessions show ID' prints a "
    "session's report again, without re-running it, and writes its exports.",
    invoke_without_command=True,
    no_args_is_help=False,
    rich_markup_mode=None,
)
app.add_typer(sessions_app, name="sessions")


@sessions_app.callback()
@handle_errors
def sessions_command(
    ctx: typer.Context,
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="Show at most this many."),
) -> None:
    """List the saved backtest sessions, newest first: id, created, status, routes, period,
    trades, net profit, Sharpe, duration. 'jbt sessions show ID' prints one again."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console

    from jbt.report import sessions_table
    from jbt.sessions import list_sessions

    db = state(ctx).open_db(create=False)
    rows = list_sessions(limit=limit) if db is not None else []
    console = Console(highlight=False, soft_wrap=True)
    if not rows:
        console.print("No saved sessions yet: every 'jbt backtest' saves one.")
        return
    console.print(sessions_table(rows))
    if any(r.status == "failed" for r in rows):
        console.print("'jbt sessions show ID' prints the error of a failed session.")


@sessions_app.command("show")
@handle_errors
def sessions_show_command(
    ctx: typer.Context,
    session_id: int = typer.Argument(..., metavar="ID", help="Session id (see 'jbt sessions')."),
    show_trades: TradesOpt = False,
    breakdown: BreakdownOpt = None,
    json_path: JsonOpt = None,
    csv_dir: CsvOpt = None,
    chart_path: ChartOpt = None,
) -> None:
    """Print a saved session's report again, without re-running it; the export flags work
    as in 'jbt backtest'."""
    from rich.console import Console

    from jbt.errors import InputError
    from jbt.report import fmt_time
    from jbt.sessions import HOW_TO_LIST, load_session

    if state(ctx).open_db(create=False) is None:
        raise InputError(f"no session {session_id}; {HOW_TO_LIST}")
    result = load_session(session_id)
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"Session {result.session_id}, saved {fmt_time(result.extra['created_at'])} UTC")
    _report_and_export(result, console, trades=show_trades, breakdown=breakdown,
                       json_path=json_path, csv_dir=csv_dir, chart_path=chart_path)


# --- jbt optimize ----------------------------------------------------------------------------


class _OptimizeGroup(typer.core.TyperGroup):
    """``jbt optimize [START] [END] ...`` runs a study; ``show``, ``list`` and ``delete`` are
    subcommands. Anything that is not a subcommand's name goes to the hidden ``run``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args or args[0] not in self.commands:
            args = ["run", *args]
        return super().parse_args(ctx, args)


class _OptimizeRun(typer.core.TyperCommand):
    """The hidden ``run`` command, shown as what the user types: ``jbt optimize ...``."""

    def format_usage(self, ctx: Any, formatter: Any) -> None:
        path = ctx.parent.command_path if ctx.parent is not None else "jbt optimize"
        formatter.write_usage(path, "[OPTIONS] [START] [END]")


optimize_app = typer.Typer(
    cls=_OptimizeGroup,
    help="Search strategy hyperparameters (Optuna): seeded, resumable, scored on a training "
    "and a testing period. 'jbt optimize show NAME' prints a study again; 'jbt optimize list' "
    "lists them.",
    no_args_is_help=False,
    rich_markup_mode=None,
)
app.add_typer(optimize_app, name="optimize")
StorageOpt = Annotated[
    str | None,
    typer.Option("--storage", metavar="URL",
                 help="Where studies are kept: an SQLAlchemy URL, e.g. postgresql://... "
                 "(default: the project's database)."),
]
RayOpt = Annotated[
    str | None,
    typer.Option("--ray", metavar="ADDRESS",
                 help="Run the trials on a Ray cluster instead of local processes: auto (the "
                 "cluster this machine belongs to), HOST:PORT (its head node) or "
                 "ray://HOST:PORT (Ray Client); every CPU of the cluster works, so not with "
                 "--jobs. Needs jbt[ray]."),
]


def _workers(jobs: int | None, ray: str | None, project_dir: Path) -> tuple[int, Any]:
    """``--jobs`` (default: one per CPU core) and the executor: local processes, or with
    ``--ray`` the cluster's (then ``--jobs`` is refused: the cluster's CPUs are the workers)."""
    if ray is None:
        import os

        return (jobs if jobs is not None else os.cpu_count() or 1), None
    from jbt.errors import InputError

    if jobs is not None:
        raise InputError("give --jobs or --ray, not both: with --ray every CPU of the "
                         "cluster runs trials")
    from jbt.optimize.ray_executor import RayExecutor

    return 1, RayExecutor(ray, project_dir)


@optimize_app.command("run", hidden=True, cls=_OptimizeRun)
@handle_errors
def optimize_command(
    ctx: typer.Context,
    start: str = typer.Argument(
        None, metavar="START",
        help="First moment, UTC (default: the first with the full warm-up stored).",
    ),
    end: str = typer.Argument(
        None, metavar="END", help="End, UTC, exclusive (default: the stored end)."
    ),
    trials: int = typer.Option(100, "--trials", "-n", help="Trials the study should have."),
    jobs: int = typer.Option(
        None, "--jobs", "-j", help="Worker processes running trials (default: one per CPU core)."
    ),
    objective: list[str] = typer.Option(
        None, "--objective", "-o", metavar="METRIC[:max|:min]",
        help="What to optimise on training: any report metric (sharpe, sortino, calmar, "
        "omega, net_profit, max_drawdown, win_rate, ...) or 'custom' (the strategy's "
        "objective(self, result)). Default: sharpe. Give it twice for two objectives.",
    ),
    sampler: str = typer.Option(
        "tpe", "--sampler", help="tpe, random, cmaes, grid or nsga2."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampler: same seed, same trials."),
    study: str = typer.Option(
        None, "--study", metavar="NAME",
        help="Study name; the same name continues it (default: STRATEGY-SYMBOL-TIMEFRAME).",
    ),
    test: str = typer.Option(
        None, "--test", metavar="SHARE",
        help="Share of the period kept for testing, at its end (default 30%).",
    ),
    test_start: str = typer.Option(
        None, "--test-start", metavar="DATE", help="Testing starts at DATE (instead of --test).",
    ),
    min_trades: int = typer.Option(
        1, "--min-trades", help="Trials with fewer training trades are infeasible."
    ),
    space: list[str] = typer.Option(
        None, "--space", metavar="NAME=LO:HI[:STEP]",
        help="Narrow a hyperparameter's range (inside its declared min/max), or NAME=A,B a "
        "categorical's options (repeatable).",
    ),
    hp: list[str] = typer.Option(
        None, "--hp", metavar="NAME=VALUE",
        help="Fix a hyperparameter instead of searching it (repeatable), as in jbt backtest.",
    ),
    batch: int = typer.Option(
        16, "--batch",
        help="Trials asked from the sampler at a time (part of the study; keep it at least "
        "twice --jobs).",
    ),
    shared: bool = typer.Option(
        False, "--shared",
        help="Work on one study with every process that runs it with --shared at the same "
        "time, on this machine or others (needs --storage postgresql://...); --trials is the "
        "study's total.",
    ),
    heartbeat: int = typer.Option(
        None, "--heartbeat", metavar="SECONDS",
        help="With --shared: seconds between heartbeats of a running trial; a trial silent for "
        "three is failed and run again by another process (default 10).",
    ),
    top: int = typer.Option(10, "--top", min=1, help="Trials shown at the end."),
    storage: StorageOpt = None,
    ray: RayOpt = None,
) -> None:
    """Search the routes' strategy hyperparameters: trials on a training period, each also
    run on the testing period. The same command continues an interrupted study. Also:
    'jbt optimize show NAME', 'jbt optimize list', 'jbt optimize delete NAME'."""
    import time

    from rich.console import Console

    from jbt.dates import parse_date
    from jbt.modes import optimize_mode
    from jbt.optimize.report import ProgressBar, render_study
    from jbt.timeframes import to_ms

    st = state(ctx)
    config = st.config()
    start_ms = parse_date(start, name="START") if start else None
    end_ms = parse_date(end, name="END") if end else None
    test_ms = parse_date(test_start, name="--test-start") if test_start else None
    if shared and ray is not None:
        from jbt.errors import InputError

        raise InputError("give --shared or --ray, not both: on a Ray cluster one coordinator "
                         "keeps the study (--shared is for several jbt processes without Ray)")
    jobs, executor = _workers(jobs, ray, st.project_dir)
    if st.open_db(create=False) is None:  # no database yet: no candles, nothing created
        from jbt import routes as routes_mod
        from jbt.errors import CandlesMissingError
        from jbt.modes import backtest_mode

        r = routes_mod.load_routes(st.project_dir).routes[0]
        warm = config.backtest.warmup_candles * to_ms(r.timeframe)
        raise CandlesMissingError(backtest_mode.no_candles_message(
            r.exchange, r.symbol, start_ms, end_ms, warm, []))
    console = Console(highlight=False, soft_wrap=True)
    began = time.perf_counter()
    with ProgressBar(console) as bar:
        try:
            result = optimize_mode.run(
                config, st.project_dir, start=start_ms, end=end_ms, trials=trials, jobs=jobs,
                shared=shared, heartbeat=heartbeat,
                objectives=objective, sampler=sampler, seed=seed, study=study, test=test,
                test_start=test_ms, min_trades=min_trades, space=space or (), hp=hp or (),
                batch=batch, storage=storage, executor=executor, on_start=bar.started,
                on_progress=bar.update,
            )
        except KeyboardInterrupt:
            if bar.settings is None:
                raise
            bar.__exit__()
            _err(f"interrupted: study {_escape(bar.settings.name)} has {bar.saved:,} trials "
                 "saved; run the same command to continue")
            raise typer.Exit(130) from None
    render_study(result.settings, result.records, console, top=top)
    ran = result.stats.ran
    took = time.perf_counter() - began
    rate = f", {ran / took:,.1f} trials/s" if ran and took > 0 else ""
    console.print(f"Ran {ran:,} trials in {took:,.1f}s{rate}; study {result.settings.name} has "
                  f"{len(result.records):,}.", markup=False)
    if ran and not any(r.status == "ok" for r in result.records) and all(
        r.status == "failed" for r in result.records
    ):
        raise typer.Exit(1)


@optimize_app.command("show")
@handle_errors
def optimize_show_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="Study name (see 'jbt optimize list')."),
    top: int = typer.Option(10, "--top", min=1, help="Trials shown."),
    json_path: Path = typer.Option(
        None, "--json", dir_okay=False, help="Write the study (settings, every trial) as JSON."
    ),
    csv_path: Path = typer.Option(
        None, "--csv", dir_okay=False,
        help="Write one row per trial (params, both periods' metrics) as CSV.",
    ),
    chart_path: Path = typer.Option(
        None, "--chart", dir_okay=False,
        help="Write the study's charts (history, importances, parallel coordinates, heatmap) "
        "as one offline HTML page.",
    ),
    storage: StorageOpt = None,
) -> None:
    """Print a study's top trials again, and write its exports."""
    from rich.console import Console

    from jbt.modes import optimize_mode
    from jbt.optimize.report import header_lines, render_study, write_csv, write_json

    st = state(ctx)
    settings, records = optimize_mode.open_study(st.config(), name, storage)
    console = Console(highlight=False, soft_wrap=True)
    for line in header_lines(settings):
        console.print(line, markup=False)
    render_study(settings, records, console, top=top)
    if json_path is not None:
        console.print(f"Wrote {_escape(str(write_json(settings, records, json_path)))}")
    if csv_path is not None:
        console.print(f"Wrote {_escape(str(write_csv(settings, records, csv_path)))}")
    if chart_path is not None:
        from jbt.optimize.chart import write_study_chart

        console.print(f"Wrote {_escape(str(write_study_chart(settings, records, chart_path)))}")


@optimize_app.command("list")
@handle_errors
def optimize_list_command(ctx: typer.Context, storage: StorageOpt = None) -> None:
    """The studies: name, created, routes, objective and sampler, trials, best value."""
    from rich.console import Console

    from jbt.optimize.report import studies_table
    from jbt.optimize.storage import StudyStore

    store = StudyStore(storage or state(ctx).config().database_url(), create=False)
    try:
        rows = store.studies()
    finally:
        store.close()
    console = Console(highlight=False, soft_wrap=True)
    if not rows:
        console.print("No studies yet: 'jbt optimize' starts one.")
        return
    console.print(studies_table(rows))


@optimize_app.command("delete")
@handle_errors
def optimize_delete_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="Study name."),
    yes: bool = typer.Option(False, "--yes", help="Really delete it and all its trials."),
    storage: StorageOpt = None,
) -> None:
    """Delete a study and its trials."""
    from jbt.errors import InputError
    from jbt.modes import optimize_mode
    from jbt.optimize.storage import StudyStore

    config = state(ctx).config()
    _, records = optimize_mode.open_study(config, name, storage)
    if not yes:
        raise InputError(f"this deletes study '{name}' and its {len(records):,} trials; "
                         "add --yes to go ahead")
    store = StudyStore(storage or config.database_url(), create=False)
    try:
        store.delete(name)
    finally:
        store.close()
    typer.echo(f"Deleted study {name} ({len(records):,} trials).")


# --- jbt walk-forward ------------------------------------------------------------------------

walk_forward_app = typer.Typer(
    cls=_OptimizeGroup,
    help="Walk-forward analysis: optimise on each window's training part, backtest the best "
    "parameters on the testing part after it, stitch the out-of-sample runs. 'jbt walk-forward "
    "show ID' prints a run again; 'jbt walk-forward list' lists them.",
    no_args_is_help=False,
    rich_markup_mode=None,
)
app.add_typer(walk_forward_app, name="walk-forward")


def _wf_exports(res: Any, console: Any, json_path: Path | None, csv_dir: Path | None,
                chart_path: Path | None) -> None:
    from jbt.validation.report import write_wf_csv, write_wf_json

    if json_path is not None:
        console.print(f"Wrote {_escape(str(write_wf_json(res, json_path)))}")
    if csv_dir is not None:
        names = ", ".join(p.name for p in write_wf_csv(res, csv_dir))
        console.print(f"Wrote {names} in {_escape(str(csv_dir))}")
    if chart_path is not None:
        from jbt.validation.chart import write_walk_forward_chart

        console.print(f"Wrote {_escape(str(write_walk_forward_chart(res, chart_path)))}")


WfJsonOpt = Annotated[Path | None, typer.Option(
    "--json", dir_okay=False, help="Write the run (settings, windows with their trials, "
    "stitched out-of-sample result) as JSON.")]
WfCsvOpt = Annotated[Path | None, typer.Option(
    "--csv", file_okay=False, help="Write windows.csv and the stitched trades.csv, orders.csv, "
    "equity.csv into this folder.")]
WfChartOpt = Annotated[Path | None, typer.Option(
    "--chart", dir_okay=False, help="Write the stitched out-of-sample chart with the windows "
    "(one offline HTML page).")]


@walk_forward_app.command("run", hidden=True, cls=_OptimizeRun)
@handle_errors
def walk_forward_command(
    ctx: typer.Context,
    start: str = typer.Argument(None, metavar="START",
                                help="First moment, UTC (default: the first with the full "
                                "warm-up stored)."),
    end: str = typer.Argument(None, metavar="END", help="End, UTC, exclusive (default: the "
                              "stored end)."),
    train: str = typer.Option("180d", "--train", help="Training part of each window: 180d, "
                              "26w, 12h ..."),
    test: str = typer.Option("30d", "--test", help="Testing (out-of-sample) part of each "
                             "window."),
    step: str = typer.Option(None, "--step", help="How far each window moves on (default: "
                             "--test)."),
    anchored: bool = typer.Option(False, "--anchored", help="Every window trains from START "
                                  "(an expanding training part)."),
    trials: int = typer.Option(100, "--trials", "-n", help="Trials a window."),
    jobs: int = typer.Option(None, "--jobs", "-j", help="Worker processes running trials "
                             "(default: one per CPU core)."),
    objective: list[str] = typer.Option(None, "--objective", "-o", metavar="METRIC[:max|:min]",
                                        help="What to optimise on training, as in jbt "
                                        "optimize (default: sharpe)."),
    sampler: str = typer.Option("tpe", "--sampler", help="tpe, random, cmaes, grid or nsga2."),
    seed: int = typer.Option(0, "--seed", help="Seed of the run: window k's sampler seed is "
                             "derived from it."),
    min_trades: int = typer.Option(1, "--min-trades", help="Trials with fewer training trades "
                                   "are infeasible."),
    space: list[str] = typer.Option(None, "--space", metavar="NAME=LO:HI[:STEP]",
                                    help="Narrow a hyperparameter's range (repeatable)."),
    hp: list[str] = typer.Option(None, "--hp", metavar="NAME=VALUE",
                                 help="Fix a hyperparameter instead of searching it."),
    batch: int = typer.Option(16, "--batch", help="Trials asked from the sampler at a time."),
    name: str = typer.Option(None, "--name", help="A name for the run (default: "
                             "STRATEGY-SYMBOL-TIMEFRAME)."),
    no_save: bool = typer.Option(False, "--no-save", help="Save neither the run nor the "
                                 "out-of-sample sessions."),
    json_path: WfJsonOpt = None,
    csv_dir: WfCsvOpt = None,
    chart_path: WfChartOpt = None,
    ray: RayOpt = None,
) -> None:
    """Walk-forward analysis of the routes' strategies; the same command continues an
    interrupted run. Also: 'jbt walk-forward show ID', 'jbt walk-forward list'."""
    from rich.console import Console

    from jbt.dates import parse_date
    from jbt.modes import walkforward_mode
    from jbt.validation.report import WalkForwardProgress, render_walk_forward

    st = state(ctx)
    config = st.config()
    start_ms = parse_date(start, name="START") if start else None
    end_ms = parse_date(end, name="END") if end else None
    jobs, executor = _workers(jobs, ray, st.project_dir)
    _need_candles(st, config, start_ms, end_ms)
    console = Console(highlight=False, soft_wrap=True)
    with WalkForwardProgress(console) as bar:
        res = walkforward_mode.run(
            config, st.project_dir, start=start_ms, end=end_ms, train=train, test=test,
            step=step, anchored=anchored, trials=trials, jobs=jobs, objectives=objective,
            sampler=sampler, seed=seed, min_trades=min_trades, space=space or (), hp=hp or (),
            batch=batch, name=name, save=not no_save, executor=executor,
            on_window=bar.window,
            on_progress=bar.update, on_window_done=bar.window_done,
        )
    if res.continued:
        console.print(f"Continued: {res.continued} window(s) were stored by an earlier run.")
    render_walk_forward(res, console)
    _wf_exports(res, console, json_path, csv_dir, chart_path)
    saved = f"Saved as walk-forward {res.run_id}" if res.run_id is not None else "Not saved"
    console.print(f"{saved} ({res.seconds:,.1f}s).", markup=False)


def _need_candles(st: State, config: Any, start_ms: int | None, end_ms: int | None) -> None:
    """No database yet: no candles, and nothing is created; the import command instead."""
    if st.open_db(create=False) is not None:
        return
    from jbt import routes as routes_mod
    from jbt.errors import CandlesMissingError
    from jbt.modes import backtest_mode
    from jbt.timeframes import to_ms

    r = routes_mod.load_routes(st.project_dir).routes[0]
    warm = config.backtest.warmup_candles * to_ms(r.timeframe)
    raise CandlesMissingError(backtest_mode.no_candles_message(
        r.exchange, r.symbol, start_ms, end_ms, warm, []))


@walk_forward_app.command("show")
@handle_errors
def walk_forward_show_command(
    ctx: typer.Context,
    run_id: int = typer.Argument(..., metavar="ID", help="Run id (see 'jbt walk-forward list')."),
    json_path: WfJsonOpt = None,
    csv_dir: WfCsvOpt = None,
    chart_path: WfChartOpt = None,
) -> None:
    """Print a saved walk-forward run again (its out-of-sample sessions stitched again), and
    write its exports."""
    from rich.console import Console

    from jbt.errors import InputError
    from jbt.modes import walkforward_mode
    from jbt.validation.report import render_walk_forward

    st = state(ctx)
    if st.open_db(create=False) is None:
        raise InputError(f"no walk-forward run {run_id}; run 'jbt walk-forward' first")
    res = walkforward_mode.show(st.config(), run_id)
    console = Console(highlight=False, soft_wrap=True)
    if res.status != "finished":
        console.print(f"Walk-forward {run_id} is {res.status}: {len(res.windows)} of "
                      f"{len(res.settings.get('windows', []))} windows stored; the same command "
                      "continues it.", markup=False)
    render_walk_forward(res, console)
    _wf_exports(res, console, json_path, csv_dir, chart_path)


@walk_forward_app.command("list")
@handle_errors
def walk_forward_list_command(
    ctx: typer.Context,
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="Show at most this many."),
) -> None:
    """The saved walk-forward runs, newest first."""
    from rich.console import Console

    from jbt.modes import walkforward_mode
    from jbt.validation.report import runs_table

    st = state(ctx)
    rows = walkforward_mode.list_runs(limit) if st.open_db(create=False) is not None else []
    console = Console(highlight=False, soft_wrap=True)
    if not rows:
        console.print("No walk-forward runs yet: 'jbt walk-forward START END' starts one.")
        return
    console.print(runs_table(rows))


# --- jbt robustness --------------------------------------------------------------------------


@app.command("robustness")
@handle_errors
def robustness_command(
    ctx: typer.Context,
    session_id: int = typer.Argument(None, metavar="[ID]", help="A saved session (see 'jbt "
                                     "sessions'); or give --study NAME."),
    study: str = typer.Option(None, "--study", metavar="NAME", help="A study's trial instead "
                              "of a session: deflated Sharpe ratio and overfitting probability "
                              "too."),
    rank: int = typer.Option(1, "--rank", min=1, help="With --study: the trial of this rank."),
    period: str = typer.Option("test", "--period", help="With --study: the period its trial "
                               "is backtested on: test, train or all."),
    storage: str = typer.Option(None, "--storage", metavar="URL", help="With --study: where "
                                "the study is (default: the project's database)."),
    seed: int = typer.Option(0, "--seed", help="Seed of every random draw."),
    scenarios: int = typer.Option(1000, "--scenarios", help="Trade-sequence scenarios per "
                                  "method (shuffle, bootstrap)."),
    drawdown: list[str] = typer.Option(None, "--drawdown", metavar="PCT", help="Report the "
                                       "probability of a drawdown this deep (repeatable; "
                                       "default 10%, 20%, 30%)."),
    paths: int = typer.Option(50, "--paths", help="Candle paths of each kind (block "
                              "bootstrap, noise); 0 skips them."),
    block: str = typer.Option("1d", "--block", help="Block length of the bootstrap: 1d, 12h, "
                              "1w ..."),
    noise: str = typer.Option("0.1%", "--noise", help="Standard deviation of the noise on each "
                              "price."),
    warmups: str = typer.Option(None, "--warmups", metavar="N,N,...", help="warmup_candles "
                                "values to try (default: 10% to 200% of the configured)."),
    pbo_blocks: int = typer.Option(16, "--pbo-blocks", help="CSCV: blocks the training days "
                                   "are cut into (even)."),
    effective_trials: int = typer.Option(None, "--effective-trials", metavar="N",
                                         help="Deflated Sharpe: the number of independent "
                                         "trials (default: the study's distinct feasible "
                                         "trials)."),
    skip: str = typer.Option(None, "--skip", metavar="A,B", help="Leave out some of: trades, "
                             "paths, sharpe, pbo, warmup."),
    jobs: int = typer.Option(None, "--jobs", "-j", help="Worker processes for the price paths "
                             "and the trials' returns (default: one per CPU core)."),
    json_path: Path = typer.Option(None, "--json", dir_okay=False, help="Write every figure "
                                   "(and the scenarios' values) as JSON."),
    chart_path: Path = typer.Option(None, "--chart", dir_okay=False, help="Write the "
                                    "distributions and fan charts (one offline HTML page)."),
    ray: RayOpt = None,
) -> None:
    """How much of a backtest is luck: trade-sequence Monte Carlo, price paths, the deflated
    Sharpe ratio, the probability of backtest overfitting, warm-up sensitivity."""
    from rich.console import Console

    from jbt.errors import InputError
    from jbt.modes import robustness_mode
    from jbt.validation.report import render_robustness, write_robustness_json

    st = state(ctx)
    if study is None and (rank != 1 or storage is not None or period != "test"):
        raise InputError("--rank, --period and --storage go with --study NAME")
    if st.open_db(create=False) is None:
        raise InputError("no database yet: run 'jbt backtest' or 'jbt optimize' first")
    jobs, executor = _workers(jobs, ray, st.project_dir)
    console = Console(highlight=False, soft_wrap=True)
    doc = robustness_mode.run(
        st.config(), st.project_dir, session_id=session_id, study=study, rank=rank,
        period=period, storage=storage, seed=seed, scenarios=scenarios,
        drawdowns=drawdown or ("10%", "20%", "30%"), paths=paths, block=block, noise=noise,
        warmups=warmups, blocks=pbo_blocks, effective_trials=effective_trials,
        skip=[s.strip() for s in (skip or "").split(",") if s.strip()], jobs=jobs,
        executor=executor,
        on_step=lambda text: console.print(f"{text} ...", markup=False),
    )
    render_robustness(doc, console)
    if json_path is not None:
        console.print(f"Wrote {_escape(str(write_robustness_json(doc, json_path)))}")
    if chart_path is not None:
        from jbt.validation.chart import write_robustness_chart

        console.print(f"Wrote {_escape(str(write_robustness_chart(doc, chart_path)))}")


# --- jbt new ---------------------------------------------------------------------------------


@app.command("new")
@handle_errors
def new_command(
    ctx: typer.Context,
    name: str = typer.Argument(None, help="Strategy class name, e.g. MyStrategy."),
    project: Path = typer.Option(
        None, "--project", help="Create a complete project folder here instead."
    ),
) -> None:
    """Scaffold a strategy (strategies/NAME) or, with --project DIR, a whole project."""
    from jbt import scaffold
    from jbt.errors import InputError

    st = state(ctx)
    if project is not None:
        made = scaffold.new_project(project.resolve(), name or scaffold.EXAMPLE_STRATEGY)
        rel = made.sample.relative_to(made.root)
        typer.echo(f"Created project {made.root}")
        for path in made.files:
            typer.echo(f"  {path.relative_to(made.root)}")
        typer.echo("Next:")
        typer.echo(f"  cd {made.root}")
        typer.echo(f"  jbt import-candles coinbase BTC-USD --file {rel}")
        typer.echo("  jbt backtest")
        return
    if not name:
        raise InputError("give a strategy name (jbt new MyStrategy) or --project DIR")
    path = scaffold.new_strategy(st.project_dir, name)
    typer.echo(f"Created {path}")
    typer.echo(f"Add it to {st.project_dir / 'routes.py'} to run it, for example:")
    typer.echo(f"  {scaffold.route_hint(st.project_dir, name)}")


# --- jbt port --------------------------------------------------------------------------------


@app.command("port")
@handle_errors
def port_command(
    ctx: typer.Context,
    path: Path = typer.Argument(
        ..., help="A Jesse project, a Jesse strategy folder, or a folder of strategy folders."
    ),
) -> None:
    """Copy Jesse strategies (and a project's helper packages and routes) into this project,
    rewriting only their import lines. Never overwrites."""
    from jbt.porting import port

    st = state(ctx)
    report = port(path, st.project_dir)
    for line in report.lines:
        typer.echo(line)
    for warning in report.warnings:
        typer.echo(f"warning: {warning}")
    for conflict in report.conflicts:
        typer.echo(f"not overwritten: {conflict}")
    typer.echo(f"{len(report.written)} file(s) written, {len(report.unchanged)} already there "
               f"and unchanged, {len(report.conflicts)} left as they were"
               + (" (nothing to do)" if not report.written and not report.conflicts else ""))
    if report.conflicts:
        raise typer.Exit(1)


# --- jbt serve -------------------------------------------------------------------------------


@app.command("serve")
@handle_errors
def serve_command(
    ctx: typer.Context,
    host: str = typer.Option(
        None, "--host", help="Address to listen on (default: [server] host, 127.0.0.1)."
    ),
    port: int = typer.Option(
        None, "--port", min=1, max=65535, help="Port (default: [server] port, 8000)."
    ),
    token: str = typer.Option(
        None,
        "--token",
        help="Require 'Authorization: Bearer TOKEN' on every request (default: the "
        "JBT_SERVER_TOKEN variable or [server] token). Required off loopback.",
    ),
) -> None:
    """Serve the HTTP API with uvicorn (OpenAPI docs at /docs)."""
    from jbt.api.auth import check_bind

    st = state(ctx)
    config = st.config()
    host = host or config.server.host
    port = port or config.server.port
    token = token if token is not None else config.server.token
    check_bind(host, token)  # before anything starts
    st.open_db().close()  # a bad database URL is one line here, not a startup traceback

    from jbt.api import create_app
    from jbt.api.app import serve

    api = create_app(config, st.project_dir, token=token, host=host)
    shown = f"[{host}]" if ":" in host else host
    guard = "; every request needs the token" if token else ""
    typer.echo(f"jbt API for {st.project_dir} on http://{shown}:{port} (docs: /docs){guard}")
    serve(api, host, port)
