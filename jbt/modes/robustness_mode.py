"""``jbt robustness`` as a function: how much of a backtest's result is luck.

The backtest is a saved session (``jbt robustness ID``) or a study's trial (``--study NAME
[--rank K] [--period test|train|all]``: its hyperparameters backtested on that period of the
study, as ``jbt backtest --from-study`` does). Then, each unless skipped:

- ``trades``: the trade-sequence Monte Carlo of its closed trades
  (:mod:`jbt.validation.montecarlo`);
- ``paths``: the strategy re-run on candle paths (block bootstrap and noise,
  :mod:`jbt.validation.paths`) on the executor;
- ``sharpe``: with a study, the deflated Sharpe ratio of the trial among the study's feasible
  trials (their training Sharpe ratios; the trial's daily training returns recomputed);
  without one, the probabilistic Sharpe ratio against 0 of the session's daily returns;
- ``pbo``: with a study, the probability of backtest overfitting by CSCV on the daily training
  returns of its feasible trials (one per distinct parameter set), recomputed on the executor;
- ``warmup``: the same backtest with other ``warmup_candles``; the smallest warm-up from which
  the trades stop changing.

Every random draw is seeded from ``--seed`` (see each module), so the same command gives the
same figures whatever the number of workers. Nothing is written to the database.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jbt.config import Config
from jbt.errors import InputError, JbtError
from jbt.optimize.executors import Executor, ProcessExecutor
from jbt.results import BacktestResult, ClosedTrade, RouteSpec

ANALYSES = ("trades", "paths", "sharpe", "pbo", "warmup")
PERIODS = ("test", "train", "all")
#: relative tolerance of prices and sizes when two runs' trades are compared
TRADE_TOLERANCE = 1e-9


@dataclass
class Source:
    """The backtest the checks are about, and how to run it again."""

    label: str
    config: Config
    routes: list[RouteSpec]
    extra: list[tuple[str, str, str]]
    strategies: dict[str, type]
    hyperparameters: dict[str, dict[str, Any]]
    start: int
    end: int
    result: BacktestResult
    study: Any = None  # (settings, records, record) with --study
    notes: list[str] = field(default_factory=list)


def parse_share(text: str, option: str) -> float:
    """``20%`` or ``0.2``: a fraction in (0, 1)."""
    raw = text.strip()
    try:
        v = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise InputError(f"{option} '{text}': give a percentage, e.g. {option} 20%") from None
    if not 0 < v < 1:
        raise InputError(f"{option} '{text}': must be between 0% and 100%")
    return v


def parse_warmups(text: str | None, configured: int) -> list[int]:
    """``--warmups 20,50,100`` (default: fractions of the configured warm-up, and it)."""
    if text is None:
        if configured <= 0:
            return [0, 10, 25, 50, 100, 200]
        fracs = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
        return sorted({max(1, round(configured * f)) for f in fracs} | {configured})
    try:
        values = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise InputError(f"--warmups '{text}': give whole numbers of candles, e.g. "
                         "--warmups 20,50,100,200") from None
    if len(values) < 2 or values[0] < 0:
        raise InputError("--warmups needs two or more warm-ups of 0 candles or more")
    return values


def run(
    config: Config,
    project_dir: Path | str | None = None,
    *,
    session_id: int | None = None,
    study: str | None = None,
    rank: int = 1,
    period: str = "test",
    storage: str | None = None,
    seed: int = 0,
    scenarios: int = 1000,
    drawdowns: Sequence[str] = ("10%", "20%", "30%"),
    paths: int = 50,
    block: str = "1d",
    noise: str = "0.1%",
    warmups: str | None = None,
    blocks: int = 16,
    effective_trials: int | None = None,
    skip: Sequence[str] = (),
    jobs: int = 1,
    executor: Executor | None = None,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The checks as one JSON-able document (what ``--json`` writes and the report prints)."""
    from jbt.validation.windows import fmt_duration, parse_duration

    project = Path(project_dir) if project_dir is not None else config.project_dir
    if (session_id is None) == (study is None):
        raise InputError("give a session ID (jbt sessions lists them) or --study NAME")
    unknown = [s for s in skip if s not in ANALYSES]
    if unknown:
        raise InputError(f"--skip {unknown[0]}: use any of {', '.join(ANALYSES)}")
    if period not in PERIODS:
        raise InputError(f"--period {period}: use test, train or all")
    if seed < 0:
        raise InputError("--seed must be a non-negative integer")
    if scenarios < 1:
        raise InputError("--scenarios must be at least 1")
    if paths < 0:
        raise InputError("--paths cannot be negative")
    if jobs < 1:
        raise InputError("--jobs must be at least 1")
    if effective_trials is not None and effective_trials < 2:
        raise InputError("--effective-trials must be at least 2")
    levels = [parse_share(d, "--drawdown") for d in drawdowns]
    block_ms = parse_duration(block, "--block")
    sigma = parse_share(noise, "--noise")
    if blocks < 2 or blocks % 2:
        raise InputError(f"--pbo-blocks {blocks}: give an even number, 2 or more (16 is "
                         "the paper's)")
    step = on_step or (lambda _text: None)
    src = _source_of_session(config, project, session_id) if session_id is not None else (
        _source_of_study(config, project, study, rank, period, storage))
    wanted = [a for a in ANALYSES if a not in skip]
    if src.study is None:
        wanted = [a for a in wanted if a != "pbo"]
    warm_values = parse_warmups(warmups, src.config.backtest.warmup_candles) \
        if "warmup" in wanted else []

    r = src.result
    doc: dict[str, Any] = {
        "source": {"label": src.label, "session_id": session_id, "study": study,
                   "rank": rank if study else None, "period": period if study else None,
                   "start": src.start, "end": src.end,
                   "hyperparameters": src.hyperparameters, "trades": len(r.trades),
                   "metrics": r.metrics},
        "seed": seed, "notes": src.notes, "skipped": {},
    }
    doc["header"] = [f"Robustness of {src.label}", _describe(r)]
    if study is None and "pbo" not in skip:
        doc["skipped"]["pbo"] = ("the probability of overfitting needs the trials of a study: "
                                 "give --study NAME")

    if "trades" in wanted:
        step(f"Trade-sequence Monte Carlo: {scenarios:,} scenarios")
        from jbt.validation.montecarlo import trade_monte_carlo

        if len(r.trades) < 2:
            doc["skipped"]["trades"] = (f"the trade Monte Carlo needs two or more closed trades "
                                        f"(the run has {len(r.trades)})")
        else:
            doc["trades"] = trade_monte_carlo(r.trades, r.starting_balance,
                                              scenarios=scenarios, seed=seed,
                                              drawdowns=levels).to_dict()

    needs_executor = ("paths" in wanted and paths > 0) or (
        src.study is not None and ("sharpe" in wanted or "pbo" in wanted))
    executor = executor if executor is not None else (
        ProcessExecutor(jobs) if needs_executor else None)
    try:
        if "paths" in wanted and paths > 0:
            step(f"Price paths: {paths} block-bootstrap and {paths} noise paths on "
                 f"{executor.jobs} worker{'s' if executor.jobs != 1 else ''}")
            doc["paths"] = _paths(src, executor, seed, paths, block_ms, sigma)
            doc["paths"]["block_text"] = fmt_duration(block_ms)
        elif "paths" in wanted:
            doc["skipped"]["paths"] = "--paths 0"
        if src.study is not None and ("sharpe" in wanted or "pbo" in wanted):
            step("Deflated Sharpe ratio and overfitting: the study's trials' daily training "
                 f"returns on {executor.jobs} worker{'s' if executor.jobs != 1 else ''}")
            _study_checks(src, executor, doc, wanted, blocks, effective_trials)
        elif "sharpe" in wanted:
            doc["sharpe"] = _psr(r)
        if executor is not None:
            executor.close()
    except BaseException:
        if executor is not None:
            executor.close(cancel=True)
        raise
    if "warmup" in wanted:
        step(f"Warm-up sensitivity: {len(warm_values)} backtests")
        doc["warmup"] = _warmup(src, warm_values)
    return doc


def _describe(r: BacktestResult) -> str:
    from jbt.report import fmt_date

    m = r.metrics
    ret = m.get("total_return")
    sharpe = m.get("sharpe")
    routes = ", ".join(f"{x.strategy} {x.symbol} {x.timeframe} ({x.exchange})" for x in r.routes)
    return (f"{routes}; {fmt_date(r.start)} → {fmt_date(r.end)}; {len(r.trades)} trades, "
            f"return {'n/a' if ret is None else f'{ret * 100:.2f}%'}, Sharpe "
            f"{'n/a' if sharpe is None else f'{sharpe:.2f}'}")


# ----------------------------------------------------------------------------- sources


def _backtest_config(config: Config, backtest: dict[str, Any]) -> Config:
    return config.with_overrides({"backtest": dict(backtest)}, source="the run's settings")


def _source_of_session(config: Config, project: Path, session_id: int) -> Source:
    from jbt import routes as routes_mod
    from jbt.sessions import load_session

    r = load_session(session_id)
    cfg = _backtest_config(config, r.config.get("backtest") or {})
    routes = list(r.routes)
    strategies = routes_mod.load_strategies(project, routes)
    notes = []
    declared = routes_mod.load_routes(project)
    extra: list[tuple[str, str, str]] = []
    if list(declared.routes) == routes:
        extra = list(declared.extra_candles)
    elif declared.extra_candles:
        notes.append("routes.py has other routes than the session: its extra_candles are not "
                     "given to the re-runs")
    hp = {k: dict(v) for k, v in (r.config.get("hyperparameters") or {}).items()}
    return Source(f"session {session_id}", cfg, routes, extra, strategies, hp, r.start, r.end,
                  r, notes=notes)


def _source_of_study(config: Config, project: Path, name: str, rank: int, period: str,
                     storage: str | None) -> Source:
    from jbt.modes import backtest_mode
    from jbt.modes.optimize_mode import backtest_of_trial, open_study

    trial = backtest_of_trial(config, project, name, rank, (), storage)
    s = trial.settings
    _, records = open_study(config, name, storage)
    cfg = _backtest_config(config, s.backtest)
    start, end = {"test": s.test, "train": s.train, "all": (s.train[0], s.test[1])}[period]
    from jbt.models import database_proxy, open_database

    if database_proxy.obj is None:
        open_database(config.database_url())
    result = backtest_mode.run(cfg, trial.routes, start, end, project_dir=project,
                               extra_candles=trial.extra, save=False,
                               strategies=trial.strategies,
                               hyperparameters=trial.hyperparameters)
    label = (f"study {name}, trial {trial.record.number} (rank {rank}), "
             f"{'training and testing' if period == 'all' else period + 'ing'} period")
    return Source(label, cfg, trial.routes, trial.extra, trial.strategies,
                  trial.hyperparameters, start, end, result,
                  study=(s, records, trial.record), notes=list(trial.notes))


# ------------------------------------------------------------------------------ checks


def _empty_space() -> Any:
    from jbt.optimize.space import SearchSpace

    return SearchSpace(())


def _run_tasks(executor: Executor, spec: Any, arrays: dict[str, Any], strategies: dict[str, type],
               tasks: list[tuple[int, dict[str, Any]]]) -> list[Any]:
    executor.start(spec, arrays, strategies)
    outcomes = list(executor.submit(tasks).outcomes())
    for (number, _), out in zip(tasks, outcomes, strict=True):
        if out.number != number:
            raise RuntimeError(f"executor returned task {out.number} for {number}")
    return outcomes


def _paths(src: Source, executor: Executor, seed: int, n: int, block_ms: int,
           sigma: float) -> dict[str, Any]:
    from jbt.modes.backtest_mode import load
    from jbt.optimize.worker import PeriodData, WorkerSpec
    from jbt.plan import plan_run
    from jbt.validation.chart import fan_of
    from jbt.validation.paths import KINDS, PathJob, daily_values

    candles, base_tf, end, _ = load(src.config, src.routes, src.extra, src.start, src.end)
    plan = plan_run(src.config, src.routes, candles, base_tf, src.start, end, src.extra)
    period = PeriodData("base", plan.start, plan.end, dict(base_tf))
    del plan
    job = PathJob(seed=seed, block_ms=block_ms, sigma=sigma,
                  hyperparameters=src.hyperparameters)
    spec = WorkerSpec(project_dir=str(src.config.project_dir), config=src.config,
                      routes=tuple(src.routes), extra=tuple(src.extra), periods=(period,),
                      space=_empty_space(), objectives=(), min_trades=0, job=job)
    tasks = [(i, {"kind": kind, "index": j}) for i, (kind, j) in
             enumerate((kind, j) for kind in KINDS for j in range(n))]
    outcomes = _run_tasks(executor, spec, {"base": candles}, src.strategies, tasks)
    orig_days = daily_values(src.result)
    out: dict[str, Any] = {
        "seed": seed, "paths": n, "block_ms": block_ms, "sigma": sigma,
        "original": {k: src.result.metrics.get(k)
                     for k in ("total_return", "max_drawdown", "sharpe", "total_trades")},
        "original_equity": {"days": list(range(len(orig_days))), "values": orig_days.tolist()},
    }
    for kind in KINDS:
        mine = [o for (_, t), o in zip(tasks, outcomes, strict=True) if t["kind"] == kind]
        ok = [o for o in mine if o.status == "ok"]
        errors = sorted({o.error for o in mine if o.status != "ok" and o.error})
        metrics = {}
        for name in ("total_return", "max_drawdown", "sharpe", "total_trades"):
            vals = np.array([o.train[name] for o in ok if o.train.get(name) is not None],
                            dtype=np.float64)
            if len(vals):
                p = np.percentile(vals, (5, 50, 95))
                metrics[name] = {"p5": float(p[0]), "p50": float(p[1]), "p95": float(p[2]),
                                 "mean": float(vals.mean()), "values": vals.tolist()}
        equity = [o.data["equity"] for o in ok]
        fan = fan_of(equity) if equity else None
        if fan is not None:
            fan["days"] = list(range(len(equity[0])))
        rets = [o.train.get("total_return") for o in ok]
        out[kind] = {
            "paths": len(mine), "failed": len(mine) - len(ok), "errors": errors[:3],
            "metrics": metrics, "fan": fan,
            "profitable": float(np.mean([x is not None and x > 0 for x in rets])) if ok else None,
        }
    return out


def _returns_of(src: Source, executor: Executor, records: list[Any]) -> list[Any]:
    """Each record's daily returns on the study's training period, on the executor."""
    from jbt.modes.backtest_mode import load
    from jbt.optimize.worker import PeriodData, WorkerSpec
    from jbt.plan import plan_run
    from jbt.validation.paths import ReturnsJob

    settings = src.study[0]
    cfg = src.config
    a, b = settings.train
    candles, base_tf, b2, _ = load(cfg, list(settings.routes), list(settings.extra), a, b)
    plan = plan_run(cfg, list(settings.routes), candles, base_tf, a, b2, list(settings.extra))
    period = PeriodData("train", plan.start, plan.end, dict(base_tf))
    del plan
    spec = WorkerSpec(project_dir=str(cfg.project_dir), config=cfg, routes=settings.routes,
                      extra=settings.extra, periods=(period,), space=settings.space,
                      objectives=(), min_trades=0, job=ReturnsJob("train"))
    tasks = [(i, dict(rec.params)) for i, rec in enumerate(records)]
    outcomes = _run_tasks(executor, spec, {"train": candles}, src.strategies, tasks)
    bad = next((o for o in outcomes if o.status != "ok"), None)
    if bad is not None:
        raise JbtError(f"recomputing trial {records[bad.number].number}'s training returns "
                       f"failed: {bad.error}")
    return outcomes


def _study_checks(src: Source, executor: Executor, doc: dict[str, Any], wanted: list[str],
                  blocks: int, effective_trials: int | None) -> None:
    import json

    from jbt.validation.overfitting import deflated_sharpe, probability_of_overfitting

    settings, records, chosen = src.study

    def key(rec: Any) -> str:
        return json.dumps(rec.params, sort_keys=True)

    seen: dict[str, Any] = {}
    for rec in records:  # one per distinct parameter set, the first trial that tried it
        if rec.status == "ok":
            seen.setdefault(key(rec), rec)
    seen[key(chosen)] = chosen
    distinct = list(seen.values())
    if len(distinct) < 2:
        why = (f"study {settings.name} has {len(distinct)} feasible trial with distinct "
               "parameters; the deflated Sharpe ratio and the overfitting probability need two "
               "or more")
        for a in ("sharpe", "pbo"):
            if a in wanted:
                doc["skipped"][a] = why
        return
    todo = distinct if "pbo" in wanted else [chosen]
    outcomes = _returns_of(src, executor, todo)
    returns = {rec.number: np.array(o.data["returns"]) for rec, o in
               zip(todo, outcomes, strict=True)}
    if "sharpe" in wanted:
        sharpes = [rec.train.get("sharpe") for rec in distinct]
        srs = np.array([s for s in sharpes if s is not None], dtype=np.float64) / math.sqrt(365)
        try:
            d = deflated_sharpe(returns[chosen.number], srs, effective_trials)
            doc["sharpe"] = {"kind": "deflated", **d.to_dict(),
                             "std_annual": math.sqrt(d.variance * 365),
                             "trial": chosen.number, "period": "train"}
        except ValueError as exc:
            doc["skipped"]["sharpe"] = str(exc)
    if "pbo" in wanted:
        matrix = np.column_stack([returns[rec.number] for rec in distinct])
        try:
            p = probability_of_overfitting(matrix, blocks)
            doc["pbo"] = {**p.to_dict(), "trials": [rec.number for rec in distinct]}
        except ValueError as exc:
            doc["skipped"]["pbo"] = str(exc)


def _psr(r: BacktestResult) -> dict[str, Any]:
    from jbt.metrics import daily_returns
    from jbt.validation.overfitting import moments, per_period_sharpe, probabilistic_sharpe
    from jbt.validation.paths import daily_values

    rets = daily_returns(daily_values(r))
    sr = per_period_sharpe(rets)
    if sr is None:
        return {}
    skew, kurt = moments(rets)
    return {"kind": "probabilistic", "sharpe": sr, "sharpe_annual": sr * math.sqrt(365),
            "t": len(rets), "skew": skew, "kurtosis": kurt, "benchmark": 0.0,
            "psr": probabilistic_sharpe(sr, 0.0, len(rets), skew, kurt)}


# ----------------------------------------------------------------------------- warm-up


def trade_key(t: ClosedTrade) -> tuple[Any, ...]:
    return (t.route, t.side, t.entry_time, t.exit_time, t.closed_by)


def same_trade(a: ClosedTrade, b: ClosedTrade, tol: float = TRADE_TOLERANCE) -> bool:
    if trade_key(a) != trade_key(b):
        return False
    return all(math.isclose(x, y, rel_tol=tol, abs_tol=0.0) for x, y in (
        (a.qty, b.qty), (a.entry_price, b.entry_price), (a.exit_price, b.exit_price)))


def first_difference(a: Sequence[ClosedTrade], b: Sequence[ClosedTrade]) -> int | None:
    """The entry time of the first trade (in exit order) where two runs differ; None when
    they are the same."""
    def key(t: ClosedTrade) -> tuple[int, int, str]:
        return t.exit_time, t.entry_time, t.route

    xs, ys = sorted(a, key=key), sorted(b, key=key)
    for x, y in zip(xs, ys, strict=False):
        if not same_trade(x, y):
            return min(x.entry_time, y.entry_time)
    if len(xs) != len(ys):
        longer = xs if len(xs) > len(ys) else ys
        return longer[min(len(xs), len(ys))].entry_time
    return None


def _warmup(src: Source, values: Sequence[int]) -> dict[str, Any]:
    from jbt.modes import backtest_mode

    runs = []
    results: dict[int, BacktestResult] = {}
    for w in values:
        cfg = src.config.with_overrides({"backtest": {"warmup_candles": int(w)}},
                                        source="--warmups")
        row: dict[str, Any] = {"warmup": int(w)}
        try:
            res = backtest_mode.run(cfg, src.routes, src.start, src.end,
                                    project_dir=cfg.project_dir, extra_candles=src.extra,
                                    save=False, strategies=src.strategies,
                                    hyperparameters=src.hyperparameters)
        except Exception as exc:  # noqa: BLE001 - a warm-up too short to run is a finding
            what = str(exc) if isinstance(exc, JbtError) else f"{type(exc).__name__}: {exc}"
            row["error"] = what.splitlines()[0] if what else type(exc).__name__
            runs.append(row)
            continue
        results[int(w)] = res
        bars = res.extra.get("warmup_bars", {})
        row["bars"] = min(bars.values()) if bars else 0
        row["metrics"] = {k: res.metrics.get(k) for k in
                          ("total_trades", "net_profit", "total_return", "sharpe",
                           "max_drawdown")}
        runs.append(row)
    longest = max(values)
    ref = results.get(longest)
    stable = None
    for row in runs:
        res = results.get(row["warmup"])
        if ref is None or res is None:
            row["same"] = False
            continue
        diff = first_difference(res.trades, ref.trades)
        row["same"] = diff is None
        row["first_difference"] = diff
    if ref is not None:
        for row in reversed(runs):
            if not row["same"]:
                break
            stable = row["warmup"]
    session_warmup = src.config.backtest.warmup_candles
    out = {"runs": runs, "stable_from": stable, "reference": longest,
           "session_warmup": session_warmup, "tolerance": TRADE_TOLERANCE}
    own = results.get(session_warmup)
    if own is not None:
        out["reproduces_session"] = first_difference(own.trades, src.result.trades) is None
        if not out["reproduces_session"]:
            src.notes.append("the re-run with the session's own warm-up does not give the "
                             "session's trades: the strategy, its candles or the routes' extra "
                             "candles changed since it ran")
    if ref is not None and runs and max(r.get("bars", 0) for r in runs) < longest:
        src.notes.append(f"fewer than {longest} candles of history are stored before the "
                         "start: the longest warm-ups got less")
    return out
