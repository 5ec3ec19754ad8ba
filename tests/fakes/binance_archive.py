"""A fake of Binance's public data archive (data.binance.vision) on 127.0.0.1.

It serves the archive's layout::

    /data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2020-01.zip          (+ .CHECKSUM)
    /data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2020-01-31.zip
    /data/futures/um/{monthly,daily}/{klines,markPriceKlines}/BTCUSDT/1m/...
    /data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2020-01.zip

built from a :class:`~fakes.binance.FakeBinance`'s markets: the very candles, mark-price
candles and funding events its REST API serves, so an archive import can be compared with a
REST import. Files are written as Binance writes them: 12-column klines (the futures ones with
an ``open_time,...`` header; spot files from 2025 on in microseconds), funding as
``calc_time,funding_interval_hours,last_funding_rate``, each zip with a ``.CHECKSUM`` of the
form ``<sha256>  <name>`` (named files can have a wrong one, or none). A month's file exists once the month has ended before
``monthly_until``, a day's once the day has ended before ``daily_until``, and only when the
market has rows in it; anything else is 404. Named files can get a wrong checksum; every
request is recorded.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
import time
import zipfile
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from fakes.binance import FakeBinance, RecordedRequest

DAY_MS = 86_400_000
US_FROM = 1_735_689_600_000  # 2025-01-01: spot files from here on are in microseconds
KLINES_HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,"
                 "taker_buy_volume,taker_buy_quote_volume,ignore")

_PATH = re.compile(
    r"/data/(?P<market>spot|futures/um)/(?P<period>monthly|daily)/(?P<dataset>klines|"
    r"markPriceKlines|fundingRate)/(?P<sid>[A-Z0-9]+)/(?:1m/)?(?P=sid)-(?:1m|fundingRate)-"
    r"(?P<label>\d{4}-\d{2}(?:-\d{2})?)\.zip(?P<checksum>\.CHECKSUM)?"
)


def _bounds(label: str) -> tuple[int, int]:
    """``[start, end)`` in ms of a ``YYYY-MM`` or ``YYYY-MM-DD`` label."""
    parts = [int(x) for x in label.split("-")]
    start = datetime(parts[0], parts[1], parts[2] if len(parts) == 3 else 1, tzinfo=timezone.utc)
    if len(parts) == 3:
        end_ms = int(start.timestamp() * 1000) + DAY_MS
    else:
        year, month = parts[0] + (parts[1] == 12), parts[1] % 12 + 1
        end_ms = int(datetime(year, month, 1, tzinfo=timezone.utc).timestamp() * 1000)
    return int(start.timestamp() * 1000), end_ms


def _kline_lines(rows: np.ndarray, micro: bool) -> list[str]:
    """Binance-order rows ``[t, o, h, l, c, v]`` as the archive's 12-column lines."""
    scale = 1000 if micro else 1
    out = []
    for t, o, h, lo, c, v in rows.tolist():
        t = int(t) * scale
        close = t + 60_000 * scale - 1
        out.append(f"{t},{o:.8f},{h:.8f},{lo:.8f},{c:.8f},{v:.8f},{close},{v * c:.8f},"
                   f"{int(v * 10) + 1},{v / 2:.8f},{v * c / 2:.8f},0")
    return out


#: Built files by (market, path): markets are deterministic, so tests share them.
_BUILT: dict[tuple[str, str], bytes | None] = {}


class FakeArchive:
    """The server; use as a context manager."""

    def __init__(
        self,
        exchange: FakeBinance,
        *,
        monthly_until: int | None = None,
        daily_until: int | None = None,
        bad_checksum: Iterable[str] = (),
        no_checksum: Iterable[str] = (),
        latency_s: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.exchange = exchange
        self.monthly_until = monthly_until
        self.daily_until = daily_until
        self.bad_checksum = set(bad_checksum)
        self.no_checksum = set(no_checksum)
        self.latency_s = latency_s
        #: When set, every request is answered with this status and a Retry-After of
        #: ``retry_after_s`` (an archive behind a rate limit or down).
        self.fail_status: int | None = None
        self.retry_after_s = 1
        self.requests: list[RecordedRequest] = []
        #: Called with each request's file name (``.CHECKSUM`` included) as it arrives.
        self.on_request: Callable[[str], None] | None = None
        self._files: dict[str, bytes | None] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeArchive:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ----------------------------------------------------------------- test helpers
    def downloads(self) -> list[str]:
        """Names of the zip files answered with 200 (checksums not included), sorted: the
        importer downloads several at once."""
        with self._lock:
            return sorted(r.path.rsplit("/", 1)[1] for r in self.requests
                          if r.status == 200 and r.path.endswith(".zip"))

    def reset_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def file(self, path: str) -> bytes | None:
        """The zip served at ``path`` (None: 404), built on first use."""
        with self._lock:
            if path in self._files:
                return self._files[path]
        # built outside the lock, so requests are not held up (two threads may both build)
        m = _PATH.fullmatch(path)
        table = self.exchange.futures if m and m["market"] == "futures/um" else (
            self.exchange.spot)
        market = table.get(m["sid"]) if m else None
        key = (repr(market), path)
        if m is None or not self._published(m):
            data = None
        else:
            data = _BUILT.get(key)
            if data is None:
                data = _BUILT[key] = self._build(path)
        with self._lock:
            self._files[path] = data
        return data

    def prebuild(self, paths: Iterable[str]) -> None:
        for path in paths:
            self.file(path)

    # ----------------------------------------------------------------- content
    def _published(self, m: re.Match) -> bool:
        until = self.monthly_until if m["period"] == "monthly" else self.daily_until
        return until is None or _bounds(m["label"])[1] <= until

    def _build(self, path: str) -> bytes | None:
        m = _PATH.fullmatch(path)
        if m is None:
            return None
        start, end = _bounds(m["label"])
        sid, dataset = m["sid"], m["dataset"]
        futures = m["market"] == "futures/um"
        if dataset == "fundingRate":
            if not futures or m["period"] != "monthly" or sid not in self.exchange.futures:
                return None
            events = self.exchange.funding(sid, start, end)
            if len(events) == 0:
                return None
            lines = ["calc_time,funding_interval_hours,last_funding_rate"] + [
                f"{int(t)},{int(h) // 3_600_000},{r:.8f}" for t, r, _, h in events.tolist()]
        else:
            table = self.exchange.futures if futures else self.exchange.spot
            if sid not in table:
                return None
            kind = "mark" if dataset == "markPriceKlines" else ("futures" if futures else "spot")
            if kind == "mark" and not futures:
                return None
            rows = self.exchange._data[(kind, sid)]
            rows = rows[(rows[:, 0] >= start) & (rows[:, 0] < end)]
            if len(rows) == 0:
                return None
            lines = _kline_lines(rows, micro=not futures and start >= US_FROM)
            if futures:
                lines.insert(0, KLINES_HEADER)
        name = path.rsplit("/", 1)[1]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(name[:-4] + ".csv", "\n".join(lines) + "\n")
        return buffer.getvalue()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                fake._serve(self)

        return Handler

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        record = RecordedRequest(path, {}, time.time())
        with self._lock:
            self.requests.append(record)
        if self.on_request is not None:
            self.on_request(path.rsplit("/", 1)[1])
        if self.latency_s:
            time.sleep(self.latency_s)
        checksum = path.endswith(".CHECKSUM")
        data = self.file(path[: -len(".CHECKSUM")] if checksum else path)
        extra: dict[str, str] = {}
        if self.fail_status is not None:
            body, status, kind = b"<Error>SlowDown</Error>", self.fail_status, "application/xml"
            extra["Retry-After"] = str(self.retry_after_s)
        elif data is None or (checksum and path.rsplit("/", 1)[1][: -len(".CHECKSUM")]
                              in self.no_checksum):
            body, status, kind = b"<Error><Code>NoSuchKey</Code></Error>", 404, "application/xml"
        elif checksum:
            name = path.rsplit("/", 1)[1][: -len(".CHECKSUM")]
            digest = hashlib.sha256(data).hexdigest()
            if name in self.bad_checksum:
                digest = hashlib.sha256(data + b"tampered").hexdigest()
            body, status, kind = f"{digest}  {name}\n".encode(), 200, "text/plain"
        else:
            body, status, kind = data, 200, "application/zip"
        record.status = status
        try:
            h.send_response(status)
            h.send_header("Content-Type", kind)
            h.send_header("Content-Length", str(len(body)))
            for key, value in extra.items():
                h.send_header(key, value)
            h.end_headers()
            h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True
