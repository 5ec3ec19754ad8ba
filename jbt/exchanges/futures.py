"""Perpetual futures data through ccxt: funding-rate history and mark-price candles.

Both go through a :class:`~jbt.exchanges.ccxt_adapter.CcxtAdapter` of a perpetual market
(``binance-futures``): its clients, weight-based rate limiter, retries and ``Retry-After``
handling are the candle import's. Binance serves them as ``GET /fapi/v1/fundingRate`` (at most
1000 events a request, oldest first from ``startTime``) and ``GET /fapi/v1/markPriceKlines``
(klines of the mark price, weighted like klines), which ccxt calls through
``fetch_funding_rate_history`` and ``fetch_ohlcv(..., params={"price": "mark"})``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jbt.dates import format_ms
from jbt.errors import InputError
from jbt.exchanges.base import ExchangeAdapter, normalize_symbol
from jbt.funding import mark_source

#: Events per funding-history request (Binance's maximum).
FUNDING_PAGE_LIMIT = 1000
#: Request weight of one funding-history request.
FUNDING_WEIGHT = 1


def require_perpetual(adapter: Any, what: str) -> None:
    """InputError unless ``adapter`` reaches a perpetual (linear swap) market."""
    if getattr(adapter, "market_type", None) != "linear" or not hasattr(adapter, "_call"):
        raise InputError(
            f"{what} is for perpetual futures: use binance-futures (USDⓈ-M), "
            f"not {getattr(adapter, 'name', adapter)}"
        )


def fetch_funding_rates(
    adapter: Any, symbol: str, start_ms: int, end_ms: int, limit: int = FUNDING_PAGE_LIMIT
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Up to ``limit`` funding events with time in ``[start_ms, end_ms]``, oldest first:
    ``(times int64 ms, rates float64, mark prices float64 with NaN where none was given)``."""
    market = adapter._ccxt_symbol(symbol)
    params = {"until": int(end_ms)}
    rows = adapter._call(
        f"fetching {normalize_symbol(symbol)} funding rates from {format_ms(start_ms)}",
        lambda ex: ex.fetch_funding_rate_history(market, since=int(start_ms), limit=limit,
                                                 params=dict(params)),
        weight=FUNDING_WEIGHT,
    )
    times, rates, marks = [], [], []
    for row in rows or ():
        t, rate = row.get("timestamp"), row.get("fundingRate")
        if t is None or rate is None:
            continue
        info = row.get("info") or {}
        mark = info.get("markPrice") if isinstance(info, dict) else None
        try:
            mark_value = float(mark) if mark not in (None, "") else np.nan
        except (TypeError, ValueError):
            mark_value = np.nan
        times.append(int(t))
        rates.append(float(rate))
        marks.append(mark_value)
    t_arr = np.asarray(times, dtype=np.int64)
    keep = (t_arr >= start_ms) & (t_arr <= end_ms) & np.isfinite(np.asarray(rates, np.float64))
    order = np.argsort(t_arr[keep], kind="stable")
    return (t_arr[keep][order], np.asarray(rates, np.float64)[keep][order],
            np.asarray(marks, np.float64)[keep][order])


class MarkPriceAdapter(ExchangeAdapter):
    """A perpetual market's mark-price 1m candles, as the candle import wants an exchange.

    Stored under ``EXCHANGE:mark`` (:func:`jbt.funding.mark_source`), so the candle import's
    resume, known gaps and listing work for them as for trade candles, without mixing the two.
    """

    def __init__(self, inner: Any) -> None:
        require_perpetual(inner, "--mark")
        self.inner = inner
        self.name = mark_source(inner.name)
        self.page_limit = inner.page_limit

    @property
    def requests(self) -> int:
        return self.inner.requests

    @property
    def should_stop(self) -> Any:  # type: ignore[override]
        """The inner adapter's: its waits are the ones to cancel."""
        return self.inner.should_stop

    @should_stop.setter
    def should_stop(self, value: Any) -> None:
        self.inner.should_stop = value

    def markets(self) -> list[str]:
        return self.inner.markets()

    def validate_symbol(self, symbol: str) -> str:
        return self.inner.validate_symbol(symbol)

    def fetch_ohlcv(
        self, symbol: str, start_ms: int, limit: int, end_ms: int | None = None
    ) -> np.ndarray:
        return self.inner.fetch_ohlcv(symbol, start_ms, limit, end_ms, price="mark")

    def first_timestamp(self, symbol: str) -> int | None:
        """The first mark-price candle, asked from ``startTime=0`` as for trade candles."""
        first = self.fetch_ohlcv(symbol, 0, 1)
        return int(first[0, 0]) if len(first) else None

    def close(self) -> None:
        self.inner.close()
