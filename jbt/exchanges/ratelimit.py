"""Request pacing shared by the threads of one adapter.

Binance counts a *request weight* per IP in fixed one-minute windows and reports the running
total in the ``X-MBX-USED-WEIGHT-1M`` header of every answer. :class:`RateLimiter` keeps that
total (plus the weight of requests still in flight) and makes a caller wait only when the next
request would pass the limit: then it sleeps until the window turns over. A fixed pause between
requests, as ccxt's ``enableRateLimit`` does, would cap a klines import near 2,000 candles/s; the
weight budget allows about 50,000.

It also honours ``Retry-After`` (every thread waits after a 429/418) and, when configured, a
minimum spacing between requests for exchanges that publish no weights.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self,
        *,
        weight_limit: int | None = None,
        window_s: float = 60.0,
        headroom: float = 0.05,
        min_interval_s: float = 0.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        #: Weight allowed per window; ``None`` counts nothing.
        self.weight_limit = weight_limit
        self.window_s = window_s
        #: Fraction of the limit kept free for other programs using the same IP.
        self.headroom = headroom
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._window = -1
        self._used = 0
        self._in_flight = 0
        self._blocked_until = 0.0
        self._next_slot = 0.0
        #: Seconds spent waiting in :meth:`acquire`, for reports and tests.
        self.waited_s = 0.0

    @property
    def budget(self) -> int | None:
        if self.weight_limit is None:
            return None
        return max(1, int(self.weight_limit * (1.0 - self.headroom)))

    def _roll(self, now: float) -> None:
        window = int(now // self.window_s)
        if window != self._window:
            self._window = window
            self._used = 0
            self._in_flight = 0  # counted by the exchange in the window they were sent in

    def acquire(self, weight: int = 1) -> int:
        """Block until a request of ``weight`` may be sent; count it as in flight.

        Returns a ticket to hand back to :meth:`release`: the window the request was sent in.
        """
        while True:
            with self._lock:
                now = self._clock()
                self._roll(now)
                wait = self._blocked_until - now
                if wait <= 0 and self.min_interval_s > 0:
                    wait = self._next_slot - now
                budget = self.budget
                if wait <= 0 and budget is not None:
                    if self._used + self._in_flight + weight > budget and (
                        self._used + self._in_flight > 0
                    ):
                        wait = (self._window + 1) * self.window_s - now + 0.01
                if wait <= 0:
                    self._in_flight += weight
                    if self.min_interval_s > 0:
                        self._next_slot = max(now, self._next_slot) + self.min_interval_s
                    return self._window
                self.waited_s += wait
            self._sleep(wait)

    def release(self, weight: int, used_weight: int | None, ticket: int | None = None) -> None:
        """The request of ``weight`` is answered; ``used_weight`` is the server's running total.

        ``ticket`` is what :meth:`acquire` returned: a request sent in an earlier window was
        counted by the exchange in that window, so it no longer weighs on this one.
        """
        with self._lock:
            self._roll(self._clock())
            if ticket is None or ticket == self._window:
                self._in_flight = max(0, self._in_flight - weight)
                if used_weight is None:
                    self._used += weight
            if used_weight is not None:
                # Answers arrive out of order: the highest total of this window is the truth.
                self._used = max(self._used, used_weight)

    def block_for(self, seconds: float) -> None:
        """Hold every request for ``seconds`` (a Retry-After answer)."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)
