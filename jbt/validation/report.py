"""Walk-forward runs and robustness checks on the terminal and in files: Rich tables, the JSON
export, and (walk-forward) the CSV files."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table

from jbt.optimize.report import fmt_metric, fmt_value
from jbt.report import NA, fmt_date, fmt_int, fmt_pct, fmt_ratio, fmt_time


def _table(title: str, caption: str | None = None) -> Table:
    t = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", title_style="bold",
              header_style="bold", pad_edge=False, padding=(0, 1, 0, 0), show_edge=False,
              collapse_padding=True)
    if caption:
        t.caption = caption
        t.caption_justify = "left"
    return t


def _pct(x: float | None, digits: int = 1) -> str:
    return NA if x is None else f"{x * 100:,.{digits}f}%"


def _num(x: float | None, fmt: str = ".2f") -> str:
    return NA if x is None else format(x, fmt)


# ------------------------------------------------------------------------- walk-forward


def wf_header_lines(res: Any) -> list[str]:
    ident = res.settings["identity"]
    text = res.settings.get("text", {})
    routes = ", ".join(f"{r['strategy']} {r['symbol']} {r['timeframe']} ({r['exchange']})"
                       for r in ident["routes"])
    kind = "anchored" if ident["anchored"] else "rolling"
    n = len(res.settings.get("windows", []))
    objectives = " and ".join(f"{o['name']} ({o['direction']})" for o in ident["objectives"])
    rid = f" {res.run_id}" if res.run_id is not None else ""
    return [
        f"Walk-forward{rid} {res.name}: {routes}",
        f"Period {fmt_date(ident['period'][0])} → {fmt_date(ident['period'][1])}: {n} {kind} "
        f"window{'s' if n != 1 else ''}, training {text.get('train')}, testing "
        f"{text.get('test')}, step {text.get('step')}",
        f"Search: {res.space.describe()}; {ident['trials']} trials a window, objective "
        f"{objectives}, {ident['sampler']} sampler, seed {ident['seed']} (each window's seed "
        "derived from it)",
    ]


def windows_table(res: Any) -> Table:
    """One row per window: periods, the parameters chosen, in-sample and out-of-sample."""
    obj = res.settings["identity"]["objectives"][0]["name"]
    t = _table("Windows (in-sample: the chosen trial on training; out-of-sample: its backtest "
               "on testing)",
               caption="WFE: annualised out-of-sample return over in-sample (positive "
               "in-sample only)")
    t.add_column("#", justify="right", no_wrap=True)
    t.add_column("train from", no_wrap=True)
    t.add_column("test from", no_wrap=True)
    keys = [p.key for p in res.space.params]
    for k in keys:
        t.add_column(k, justify="right", no_wrap=True)
    for head in (f"{obj}\nIS", "\nOOS", "return\nIS", "\nOOS", "max dd\nOOS", "trades\nOOS",
                 "WFE"):
        t.add_column(head, justify="right", no_wrap=True)
    for w in res.windows:
        train = fmt_date(w.train[0])
        test = fmt_date(w.test[0])
        if w.status != "ok":
            t.add_row(str(w.index + 1), train, test, *(["-"] * len(keys)),
                      "no feasible trial", "", "", "", "", "", "")
            continue
        ins, oos = w.in_sample or {}, w.out_of_sample or {}
        t.add_row(
            str(w.index + 1), train, test, *(fmt_value(w.params.get(k)) for k in keys),
            fmt_metric(obj, ins.get(obj), compact=True), fmt_metric(obj, oos.get(obj), compact=True),
            _pct(ins.get("total_return")), _pct(oos.get("total_return")),
            _pct(oos.get("max_drawdown")), fmt_int(oos.get("total_trades")),
            _num(w.efficiency),
        )
    return t


def stability_table(res: Any) -> Table:
    t = _table("Parameter stability across windows",
               caption="std/range: the standard deviation as a share of the searched range; "
               "changes: windows whose choice differs from the window before")
    for head, right in (("parameter", False), ("values", False), ("mean", True), ("std", True),
                        ("std/range", True), ("most common", True), ("changes", True)):
        t.add_column(head, justify="right" if right else "left", overflow="fold")
    for row in res.stability:
        vals = ", ".join(fmt_value(v) for v in row["values"]) or "-"
        numeric = "mean" in row
        mode = NA if row["mode"] is None else (
            f"{fmt_value(row['mode'])} ({row['mode_share'] * 100:.0f}%)")
        t.add_row(row["key"], vals, _num(row.get("mean"), ".4g") if numeric else "",
                  _num(row.get("std"), ".4g") if numeric else "",
                  _pct(row.get("range_share")) if numeric else "", mode, str(row["changes"]))
    return t


def render_walk_forward(res: Any, console: Any) -> None:
    from jbt.report import summary_table

    for line in wf_header_lines(res):
        console.print(line, markup=False)
    console.print(windows_table(res))
    console.print(summary_table(res.stitched), markup=False)
    console.print("Out-of-sample: the windows' testing backtests compounded one after the "
                  "other (each starts flat, warm-up from before its testing part).",
                  markup=False)
    eff = res.efficiency
    console.print(f"Walk-forward efficiency: {_num(eff)} (stitched out-of-sample CAGR "
                  f"{_pct(res.stitched.metrics.get('annual_return'))} over the mean in-sample "
                  "CAGR)", markup=False)
    console.print(stability_table(res))
    sessions = [str(w.session_id) for w in res.windows if w.session_id is not None]
    if sessions:
        console.print(f"Out-of-sample sessions: {', '.join(sessions)} ('jbt sessions show ID')",
                      markup=False)


def runs_table(rows: Sequence[Any]) -> Table:
    """``jbt walk-forward list``."""
    t = _table("Walk-forward runs (newest first; times UTC)")
    for head, right in (("ID", True), ("Created", False), ("Name", False), ("Status", False),
                        ("Routes", False), ("Windows", True), ("OOS return", True),
                        ("OOS Sharpe", True), ("WFE", True)):
        t.add_column(head, justify="right" if right else "left", overflow="fold")
    for r in rows:
        routes = "\n".join(f"{x.strategy} {x.symbol} {x.timeframe}" for x in r.routes)
        windows = f"{r.windows}/{r.planned}\n{r.text.get('train')}+{r.text.get('test')}"
        t.add_row(str(r.id), fmt_time(r.created_at), r.name, r.status, routes, windows,
                  fmt_pct(r.metrics.get("total_return")), fmt_ratio(r.metrics.get("sharpe")),
                  _num(r.efficiency))
    return t


def _write_text(path: str | Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_wf_json(res: Any, path: str | Path) -> Path:
    return _write_text(path, json.dumps(res.to_dict(), indent=1, allow_nan=False) + "\n")


WINDOW_COLUMNS = ("window", "train_start", "train_end", "test_start", "test_end", "seed",
                  "status", "trial", "efficiency", "session_id")


def write_wf_csv(res: Any, directory: str | Path) -> list[Path]:
    """``windows.csv`` (one row per window: periods, parameters, ``is_*`` and ``oos_*`` for
    every metric) and the stitched out-of-sample run's ``trades.csv``, ``orders.csv`` and
    ``equity.csv`` (as ``jbt backtest --csv`` writes them)."""
    from jbt.metrics import METRIC_NAMES
    from jbt.report import iso_time, write_csv

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    keys = [p.key for p in res.space.params]
    path = out / "windows.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([*WINDOW_COLUMNS, *keys, *(f"is_{m}" for m in METRIC_NAMES),
                    *(f"oos_{m}" for m in METRIC_NAMES)])
        for win in res.windows:
            ins, oos = win.in_sample or {}, win.out_of_sample or {}
            cells = [win.index + 1, iso_time(win.train[0]), iso_time(win.train[1]),
                     iso_time(win.test[0]), iso_time(win.test[1]), win.seed, win.status,
                     win.trial, win.efficiency, win.session_id,
                     *(win.params.get(k) for k in keys), *(ins.get(m) for m in METRIC_NAMES),
                     *(oos.get(m) for m in METRIC_NAMES)]
            w.writerow(["" if c is None else repr(c) if isinstance(c, float) else c
                        for c in cells])
    return [path, *write_csv(res.stitched, out)]


# --------------------------------------------------------------------------- robustness


def _dist_row(label: str, d: dict[str, Any], kind: str) -> list[str]:
    f = {"pct": _pct, "int": lambda x: NA if x is None else f"{x:,.0f}",
         "ratio": lambda x: _num(x)}[kind]
    return [label, f(d["original"]), f(d["p5"]), f(d["p50"]), f(d["p95"])]


def mc_table(mc: dict[str, Any]) -> Table:
    t = _table(f"Trade-sequence Monte Carlo: {mc['scenarios']:,} scenarios of {mc['trades']:,} "
               f"closed trades, seed {mc['seed']}",
               caption="shuffle: the same trades in another order; bootstrap: drawn again "
               "with replacement. Drawdowns on the balance after each closed trade.")
    for head, right in (("", False), ("session", True), ("5%", True), ("median", True),
                        ("95%", True)):
        t.add_column(head, justify="right" if right else "left", no_wrap=True)
    for method in ("shuffle", "bootstrap"):
        m = mc[method]
        t.add_row(f"[bold]{method}[/]", "", "", "", "")
        t.add_row(*_dist_row("  final return", m["final_return"], "pct"))
        t.add_row(*_dist_row("  max drawdown", m["max_drawdown"], "pct"))
        t.add_row(*_dist_row("  longest losing streak", m["longest_losing_streak"], "int"))
        for p in m["drawdown_probability"]:
            t.add_row(f"  P(drawdown ≥ {_pct(p['drawdown'], 0)})", "", "",
                      _pct(p["probability"]), "")
    return t


def paths_table(paths: dict[str, Any]) -> Table:
    t = _table(f"Price paths: the strategy on other candle paths, seed {paths['seed']}",
               caption=f"bootstrap: blocks of {paths['block_text']} of candles drawn again "
               f"(circular block bootstrap); noise: each price × (1 + {_pct(paths['sigma'], 3)}"
               " · z)")
    for head, right in (("", False), ("session", True), ("5%", True), ("median", True),
                        ("95%", True)):
        t.add_column(head, justify="right" if right else "left", no_wrap=True)
    orig = paths["original"]
    for kind in ("bootstrap", "noise"):
        k = paths.get(kind)
        if not k:
            continue
        failed = f", {k['failed']} failed" if k["failed"] else ""
        t.add_row(f"[bold]{kind}[/] ({k['paths']} paths{failed})", "", "", "", "")
        for name, label, fmt in (("total_return", "total return", "pct"),
                                 ("max_drawdown", "max drawdown", "pct"),
                                 ("sharpe", "Sharpe", "ratio"),
                                 ("total_trades", "trades", "int")):
            d = k["metrics"].get(name)
            if d is None:
                continue
            t.add_row(*_dist_row(f"  {label}", {**d, "original": orig.get(name)}, fmt))
        t.add_row("  profitable paths", "", "", _pct(k["profitable"]), "")
    return t


def sharpe_table(s: dict[str, Any]) -> Table:
    if s["kind"] == "deflated":
        t = _table("Deflated Sharpe ratio (Bailey & López de Prado 2014)",
                   caption="the probability that the selected trial's true Sharpe ratio is "
                   "above the best of N unskilled trials' (daily returns, annualised × √365)")
    else:
        t = _table("Probabilistic Sharpe ratio (Bailey & López de Prado 2012)",
                   caption="the probability that the true Sharpe ratio is above 0 (a session "
                   "alone: give --study for the deflated ratio)")
    t.add_column("", no_wrap=True)
    t.add_column("value", justify="right", no_wrap=True)
    t.add_row("Sharpe (annualised)", _num(s["sharpe_annual"]))
    t.add_row("daily returns (T)", f"{s['t']:,}")
    t.add_row("skewness / kurtosis", f"{s['skew']:.3f} / {s['kurtosis']:.3f}")
    if s["kind"] == "deflated":
        t.add_row("trials (N)", f"{s['n_trials']:,}")
        t.add_row("std of the trials' Sharpe (annualised)", _num(s["std_annual"]))
        t.add_row("expected best of N by luck (annualised)", _num(s["sr0_annual"]))
        t.add_row("[bold]deflated Sharpe ratio[/]", f"[bold]{s['dsr']:.4f}[/]")
    else:
        t.add_row("[bold]probabilistic Sharpe ratio[/]", f"[bold]{s['psr']:.4f}[/]")
    return t


def pbo_table(p: dict[str, Any]) -> Table:
    t = _table("Probability of backtest overfitting (CSCV; Bailey, Borwein, López de Prado & "
               "Zhu)",
               caption="how often the trial that is best on half of the training days ranks in "
               "the bottom half on the other half")
    t.add_column("", no_wrap=True)
    t.add_column("value", justify="right", no_wrap=True)
    t.add_row("trials (distinct parameters)", f"{p['n_trials']:,}")
    t.add_row("blocks / combinations", f"{p['blocks']} / {p['combinations']:,}")
    t.add_row("days a block", f"{p['rows_per_block']:,}"
              + (f" ({p['rows_dropped']} oldest left out)" if p["rows_dropped"] else ""))
    t.add_row("P(out-of-sample loss)", _pct(p["prob_oos_loss"]))
    t.add_row("median logit", _num(p["median_logit"]))
    t.add_row("[bold]PBO[/]", f"[bold]{_pct(p['pbo'])}[/]")
    return t


def warmup_table(w: dict[str, Any]) -> Table:
    t = _table("Warm-up sensitivity: the same backtest with other warmup_candles",
               caption="same: the trades (times, sides, prices, sizes) equal those of the "
               "longest warm-up")
    for head, right in (("warm-up", True), ("bars got", True), ("trades", True),
                        ("net profit", True), ("Sharpe", True), ("same", False),
                        ("first difference", False)):
        t.add_column(head, justify="right" if right else "left", no_wrap=right,
                     overflow="fold")
    for r in w["runs"]:
        if r.get("error"):
            what = r["error"].split(" UTC: ", 1)[-1].split(";", 1)[0]
            t.add_row(str(r["warmup"]), NA, NA, NA, NA, "no",
                      what if len(what) <= 60 else what[:59] + "…")
            continue
        m = r["metrics"]
        t.add_row(str(r["warmup"]), str(r["bars"]), fmt_int(m.get("total_trades")),
                  fmt_metric("net_profit", m.get("net_profit")), _num(m.get("sharpe")),
                  "yes" if r["same"] else "no",
                  "" if r["same"] else (fmt_time(r["first_difference"])
                                        if r.get("first_difference") else "count differs"))
    return t


def warmup_verdict(w: dict[str, Any]) -> str:
    stable = w.get("stable_from")
    if stable is None:
        return ("Warm-up: the trades change up to the longest warm-up tried; try longer "
                "warm-ups (--warmups).")
    return (f"Warm-up: the trades stop changing from warmup_candles = {stable} (of "
            f"{', '.join(str(r['warmup']) for r in w['runs'])}); the session used "
            f"{w['session_warmup']}" + (" — too few." if w['session_warmup'] < stable else "."))


def render_robustness(doc: dict[str, Any], console: Any) -> None:
    for line in doc["header"]:
        console.print(line, markup=False)
    for note in doc.get("notes", []):
        console.print(f"[yellow]Note:[/] {note}")
    if doc.get("trades"):
        console.print(mc_table(doc["trades"]))
    if doc.get("paths"):
        console.print(paths_table(doc["paths"]))
    if doc.get("sharpe"):
        console.print(sharpe_table(doc["sharpe"]))
    if doc.get("pbo"):
        console.print(pbo_table(doc["pbo"]))
    if doc.get("warmup"):
        console.print(warmup_table(doc["warmup"]))
        console.print(warmup_verdict(doc["warmup"]), markup=False)
        failed = next((r for r in doc["warmup"]["runs"] if r.get("error")), None)
        if failed is not None:
            console.print(f"warmup_candles {failed['warmup']}: {failed['error']}",
                          markup=False)
    for what, why in doc.get("skipped", {}).items():
        console.print(f"{what}: {why}", markup=False)


def write_robustness_json(doc: dict[str, Any], path: str | Path) -> Path:
    return _write_text(path, json.dumps(doc, indent=1, allow_nan=False) + "\n")


class WalkForwardProgress:
    """The command line's view of a running walk-forward: a line per window as it starts and
    ends, and a progress bar of its trials."""

    def __init__(self, console: Any) -> None:
        self.console = console
        self.bar: Any = None
        self.task: Any = None
        self.count = 0

    def __enter__(self) -> WalkForwardProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop()

    def _stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def window(self, info: Any) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        w = info.window
        self.count = info.count
        self.console.print(
            f"Window {w.index + 1}/{info.count}: training {fmt_date(w.train_start)} → "
            f"{fmt_date(w.train_end)}, testing {fmt_date(w.test_start)} → "
            f"{fmt_date(w.test_end)}, seed {info.seed}", markup=False)
        self._stop()
        if not self.console.is_terminal:
            return
        self.bar = Progress(TextColumn("  trials"), BarColumn(), MofNCompleteColumn(),
                            console=self.console, transient=True)
        self.bar.start()
        self.task = self.bar.add_task("window", total=info.trials, completed=0)

    def update(self, p: Any) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=p.done)

    def window_done(self, w: Any) -> None:
        self._stop()
        c = w.counts
        if w.status != "ok":
            self.console.print(f"  no feasible trial ({c.get('infeasible', 0)} infeasible, "
                               f"{c.get('failed', 0)} failed): flat out of sample",
                               markup=False)
            return
        oos = w.out_of_sample or {}
        self.console.print(f"  chose trial {w.trial}: {' '.join(w.hp_args)}; out of sample "
                           f"{_pct(oos.get('total_return'))}, {fmt_int(oos.get('total_trades'))}"
                           f" trades (session {w.session_id})", markup=False)
