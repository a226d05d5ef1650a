"""AdaptivePace against a simulated server that throttles beyond a limit it never tells: the pace
settles near the limit by itself and keeps it busy, with few throttles, from its start on. Time
is simulated (a clock the pace's sleeps advance), so the figures are exact and the test takes no
real time."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from support.pace import Bucket

from qual_pipeline.mturk_api.client import AdaptivePace


@dataclass
class Run:
    """What the server did, per simulated second."""

    answered: list[int] = field(default_factory=list)
    throttled: list[int] = field(default_factory=list)
    pace: AdaptivePace | None = None

    def share(self, start: int = 0, end: int | None = None) -> float:
        """Share of attempts throttled in seconds [start, end)."""
        answered = sum(self.answered[start:end])
        throttled = sum(self.throttled[start:end])
        return throttled / (answered + throttled)

    def rate(self, start: int = 0, end: int | None = None) -> float:
        """Answered requests a second in seconds [start, end)."""
        seconds = self.answered[start:end]
        return sum(seconds) / len(seconds)


def run(
    seconds: int,
    throttles: Callable[[float], bool],
    *,
    demand: float | None = None,
) -> Run:
    """Send requests as fast as the pace allows (or, with `demand`, at most that many a second)
    for `seconds` simulated seconds; `throttles(now)` is the server's answer to each."""
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    pace = AdaptivePace(clock=lambda: now[0], sleep=sleep)
    result = Run(answered=[0] * seconds, throttled=[0] * seconds, pace=pace)
    while now[0] < seconds:
        pace.acquire()
        now[0] += 0.001  # each request takes a millisecond on the wire
        second = int(now[0])
        if second >= seconds:
            break
        if throttles(now[0]):
            result.throttled[second] += 1
            pace.throttled()
        else:
            result.answered[second] += 1
            pace.answered()
        if demand is not None:
            now[0] += 1.0 / demand
    return result


@pytest.mark.parametrize(("limit", "throttled_share"), [(5.0, 0.1), (20.0, 0.05), (100.0, 0.05)])
def test_pace_finds_an_unknown_limit_and_keeps_it_busy(
    limit: float, throttled_share: float
) -> None:
    """Against the local MTurk's limit (a bucket of one second's requests): over 90% of the limit
    answered and the pace within 40% of it (it saws around the limit); from 20/s up under 5% of
    the attempts throttled over a minute (at 5/s under 10%: a throttle weighs more there); the
    start costs 10 throttles at most, though its fast growth overshoots the server's burst."""
    server = Bucket(limit)
    result = run(60, lambda now: not server.take(now))
    assert result.rate() >= 0.9 * limit
    assert result.share() < throttled_share
    assert sum(result.throttled[:10]) <= 10
    assert result.pace is not None and 0.7 * limit < result.pace.rate < 1.4 * limit


@pytest.mark.parametrize("limit", [20.0, 100.0])
@pytest.mark.parametrize("burst_seconds", [0.0, 5.0])
def test_pace_finds_the_limit_whatever_the_servers_burst(
    limit: float, burst_seconds: float
) -> None:
    """A server that allows no burst (one request ahead) or five seconds' worth: from the second
    minute on, over 90% of the limit answered, under 5% of the attempts throttled over both."""
    server = Bucket(limit, max(1.0, burst_seconds * limit))
    result = run(120, lambda now: not server.take(now))
    assert result.rate(60) >= 0.9 * limit
    assert result.share() < 0.05


def test_the_pace_starts_low_and_grows_fast_without_a_limit() -> None:
    """Slow start: the first tenth of a second sends about `initial` (10) requests/s, not a
    burst; with no limit the pace grows multiplicatively, past 300/s within 10 s."""
    result = run(10, lambda now: False)
    assert result.pace is not None and result.pace.rate > 300
    assert result.pace.slow
    now = [0.0]
    pace = AdaptivePace(clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    sent = 0
    while now[0] < 0.1:
        pace.acquire()
        sent += 1
        now[0] += 0.001
        pace.answered()
    assert sent <= 2


def test_the_pace_reaches_500_a_second_within_a_few_hundred_answers() -> None:
    """Against a server that answers everything, the slow start's growth is proportional to the
    pace: past 500/s within 300 answers and 2 s (a refresh's first 900 requests are then paged
    in about 3 s, not 8 s at a growth of 0.5/s per answer, which needed about 1,000 answers)."""
    now = [0.0]
    pace = AdaptivePace(clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    answers = 0
    while pace.rate < 500 and answers < 300:
        pace.acquire()
        now[0] += 0.001
        pace.answered()
        answers += 1
    assert pace.rate >= 500
    assert now[0] < 2.0


def test_a_pace_its_callers_do_not_use_does_not_grow() -> None:
    """Callers sending 5 requests/s for a minute leave the pace where it began (10/s): an unused
    pace is no evidence the server would take it."""
    result = run(60, lambda now: False, demand=5.0)
    assert result.pace is not None and result.pace.rate == 10.0
    assert sum(result.answered) >= 250


@pytest.mark.parametrize("seed", range(8))
def test_stray_throttles_do_not_wind_the_pace_down(seed: int) -> None:
    """A server that throttles 2% of the requests at random, whatever the rate, below a limit of
    100/s (eight random sequences): the pace does not fall a little more at each throttle (the
    second minute answers as many requests as the first) and keeps over 90% of the limit."""
    server = Bucket(100.0)
    draw = random.Random(seed)
    result = run(120, lambda now: draw.random() < 0.02 or not server.take(now))
    assert result.rate(60) >= 0.9 * result.rate(0, 60)
    assert result.rate() >= 0.9 * 100.0


@pytest.mark.parametrize("seed", range(8))
def test_stray_throttles_do_not_let_the_pace_overshoot_the_limit(seed: int) -> None:
    """The same server (2% at random, a limit of 100/s): the pace does not run on far above the
    limit with the start's throttles taken for stray ones: the second minute under 5% of its
    attempts throttled and the pace under 1.5x the limit. Before, every sequence left a stray
    share of a third or more, and the pace ran at 1.5-3.4x the limit, 36-67% throttled."""
    server = Bucket(100.0)
    draw = random.Random(seed)
    result = run(120, lambda now: draw.random() < 0.02 or not server.take(now))
    assert result.share(60) < 0.05
    assert result.pace is not None and result.pace.rate < 150.0


def test_a_limit_that_drops_is_found_again() -> None:
    """The limit falls from 100/s to 40/s after a minute (another client started sharing it): a
    minute later the pace answers over 90% of the new limit with under 5% throttled."""
    fast, slow = Bucket(100.0), Bucket(40.0)

    def throttles(now: float) -> bool:
        if now < 60.0:
            return not fast.take(now)
        return not slow.take(now)

    result = run(120, throttles)
    assert result.rate(60) >= 0.9 * 40.0
    assert result.share(60) < 0.05
