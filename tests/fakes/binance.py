"""A fake Binance REST server on 127.0.0.1 for tests and the import benchmark.

It speaks enough of Binance's public API for the real ccxt client: spot ``/api/v3/exchangeInfo``,
``/api/v3/klines``, ``/api/v3/time``, ``/api/v3/ping`` and USDT-margined futures
``/fapi/v1/exchangeInfo``, ``/fapi/v1/klines``, ``/fapi/v1/time``, ``/fapi/v1/ping``, the
funding-rate history ``/fapi/v1/fundingRate`` and mark-price klines ``/fapi/v1/markPriceKlines``.

Candles are deterministic (a seeded random walk per symbol) from a listing time to an end time,
minus configurable holes, so a test can compare stored rows with :meth:`FakeBinance.candles`.
A futures market also has mark-price candles (:meth:`FakeBinance.mark_candles`) and funding
events (:meth:`FakeBinance.funding`) on a schedule of intervals that may change (8h, then 4h...),
with holes and Binance's few-millisecond-late funding times.
Faults can be scripted (:meth:`FakeBinance.script`) or drawn at random (``fault_rate``): 429 and
418 with ``Retry-After``, 500/502/503 with a JSON body, a dropped connection, a slow answer.
Request weight is counted per window like Binance (``X-MBX-USED-WEIGHT-1M``); a request that would
pass ``weight_limit`` is refused with 429 and ``Retry-After``. Every request is recorded.
"""

from __future__ import annotations

import json
import math
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np

MINUTE_MS = 60_000

#: Kinds of fault the server can inject.
FAULTS = ("429", "418", "500", "502", "503", "drop", "slow")


@dataclass
class FakeMarket:
    """One symbol the server lists: candles from ``listing_ms`` up to ``end_ms`` (exclusive)."""

    base: str
    quote: str
    listing_ms: int
    end_ms: int
    #: Inclusive ranges of open times the exchange has no candle for.
    holes: list[tuple[int, int]] = field(default_factory=list)
    seed: int = 1
    start_price: float = 7000.0
    #: Funding schedule: ``(from_ms, interval_ms)`` in time order; events fall on the interval's
    #: UTC grid from the listing (8h: 00:00, 08:00, 16:00).
    funding_schedule: list[tuple[int, int]] = field(
        default_factory=lambda: [(0, 8 * 3_600_000)])
    #: Inclusive ranges of funding times the exchange has no event for.
    funding_holes: list[tuple[int, int]] = field(default_factory=list)
    #: Some funding times come a few milliseconds late, as Binance's do.
    funding_jitter: bool = True

    @property
    def id(self) -> str:
        return f"{self.base}{self.quote}"


@dataclass
class RecordedRequest:
    """One request as it arrived; ``status`` is set when answered (0: dropped or pending)."""

    path: str
    params: dict[str, str]
    time: float
    status: int = 0


def _make_candles(market: FakeMarket) -> np.ndarray:
    """Rows ``[open_time, open, high, low, close, volume]`` (Binance's order), holes removed."""
    ts = np.arange(market.listing_ms, market.end_ms, MINUTE_MS, dtype=np.int64)
    keep = np.ones(len(ts), dtype=bool)
    for a, b in market.holes:
        keep &= ~((ts >= a) & (ts <= b))
    rng = np.random.default_rng(market.seed)
    n = len(ts)
    steps = rng.normal(0.0, 0.0008, n)
    close = np.round(market.start_price * np.exp(np.cumsum(steps)), 2)
    open_ = np.round(np.r_[market.start_price, close[:-1]], 2)
    wick = np.round(np.abs(rng.normal(0.0, 0.0005, (2, n))) * close, 2)
    high = np.round(np.maximum(open_, close) + wick[0], 2)
    low = np.round(np.minimum(open_, close) - wick[1], 2)
    volume = np.round(rng.gamma(2.0, 3.0, n), 5)
    rows = np.column_stack([ts.astype(np.float64), open_, high, low, close, volume])
    return rows[keep]


def _make_mark_candles(market: FakeMarket, trades: np.ndarray) -> np.ndarray:
    """Mark-price candles for every minute of the market (no holes): near the trade prices,
    volume 0, in Binance's order."""
    ts = np.arange(market.listing_ms, market.end_ms, MINUTE_MS, dtype=np.int64)
    rng = np.random.default_rng(market.seed + 1000)
    base = np.interp(ts, trades[:, 0], trades[:, 4]) if len(trades) else np.full(len(ts), 100.0)
    close = np.round(base * (1 + rng.normal(0.0, 0.0002, len(ts))), 2)
    open_ = np.round(np.r_[close[0], close[:-1]], 2)
    wick = np.round(np.abs(rng.normal(0.0, 0.0002, (2, len(ts)))) * close, 2)
    high = np.round(np.maximum(open_, close) + wick[0], 2)
    low = np.round(np.minimum(open_, close) - wick[1], 2)
    return np.column_stack([ts.astype(np.float64), open_, high, low, close, np.zeros(len(ts))])


def _make_funding(market: FakeMarket) -> np.ndarray:
    """Funding events ``[time, rate, mark_price, interval]``: on the schedule's grid, minus the
    holes. An event's interval is the time since the previous one on the grid (the first one's:
    its schedule step), as Binance states it in its archive."""
    times: list[int] = []
    steps: list[int] = []
    schedule = sorted(market.funding_schedule)
    for i, (since, step) in enumerate(schedule):
        until = schedule[i + 1][0] if i + 1 < len(schedule) else market.end_ms
        t = -(-max(since, market.listing_ms) // step) * step
        while t < min(until, market.end_ms):
            if not times or t > times[-1]:
                times.append(t)
                steps.append(step)
            t += step
    ts = np.array(times, dtype=np.int64)
    intervals = np.r_[steps[:1], np.diff(ts)].astype(np.float64)
    keep = np.ones(len(ts), dtype=bool)
    for a, b in market.funding_holes:
        keep &= ~((ts >= a) & (ts <= b))
    rng = np.random.default_rng(market.seed + 2000)
    rates = np.round(rng.normal(0.0001, 0.0003, len(ts)), 8)
    marks = np.round(market.start_price * np.exp(np.cumsum(rng.normal(0, 0.01, len(ts)))), 8)
    late = rng.integers(0, 10, len(ts)) if market.funding_jitter else np.zeros(len(ts), np.int64)
    late[rng.random(len(ts)) < 0.7] = 0  # most are on time
    return np.column_stack([(ts + late)[keep].astype(np.float64), rates[keep], marks[keep],
                            intervals[keep]])


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that goes away mid-request (a killed import) is no error of the server's."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeBinance:
    """The server. Use as a context manager, or call :meth:`start` and :meth:`stop`."""

    def __init__(
        self,
        markets: Iterable[FakeMarket] = (),
        futures_markets: Iterable[FakeMarket] = (),
        *,
        weight_limit: int | None = 6000,
        futures_weight_limit: int | None = 2400,
        weight_window_s: float = 60.0,
        fault_rate: float = 0.0,
        fault_kinds: Iterable[str] = FAULTS,
        fault_paths: Iterable[str] = ("/api/v3/klines", "/fapi/v1/klines"),
        retry_after_s: int = 1,
        slow_s: float = 2.0,
        latency_s: float = 0.0,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.spot = {m.id: m for m in markets}
        self.futures = {m.id: m for m in futures_markets}
        self._data: dict[tuple[str, str], np.ndarray] = {}
        for kind, table in (("spot", self.spot), ("futures", self.futures)):
            for sid, m in table.items():
                self._data[(kind, sid)] = _make_candles(m)
        for sid, m in self.futures.items():
            self._data[("mark", sid)] = _make_mark_candles(m, self._data[("futures", sid)])
            self._data[("funding", sid)] = _make_funding(m)
        self.weight_limit = weight_limit
        self.futures_weight_limit = futures_weight_limit
        self.weight_window_s = weight_window_s
        self.fault_rate = fault_rate
        self.fault_kinds = tuple(fault_kinds)
        self.fault_paths = set(fault_paths)
        self.retry_after_s = retry_after_s
        self.slow_s = slow_s
        #: Added to every answer, like the round trip to a real exchange.
        self.latency_s = latency_s
        self.requests: list[RecordedRequest] = []
        self.faults_served: list[str] = []
        #: Called with the number of klines requests answered so far, after each one.
        self.on_klines: Callable[[int], None] | None = None
        self._klines_served = 0
        #: Called with the number of funding-rate requests answered so far, after each one.
        self.on_funding: Callable[[int], None] | None = None
        self._funding_served = 0
        self._script: deque[str] = deque()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._weights: dict[str, tuple[int, int]] = {}  # api -> (window id, used weight)
        self._server = _Server((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeBinance:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeBinance:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- test helpers
    def candles(self, symbol_id: str, start_ms: int | None = None, end_ms: int | None = None,
                *, futures: bool = False) -> np.ndarray:
        """What the server holds in jbt's column order, open times in ``[start_ms, end_ms)``."""
        rows = self._data[("futures" if futures else "spot", symbol_id)]
        ts = rows[:, 0]
        lo = 0 if start_ms is None else int(np.searchsorted(ts, start_ms, "left"))
        hi = len(rows) if end_ms is None else int(np.searchsorted(ts, end_ms, "left"))
        r = rows[lo:hi]
        # Binance order [t, o, h, l, c, v] -> jbt order [t, o, c, h, l, v]
        return r[:, [0, 1, 4, 2, 3, 5]].copy()

    def mark_candles(self, symbol_id: str, start_ms: int | None = None,
                     end_ms: int | None = None) -> np.ndarray:
        """The futures market's mark-price candles in jbt's order, open times in
        ``[start_ms, end_ms)``."""
        rows = self._data[("mark", symbol_id)]
        ts = rows[:, 0]
        lo = 0 if start_ms is None else int(np.searchsorted(ts, start_ms, "left"))
        hi = len(rows) if end_ms is None else int(np.searchsorted(ts, end_ms, "left"))
        return rows[lo:hi][:, [0, 1, 4, 2, 3, 5]].copy()

    def funding(self, symbol_id: str, start_ms: int | None = None,
                end_ms: int | None = None) -> np.ndarray:
        """The futures market's funding events ``[time, rate, mark_price, interval]`` with time
        in ``[start_ms, end_ms)``."""
        rows = self._data[("funding", symbol_id)]
        ts = rows[:, 0]
        lo = 0 if start_ms is None else int(np.searchsorted(ts, start_ms, "left"))
        hi = len(rows) if end_ms is None else int(np.searchsorted(ts, end_ms, "left"))
        return rows[lo:hi].copy()

    def funding_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == "/fapi/v1/fundingRate"]

    def script(self, faults: Iterable[str]) -> None:
        """Queue faults for the next fault-eligible requests; ``"ok"`` answers one normally."""
        for f in faults:
            if f != "ok" and f not in FAULTS:
                raise ValueError(f"unknown fault {f!r}")
            self._script.append(f)

    def klines_requests(self, *, futures: bool = False) -> list[RecordedRequest]:
        path = "/fapi/v1/klines" if futures else "/api/v3/klines"
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def reset_requests(self) -> None:
        with self._lock:
            self.requests.clear()
            self.faults_served.clear()

    # ----------------------------------------------------------------- serving
    def _next_fault(self, path: str) -> str | None:
        if path not in self.fault_paths:
            return None
        with self._lock:
            if self._script:
                f = self._script.popleft()
                return None if f == "ok" else f
            if self.fault_rate and self._rng.random() < self.fault_rate:
                return self._rng.choice(self.fault_kinds)
        return None

    def _charge(self, api: str, weight: int) -> tuple[bool, int, int]:
        """Count ``weight`` in the current window: (allowed, used weight, seconds to window end)."""
        limit = self.futures_weight_limit if api == "fapi" else self.weight_limit
        now = time.time()
        window = int(now // self.weight_window_s)
        retry = max(1, math.ceil((window + 1) * self.weight_window_s - now))
        with self._lock:
            wid, used = self._weights.get(api, (window, 0))
            if wid != window:
                used = 0
            if limit is not None and used + weight > limit:
                self._weights[api] = (window, used)
                return False, used, retry
            used += weight
            self._weights[api] = (window, used)
            return True, used, retry

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                parts = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                fake._serve(self, parts.path, params)

        return Handler

    def _serve(self, h: BaseHTTPRequestHandler, path: str, params: dict[str, str]) -> None:
        record = RecordedRequest(path, params, time.time())
        with self._lock:
            self.requests.append(record)
        if self.latency_s:
            time.sleep(self.latency_s)
        fault = self._next_fault(path)
        if fault is not None:
            with self._lock:
                self.faults_served.append(fault)
            if fault == "drop":
                h.close_connection = True
                try:
                    h.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if fault == "slow":
                time.sleep(self.slow_s)
            elif fault in ("429", "418"):
                code = -1003
                msg = "Too many requests; current limit is exceeded." if fault == "429" else (
                    "Way too many requests; IP banned until later.")
                self._reply(h, record, int(fault), {"code": code, "msg": msg},
                            {"Retry-After": str(self.retry_after_s)})
                return
            else:
                self._reply(h, record, int(fault),
                            {"code": -1001, "msg": "Internal error; unable to process your request."})
                return

        api = "fapi" if path.startswith("/fapi/") else "api"
        routes = {
            "/api/v3/ping": (self._ping, 1),
            "/api/v3/time": (self._time, 1),
            "/api/v3/exchangeInfo": (self._exchange_info, 20),
            "/api/v3/klines": (self._klines, 2),
            "/fapi/v1/ping": (self._ping, 1),
            "/fapi/v1/time": (self._time, 1),
            "/fapi/v1/exchangeInfo": (self._exchange_info, 1),
            "/fapi/v1/klines": (self._klines, None),
            "/fapi/v1/markPriceKlines": (self._mark_klines, None),
            "/fapi/v1/fundingRate": (self._funding, 1),
        }
        if path not in routes:
            self._reply(h, record, 404, {"code": -1, "msg": f"unknown path {path}"})
            return
        fn, weight = routes[path]
        if weight is None:  # futures (mark) klines: weight by limit, as Binance documents
            limit = _int(params.get("limit"), 500) or 500
            weight = 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
        allowed, used, retry = self._charge(api, weight)
        headers = {"X-MBX-USED-WEIGHT-1M": str(used)}
        if not allowed:
            headers["Retry-After"] = str(retry)
            self._reply(h, record, 429,
                        {"code": -1003, "msg": "Too much request weight used; retry later."},
                        headers)
            return
        status, body = fn(api, params)
        self._reply(h, record, status, body, headers)
        if path.endswith("/klines") and status == 200:
            with self._lock:
                self._klines_served += 1
                served = self._klines_served
            if self.on_klines is not None:
                self.on_klines(served)
        if path.endswith("/fundingRate") and status == 200:
            with self._lock:
                self._funding_served += 1
                served = self._funding_served
            if self.on_funding is not None:
                self.on_funding(served)

    def _reply(self, h: BaseHTTPRequestHandler, record: RecordedRequest, status: int,
               body: object, headers: dict[str, str] | None = None) -> None:
        record.status = status
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json;charset=UTF-8")
            h.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True

    # ----------------------------------------------------------------- endpoints
    def _ping(self, api: str, params: dict[str, str]) -> tuple[int, object]:
        return 200, {}

    def _time(self, api: str, params: dict[str, str]) -> tuple[int, object]:
        return 200, {"serverTime": int(time.time() * 1000)}

    def _exchange_info(self, api: str, params: dict[str, str]) -> tuple[int, object]:
        futures = api == "fapi"
        table = self.futures if futures else self.spot
        limit = self.futures_weight_limit if futures else self.weight_limit
        info = {
            "timezone": "UTC",
            "serverTime": int(time.time() * 1000),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                 "limit": limit or 6000},
            ],
            "exchangeFilters": [],
            "symbols": [self._symbol_info(m, futures) for m in table.values()],
        }
        if futures:
            info["assets"] = []
        return 200, info

    @staticmethod
    def _symbol_info(m: FakeMarket, futures: bool) -> dict[str, object]:
        filters = [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000",
             "tickSize": "0.01000000"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000",
             "stepSize": "0.00001000"},
        ]
        if futures:
            return {
                "symbol": m.id, "pair": m.id, "contractType": "PERPETUAL",
                "deliveryDate": 4133404800000, "onboardDate": m.listing_ms, "status": "TRADING",
                "baseAsset": m.base, "quoteAsset": m.quote, "marginAsset": m.quote,
                "pricePrecision": 2, "quantityPrecision": 3, "baseAssetPrecision": 8,
                "quotePrecision": 8, "underlyingType": "COIN", "settlePlan": 0,
                "triggerProtect": "0.0500", "filters": filters,
                "orderTypes": ["LIMIT", "MARKET"], "timeInForce": ["GTC"],
            }
        return {
            "symbol": m.id, "status": "TRADING", "baseAsset": m.base, "baseAssetPrecision": 8,
            "quoteAsset": m.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
            "orderTypes": ["LIMIT", "MARKET"], "icebergAllowed": True, "ocoAllowed": True,
            "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
            "filters": filters, "permissions": [], "permissionSets": [["SPOT"]],
        }

    def _mark_klines(self, api: str, params: dict[str, str]) -> tuple[int, object]:
        return self._klines(api, params, kind="mark")

    def _funding(self, api: str, params: dict[str, str]) -> tuple[int, object]:
        """Binance's funding-rate history: events in ``[startTime, endTime]``, oldest first,
        at most ``limit`` (default 100, at most 1000); without startTime the latest ones."""
        sid = params.get("symbol", "")
        if sid not in self.futures:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        limit = _int(params.get("limit"), 100)
        start = _int(params.get("startTime"), None)
        end = _int(params.get("endTime"), None)
        if limit is None or limit < 1 or limit > 1000:
            return 400, {"code": -1130, "msg": "Invalid data sent for a parameter."}
        rows = self._data[("funding", sid)]
        ts = rows[:, 0]
        lo = 0 if start is None else int(np.searchsorted(ts, start, "left"))
        hi = len(rows) if end is None else int(np.searchsorted(ts, end, "right"))
        if start is None:
            lo = max(lo, hi - limit)
        else:
            hi = min(hi, lo + limit)
        out = [
            f'{{"symbol":"{sid}","fundingTime":{int(t)},"fundingRate":"{r:.8f}",'
            f'"markPrice":"{m:.8f}"}}'
            for t, r, m, _ in rows[lo:hi].tolist()
        ]
        return 200, ("[" + ",".join(out) + "]").encode()

    def _klines(self, api: str, params: dict[str, str], kind: str | None = None
                ) -> tuple[int, object]:
        futures = api == "fapi"
        table = self.futures if futures else self.spot
        sid = params.get("symbol", "")
        if sid not in table:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        if params.get("interval") != "1m":
            return 400, {"code": -1120, "msg": "Invalid interval."}
        max_limit = 1500 if futures else 1000
        limit = _int(params.get("limit"), 500)
        start = _int(params.get("startTime"), None)
        end = _int(params.get("endTime"), None)
        if limit is None or limit < 1 or limit > max_limit:
            return 400, {"code": -1130, "msg": "Invalid data sent for a parameter."}
        rows = self._data[(kind or ("futures" if futures else "spot"), sid)]
        ts = rows[:, 0]
        lo = 0 if start is None else int(np.searchsorted(ts, start, "left"))
        hi = len(rows) if end is None else int(np.searchsorted(ts, end, "right"))
        if start is None:  # the most recent `limit` candles up to endTime
            lo = max(lo, hi - limit)
        else:
            hi = min(hi, lo + limit)
        return 200, _klines_body(rows[lo:hi])


def _int(text: str | None, default: int | None) -> int | None:
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        return None


def _klines_body(rows: np.ndarray) -> bytes:
    """Binance's 12-column kline arrays, prices as strings with 8 decimals."""
    out = []
    for t, o, h, lo, c, v in rows.tolist():
        t = int(t)
        out.append(
            f'[{t},"{o:.8f}","{h:.8f}","{lo:.8f}","{c:.8f}","{v:.8f}",{t + 59_999},'
            f'"{v * c:.8f}",{int(v * 10) + 1},"{v / 2:.8f}","{v * c / 2:.8f}","0"]'
        )
    return ("[" + ",".join(out) + "]").encode()


def write_project(path, servers: dict[str, FakeBinance], **exchange_keys: object) -> None:
    """A project folder whose config.toml points the given exchanges at fake servers.

    ``servers`` maps our exchange name (``binance``, ``binance-futures``) to a server;
    ``exchange_keys`` (retry_delay, timeout, max_retries...) go into every exchange table.
    """
    from pathlib import Path

    lines = ['[database]', 'url = "sqlite:///db.sqlite3"', ""]
    for name, server in servers.items():
        lines.append(f"[exchanges.{name}]")
        lines.append(f'api_url = "{server.url}"')
        for key, value in exchange_keys.items():
            lines.append(f"{key} = {json.dumps(value)}")
        lines.append("")
    Path(path).mkdir(parents=True, exist_ok=True)
    (Path(path) / "config.toml").write_text("\n".join(lines), encoding="utf-8")
