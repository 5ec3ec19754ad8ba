"""Exchanges reached through ccxt's synchronous client.

One adapter serves any ccxt exchange id; Binance spot and USDT-margined futures get their
published request weights so the :class:`~jbt.exchanges.ratelimit.RateLimiter` paces by weight
instead of by a fixed pause.

ccxt's sync clients are not thread-safe: every thread that calls the adapter gets its own
client (the markets are loaded once and shared), and they all share one rate limiter.

Retries: a 429/418 waits the ``Retry-After`` the exchange asked for (every thread waits);
5xx answers, timeouts and dropped connections back off exponentially with jitter, starting at
``retry_delay`` seconds; after ``max_retries`` the call raises :class:`~jbt.errors.ExchangeError`.
Failures that waiting does not cure are not retried: a host name that does not resolve, a
refused connection and a failed TLS handshake raise at once, saying which of them it was.

Every wait (a retry's backoff, a ``Retry-After``, the rate limiter) polls the adapter's
``should_stop`` and raises :class:`~jbt.errors.Cancelled` within a tenth of a second of it
turning true, so Ctrl-C or ``DELETE /jobs/ID`` is honoured even under ``Retry-After: 3600``.
"""

from __future__ import annotations

import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import ccxt
import numpy as np

from jbt.config import ExchangeConfig
from jbt.dates import format_ms
from jbt.errors import Cancelled, ExchangeError
from jbt.exchanges.base import ExchangeAdapter
from jbt.exchanges.ratelimit import RateLimiter
from jbt.symbols import SYMBOL_PATTERN, normalize_symbol

#: Longest pause between two retries, seconds (a Retry-After may ask for more and is honoured).
MAX_RETRY_DELAY_S = 30.0
#: How often a wait looks at ``should_stop``, seconds.
STOP_POLL_S = 0.1

_URL = re.compile(r"\b(https?://[^\s/'\"]+)")


def unreachable(error: BaseException) -> str | None:
    """What failed, when ``error`` is one that retrying does not cure: the host name does not
    resolve, the connection is refused, or TLS fails. ``None`` for anything else.

    ccxt raises a ``NetworkError`` whose causes hold the real reason (``socket.gaierror``,
    ``ConnectionRefusedError``, ``ssl.SSLError``); its message holds the URL asked for.
    """
    match = _URL.search(str(error))
    parts = urlsplit(match.group(1)) if match else None
    host = (parts.hostname or "the exchange") if parts else "the exchange"
    address = host if parts is None or parts.port is None else f"{host}:{parts.port}"
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, socket.gaierror):
            return f"cannot resolve {host}: no network or DNS?"
        if isinstance(cause, ConnectionRefusedError):
            return (f"{address} refused the connection: is the exchange down, or its address "
                    "(api_url) wrong?")
        if isinstance(cause, ssl.SSLCertVerificationError):
            why = cause.verify_message or cause.reason or "certificate not trusted"
            return f"TLS certificate of {host} not accepted ({why}): a proxy, or a wrong clock?"
        if isinstance(cause, ssl.SSLError):
            why = cause.reason or type(cause).__name__
            return (f"TLS handshake with {address} failed ({why}): a proxy, or an http:// server "
                    "at an https:// address?")
        cause = cause.__cause__ or cause.__context__
    return None


def rewrite_api_urls(api: Any, base_url: str) -> Any:
    """Every URL of ccxt's ``urls["api"]`` moved onto ``base_url``, keeping each URL's path.

    ``https://api.binance.com/api/v3`` becomes ``http://127.0.0.1:8080/api/v3`` for
    ``base_url = "http://127.0.0.1:8080"``; a path in ``base_url`` is kept as a prefix.
    """
    base = base_url.rstrip("/")
    if isinstance(api, dict):
        return {k: rewrite_api_urls(v, base) for k, v in api.items()}
    if isinstance(api, str) and "://" in api:
        parts = urlsplit(api)
        path = parts.path.rstrip("/")
        return base + path + (f"?{parts.query}" if parts.query else "")
    return api


def _retry_after_s(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers else None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class _Connection:
    """One thread's ccxt client and the status and headers of its last HTTP answer."""

    def __init__(self, exchange: Any) -> None:
        self.exchange = exchange
        self.status: int | None = None
        self.headers: Any = {}
        exchange.session.hooks["response"].append(self._on_response)

    def _on_response(self, response: Any, *args: Any, **kwargs: Any) -> None:
        self.status = response.status_code
        self.headers = response.headers


class CcxtAdapter(ExchangeAdapter):
    """An exchange through ccxt. ``market_type`` is ``spot`` or ``linear`` (USDT perpetuals)."""

    def __init__(
        self,
        name: str,
        ccxt_id: str,
        *,
        config: ExchangeConfig | None = None,
        market_type: str = "spot",
        weight_limit: int | None = None,
        weight_header: str | None = None,
        klines_weight: Callable[[int], int] = lambda limit: 1,
        markets_weight: int = 1,
        supports_until: bool = False,
        weight_window_s: float = 60.0,
        listing_from_epoch: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.ccxt_id = ccxt_id
        self.config = config or ExchangeConfig()
        self.market_type = market_type
        self.weight_header = weight_header
        self._klines_weight = klines_weight
        self._markets_weight = markets_weight
        self._supports_until = supports_until
        self._listing_from_epoch = listing_from_epoch
        self._sleep = sleep
        #: Polled by every wait; when it returns true the wait raises :class:`Cancelled`.
        self.should_stop: Callable[[], bool] | None = None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._requests = 0
        self._raw_markets: dict[str, Any] | None = None
        self._symbols: dict[str, str] | None = None  # ours -> ccxt's
        self._connections: list[_Connection] = []
        first = self._new_exchange()
        if self.config.rate_limit_ms is not None:
            interval = self.config.rate_limit_ms / 1000.0
        elif weight_limit is None:
            interval = float(first.rateLimit) / 1000.0  # the exchange's published pace
        else:
            interval = 0.0
        self.limiter = RateLimiter(
            weight_limit=weight_limit, window_s=weight_window_s, min_interval_s=interval,
            sleep=self._wait,
        )
        self._local.conn = _Connection(first)
        self._connections.append(self._local.conn)

    # ------------------------------------------------------------------ clients
    def _new_exchange(self) -> Any:
        cls = getattr(ccxt, self.ccxt_id)
        options: dict[str, Any] = {"defaultType": "swap" if self.market_type == "linear" else "spot"}
        if self.ccxt_id.startswith("binance"):
            options["fetchMarkets"] = {"types": [self.market_type]}
            options["fetchCurrencies"] = False
        exchange = cls(
            {
                "enableRateLimit": False,  # paced by self.limiter
                "timeout": int(self.config.timeout * 1000),
                "options": options,
            }
        )
        if self.config.api_url:
            exchange.urls["api"] = rewrite_api_urls(exchange.urls["api"], self.config.api_url)
        if self._raw_markets is not None:
            exchange.set_markets(self._raw_markets)
        return exchange

    def _conn(self) -> _Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = _Connection(self._new_exchange())
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @property
    def requests(self) -> int:
        return self._requests

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.exchange.session.close()

    # ------------------------------------------------------------------ retries
    def _wait(self, seconds: float) -> None:
        """Sleep ``seconds``, or raise Cancelled as soon as ``should_stop`` turns true."""
        stop = self.should_stop
        if stop is None:
            self._sleep(seconds)
            return
        deadline = time.monotonic() + seconds
        while True:
            if stop():
                raise Cancelled(f"{self.name}: stopped while waiting for the exchange")
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._sleep(min(left, STOP_POLL_S))

    def _call(self, what: str, fn: Callable[[Any], Any], weight: int) -> Any:
        conn = self._conn()
        retries = self.config.max_retries
        attempt = 0
        while True:
            ticket = self.limiter.acquire(weight)
            conn.status, conn.headers = None, {}
            with self._lock:
                self._requests += 1
            error: ccxt.BaseError | None = None
            try:
                return fn(conn.exchange)
            except ccxt.BaseError as exc:
                error = exc
            finally:
                used = conn.headers.get(self.weight_header) if self.weight_header else None
                self.limiter.release(
                    weight, int(used) if used and used.isdigit() else None, ticket
                )
            status = conn.status
            retry_after = None
            if status in (418, 429) or isinstance(
                error, (ccxt.DDoSProtection, ccxt.RateLimitExceeded)
            ):
                retry_after = _retry_after_s(conn.headers)
                kind = f"rate limited (HTTP {status or 429})"
            elif status is not None and status >= 500:
                kind = f"HTTP {status}"
            elif isinstance(error, ccxt.RequestTimeout):
                kind = f"no answer within {self.config.timeout:g} s"
            elif status is None and (cause := unreachable(error)) is not None:
                raise ExchangeError(f"{self.name}: {what} failed: {cause}") from error
            elif isinstance(error, ccxt.OperationFailed):
                kind = "connection dropped" if status is None else "bad answer"
            else:
                detail = str(error).splitlines()[0] if str(error) else type(error).__name__
                raise ExchangeError(f"{self.name}: {what} failed: {detail[:300]}") from error
            if attempt >= retries:
                raise ExchangeError(
                    f"{self.name}: {what} failed after {retries} retries (last: {kind})"
                ) from error
            delay = min(MAX_RETRY_DELAY_S, self.config.retry_delay * 2**attempt)
            delay *= random.uniform(0.5, 1.0)
            attempt += 1
            if retry_after is not None:
                self.limiter.block_for(max(retry_after, delay))
            else:
                self._wait(delay)

    # ------------------------------------------------------------------ markets
    def _ours(self, market: dict[str, Any]) -> str | None:
        if self.market_type == "linear":
            if not (market.get("swap") and market.get("linear")):
                return None
        elif not market.get("spot"):
            return None
        ours = f"{market['base']}-{market['quote']}".upper()
        return ours if SYMBOL_PATTERN.fullmatch(ours) else None  # not writable our way

    def _load(self) -> dict[str, str]:
        with self._lock:
            if self._symbols is not None:
                return self._symbols
        markets = self._call(
            "loading markets", lambda ex: ex.load_markets(), weight=self._markets_weight
        )
        symbols: dict[str, str] = {}
        for m in markets.values():
            ours = self._ours(m)
            if ours is not None and ours not in symbols:
                symbols[ours] = m["symbol"]
        with self._lock:
            self._raw_markets = markets
            self._symbols = symbols
        return symbols

    def markets(self) -> list[str]:
        return sorted(self._load())

    def _ccxt_symbol(self, symbol: str) -> str:
        symbols = self._load()
        ours = normalize_symbol(symbol)
        if ours not in symbols:
            self.validate_symbol(symbol)  # raises with close matches
        return symbols[ours]

    # ------------------------------------------------------------------ candles
    def fetch_ohlcv(
        self, symbol: str, start_ms: int, limit: int, end_ms: int | None = None,
        *, price: str | None = None,
    ) -> np.ndarray:
        """``price="mark"``: the mark-price candles of a perpetual (ccxt's ``price`` param)."""
        market = self._ccxt_symbol(symbol)
        params: dict[str, Any] = (
            {"until": int(end_ms)} if (self._supports_until and end_ms is not None) else {})
        if price is not None:
            params["price"] = price
        what = "candles" if price is None else f"{price}-price candles"
        rows = self._call(
            f"fetching {normalize_symbol(symbol)} {what} from {format_ms(start_ms)}",
            lambda ex: ex.fetch_ohlcv(market, "1m", since=int(start_ms), limit=limit,
                                      params=dict(params)),
            weight=self._klines_weight(limit),
        )
        arr = _to_array(rows)
        keep = arr[:, 0] >= start_ms
        if end_ms is not None:
            keep &= arr[:, 0] <= end_ms
        return arr[keep]

    def first_timestamp(self, symbol: str) -> int | None:
        """Binance answers candles from ``startTime=0`` with the first one it has; many other
        exchanges answer their most recent candles instead, so they are not asked."""
        if not self._listing_from_epoch:
            self._ccxt_symbol(symbol)  # still an unknown symbol is an error
            return None
        first = self.fetch_ohlcv(symbol, 0, 1)
        return int(first[0, 0]) if len(first) else None


def _to_array(rows: list[list[Any]]) -> np.ndarray:
    """ccxt's ``[t, o, h, l, c, v]`` rows as jbt's ``[t, o, c, h, l, v]`` float64 array."""
    if not rows:
        return np.empty((0, 6), dtype=np.float64)
    try:
        arr = np.array(rows, dtype=np.float64)
    except (TypeError, ValueError):  # a missing value (None) somewhere
        arr = np.array(
            [[np.nan if x is None else float(x) for x in row[:6]] for row in rows],
            dtype=np.float64,
        )
    arr = arr[:, [0, 1, 4, 2, 3, 5]]
    arr = arr[np.isfinite(arr[:, :5]).all(axis=1)]
    arr[~np.isfinite(arr[:, 5]), 5] = 0.0
    order = np.argsort(arr[:, 0], kind="stable")
    arr = arr[order]
    if len(arr) > 1:
        arr = arr[np.r_[True, arr[1:, 0] != arr[:-1, 0]]]
    return np.ascontiguousarray(arr)
