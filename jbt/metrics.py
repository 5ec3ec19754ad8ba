"""Performance metrics: pure functions of the equity curve and the closed trades.

Conventions (the same as empyrical with ``annualization=365``):

* The per-bar equity curve is sampled at each UTC day close: the sample at midnight ``D`` is the
  last equity marked at or before ``D`` (the starting balance when nothing was marked yet). The
  first sample is the starting balance at the start time; when the run ends between two
  midnights, the equity at the end is one more (partial-day) sample. ``r_k = v_k / v_(k-1) - 1``
  are the ``N`` daily returns.
* Risk-free rate 0, 365 periods a year, sample standard deviation (ddof=1):

  - ``sharpe  = mean(r) / std(r, ddof=1) * sqrt(365)``
  - ``sortino = mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(365)`` (the mean is over all ``N``)
  - ``annual_return = (v_N / v_0) ** (365 / N) - 1`` (CAGR over ``N`` days of 365 a year)
  - ``max_drawdown = min_k(v_k / max(v_0..v_k) - 1)`` — the running peak starts at the
    starting balance ``v_0``, so a loss on the first day counts
  - ``calmar = annual_return / |max_drawdown|``
  - ``omega  = sum(max(r, 0)) / -sum(min(r, 0))`` (threshold 0)

A value that is undefined (a ratio over zero, fewer than two daily returns, a win rate without
trades) is ``None``, never NaN or infinity: the dict is written to JSON as is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np

from jbt.constants import CLOSE, DAY_MS, OPEN, TIMESTAMP
from jbt.results import CLOSED_BY, ClosedTrade, RouteSpec

PERIODS_PER_YEAR = 365
_WEEK_OFFSET_MS = 4 * DAY_MS  # 1970-01-01 was a Thursday; weeks start on Monday 00:00 UTC

#: Names and order of the keys ``compute_metrics`` returns.
METRIC_NAMES = (
    "starting_balance",
    "finishing_balance",
    "net_profit",
    "total_return",
    "annual_return",
    "max_drawdown",
    "max_drawdown_duration_days",
    "longest_drawdown_days",
    "sharpe",
    "sortino",
    "calmar",
    "omega",
    "days",
    "total_trades",
    "longs",
    "shorts",
    "winning_trades",
    "losing_trades",
    "breakeven_trades",
    "win_rate",
    "win_rate_longs",
    "win_rate_shorts",
    "gross_profit",
    "gross_loss",
    "profit_factor",
    "expectancy",
    "average_win",
    "average_loss",
    "win_loss_ratio",
    "largest_win",
    "largest_loss",
    "max_winning_streak",
    "max_losing_streak",
    "average_holding_seconds",
    "average_holding_winners_seconds",
    "average_holding_losers_seconds",
    "fees_paid",
    "funding",
    "liquidations",
    "exposure",
    "trades_per_day",
    "trades_per_week",
    "trades_per_month",
    "buy_and_hold_return",
)


def _num(x: float | None) -> float | None:
    """A finite float, or None for anything undefined (None, NaN, ±inf)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _div(a: float, b: float) -> float | None:
    return _num(a / b) if b != 0 else None


# --------------------------------------------------------------------------- equity curve


def daily_equity(
    equity_time: Sequence[int] | np.ndarray,
    equity: Sequence[float] | np.ndarray,
    starting_balance: float,
    start: int,
    end: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample the equity curve at each UTC day close between ``start`` and ``end``.

    ``equity_time[i]`` is the epoch ms at which ``equity[i]`` was marked (a bar's close).
    Returns ``(times, values)``: ``times[0] == start`` with ``values[0] == starting_balance``,
    then every midnight in ``(start, end]``, then ``end`` itself if it is not a midnight.
    """
    t = np.asarray(equity_time, dtype=np.int64)
    v = np.asarray(equity, dtype=np.float64)
    first_midnight = (start // DAY_MS + 1) * DAY_MS
    samples = np.arange(first_midnight, end + 1, DAY_MS, dtype=np.int64)
    if end > start and (len(samples) == 0 or samples[-1] != end):
        samples = np.r_[samples, np.int64(end)]
    idx = np.searchsorted(t, samples, side="right") - 1
    values = np.full(len(samples), float(starting_balance))
    hit = idx >= 0
    values[hit] = v[idx[hit]]
    return np.r_[np.int64(start), samples], np.r_[float(starting_balance), values]


def daily_returns(values: np.ndarray) -> np.ndarray:
    """Simple returns between consecutive samples (``v_k / v_(k-1) - 1``)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return np.empty(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return values[1:] / values[:-1] - 1.0


def sharpe_ratio(returns: np.ndarray, periods: int = PERIODS_PER_YEAR) -> float | None:
    """``mean(r) / std(r, ddof=1) * sqrt(periods)``; None below two returns or with zero spread."""
    r = np.asarray(returns, dtype=np.float64)
    if len(r) < 2 or not np.all(np.isfinite(r)):
        return None
    sd = r.std(ddof=1)
    if sd == 0 or not math.isfinite(sd):
        return None
    return _num(r.mean() / sd * math.sqrt(periods))


def sortino_ratio(returns: np.ndarray, periods: int = PERIODS_PER_YEAR) -> float | None:
    """``mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(periods)``; None without a losing day."""
    r = np.asarray(returns, dtype=np.float64)
    if len(r) < 2 or not np.all(np.isfinite(r)):
        return None
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    if downside == 0:
        return None
    return _num(r.mean() / downside * math.sqrt(periods))


def omega_ratio(returns: np.ndarray) -> float | None:
    """Sum of gains over the sum of losses of the daily returns (threshold 0)."""
    r = np.asarray(returns, dtype=np.float64)
    if len(r) < 2 or not np.all(np.isfinite(r)):
        return None
    loss = -float(r[r < 0].sum())
    return _num(float(r[r > 0].sum()) / loss) if loss > 0 else None


def annual_return(values: np.ndarray, periods: int = PERIODS_PER_YEAR) -> float | None:
    """CAGR: ``(v_N / v_0) ** (periods / N) - 1`` over the ``N`` daily returns.

    A curve that ends at or below zero reads -100% (no real growth rate exists below zero).
    """
    v = np.asarray(values, dtype=np.float64)
    n = len(v) - 1
    if n < 1 or v[0] <= 0:
        return None
    growth = v[-1] / v[0]
    if growth <= 0:
        return -1.0
    return _num(growth ** (periods / n) - 1.0)


def drawdown_series(values: np.ndarray) -> np.ndarray:
    """``v_k / max(v_0..v_k) - 1`` (zero or negative), the peak starting at ``v_0``."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return np.empty(0)
    peak = np.maximum.accumulate(v)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, v / peak - 1.0, 0.0)
    return dd


def max_drawdown(values: np.ndarray) -> float:
    """The deepest drawdown as a negative fraction (0.0 when the curve never fell)."""
    dd = drawdown_series(values)
    return float(min(dd.min(), 0.0)) if len(dd) else 0.0


def drawdown_durations(times: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """``(max_drawdown_duration_days, longest_drawdown_days)``.

    The first is the time from the peak before the deepest trough to the first sample back at
    that peak (or to the last sample when it never recovered); the second is the longest such
    peak-to-recovery stretch of any drawdown.
    """
    v = np.asarray(values, dtype=np.float64)
    t = np.asarray(times, dtype=np.int64)
    if len(v) < 2:
        return 0.0, 0.0
    dd = drawdown_series(v)
    if dd.min() >= 0:
        return 0.0, 0.0
    peak = np.maximum.accumulate(v)

    def stretch(trough: int) -> tuple[int, int]:
        p = int(np.argmax(v[: trough + 1]))  # first time the running peak was reached
        after = np.flatnonzero(v[trough:] >= peak[trough])
        r = trough + int(after[0]) if len(after) else len(v) - 1
        return p, r

    p, r = stretch(int(np.argmin(dd)))
    deepest = (t[r] - t[p]) / DAY_MS
    longest = 0.0
    k = 0
    while k < len(v):
        if dd[k] < 0:
            p2, r2 = stretch(k)
            longest = max(longest, (t[r2] - t[p2]) / DAY_MS)
            k = r2 + 1 if r2 > k else k + 1
        else:
            k += 1
    return float(deepest), float(longest)


def period_returns(
    equity_time: Sequence[int] | np.ndarray,
    equity: Sequence[float] | np.ndarray,
    starting_balance: float,
    start: int,
    end: int,
    period: str,
) -> list[dict[str, Any]]:
    """Return of each UTC ``day``, ``week`` (Monday 00:00) or ``month`` touched by the run.

    Each row is ``{"start": ms, "start_equity", "end_equity", "return"}``; a period's start
    equity is the previous period's end equity, so the rows compound to the total return.
    """
    if period not in ("day", "week", "month"):
        raise ValueError(f"period must be day, week or month, not {period!r}")
    t = np.asarray(equity_time, dtype=np.int64)
    v = np.asarray(equity, dtype=np.float64)
    if end <= start:
        return []
    bounds = _period_bounds(start, end, period)
    rows = []
    prev = float(starting_balance)
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        i = int(np.searchsorted(t, min(hi, end), side="right")) - 1
        close = float(v[i]) if i >= 0 else float(starting_balance)
        rows.append(
            {
                "start": int(lo),
                "start_equity": prev,
                "end_equity": close,
                "return": _div(close - prev, prev),
            }
        )
        prev = close
    return rows


def _period_bounds(start: int, end: int, period: str) -> list[int]:
    """Period start times covering ``[start, end)``, followed by the end of the last one."""
    if period in ("day", "week"):
        size, offset = (DAY_MS, 0) if period == "day" else (7 * DAY_MS, _WEEK_OFFSET_MS)
        first = (start - offset) // size * size + offset
        count = (end - 1 - first) // size + 1
        return [first + k * size for k in range(count + 1)]
    d = datetime.fromtimestamp(start / 1000, tz=timezone.utc)
    year, month = d.year, d.month
    out = []
    while True:
        ms = int(datetime(year, month, 1, tzinfo=timezone.utc).timestamp() * 1000)
        out.append(ms)
        if ms >= end:
            return out
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


# --------------------------------------------------------------------------- trades


def _ordered(trades: Iterable[ClosedTrade]) -> list[ClosedTrade]:
    return sorted(trades, key=lambda tr: (tr.exit_time, tr.entry_time, tr.id))


def _streaks(pnls: Iterable[float]) -> tuple[int, int]:
    """Longest run of winners and of losers, in exit order; a zero-PnL trade ends both."""
    best_win = best_loss = win = loss = 0
    for p in pnls:
        win = win + 1 if p > 0 else 0
        loss = loss + 1 if p < 0 else 0
        best_win, best_loss = max(best_win, win), max(best_loss, loss)
    return best_win, best_loss


def _mean(xs: Sequence[float]) -> float | None:
    return _num(sum(xs) / len(xs)) if xs else None


def trade_stats(trades: Sequence[ClosedTrade]) -> dict[str, Any]:
    """Trade statistics. A winner has ``pnl > 0``, a loser ``pnl < 0``; a zero-PnL trade is
    neither (it counts in the total, so in the win-rate denominator, and ends both streaks).

    * ``win_rate = winners / trades``; ``profit_factor = gross_profit / |gross_loss|``
    * ``expectancy`` = mean net PnL per trade; ``average_win``/``average_loss`` = mean PnL of
      the winners/losers (the loss is negative); ``win_loss_ratio = average_win / |average_loss|``
    * holding periods are ``exit_time - entry_time`` in seconds, averaged.
    """
    ts = _ordered(trades)
    pnls = [t.pnl for t in ts]
    wins = [t for t in ts if t.pnl > 0]
    losses = [t for t in ts if t.pnl < 0]
    longs = [t for t in ts if t.is_long]
    shorts = [t for t in ts if not t.is_long]
    gross_profit = float(sum(t.pnl for t in wins))
    gross_loss = float(sum(t.pnl for t in losses))
    avg_win = _mean([t.pnl for t in wins])
    avg_loss = _mean([t.pnl for t in losses])
    win_streak, loss_streak = _streaks(pnls)

    def rate(group: list[ClosedTrade]) -> float | None:
        return _div(sum(1 for t in group if t.pnl > 0), len(group))

    def hold(group: list[ClosedTrade]) -> float | None:
        return _mean([t.holding_ms / 1000.0 for t in group])

    return {
        "total_trades": len(ts),
        "longs": len(longs),
        "shorts": len(shorts),
        "winning_trades": len(wins),
        "losing_trades": len(losses),
        "breakeven_trades": len(ts) - len(wins) - len(losses),
        "win_rate": rate(ts),
        "win_rate_longs": rate(longs),
        "win_rate_shorts": rate(shorts),
        "gross_profit": gross_profit,
        "gross_loss": gross_loss,
        "profit_factor": _div(gross_profit, -gross_loss) if losses else None,
        "expectancy": _mean(pnls),
        "average_win": avg_win,
        "average_loss": avg_loss,
        "win_loss_ratio": _div(avg_win, -avg_loss) if avg_win is not None and avg_loss else None,
        "largest_win": max((t.pnl for t in wins), default=None),
        "largest_loss": min((t.pnl for t in losses), default=None),
        "max_winning_streak": win_streak,
        "max_losing_streak": loss_streak,
        "average_holding_seconds": hold(ts),
        "average_holding_winners_seconds": hold(wins),
        "average_holding_losers_seconds": hold(losses),
        "fees_paid": float(sum(t.fee for t in ts)),
        # futures: funding received over the trades (negative: paid), apart from the fees
        "funding": float(sum(t.funding for t in ts)),
        "liquidations": sum(1 for t in ts if t.closed_by == "liquidation"),
    }


def exposure(trades: Iterable[ClosedTrade], start: int, end: int) -> float | None:
    """Fraction of ``[start, end]`` during which at least one position was open."""
    if end <= start:
        return None
    spans = sorted((max(t.entry_time, start), min(t.exit_time, end)) for t in trades)
    covered, cur_lo, cur_hi = 0, None, None
    for lo, hi in spans:
        if hi <= lo:
            continue
        if cur_hi is None or lo > cur_hi:
            if cur_hi is not None:
                covered += cur_hi - cur_lo
            cur_lo, cur_hi = lo, hi
        else:
            cur_hi = max(cur_hi, hi)
    if cur_hi is not None:
        covered += cur_hi - cur_lo
    return covered / (end - start)


def buy_and_hold_return(candles: np.ndarray | None, start: int, end: int) -> float | None:
    """``last close / first open - 1`` of the candles that open in ``[start, end)``."""
    if candles is None or len(candles) == 0:
        return None
    c = np.asarray(candles, dtype=np.float64)
    inside = c[(c[:, TIMESTAMP] >= start) & (c[:, TIMESTAMP] < end)]
    if len(inside) == 0:
        return None
    return _div(inside[-1, CLOSE] - inside[0, OPEN], inside[0, OPEN])


def route_stats(trades: Sequence[ClosedTrade], routes: Sequence[RouteSpec]) -> list[dict]:
    """One row per route: trades, longs, shorts, win rate, net PnL, fees, profit factor."""
    rows = []
    for r in routes:
        s = trade_stats([t for t in trades if t.route == r.key])
        rows.append(
            {
                "route": r.key,
                "exchange": r.exchange,
                "symbol": r.symbol,
                "timeframe": r.timeframe,
                "strategy": r.strategy,
                "trades": s["total_trades"],
                "longs": s["longs"],
                "shorts": s["shorts"],
                "win_rate": s["win_rate"],
                "net_pnl": s["gross_profit"] + s["gross_loss"],
                "fees": s["fees_paid"],
                "profit_factor": s["profit_factor"],
            }
        )
    return rows


def exit_reason_stats(trades: Sequence[ClosedTrade]) -> list[dict]:
    """One row per exit reason (every reason of ``CLOSED_BY``, then any unknown one)."""
    reasons = list(CLOSED_BY) + sorted({t.closed_by for t in trades} - set(CLOSED_BY))
    rows = []
    for reason in reasons:
        group = [t for t in trades if t.closed_by == reason]
        pnl = float(sum(t.pnl for t in group))
        rows.append(
            {
                "closed_by": reason,
                "trades": len(group),
                "win_rate": _div(sum(1 for t in group if t.pnl > 0), len(group)),
                "net_pnl": pnl,
                "average_pnl": _div(pnl, len(group)),
            }
        )
    return rows


# --------------------------------------------------------------------------- everything


def compute_metrics(
    equity_time: Sequence[int] | np.ndarray,
    equity: Sequence[float] | np.ndarray,
    trades: Sequence[ClosedTrade],
    starting_balance: float,
    start: int,
    end: int,
    *,
    benchmark_candles: np.ndarray | None = None,
) -> dict[str, float | int | None]:
    """All metrics of a run as a flat ``name -> number`` dict (keys: ``METRIC_NAMES``).

    ``equity_time``/``equity``: the per-bar mark-to-market curve (ms of each mark, value);
    ``start``/``end``: the run's period in epoch ms; ``benchmark_candles``: the first route's
    candles (``[timestamp, open, close, high, low, volume]``) for buy-and-hold.
    Rates and returns are fractions (0.05 is 5%); durations are days or seconds as named.
    """
    times, values = daily_equity(equity_time, equity, starting_balance, start, end)
    rets = daily_returns(values)
    finishing = float(values[-1])
    mdd = max_drawdown(values)
    cagr = annual_return(values)
    dd_days, longest_days = drawdown_durations(times, values)
    days = (end - start) / DAY_MS if end > start else 0.0
    out: dict[str, Any] = {
        "starting_balance": float(starting_balance),
        "finishing_balance": finishing,
        "net_profit": finishing - float(starting_balance),
        "total_return": _div(finishing - starting_balance, starting_balance),
        "annual_return": cagr,
        "max_drawdown": mdd,
        "max_drawdown_duration_days": dd_days,
        "longest_drawdown_days": longest_days,
        "sharpe": sharpe_ratio(rets),
        "sortino": sortino_ratio(rets),
        "calmar": _div(cagr, -mdd) if cagr is not None and mdd < 0 else None,
        "omega": omega_ratio(rets),
        "days": days,
    }
    stats = trade_stats(trades)
    out.update(stats)
    out["exposure"] = exposure(trades, start, end)
    n = stats["total_trades"]
    out["trades_per_day"] = _div(n, days) if days else None
    out["trades_per_week"] = _div(n * 7, days) if days else None
    out["trades_per_month"] = _div(n * PERIODS_PER_YEAR / 12, days) if days else None
    out["buy_and_hold_return"] = buy_and_hold_return(benchmark_candles, start, end)
    return {k: _clean(out[k]) for k in METRIC_NAMES}


def _clean(x: Any) -> float | int | None:
    if x is None or isinstance(x, bool):
        return x
    if isinstance(x, (int, np.integer)):
        return int(x)
    return _num(x)
