"""What a trader reads after a run: Rich tables, and the JSON/CSV exports of a result.

Every function takes a ``BacktestResult`` (plain data) and either returns a Rich renderable or
writes files; nothing here runs a backtest. Numbers are formatted for humans and an undefined
value (``None`` in the metrics) reads ``n/a``.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
from dataclasses import fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from jbt.metrics import compute_metrics, exit_reason_stats, period_returns, route_stats
from jbt.results import BacktestResult, ClosedTrade, FundingRecord, OrderRecord, RouteSpec

NA = "n/a"
BREAKDOWNS = ("day", "week", "month")

# --------------------------------------------------------------------------- formatting


def _ok(x: Any) -> bool:
    return x is not None and not (isinstance(x, float) and not math.isfinite(x))


def fmt_money(x: float | None) -> str:
    """``12,345.67``; ``n/a`` for None."""
    return f"{x:,.2f}" if _ok(x) else NA


def fmt_pct(x: float | None) -> str:
    """A fraction as a percentage: 0.1234 -> ``12.34%``."""
    return f"{x * 100:,.2f}%" if _ok(x) else NA


def fmt_ratio(x: float | None) -> str:
    return f"{x:,.2f}" if _ok(x) else NA


def fmt_int(x: int | None) -> str:
    return f"{x:,d}" if _ok(x) else NA


def fmt_price(x: float | None) -> str:
    """Enough digits to tell prices apart: 2 decimals from 1,000 up, more below."""
    if not _ok(x):
        return NA
    a = abs(x)
    decimals = 2 if a >= 1000 else 4 if a >= 1 else 8
    return f"{x:,.{decimals}f}"


def fmt_qty(x: float | None) -> str:
    """Up to 6 decimals, trailing zeros dropped."""
    if not _ok(x):
        return NA
    s = f"{x:,.6f}".rstrip("0").rstrip(".")
    return s if s not in ("", "-0") else "0"


def fmt_duration(seconds: float | None) -> str:
    """A holding period or drawdown length: ``3d 4h``, ``5h 12m``, ``7m``, ``30s``."""
    if not _ok(seconds):
        return NA
    s = int(round(seconds))
    d, rem = divmod(s, 86_400)
    h, rem = divmod(rem, 3_600)
    m, sec = divmod(rem, 60)
    if d:
        return f"{d}d {h}h"
    if h:
        return f"{h}h {m}m"
    if m:
        return f"{m}m"
    return f"{sec}s"


def fmt_days(days: float | None) -> str:
    return fmt_duration(days * 86_400) if _ok(days) else NA


def fmt_time(ms: int | None) -> str:
    """Epoch ms as ``YYYY-MM-DD HH:MM`` UTC."""
    if ms is None:
        return NA
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def fmt_date(ms: int | None) -> str:
    if ms is None:
        return NA
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def iso_time(ms: int | None) -> str:
    """Epoch ms as ISO 8601 UTC (``2024-01-01T00:00:00Z``), empty for None."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- tables


def exit_label(closed_by: str) -> str:
    """``take-profit`` -> ``take profit``: wraps between words in a narrow column."""
    return closed_by.replace("-", " ")


def result_metrics(result: BacktestResult) -> dict[str, Any]:
    """The run's metrics; computed from its equity and trades when the result carries none."""
    if result.metrics:
        return result.metrics
    return compute_metrics(
        result.equity_time, result.equity, result.trades, result.starting_balance,
        result.start, result.end,
    )


def _table(title: str, *headers: str, numeric_from: int = 1, tight: bool = False) -> Table:
    t = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False,
              title_style="bold", header_style="bold", padding=(0, 1, 0, 0) if tight else (0, 1))
    for i, h in enumerate(headers):
        if i >= numeric_from:
            t.add_column(h, justify="right", no_wrap=True)
        else:
            t.add_column(h, overflow="fold")
    return t


def summary_rows(result: BacktestResult) -> list[tuple[str, str] | None]:
    """(label, value) rows of the summary table; ``None`` marks a section break."""
    m = result_metrics(result)
    g = m.get
    days = (result.end - result.start) / 86_400_000 if result.end > result.start else 0
    futures = (result.config.get("backtest") or {}).get("type") == "futures"
    return [
        ("Period", f"{fmt_date(result.start)} → {fmt_date(result.end)} ({days:,.4g} days)"),
        ("Starting balance", fmt_money(g("starting_balance", result.starting_balance))),
        ("Finishing balance", fmt_money(g("finishing_balance", result.finishing_balance))),
        ("Net profit", f"{fmt_money(g('net_profit'))} ({fmt_pct(g('total_return'))})"),
        ("Annual return (CAGR)", fmt_pct(g("annual_return"))),
        ("Buy and hold (first route)", fmt_pct(g("buy_and_hold_return"))),
        ("Max drawdown", fmt_pct(g("max_drawdown"))),
        ("Max drawdown duration", fmt_days(g("max_drawdown_duration_days"))),
        ("Longest drawdown", fmt_days(g("longest_drawdown_days"))),
        ("Sharpe", fmt_ratio(g("sharpe"))),
        ("Sortino", fmt_ratio(g("sortino"))),
        ("Calmar", fmt_ratio(g("calmar"))),
        ("Omega", fmt_ratio(g("omega"))),
        ("Exposure", fmt_pct(g("exposure"))),
        None,
        ("Total trades", fmt_int(g("total_trades"))),
        ("Longs / shorts", f"{fmt_int(g('longs'))} / {fmt_int(g('shorts'))}"),
        ("Win rate", fmt_pct(g("win_rate"))),
        ("Win rate longs / shorts",
         f"{fmt_pct(g('win_rate_longs'))} / {fmt_pct(g('win_rate_shorts'))}"),
        ("Profit factor", fmt_ratio(g("profit_factor"))),
        ("Expectancy (per trade)", fmt_money(g("expectancy"))),
        ("Average win / loss", f"{fmt_money(g('average_win'))} / {fmt_money(g('average_loss'))}"),
        ("Win/loss ratio", fmt_ratio(g("win_loss_ratio"))),
        ("Largest win / loss", f"{fmt_money(g('largest_win'))} / {fmt_money(g('largest_loss'))}"),
        ("Streaks win / loss",
         f"{fmt_int(g('max_winning_streak'))} / {fmt_int(g('max_losing_streak'))}"),
        ("Avg holding", fmt_duration(g("average_holding_seconds"))),
        ("Avg holding wins / losses",
         f"{fmt_duration(g('average_holding_winners_seconds'))} / "
         f"{fmt_duration(g('average_holding_losers_seconds'))}"),
        ("Fees paid", fmt_money(g("fees_paid"))),
        *([("Funding received (net)", fmt_money(g("funding"))),
           ("Liquidations", fmt_int(g("liquidations")))] if futures else []),
        ("Trades per day / week / month",
         f"{fmt_ratio(g('trades_per_day'))} / {fmt_ratio(g('trades_per_week'))} / "
         f"{fmt_ratio(g('trades_per_month'))}"),
    ]


def summary_table(result: BacktestResult) -> Table:
    t = _table("Summary", "Metric", "Value")
    t.columns[0].no_wrap = True
    for row in summary_rows(result):
        if row is None:
            t.add_section()
        else:
            t.add_row(*row)
    return t


def _route_label(r: RouteSpec) -> str:
    return f"{r.symbol} {r.timeframe} {r.strategy} ({r.exchange})"


def routes_table(result: BacktestResult) -> Table:
    t = _table("Routes", "Route", "Trades", "Win rate", "Net PnL", "Fees", "PF")
    for r, row in zip(result.routes, route_stats(result.trades, result.routes), strict=True):
        t.add_row(_route_label(r), fmt_int(row["trades"]), fmt_pct(row["win_rate"]),
                  fmt_money(row["net_pnl"]), fmt_money(row["fees"]),
                  fmt_ratio(row["profit_factor"]))
    return t


def exit_reasons_table(result: BacktestResult) -> Table:
    t = _table("Exit reasons", "Closed by", "Trades", "Win rate", "Net PnL", "Avg PnL")
    for row in exit_reason_stats(result.trades):
        t.add_row(exit_label(row["closed_by"]), fmt_int(row["trades"]), fmt_pct(row["win_rate"]),
                  fmt_money(row["net_pnl"]), fmt_money(row["average_pnl"]))
    return t


def trades_table(result: BacktestResult) -> Table:
    """One row per closed trade, in exit order. Opening time is stacked date over time so the
    table fits 80 columns; prices and PnL never wrap."""
    t = _table("Trades", "#", "Trade", "Opened UTC", "Held", "Entry", "Exit", "PnL", "Closed by",
               numeric_from=2, tight=True)
    t.columns[2].justify = "left"
    t.columns[7].justify = "left"
    t.columns[7].no_wrap = False
    t.columns[7].overflow = "fold"
    t.show_edge = False
    for tr in sorted(result.trades, key=lambda x: (x.exit_time, x.entry_time, x.id)):
        opened = fmt_time(tr.entry_time)
        t.add_row(str(tr.id), f"{tr.symbol}\n{tr.side}", opened.replace(" ", "\n"),
                  fmt_duration(tr.holding_ms / 1000), fmt_price(tr.entry_price),
                  fmt_price(tr.exit_price), fmt_money(tr.pnl), exit_label(tr.closed_by))
    return t


def breakdown_rows(result: BacktestResult, period: str) -> list[dict[str, Any]]:
    return period_returns(result.equity_time, result.equity, result.starting_balance,
                          result.start, result.end, period)


def breakdown_table(result: BacktestResult, period: str) -> Table:
    """Return of each UTC day, week (from Monday) or month of the run."""
    t = _table(f"Returns by {period}", period.capitalize(), "Start equity", "End equity",
               "Return")
    t.columns[0].no_wrap = True
    for row in breakdown_rows(result, period):
        label = fmt_date(row["start"])
        if period == "month":
            label = label[:7]
        t.add_row(label, fmt_money(row["start_equity"]), fmt_money(row["end_equity"]),
                  fmt_pct(row["return"]))
    return t


def report(result: BacktestResult, *, trades: bool = False,
           breakdown: str | None = None) -> Group:
    """The whole report as one renderable: summary, routes, exit reasons, and optionally the
    trade list and the period breakdown."""
    parts: list[Any] = [summary_table(result), routes_table(result), exit_reasons_table(result)]
    if trades:
        parts.append(trades_table(result) if result.trades else Text("No trades."))
    if breakdown is not None:
        if breakdown not in BREAKDOWNS:
            raise ValueError(f"breakdown must be one of {', '.join(BREAKDOWNS)}")
        parts.append(breakdown_table(result, breakdown))
    return Group(*parts)


def render_report(result: BacktestResult, console: Console | None = None, *,
                  trades: bool = False, breakdown: str | None = None) -> None:
    """Print the report on ``console`` (a default terminal console when None)."""
    (console or Console(highlight=False)).print(report(result, trades=trades, breakdown=breakdown))


def sessions_table(rows: list[Any]) -> Table:
    """``jbt sessions``: one row per saved session (``jbt.sessions.SessionRow``), as given.
    Dates, periods and routes are stacked on two lines so the table fits 80 columns."""
    t = _table("Saved sessions (times UTC; profit: net, % of the starting balance)", "ID",
               "Created", "Status", "Routes", "Period", "Trades", "Profit", "Sharpe", "Took",
               numeric_from=5, tight=True)
    t.columns[0].justify = "right"
    for i in (0, 1, 2, 4):
        t.columns[i].no_wrap = True
    t.show_edge = False
    for r in rows:
        finished = r.status == "finished"
        routes = "\n".join(f"{x.symbol} {x.timeframe}\n{x.strategy}" for x in r.routes)
        t.add_row(
            str(r.id), fmt_time(r.created_at).replace(" ", "\n"), r.status, routes,
            f"{fmt_date(r.start)}\n{fmt_date(r.end)}",
            fmt_int(r.trades) if finished else "",
            fmt_pct(r.total_return) if finished else "",
            fmt_ratio(r.sharpe) if finished else "",
            fmt_duration(r.duration_s) if r.duration_s >= 1 else f"{r.duration_s:.2f}s",
        )
    return t


#: Most strategy log lines printed after the report (all of them are in the JSON export).
MAX_LOG_LINES = 50


def log_lines(result: BacktestResult, limit: int = MAX_LOG_LINES) -> list[str]:
    """The strategies' ``self.log`` lines as printed after the report: time, route, message."""
    logs = result.extra.get("logs") or []
    lines = [
        f"Log {fmt_time(e['time'])} {e['route']}"
        f"{' ERROR' if e.get('level') == 'error' else ''}: {e['message']}"
        for e in logs[:limit]
    ]
    if len(logs) > limit:
        lines.append(f"... and {len(logs) - limit} more log lines (all of them in --json)")
    return lines


# --------------------------------------------------------------------------- exports


def result_dict(result: BacktestResult) -> dict[str, Any]:
    """The JSON shape (``BacktestResult.to_dict``) with the metrics filled in."""
    d = result.to_dict()
    d["metrics"] = result_metrics(result)
    return d


def write_json(result: BacktestResult, path: str | Path) -> Path:
    """Write the whole result (config, routes, period, metrics, trades, orders, equity): the
    text of ``json.dumps(result_dict(result), indent=2)``, written as it is made. The equity
    curve (525,600 points for a 1m year) is never held as objects or as one string: that took
    400 MB more than the backtest itself."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    d = replace(result, equity_time=[], equity=[]).to_dict()
    d["metrics"] = result_metrics(result)  # as result_dict has them
    encoder = json.JSONEncoder(indent=2, allow_nan=False, ensure_ascii=False)
    with path.open("w", encoding="utf-8") as f:
        for i, (key, value) in enumerate(d.items()):
            f.write(("{" if i == 0 else ",") + "\n  " + encoder.encode(key) + ": ")
            if key == "equity":
                _write_equity(f, result)
                continue
            for chunk in encoder.iterencode(value):
                f.write(chunk.replace("\n", "\n  "))  # one level deeper (strings hold no \n)
        f.write("\n}\n" if d else "{}\n")
    return path


def _write_equity(f: Any, result: BacktestResult) -> None:
    """The equity points as ``json.dumps`` writes them at the second level of indentation."""
    if len(result.equity_time) != len(result.equity):
        raise ValueError("equity_time and equity differ in length")
    if not result.equity:
        f.write("[]")
        return
    encoder = json.JSONEncoder(allow_nan=False)

    def number(x: Any) -> str:
        if type(x) is float:
            if not math.isfinite(x):
                raise ValueError(f"Out of range float values are not JSON compliant: {x!r}")
            return float.__repr__(x)
        return encoder.encode(x)

    items = zip(result.equity_time, result.equity, strict=True)
    sep = "["
    while batch := list(itertools.islice(items, 10_000)):
        f.write(sep + ",".join(
            f'\n    {{\n      "time": {number(t)},\n      "equity": {number(e)}\n    }}'
            for t, e in batch))
        sep = ","
    f.write("\n  ]")


def result_from_dict(d: dict[str, Any]) -> BacktestResult:
    """Rebuild a result from its JSON shape (the inverse of ``write_json``)."""
    trade_names = {f.name for f in fields(ClosedTrade)}
    order_names = {f.name for f in fields(OrderRecord)}
    known = {"session_id", "config", "routes", "period", "starting_balance",
             "finishing_balance", "metrics", "trades", "orders", "equity", "duration_s",
             "save_error", "warnings", "funding"}
    extra = {k: v for k, v in d.items() if k not in known}
    if d.get("warnings"):
        extra["warnings"] = list(d["warnings"])
    return BacktestResult(
        config=d.get("config", {}),
        routes=[RouteSpec(**r) for r in d.get("routes", [])],
        start=int(d["period"]["start"]),
        end=int(d["period"]["end"]),
        starting_balance=float(d["starting_balance"]),
        finishing_balance=float(d["finishing_balance"]),
        trades=[ClosedTrade(**{k: v for k, v in t.items() if k in trade_names})
                for t in d.get("trades", [])],
        orders=[OrderRecord(**{k: v for k, v in o.items() if k in order_names})
                for o in d.get("orders", [])],
        equity_time=[int(p["time"]) for p in d.get("equity", [])],
        equity=[float(p["equity"]) for p in d.get("equity", [])],
        metrics=dict(d.get("metrics", {})),
        duration_s=float(d.get("duration_s", 0.0)),
        session_id=d.get("session_id"),
        extra=extra,
        funding=[FundingRecord(**f) for f in d.get("funding", [])],
    )


def read_json(path: str | Path) -> BacktestResult:
    return result_from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


#: Columns of the CSV exports (documented in the README).
TRADE_COLUMNS = [f.name for f in fields(ClosedTrade)] + ["entry_time_utc", "exit_time_utc"]
ORDER_COLUMNS = [f.name for f in fields(OrderRecord)] + ["created_at_utc", "filled_at_utc"]
EQUITY_COLUMNS = ["time", "time_utc", "equity", "drawdown"]
FUNDING_COLUMNS = [f.name for f in fields(FundingRecord)] + ["time_utc"]


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)  # shortest text that reads back to the same float
    return v


def write_csv(result: BacktestResult, directory: str | Path) -> list[Path]:
    """Write ``trades.csv``, ``orders.csv`` and ``equity.csv`` into ``directory``, and
    ``funding.csv`` (one row per funding payment) when the run settled funding."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    trades = sorted(result.trades, key=lambda x: (x.exit_time, x.entry_time, x.id))
    trade_rows = [
        [_cell(getattr(t, c)) for c in TRADE_COLUMNS[:-2]]
        + [iso_time(t.entry_time), iso_time(t.exit_time)]
        for t in trades
    ]
    order_rows = [
        [_cell(getattr(o, c)) for c in ORDER_COLUMNS[:-2]]
        + [iso_time(o.created_at), iso_time(o.filled_at)]
        for o in result.orders
    ]
    if len(result.equity_time) != len(result.equity):
        raise ValueError("equity_time and equity differ in length")

    def equity_rows() -> Any:  # one row at a time: a 1m year is 525,600 of them
        peak = result.starting_balance
        for t, e in zip(result.equity_time, result.equity, strict=True):
            peak = max(peak, e)
            dd = e / peak - 1.0 if peak > 0 else 0.0
            yield [t, iso_time(t), _cell(float(e)), _cell(dd)]

    tables = [("trades.csv", TRADE_COLUMNS, trade_rows),
              ("orders.csv", ORDER_COLUMNS, order_rows),
              ("equity.csv", EQUITY_COLUMNS, equity_rows())]
    if result.funding:
        tables.append(("funding.csv", FUNDING_COLUMNS, [
            [_cell(getattr(f, c)) for c in FUNDING_COLUMNS[:-1]] + [iso_time(f.time)]
            for f in result.funding]))
    paths = []
    for name, header, rows in tables:
        p = out / name
        with p.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)
        paths.append(p)
    return paths


def batch_table(outcomes: list[Any]) -> Table:
    """``jbt backtest --symbols``: one row per symbol (``jbt.modes.batch_mode.SymbolOutcome``),
    in the order given; a symbol that did not run says why in its last column. Profit is net,
    as a % of the starting balance; B&H is buy and hold of the symbol over the period."""
    t = _table("Backtests by symbol", "Symbol", "Trades", "Profit", "Max DD", "Sharpe",
               "Win rate", "PF", "B&H", "Session", tight=True)
    for c in t.columns:
        c.no_wrap = True
    t.show_edge = False
    for o in outcomes:
        if not o.ok:
            status = BATCH_STATUS.get(o.status, o.status)
            if o.session_id is not None:
                status = f"{o.session_id} {status}"
            t.add_row(o.symbol, *[""] * 7, status)
            continue
        g = result_metrics(o.result).get
        session = str(o.result.session_id) if o.result.session_id is not None else "-"
        t.add_row(o.symbol, fmt_int(g("total_trades")), fmt_pct(g("total_return")),
                  fmt_pct(g("max_drawdown")), fmt_ratio(g("sharpe")),
                  fmt_pct(g("win_rate")), fmt_ratio(g("profit_factor")),
                  fmt_pct(g("buy_and_hold_return")), session)
    return t


#: What the batch table and progress say for a symbol that did not finish.
BATCH_STATUS = {"missing": "no candles", "error": "not run", "failed": "failed"}
