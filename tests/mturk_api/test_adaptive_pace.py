"""AdaptivePace against a simulated server that throttles beyond a limit it never tells: the pace
settles near the limit by itself and keeps it busy, with few throttles. Time is simulated (a clock
the pace's sleeps advance), so the figures are exact and the test takes no real time."""

from __future__ import annotations

import pytest

from qual_pipeline.mturk_api.client import AdaptivePace


class Bucket:
    """The local MTurk's rate limit: `rate` tokens a second, a burst of one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.last = 0.0

    def take(self, now: float) -> bool:
        self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@pytest.mark.parametrize(("limit", "throttled_share"), [(5.0, 0.1), (20.0, 0.05), (100.0, 0.05)])
def test_pace_finds_an_unknown_limit_and_keeps_it_busy(
    limit: float, throttled_share: float
) -> None:
    """Over 90% of the limit answered and the pace within 20% of it; from 20/s up under 5% of
    the attempts throttled, at 5/s under 10% (a server's first burst weighs more there)."""
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    pace = AdaptivePace(clock=lambda: now[0], sleep=sleep)
    server = Bucket(limit)
    answered = throttled = 0
    seconds = 120.0
    while now[0] < seconds:
        pace.acquire()
        now[0] += 0.001  # each request takes a millisecond on the wire
        if server.take(now[0]):
            answered += 1
            pace.answered()
        else:
            throttled += 1
            pace.throttled()
    assert answered / seconds >= 0.9 * limit
    assert throttled / (answered + throttled) < throttled_share
    assert pace.rate is not None and 0.7 * limit < pace.rate
    assert pace.rate < 1.2 * limit


def test_pace_waits_for_nothing_until_the_first_throttle() -> None:
    now = [0.0]
    slept: list[float] = []
    pace = AdaptivePace(clock=lambda: now[0], sleep=slept.append)
    for _ in range(1000):
        pace.acquire()
        pace.answered()
    assert slept == [] and pace.rate is None


def test_stray_throttles_do_not_wind_the_pace_down() -> None:
    """A server that throttles 20% of the requests at random, whatever the rate, below a limit of
    100/s: the pace does not fall a little more at each throttle (the second minute answers as
    many requests as the first), and keeps over 40% of the limit."""
    import random

    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    pace = AdaptivePace(clock=lambda: now[0], sleep=sleep)
    server = Bucket(100.0)
    draw = random.Random(3)
    answered = [0, 0]
    while now[0] < 120.0:
        pace.acquire()
        now[0] += 0.001
        if draw.random() < 0.2 or not server.take(now[0]):
            pace.throttled()
        else:
            answered[int(now[0] >= 60.0)] += 1
            pace.answered()
    assert answered[1] >= 0.9 * answered[0]
    assert sum(answered) / 120.0 >= 0.4 * 100.0
