"""What the importer needs from an exchange, independent of how it is reached."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

from jbt.errors import InputError
from jbt.symbols import close_symbols, normalize_symbol


class ExchangeAdapter(ABC):
    """One exchange's public market data. Symbols are written ``BTC-USDT`` on our side."""

    #: Our name of the exchange (``binance``, ``binance-futures``, a ccxt id).
    name: str
    #: Candles per request the importer asks for.
    page_limit: int = 1000
    #: Set by the importer: while it returns true, waits end with :class:`jbt.errors.Cancelled`.
    should_stop: Callable[[], bool] | None = None

    @abstractmethod
    def markets(self) -> list[str]:
        """Every symbol the exchange lists for this adapter's market type, sorted."""

    @abstractmethod
    def fetch_ohlcv(
        self, symbol: str, start_ms: int, limit: int, end_ms: int | None = None
    ) -> np.ndarray:
        """Up to ``limit`` 1m candles with open time ``>= start_ms`` (and ``<= end_ms``), in time
        order, as a float64 ``(n, 6)`` array in jbt's ``[timestamp, open, close, high, low,
        volume]`` order. Minutes the exchange has no candle for are simply absent."""

    @abstractmethod
    def first_timestamp(self, symbol: str) -> int | None:
        """Open time of the first 1m candle the exchange has (the listing); ``None`` when the
        exchange has none or cannot tell."""

    @property
    def requests(self) -> int:
        """HTTP requests sent so far (retries included)."""
        return 0

    def validate_symbol(self, symbol: str) -> str:
        """The symbol in our spelling, or InputError naming close matches.

        Its format is checked first (:func:`jbt.symbols.normalize_symbol`), before the market
        list is asked for."""
        wanted = normalize_symbol(symbol)
        known = self.markets()
        if wanted in known:
            return wanted
        close = close_symbols(wanted, known)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise InputError(f"unknown symbol '{symbol}' on {self.name}{hint}")

    @abstractmethod
    def close(self) -> None:
        """Release the adapter's connections."""
