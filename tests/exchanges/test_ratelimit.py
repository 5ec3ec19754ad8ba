"""The weight-based rate limiter, on a fake clock."""

from __future__ import annotations

import pytest

from jbt.exchanges.ratelimit import RateLimiter


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def limiter(clock: FakeClock, **kwargs) -> RateLimiter:
    return RateLimiter(clock=clock, sleep=clock.sleep, **kwargs)


def test_requests_under_the_budget_never_wait():
    clock = FakeClock(1200.0)  # the start of a window
    rl = limiter(clock, weight_limit=100, headroom=0.0)
    for used in range(2, 101, 2):
        rl.acquire(2)
        rl.release(2, used)
    assert clock.sleeps == []
    assert rl.waited_s == 0


def test_waits_for_the_next_window_when_the_budget_is_spent():
    clock = FakeClock(1210.0)  # 10 s into the window [1200, 1260)
    rl = limiter(clock, weight_limit=100, headroom=0.0)
    rl.acquire(2)
    rl.release(2, 99)  # the server says 99 of 100 are used
    rl.acquire(2)
    assert clock.sleeps == [pytest.approx(50.01)]
    rl.release(2, 2)
    assert clock.now == pytest.approx(1260.01)


def test_headroom_keeps_part_of_the_limit_free():
    clock = FakeClock(1200.0)
    rl = limiter(clock, weight_limit=100, headroom=0.1)
    assert rl.budget == 90
    rl.acquire(2)
    rl.release(2, 88)
    rl.acquire(2)  # 88 + 2 = 90: still allowed
    assert clock.sleeps == []
    rl.release(2, 90)
    rl.acquire(2)
    assert len(clock.sleeps) == 1


def test_requests_in_flight_count_against_the_budget():
    clock = FakeClock(1200.0)
    rl = limiter(clock, weight_limit=10, headroom=0.0)
    for _ in range(5):
        rl.acquire(2)  # five requests sent, none answered
    assert clock.sleeps == []
    rl.acquire(2)
    assert clock.sleeps == [pytest.approx(60.01)]


def test_out_of_order_answers_keep_the_highest_total():
    clock = FakeClock(1200.0)
    rl = limiter(clock, weight_limit=100, headroom=0.0)
    rl.acquire(2)
    rl.acquire(2)
    rl.release(2, 99)
    rl.release(2, 97)  # an older answer arriving late
    rl.acquire(2)
    assert len(clock.sleeps) == 1


def test_retry_after_holds_every_request():
    clock = FakeClock(1200.0)
    rl = limiter(clock)
    rl.block_for(3.0)
    rl.acquire(1)
    assert clock.sleeps == [pytest.approx(3.0)]
    rl.release(1, None)
    rl.acquire(1)
    assert len(clock.sleeps) == 1


def test_minimum_interval_spaces_requests():
    clock = FakeClock(1200.0)
    rl = limiter(clock, min_interval_s=0.5)
    for _ in range(3):
        rl.acquire(1)
        rl.release(1, None)
    assert clock.sleeps == [pytest.approx(0.5), pytest.approx(0.5)]


def test_a_new_window_forgets_requests_sent_in_the_last_one():
    clock = FakeClock(1200.0)
    rl = limiter(clock, weight_limit=10, headroom=0.0)
    tickets = [rl.acquire(2) for _ in range(5)]
    rl.acquire(2)  # waits for the next window
    assert clock.sleeps == [pytest.approx(60.01)]
    for t in tickets:  # late answers of the old window do not free the new one's budget
        rl.release(2, None, t)
    for _ in range(4):
        rl.acquire(2)
    assert len(clock.sleeps) == 1
    rl.acquire(2)
    assert len(clock.sleeps) == 2
