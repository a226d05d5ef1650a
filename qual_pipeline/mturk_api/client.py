"""Build boto3 MTurk clients the way the whole product needs them.

One place decides the endpoint (local MTurk, sandbox or production), the retry mode (`standard`:
botocore's retries of `ThrottlingException`, `ServiceFault` and dropped connections; `adaptive`:
the same retries, and every client of the process for one endpoint paced by one `AdaptivePace`,
which finds the rate the server accepts by itself: MTurk publishes no rate limit), an optional
client-side request rate, and counters of what the retries absorbed. Credentials come from
boto3's standard chain only and are never read, logged or stored here.

Retries: botocore's standard retry conditions and back-off (throttles: a random wait of up to
1, 2, 4 ... s, at most 20 s; other retried errors from 50 ms), a throttled request tried up to
`max_attempts` times. Throttles are kept out of botocore's retry quota (its token bucket: 500
tokens per client, 5 taken by each throttled retry, 14 by any other, given back by answers), which
otherwise stopped all retries of a client under sustained throttling, so a request then failed
after 1 to 3 of 10 attempts. Faults and dropped connections still draw on it: they are retried
up to `max_attempts` times while the quota lasts, and an outage that empties it fails requests at
once rather than holding each for all its attempts. A request that still fails carries how many
attempts it took (`errors.attempts_made`).

Stopping: `stop_requests()` (a signal handler calls it) makes every client of the process refuse
to send another request: each attempt, retries included, checks it just before it is sent and
raises `RequestsStopped` instead, and a retry's back-off is cut short. A client can also be tied
to a `threading.Event` of its own (`stop_on`), e.g. one step of a run.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import boto3
import botocore.exceptions
import botocore.session
from botocore.config import Config
from botocore.retries import quota as botocore_quota
from botocore.retries import standard as botocore_retries
from botocore.utils import parse_timestamp

from qual_pipeline import interrupt
from qual_pipeline.interrupt import Interrupted
from qual_pipeline.mturk_api.errors import ATTEMPTS_ATTRIBUTE, QUOTA_ATTRIBUTE
from qual_pipeline.settings import ConfigurationError

__all__ = [
    "AdaptivePace",
    "ApiStats",
    "ConfigurationError",
    "RateLimiter",
    "RequestsStopped",
    "allow_requests",
    "counting_into",
    "limit_rate",
    "make_client",
    "requests_stopped",
    "stop_on",
    "stop_requests",
    "utc_timestamp",
]

Environment = Literal["sandbox", "production"]

ENDPOINTS: dict[str, str] = {
    "sandbox": "https://mturk-requester-sandbox.us-east-1.amazonaws.com",
    "production": "https://mturk-requester.us-east-1.amazonaws.com",
}
REGION = "us-east-1"  # the only region MTurk has
_EPSILON = 1e-9


class RequestsStopped(Interrupted):
    """A request was not sent because the process (or the caller's step) was told to stop."""


def stop_requests(reason: str = "interrupted") -> None:
    """From now on no client of this process sends a request (safe to call from a signal
    handler): each attempt raises RequestsStopped(reason) just before it would be sent.
    The same stop as `qual_pipeline.interrupt.stop`."""
    interrupt.stop(reason)


def allow_requests() -> None:
    """Undo `stop_requests` (a command that handled its interruption and runs on, or a test)."""
    interrupt.clear()


def requests_stopped() -> str | None:
    """The reason given to `stop_requests`, or None while requests may be sent."""
    return interrupt.stopped()


def _wait_unless_stopped(seconds: float) -> None:
    interrupt.wait(seconds)


@dataclass
class ApiStats:
    """What one client did: calls per operation, attempts sent (retries included), and the
    throttles, faults and connection errors among their answers (each attempt counted once)."""

    calls: Counter[str] = field(default_factory=Counter)
    attempts: int = 0
    throttles: int = 0
    faults: int = 0
    connection_errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def retries(self) -> int:
        """Attempts beyond the first of each call: what the retries absorbed."""
        return max(0, self.attempts - sum(self.calls.values()))

    def as_metadata(self) -> dict[str, int]:
        return {
            "api_calls": sum(self.calls.values()),
            "api_attempts": self.attempts,
            "retries": self.retries,
            "throttles": self.throttles,
            "service_faults": self.faults,
            "connection_errors": self.connection_errors,
        }


class RateLimiter:
    """A token bucket shared by every client built with it: at most `rate` requests a second,
    after a first burst of `burst` (default: one second's worth, at least 1).

    `clock` (seconds, monotonic) and `sleep` are the time source; the defaults are the real ones
    (the default sleep ends early when `stop_requests` is called).
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = _wait_unless_stopped,
    ) -> None:
        if rate <= 0:
            raise ConfigurationError(f"request rate must be positive, got {rate}")
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Wait until a request may go (returns at once once requests are stopped: the request
        is then refused before it is sent)."""
        while interrupt.stopped() is None:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1.0 - _EPSILON:  # floating-point sums of elapsed time
                    self._tokens = max(0.0, self._tokens - 1.0)
                    return
                wait = (1.0 - self._tokens) / self.rate
            self._sleep(wait)


HISTORY_S = 10.0
"""How far back AdaptivePace remembers answers and throttles."""


class AdaptivePace:
    """Finds a request rate limit it is not told, and keeps it busy: a slow start, then additive
    increase, multiplicative decrease (AIMD), shared by every thread and client that uses it.

    Requests are spaced evenly at the pace (a bucket of one token), so the server's own bucket is
    never emptied in a burst. The pace grows only while it holds requests back (a request waited
    on it within the last `window` seconds, and fewer than 1.5x the pace were sent): a pace the
    callers do not use is no evidence the server would take it (within two of its intervals, below
    one request a window: a request's own wait is then longer than the window).

    Slow start: the pace begins at `initial` requests/s and each answered request adds
    `slow_start` to it (growth proportional to the pace: x20 for each second spent at it, 500/s
    within about 170 answers and 1.5 s), while fewer than 1.5x the pace were sent over the last
    `slow_span` seconds, until over `first` of the last `evidence` attempts are throttled. The
    pace then drops to `decrease` times the rate the server answered since its throttles began:
    its bucket was empty from then on, so its burst allowance (answers above its rate until spent)
    is not taken for its rate. Too soon after the first throttle to measure that (half a window,
    or `evidence` answers since it), the pace is first cut to the share of attempts the server
    answered since its throttles began (1/5 to 1/2 of it), then, if throttled since, to the
    measured rate: the fast growth overshoots a server's burst allowance, and the first cut takes
    the overshoot away. That guess is judged only on attempts sent after it (`acquire` returns
    when an attempt went; `answered` and `throttled` take it back): the answers to requests sent
    before it arrive after it, throttled, and callers in a retry's back-off send nothing for up to
    a second. Throttled, the guess is cut to the rate the server answered, measured over the
    guess's own answers (from the first) or over half a window at least, when one of its attempts
    is throttled; `evidence` of them answered, none throttled and a window on, the guess stays.

    AIMD: each answered request adds `increase` requests/s (3% of the pace for each second at it:
    back from a cut in about 5 s). A throttle cuts at most once per `window` seconds (one burst of
    throttles is one signal), in one of two ways. At or above `near` times the ceiling (the rate
    at which the limit showed itself: the rate sent at the last such cut), to `decrease` times the
    rate actually sent (the pace may be above it). Below, only when over `persist` of the attempts
    since the last cut (a window of them at least) were throttled: the last cut did not take the
    throttles away, so the limit is lower than the ceiling says; the pace drops to `decrease`
    times what the server answered.

    Stray throttles (a server that throttles a share of requests at any rate) are told from a
    limit by experiment: a window after a cut on the share of throttles (the slow start's end, or
    the lower limit above), a limit's throttles have fallen (to half what they were, or under a
    quarter of `persist`); if not, the cut is undone and that share counts as stray from then on
    (cuts need a share above it). Against the local MTurk's limits (a bucket of one second's
    requests) the pace keeps over 90% of the limit answered with under 5% of attempts throttled,
    the start included (at most 10 throttles), from 20/s up, and so with 4 or 8 callers at a
    real service's latency (100-300 ms; at 5/s under 8% throttled). 2% of requests throttled at
    random under a 100/s limit leave over 90% of it answered with under 5% throttled (one caller
    without back-offs, eight sequences; 8 callers with back-offs, 1 ms answers: five of six, one
    wound down to 18%): a share of throttles left by
    a cut counts as stray only up to `first` (above it, the cut was not deep enough). From about
    5% at random, an early run of them can be taken for a limit, and the pace then holds below
    the real one. At 1-2/s a throttle
    is a large share (13-30% throttled); a limit that rises is found at 3% a second
    (tests/mturk_api/test_adaptive_pace.py and test_adaptive_pace_latency.py;
    bench/bench_refresh.py and bench/bench_unknown_limit.py for the figures of a refresh and a
    push). `clock` and `sleep` are the time source (the default sleep ends early when
    `stop_requests` is called).
    """

    def __init__(
        self,
        *,
        initial: float = 10.0,
        slow_start: float = 3.0,
        slow_span: float = 0.25,
        decrease: float = 0.85,
        increase: float = 0.03,
        window: float = 1.0,
        near: float = 0.9,
        first: float = 0.25,
        persist: float = 0.1,
        evidence: int = 12,
        minimum: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = _wait_unless_stopped,
    ) -> None:
        if initial <= 0 or minimum <= 0:
            raise ConfigurationError("an adaptive pace's initial and minimum rates must be > 0")
        self.rate = float(initial)
        """Requests per second now allowed."""
        self.slow = True
        """Whether the pace is still in its slow start (no limit seen yet)."""
        self.ceiling = 0.0
        """Where the limit showed itself (requests/s): the rate sent when a throttle last cut the
        pace, or, after a cut to what the server answered, that rate."""
        self.throttles = 0
        self._slow_start = slow_start
        self._slow_span = slow_span
        self._decrease = decrease
        self._increase = increase
        self._window = window
        self._near = near
        self._first = first
        self._persist = persist
        self._minimum = minimum
        self._clock = clock
        self._sleep = sleep
        self._answered: deque[float] = deque()
        self._throttled: deque[float] = deque()
        self._recent: deque[bool] = deque(maxlen=evidence)  # the last attempts: throttled?
        self._next = clock()
        self._last_wait = float("-inf")
        self._last_cut = float("-inf")
        self._blind = False  # the last cut guessed the pace before the server's rate was known
        self._guess_answered = 0  # since that guess: attempts sent after it and answered
        self._guess_throttled = 0  # and throttled
        self._guess_since = 0.0  # when the first of them was answered or throttled
        self._span = window / 2  # the shortest span the server's rate is measured over
        self._episode = float("-inf")  # when the current run of throttles began
        self._background = 0.0  # the share of attempts throttled whatever the pace
        # Before a cut on the share of throttles: that share, the pace, ceiling and slow start.
        self._probe: tuple[float, float, float, bool] | None = None
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait until the pace allows a request (at once once requests are stopped); returns
        the moment (on the pace's clock) the request was allowed to go, to be given back with
        its answer (`answered(sent)` or `throttled(sent)`)."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + 1.0 / self.rate
            wait = start - now
            if wait > 0:
                self._last_wait = now
        if wait > 0 and interrupt.stopped() is None:
            self._sleep(wait)
        return start

    def answered(self, sent: float | None = None) -> None:
        """An attempt got an answer that was not a throttle: the pace grows a little, if it
        holds requests back. `sent`: what `acquire` returned for that attempt (default: now)."""
        with self._lock:
            now = self._clock()
            self._answered.append(now)
            self._recent.append(False)
            self._forget(now)
            span = self._slow_span if self.slow else self._window
            # A request waited on the pace lately: within a window, or two of its intervals
            # (below one request a window, a request's own wait is longer than the window).
            held = max(self._window, 2.0 / self.rate)
            if now - self._last_wait <= held and self.rate < 1.5 * self._sent(now, span):
                self.rate += self._slow_start if self.slow else self._increase
            if self._blind and (sent is None or sent >= self._last_cut):
                if not self._guess_answered + self._guess_throttled:
                    self._guess_since = now
                self._guess_answered += 1
                if (
                    not self._guess_throttled
                    and self._guess_answered >= (self._recent.maxlen or 1)
                    and now - self._last_cut >= self._window
                ):
                    self._after_guess(now)

    def throttled(self, sent: float | None = None) -> None:
        """An attempt was throttled: the pace may drop below what the server just accepted.
        `sent`: what `acquire` returned for that attempt (default: now)."""
        with self._lock:
            now = self._clock()
            self.throttles += 1
            if not self._throttled or self._throttled[-1] < now - self._window:
                self._episode = now  # a new run of throttles: the server's bucket is empty now
            self._throttled.append(now)
            self._recent.append(True)
            self._forget(now)
            if self._blind:
                # Only attempts sent at the guessed pace tell whether the guess is above the
                # limit: those sent before it (in flight, or retried after a back-off that
                # began before it) are the overshoot's answers.
                if sent is None or sent >= self._last_cut:
                    if not self._guess_answered + self._guess_throttled:
                        self._guess_since = now
                    self._guess_throttled += 1
                    if now - self._last_cut >= self._span or self._guess_measured():
                        self._after_guess(now)
                return
            if now - self._last_cut < self._window:
                return  # one burst of throttles is one signal
            if self._probe is not None and self._stray(now):
                return
            if self.slow:
                recent = self._recent
                share = recent.count(True) / max(1, len(recent))
                if len(recent) < recent.maxlen or share <= self._background + self._first:
                    return  # stray throttles, or a limit not yet far below the pace: keep growing
                self._probe = (share, self.rate, self.ceiling, True)
                self.slow = False
                if now - self._episode >= self._span:
                    self._cut_to_accepted(now)
                else:  # too soon to measure what the server takes: guess, measure on
                    self._blind = True
                    self._guess_answered = self._guess_throttled = 0
                    self._cut(now, self.rate * self._answered_share())
            elif self.rate >= self._near * self.ceiling and self._above_stray(now):
                sent = min(self.rate, self._sent(now))  # the pace may be above what is sent
                self.ceiling = sent  # where the limit shows itself now
                self._cut(now, sent * self._decrease)
            elif (share := self._persists(now)) is not None:
                self._probe = (share, self.rate, self.ceiling, False)
                self._cut_to_accepted(now)  # the last cut was not enough: the limit is lower
            # else: a stray throttle well below where the limit showed itself

    def _after_guess(self, now: float) -> None:
        """After the slow start's guessed cut, judged on the attempts sent at the guessed pace
        only: one of them throttled (and half a window, or `evidence` answers, since the
        throttles began), the server's rate is now known, and the pace drops below it;
        `evidence` of them answered and none throttled, the guess was below the limit: the pace
        stays at it, the ceiling where a cut to it from the limit would have put it."""
        self._blind = False
        if self._guess_throttled and now - self._last_cut < self._span:
            # Measured before half a window: over the guessed pace's own answers, from the
            # first (callers in a retry's back-off right after the cut send nothing before it).
            accepted = self._guess_answered / max(now - self._guess_since, _EPSILON)
            self.ceiling = max(self._minimum, min(self.rate, accepted))
            self._cut(now, self.ceiling * self._decrease)
        elif self._guess_throttled:
            self._cut_to_accepted(now)
        else:  # the limit is above the guess: stay there, and let AIMD find it
            self.ceiling = self.rate / self._decrease
            self._probe = None  # the cut took the throttles away: a limit, not stray throttles

    def _cut(self, now: float, rate: float) -> None:
        self._last_cut = now
        self.rate = max(self._minimum, rate)
        self._next = max(self._next, now + 1.0 / self.rate)

    def _cut_to_accepted(self, now: float, floor: float = 0.0) -> None:
        """The limit is what the server answers while it throttles (at least `floor`): it becomes
        the ceiling, and the pace drops below it."""
        accepted = min(self.rate, max(floor, self._accepted(now)))
        self.ceiling = max(self._minimum, accepted)
        self._cut(now, accepted * self._decrease)

    def _share_since(self, since: float, minimum: int = 2) -> float | None:
        """The share of attempts throttled since `since`, or None over too few attempts."""
        throttled = _count_since(self._throttled, since)
        attempts = throttled + _count_since(self._answered, since)
        return throttled / attempts if attempts >= minimum * (self._recent.maxlen or 1) else None

    def _persists(self, now: float) -> float | None:
        """The share of attempts throttled over a window since the last cut (or since the
        throttles began) when it is over `persist` above the stray throttles' share."""
        since = max(self._last_cut, self._episode)
        share = self._share_since(since) if now - since >= self._window else None
        return share if share is not None and share > self._background + self._persist else None

    def _above_stray(self, now: float) -> bool:
        """Whether the last window's share of throttled attempts is above the stray ones'. With
        no stray share known yet: any throttle, under `4 * evidence` attempts a window; from
        there (a few stray throttles are then a small share of a window), a share above half of
        `persist`, so that stray throttles at a high rate do not wind the pace down."""
        since = now - self._window
        if not self._background:
            attempts = _count_since(self._throttled, since) + _count_since(self._answered, since)
            if attempts < 4 * (self._recent.maxlen or 1):
                return True
        share = self._share_since(since, minimum=1)
        return share is not None and share > self._background + self._persist / 2

    def _stray(self, now: float) -> bool:
        """A window after a cut on the share of throttles: unless the share fell by half or
        under a quarter of `persist`, the throttles do not depend on the pace (a server throttling
        a share of requests at any rate): the cut is undone, and that share counts as stray from
        now on. Returns whether it was undone."""
        assert self._probe is not None
        share = self._share_since(self._last_cut, minimum=2)
        if share is None:
            return False
        before, rate, ceiling, slow = self._probe
        self._probe = None
        if share < max(before / 2, self._persist / 4) or share > self._first:
            # The cut took the throttles away, or left over `first` of the attempts throttled
            # (no stray share: the cut was not deep enough): a limit.
            return False
        self._background = share
        self.rate, self.ceiling, self.slow = rate, ceiling, slow
        return True

    def _sent(self, now: float, span: float | None = None) -> float:
        """Attempts/s over the last `span` seconds (a window by default; answered or not)."""
        span = self._window if span is None else span
        since = now - span
        return (_count_since(self._answered, since) + _count_since(self._throttled, since)) / span

    def _answered_share(self) -> float:
        """The share of attempts answered since the current run of throttles began, between
        1/5 and 1/2: what the server answers of the pace, once its burst allowance is spent."""
        throttled = _count_since(self._throttled, self._episode, inclusive=True)
        answered = _count_since(self._answered, self._episode, inclusive=True)
        return min(0.5, max(0.2, answered / max(1, answered + throttled)))

    def _guess_measured(self) -> bool:
        """Whether `evidence` attempts sent at the guessed pace were answered (enough to measure
        the server's rate, before half a window has passed at a high one)."""
        return self._guess_answered >= (self._recent.maxlen or 1)

    def _measured(self) -> bool:
        """Whether `evidence` requests were answered since the current run of throttles began
        (enough to measure the server's rate, before half a window has passed at a high one)."""
        return _count_since(self._answered, self._episode) >= (self._recent.maxlen or 1)

    def _accepted(self, now: float) -> float:
        """Requests/s the server answered since its current run of throttles began (at most a
        window back, at least half a window): its bucket was empty then, so its burst allowance
        is not counted."""
        since = max(self._episode, now - self._window)
        if now - since < self._span and self._measured():
            return _count_since(self._answered, since) / (now - since)
        span = max(now - since, self._span)
        return _count_since(self._answered, now - span) / span

    def _forget(self, now: float) -> None:
        for times in (self._answered, self._throttled):
            while times and times[0] < now - HISTORY_S:
                times.popleft()


def _count_since(times: deque[float], since: float, *, inclusive: bool = False) -> int:
    """How many of `times` (ascending) are after `since` (or at it, if `inclusive`), counted from
    the newest: the cost is the count, not the history's length."""
    count = 0
    for t in reversed(times):
        if t < since or (t == since and not inclusive):
            break
        count += 1
    return count


_paces: dict[str, AdaptivePace] = {}
_paces_lock = threading.Lock()


def adaptive_pace(endpoint_url: str) -> AdaptivePace:
    """The process's one pace for `endpoint_url` (every client of the adaptive retry mode for
    that endpoint shares it, so all extractions and pushes of the process keep one rate)."""
    with _paces_lock:
        return _paces.setdefault(endpoint_url, AdaptivePace())


def pace_adaptively(client: Any, pace: AdaptivePace) -> Any:
    """Hold every attempt of `client` to `pace` and tell it each answer, with the moment that
    attempt was let go (an attempt is sent and answered in one thread); returns the client."""
    attempt = threading.local()

    def before_send(**_: Any) -> None:
        attempt.sent = pace.acquire()

    def on_needs_retry(response: Any = None, caught_exception: Any = None, **_: Any) -> None:
        sent, attempt.sent = getattr(attempt, "sent", None), None
        if caught_exception is not None or response is None:
            return
        http, parsed = response
        code = (parsed or {}).get("Error", {}).get("Code", "")
        if code == "ThrottlingException" or http.status_code == 429:
            pace.throttled(sent)
        else:
            pace.answered(sent)

    client.meta.events.register("before-send.mturk", before_send)
    client.meta.events.register("before-send.mturk", _refuse_once_stopped)
    client.meta.events.register("needs-retry.mturk", on_needs_retry)
    return client


def resolve_endpoint(environment: str, endpoint_url: str | None) -> str:
    if environment not in ENDPOINTS:
        raise ConfigurationError(
            f"MTURK_ENVIRONMENT={environment!r} is not known; use 'sandbox' or 'production'"
        )
    return endpoint_url or ENDPOINTS[environment]


def make_client(
    *,
    environment: str = "sandbox",
    endpoint_url: str | None = None,
    retry_mode: Literal["standard", "adaptive"] = "adaptive",
    max_attempts: int = 10,
    rate_limiter: RateLimiter | None = None,
    stats: ApiStats | None = None,
    profile_name: str | None = None,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
    pool_size: int = 10,
) -> Any:
    """A boto3 `mturk` client. `endpoint_url` overrides the environment's (the local MTurk).

    boto3 clients are thread-safe: threads that share one client also share its adaptive rate
    limiter (which lives in the client), so one client per process step keeps one pace;
    `pool_size` is how many connections it keeps open (at least the threads sharing it, and their
    prefetch threads). Every request is refused (RequestsStopped) once `stop_requests` was called.
    """
    if retry_mode not in ("standard", "adaptive"):
        raise ConfigurationError(
            f"retry mode {retry_mode!r} is not known; use standard or adaptive"
        )
    if max_attempts < 1:
        raise ConfigurationError(f"max attempts must be at least 1, got {max_attempts}")
    url = resolve_endpoint(environment, endpoint_url)
    client = _session(profile_name).client(
        "mturk",
        region_name=REGION,
        endpoint_url=url,
        config=Config(
            # botocore's own adaptive mode settles at ~75% of an unknown limit; ours (below) at
            # over 90% (bench/bench_refresh.py): botocore retries, AdaptivePace paces.
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            tcp_keepalive=True,
            max_pool_connections=pool_size,
        ),
    )
    events = client.meta.events
    _retry_each_request(client, max_attempts)
    # Checked before the adaptive limiter's wait and again after every wait, just before sending.
    events.register_first("before-send.mturk", _refuse_once_stopped)
    events.register("before-send.mturk", _refuse_once_stopped)
    events.register_first("needs-retry.mturk", _no_backoff_once_stopped)
    if rate_limiter is not None:
        limit_rate(client, rate_limiter)
    if retry_mode == "adaptive":
        pace_adaptively(client, adaptive_pace(url))
    _count_into(stats, events)
    return client


class _ThrottlesOutsideQuota(botocore_retries.RetryQuotaChecker):
    """botocore's retry quota for faults and dropped connections only: a throttle is the server
    asking for a slower pace (which the pace gives it), not an outage, so its retries never use
    the quota up. Faults and connection errors still draw on it (14 of 500 tokens a retry, given
    back when the retry succeeds): an outage that empties it fails the client's requests at once
    instead of holding each for all its attempts."""

    def acquire_retry_quota(self, context: Any) -> bool:
        if self._is_throttling_error(context):
            return True
        granted = bool(super().acquire_retry_quota(context))
        if not granted and context.caught_exception is not None:  # say why it stopped early
            with contextlib.suppress(AttributeError):
                setattr(context.caught_exception, QUOTA_ATTRIBUTE, True)
        return granted


def _retry_each_request(client: Any, max_attempts: int) -> None:
    """Make `client` try each throttled request up to `max_attempts` times, with botocore's
    standard retry conditions and back-off, throttles outside its retry quota (botocore's config
    cannot say so): botocore's own standard-mode handler is replaced by one built from the same
    classes with `_ThrottlesOutsideQuota`.

    The back-off is waited here, after every other needs-retry handler (the adaptive pace and
    the counters hear of the answer first), and ends early once `stop_requests` is called; the
    retry is then refused before it is sent. A request that fails for good with an exception
    (a dropped connection, say) carries its attempts in `ATTEMPTS_ATTRIBUTE`; a `ClientError`
    carries them in its ResponseMetadata's RetryAttempts, as botocore sets it.
    """
    service = client.meta.service_model.service_id.hyphenize()
    adapter = botocore_retries.RetryEventAdapter()
    throttling = botocore_retries.ThrottlingErrorDetector(adapter)
    quota_checker = _ThrottlesOutsideQuota(botocore_quota.RetryQuota(), throttling)
    handler = botocore_retries.RetryHandler(
        retry_policy=botocore_retries.RetryPolicy(
            retry_checker=botocore_retries.StandardRetryConditions(max_attempts=max_attempts),
            retry_backoff=botocore_retries.ExponentialBackoff(
                service_name=service, throttling_detector=throttling
            ),
        ),
        retry_event_adapter=adapter,
        retry_quota=quota_checker,
        service_name=service,
    )
    client.meta.events.register(f"after-call.{service}", quota_checker.release_retry_quota)

    def needs_retry(attempts: int, caught_exception: Any = None, **kwargs: Any) -> float | None:
        delay = handler.needs_retry(attempts=attempts, caught_exception=caught_exception, **kwargs)
        if delay is None:
            if caught_exception is not None and not isinstance(caught_exception, RequestsStopped):
                with contextlib.suppress(AttributeError):  # a type that takes no attributes
                    setattr(caught_exception, ATTEMPTS_ATTRIBUTE, attempts)
            return None
        _wait_unless_stopped(delay)
        return 0  # waited here already: botocore's endpoint sends the retry at once

    unique_id = f"retry-config-{service}"  # the id botocore registers its standard handler under
    client.meta.events.unregister(f"needs-retry.{service}", unique_id=unique_id)
    client.meta.events.register_last(f"needs-retry.{service}", needs_retry, unique_id=unique_id)


def stop_on(client: Any, stop: threading.Event, reason: str = "stopped") -> Callable[[], None]:
    """Also refuse every request of `client` once `stop` is set; returns the function that
    removes this check again (for a client that outlives the work `stop` belongs to)."""

    def refuse(**_: Any) -> None:
        if stop.is_set():
            raise RequestsStopped(reason)

    events = client.meta.events
    unique = f"qual_pipeline-stop-{id(stop)}"
    events.register_first("before-send.mturk", refuse, unique_id=f"{unique}-first")
    events.register("before-send.mturk", refuse, unique_id=f"{unique}-last")

    def remove() -> None:
        events.unregister("before-send.mturk", unique_id=f"{unique}-first")
        events.unregister("before-send.mturk", unique_id=f"{unique}-last")

    return remove


def _refuse_once_stopped(**_: Any) -> None:
    reason = interrupt.stopped()
    if reason is not None:
        raise RequestsStopped(reason)


def _no_backoff_once_stopped(
    response: Any = None, caught_exception: Any = None, **_: Any
) -> int | None:
    """Once stopped, a failed attempt that would be retried after a back-off is retried at once
    instead, and so refused before it is sent; answers and other errors are left alone."""
    if interrupt.stopped() is None or isinstance(caught_exception, RequestsStopped):
        return None  # botocore raises a refused request's RequestsStopped as it is
    if caught_exception is not None:
        return 0
    if response is None:
        return None
    http, parsed = response
    code = (parsed or {}).get("Error", {}).get("Code", "")
    return 0 if http.status_code >= 500 or code == "ThrottlingException" else None


def limit_rate(client: Any, limiter: RateLimiter) -> Any:
    """Make every request of `client` (retries included) wait for `limiter`; returns the client.
    A client may be held to several limiters: a request goes when each of them allows it."""
    client.meta.events.register("before-send.mturk", lambda **_: limiter.acquire())
    client.meta.events.register("before-send.mturk", _refuse_once_stopped)
    return client


def utc_timestamp(value: Any) -> datetime:
    """Response timestamps as UTC datetimes, whatever the machine's time zone.

    botocore's default parser turns MTurk's epoch seconds into datetimes in the local zone, through
    dateutil's tzlocal: slow per value, and a trap for anyone comparing them. The instant is the
    same; only its zone (and the cost) differ.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return parse_timestamp(value).astimezone(UTC)


def requester_key_id(profile_name: str | None = None) -> str | None:
    """The access key id of the requester's credentials (boto3's standard chain, or the named
    profile), or None when there are none. Only the id: it names the account's shared state by a
    salted digest (stores/namespace.py); the key itself is never read out."""
    try:
        credentials = _session(profile_name).get_credentials()
    except botocore.exceptions.ProfileNotFound:
        return None
    return credentials.access_key if credentials is not None else None


_LOADERS: dict[str | None, Any] = {}
_LOADERS_LOCK = threading.Lock()


def _session(profile_name: str | None) -> boto3.session.Session:
    """A fresh session per client, so credentials are read from the environment or profile as
    they are now (a shared session would keep the first ones it resolved). The sessions share
    botocore's data loader (per AWS_DATA_PATH), which keeps the service and endpoint files it
    has read: a session of its own read them again for each client (its endpoints file alone is
    most of the 55 to 60 ms a client took; 15 to 20 ms with the loader shared)."""
    core = botocore.session.get_session()
    data_path = core.get_config_variable("data_path")
    with _LOADERS_LOCK:
        loader = _LOADERS.get(data_path)
        if loader is None:
            loader = _LOADERS[data_path] = core.get_component("data_loader")
        else:
            core.register_component("data_loader", loader)
    core.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=utc_timestamp
    )
    return boto3.session.Session(botocore_session=core, profile_name=profile_name)


_scoped_stats: contextvars.ContextVar[tuple[ApiStats, ...]] = contextvars.ContextVar(
    "qual_pipeline_api_stats", default=()
)


@contextmanager
def counting_into(stats: ApiStats) -> Iterator[ApiStats]:
    """Inside the block, the calls this context makes through any client are also counted in
    `stats`: one extraction's own figures while threads share a client. A thread started inside
    the block counts too when it runs in a copy of the context (`contextvars.copy_context()`)."""
    token = _scoped_stats.set((*_scoped_stats.get(), stats))
    try:
        yield stats
    finally:
        _scoped_stats.reset(token)


def _count_into(stats: ApiStats | None, events: Any) -> None:
    def targets() -> tuple[ApiStats, ...]:
        scoped = _scoped_stats.get()
        if stats is None or any(s is stats for s in scoped):
            return scoped
        return (stats, *scoped)

    def on_before_call(model: Any, **_: Any) -> None:
        for target in targets():
            with target._lock:
                target.calls[model.name] += 1

    def on_needs_retry(response: Any, caught_exception: Any, **_: Any) -> None:
        if isinstance(caught_exception, RequestsStopped):
            return  # never sent
        if caught_exception is not None:
            kind = "connection_errors"
        elif response is None:
            kind = ""
        else:
            http, parsed = response
            code = (parsed or {}).get("Error", {}).get("Code", "")
            kind = (
                "throttles"
                if code == "ThrottlingException"
                else "faults"
                if http.status_code >= 500
                else ""
            )
        for target in targets():
            with target._lock:
                target.attempts += 1
                if kind:
                    setattr(target, kind, getattr(target, kind) + 1)

    events.register("before-call.mturk", on_before_call)
    events.register("needs-retry.mturk", on_needs_retry)
