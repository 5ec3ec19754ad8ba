"""A study on the terminal and in files: the header, the top trials with their training and
testing metrics side by side, the ``--hp`` line that reproduces a trial, the list of studies,
and the JSON and CSV exports."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table

from jbt.metrics import METRIC_NAMES
from jbt.optimize.study import StudySettings, TrialRecord, counts, pareto_numbers, ranked
from jbt.report import (
    NA,
    fmt_days,
    fmt_duration,
    fmt_int,
    fmt_money,
    fmt_pct,
    fmt_ratio,
    fmt_time,
)

_PCT = {"total_return", "annual_return", "max_drawdown", "win_rate", "win_rate_longs",
        "win_rate_shorts", "exposure", "buy_and_hold_return"}
_INT = {"total_trades", "longs", "shorts", "winning_trades", "losing_trades", "breakeven_trades",
        "max_winning_streak", "max_losing_streak"}
_MONEY = {"starting_balance", "finishing_balance", "net_profit", "gross_profit", "gross_loss",
          "expectancy", "average_win", "average_loss", "largest_win", "largest_loss",
          "fees_paid"}
#: Column titles of the metrics shown next to the objectives.
_SHORT = {"total_return": "return", "max_drawdown": "max dd", "total_trades": "trades",
          "net_profit": "profit", "win_rate": "win rate", "profit_factor": "p.factor",
          "annual_return": "CAGR"}


def fmt_metric(name: str, value: Any, *, compact: bool = False) -> str:
    """A metric (or custom objective) value as the backtest report prints it (``compact``:
    percentages with one decimal, for the narrow columns of the trials table)."""
    if value is None:
        return NA
    if name in _PCT:
        return f"{value * 100:,.1f}%" if compact else fmt_pct(value)
    if name in _INT:
        return fmt_int(int(value))
    if name in _MONEY:
        return fmt_money(value)
    if name.endswith("_seconds"):
        return fmt_duration(value)
    if name.endswith("_days"):
        return fmt_days(value)
    if isinstance(value, float) and abs(value) >= 1000:
        return f"{value:,.0f}"
    return fmt_ratio(value) if abs(value) >= 0.01 or value == 0 else f"{value:.3g}"


def fmt_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def period_text(period: tuple[int, int]) -> str:
    from jbt.modes.optimize_mode import cmd_date

    return f"{cmd_date(period[0])} → {cmd_date(period[1])}"


def header_lines(settings: StudySettings, *, status: str | None = None,
                 jobs: int | None = None, process: int | None = None,
                 where: str | None = None) -> list[str]:
    """What the study is: routes, periods, search space, objectives, sampler (``process``:
    this process's number in a shared study)."""
    s = settings
    days = [(p[1] - p[0]) / 86_400_000 for p in (s.train, s.test)]
    routes = ", ".join(f"{r.strategy} {r.symbol} {r.timeframe} ({r.exchange})" for r in s.routes)
    share = f", {s.test_share}" if s.test_share else ""
    objectives = " and ".join(f"{o.name} ({o.direction})" for o in s.objectives)
    run = f"{s.sampler} sampler, seed {s.seed}, batches of {s.batch}"
    if process is not None:
        from jbt.optimize.shared import process_seed

        run = (f"{s.sampler} sampler, seed {s.seed} (this process's: "
               f"{process_seed(s.seed, process)}), shared study")
    if where is not None:
        run += f", on the {where}"
    elif jobs is not None:
        run += f", {jobs} worker process{'es' if jobs != 1 else ''}"
    first = f"Study {s.name}" + (f" ({status})" if status else "") + f": {routes}"
    return [
        first,
        f"Training {period_text(s.train)} ({days[0]:,.4g} days), testing "
        f"{period_text(s.test)} ({days[1]:,.4g} days{share})",
        f"Search: {s.space.describe()}",
        f"Objective: {objectives} on training; a trial with fewer than {s.min_trades} "
        f"training trade{'s' if s.min_trades != 1 else ''} is infeasible",
        f"Runs: {run}",
    ]


def top_table(settings: StudySettings, records: Sequence[TrialRecord], top: int = 10) -> Table:
    """The best feasible trials, training and testing side by side."""
    best = ranked(settings, records)
    shown = best[:top]
    c = counts(records)
    title = (f"Top {len(shown)} of {len(records)} trials ({c['ok']} feasible, "
             f"{c['infeasible']} infeasible, {c['failed']} failed)")
    t = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", title_style="bold",
              header_style="bold", pad_edge=False, padding=(0, 1, 0, 0), show_edge=False,
              collapse_padding=True)
    t.add_column("#", justify="right", no_wrap=True)
    t.add_column("trial", justify="right", no_wrap=True)
    for p in settings.space.params:
        t.add_column(p.key, justify="right", no_wrap=True)
    metrics = [o.name for o in settings.objectives]
    extra = [m for m in ("total_return", "max_drawdown", "total_trades") if m not in metrics]
    if settings.multi:
        extra = extra[-1:]
    for o in settings.objectives:
        t.add_column(f"{o.name}\ntrain", justify="right", no_wrap=True)
        t.add_column("\ntest", justify="right", no_wrap=True)
    for m in extra:
        t.add_column(f"{_SHORT.get(m, m)}\ntrain", justify="right", no_wrap=True)
        t.add_column("\ntest", justify="right", no_wrap=True)
    front = pareto_numbers(settings, records)
    for rank, r in enumerate(shown, start=1):
        cells = [f"{rank}{'*' if r.number in front else ''}", str(r.number)]
        cells += [fmt_value(r.params.get(p.key)) for p in settings.space.params]
        for i, o in enumerate(settings.objectives):
            cells += [fmt_metric(o.name, r.values[i], compact=True),
                      fmt_metric(o.name, r.test_values[i], compact=True)]
        for m in extra:
            cells += [fmt_metric(m, (r.train or {}).get(m), compact=True),
                      fmt_metric(m, (r.test or {}).get(m), compact=True)]
        t.add_row(*cells)
    if front:
        t.caption = "* on the Pareto front (training)"
        t.caption_justify = "left"
    return t


def reproduce_lines(settings: StudySettings, record: TrialRecord) -> list[str]:
    """The commands that re-run a trial on its training and testing periods."""
    from jbt.modes.optimize_mode import cmd_date

    hp = " ".join(f"--hp {a}" for a in settings.space.hp_args(record.params))
    train = f"jbt backtest {cmd_date(settings.train[0])} {cmd_date(settings.train[1])} {hp}"
    test = f"jbt backtest {cmd_date(settings.test[0])} {cmd_date(settings.test[1])} {hp}"
    return [train, test]


def problems(records: Sequence[TrialRecord], limit: int = 3) -> list[str]:
    """The first few distinct reasons trials failed."""
    seen: dict[str, int] = {}
    for r in records:
        if r.status == "failed" and r.error:
            seen.setdefault(r.error, r.number)
    return [f"trial {n}: {e}" for e, n in list(seen.items())[:limit]]


def render_study(settings: StudySettings, records: Sequence[TrialRecord], console: Any, *,
                 top: int = 10) -> None:
    """The top table, then how to reproduce the best trial (or why there is none)."""
    console.print(top_table(settings, records, top))
    best = ranked(settings, records)
    fails = problems(records)
    if fails:
        console.print("Failed trials (the first errors):")
        for line in fails:
            console.print(f"  {line}", markup=False)
    if not best:
        console.print("No feasible trial yet.")
        return
    r = best[0]
    console.print(f"Best: trial {r.number}. Reproduce it on training and on testing with:")
    for line in reproduce_lines(settings, r):
        console.print(f"  {line}", markup=False, soft_wrap=True)
    console.print(f"or: jbt backtest --from-study {settings.name}", markup=False)


def studies_table(rows: Sequence[Any]) -> Table:
    """``jbt optimize list``."""
    t = Table(title="Studies (times UTC; best: first objective on training)",
              box=box.SIMPLE_HEAD, title_justify="left", title_style="bold",
              header_style="bold", pad_edge=False, padding=(0, 1), show_edge=False)
    for name, right in (("Study", False), ("Created", False), ("Routes", False),
                        ("Objective", False), ("Trials", True), ("Best", True)):
        t.add_column(name, justify="right" if right else "left",
                     no_wrap=name in ("Created", "Trials"), overflow="fold")
    for row in rows:
        s = row.settings
        routes = "\n".join(f"{r.strategy} {r.symbol} {r.timeframe}" for r in s.routes)
        objective = "\n".join(o.label() for o in s.objectives) + f"\n{s.sampler}"
        t.add_row(row.name, fmt_time(s.created_at).replace(" ", "\n"), routes, objective,
                  f"{row.trials:,}\n{row.complete:,} ok",
                  fmt_metric(s.objectives[0].name, row.best))
    return t


# --------------------------------------------------------------------------- exports


def trial_dict(settings: StudySettings, r: TrialRecord, rank: int | None) -> dict[str, Any]:
    return {
        "number": r.number, "rank": rank, "status": r.status, "batch": r.batch,
        "params": r.params, "hyperparameters": settings.space.overrides(r.params),
        "hp_args": settings.space.hp_args(r.params),
        "values": r.values, "test_values": r.test_values, "train": r.train, "test": r.test,
        "reason": r.reason, "error": r.error, "duration_s": r.duration_s,
    }


def study_dict(settings: StudySettings, records: Sequence[TrialRecord]) -> dict[str, Any]:
    """The whole study: settings, counts, ranking (best first) and every trial."""
    order = [r.number for r in ranked(settings, records)]
    rank = {n: i + 1 for i, n in enumerate(order)}
    return {
        "study": settings.name,
        "settings": settings.to_dict(),
        "counts": counts(records),
        "ranking": order,
        "pareto_front": sorted(pareto_numbers(settings, records)),
        "trials": [trial_dict(settings, r, rank.get(r.number)) for r in records],
    }


def write_json(settings: StudySettings, records: Sequence[TrialRecord],
               path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(study_dict(settings, records), indent=2, allow_nan=False,
                      ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return value


def write_csv(settings: StudySettings, records: Sequence[TrialRecord],
              path: str | Path) -> Path:
    """One row per trial: number, rank, status, params, objectives, every metric of both
    periods (``train_*``, ``test_*``), reason and error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    order = [r.number for r in ranked(settings, records)]
    rank = {n: i + 1 for i, n in enumerate(order)}
    keys = [p.key for p in settings.space.params]
    labels = [o.name for o in settings.objectives]
    header = (["number", "rank", "status", *keys]
              + [f"objective_train_{n}" for n in labels] + [f"objective_test_{n}" for n in labels]
              + [f"train_{m}" for m in METRIC_NAMES] + [f"test_{m}" for m in METRIC_NAMES]
              + ["reason", "error"])
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in records:
            w.writerow([_cell(x) for x in (
                [r.number, rank.get(r.number), r.status, *(r.params.get(k) for k in keys)]
                + list(r.values) + list(r.test_values)
                + [(r.train or {}).get(m) for m in METRIC_NAMES]
                + [(r.test or {}).get(m) for m in METRIC_NAMES]
                + [r.reason, r.error]
            )])
    return path



class ProgressBar:
    """The command line's view of a running study: the header, then a progress bar with
    trials/s, the best trial so far and the ETA."""

    def __init__(self, console: Any) -> None:
        self.console = console
        self.bar: Any = None
        self.task: Any = None
        self.settings: StudySettings | None = None
        self.done = 0
        self.saved = 0
        self.new = 0
        self.began = 0.0

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()

    def started(self, info: Any) -> None:
        import time

        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.settings = info.settings
        status = "continued" if info.continued else "new"
        process = getattr(info, "process", None)
        if process is not None:
            status += f", shared: process {process + 1} to join it"
        for line in header_lines(info.settings, status=status, jobs=info.jobs, process=process,
                                 where=getattr(info, "where", None)):
            self.console.print(line, markup=False)
        if info.continued:
            self.console.print(f"{info.stored:,} trials stored; running up to {info.target:,}.")
        if info.note:
            self.console.print(f"Note: {info.note}.", markup=False)
        self.done = self.saved = info.stored
        if info.target <= info.stored:
            return
        self.bar = Progress(
            TextColumn("trials"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} trials/s"), TextColumn("best {task.fields[best]}"),
            TextColumn("ETA"), TimeRemainingColumn(),
            console=self.console, transient=False,
        )
        self.bar.start()
        self.task = self.bar.add_task("optimize", total=info.target, completed=info.stored,
                                      rate="0", best="-")
        self.began = time.perf_counter()

    def update(self, p: Any) -> None:
        import time

        self.done = p.done
        self.saved = p.saved
        self.new = p.new
        if self.bar is None or self.settings is None:
            return
        elapsed = time.perf_counter() - self.began
        rate = f"{p.new / elapsed:,.1f}" if elapsed > 0 and p.new else "0"
        self.bar.update(self.task, completed=p.done, rate=rate, best=self.best_text(p))

    def best_text(self, p: Any) -> str:
        assert self.settings is not None
        if self.settings.multi:
            return f"{p.front} on the Pareto front"
        if p.best is None:
            return "-"
        o = self.settings.objectives[0]
        return f"{o.name} {fmt_metric(o.name, p.best.values[0])} (trial {p.best.number})"
