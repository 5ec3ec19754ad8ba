"""What the importer needs from an exchange, independent of how it is reached."""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod

import numpy as np

from jbt.errors import InputError


def normalize_symbol(symbol: str) -> str:
    """Our spelling of a pair: upper case, base and quote joined by ``-`` (``BTC-USDT``)."""
    return str(symbol).strip().upper()


def _compact(symbol: str) -> str:
    return "".join(ch for ch in symbol.upper() if ch.isalnum())


class ExchangeAdapter(ABC):
    """One exchange's public market data. Symbols are written ``BTC-USDT`` on our side."""

    #: Our name of the exchange (``binance``, ``binance-futures``, a ccxt id).
    name: str
    #: Candles per request the importer asks for.
    page_limit: int = 1000

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
        """The symbol in our spelling, or InputError naming close matches."""
        wanted = normalize_symbol(symbol)
        known = self.markets()
        if wanted in known:
            return wanted
        same_letters = [s for s in known if _compact(s) == _compact(wanted)]
        close = same_letters or difflib.get_close_matches(wanted, known, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        example = "" if close else " (symbols are written like BTC-USDT)"
        raise InputError(f"unknown symbol '{symbol}' on {self.name}{hint}{example}")

    @abstractmethod
    def close(self) -> None:
        """Release the adapter's connections."""
