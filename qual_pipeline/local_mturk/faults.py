"""Injected faults, for tests and benchmarks: throttles, service faults, dropped connections,
latency and a per-requester rate limit, all repeatable with a seed.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class FaultConfig:
    """What share of requests fail and how. Rates are shares of all requests, in [0, 1]."""

    throttle_rate: float = 0.0  # answered ThrottlingException "Rate exceeded" (HTTP 400)
    fault_rate: float = 0.0  # answered ServiceFault (HTTP 500)
    reset_rate: float = 0.0  # connection dropped without an answer
    latency_ms: int = 0  # added before every answer
    rate_limit: float | None = None  # requests per second per requester, beyond: throttled
    seed: int = 0  # makes the sequence of injected faults repeatable
    failing_type: str | None = None
    """A qualification type id whose paging fails mid-way: every request for it that carries a
    NextToken (a page after the first) is answered ServiceFault (HTTP 500), every time."""

    def __post_init__(self) -> None:
        for name in ("throttle_rate", "fault_rate", "reset_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        total = self.throttle_rate + self.fault_rate + self.reset_rate
        if total > 1.0:
            raise ValueError(
                f"throttle_rate + fault_rate + reset_rate must not exceed 1, got {total:g}"
            )
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must not be negative, got {self.latency_ms}")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError(f"rate_limit must be positive requests/s, got {self.rate_limit}")


class Fault(Enum):
    RESET = "reset"
    THROTTLE = "throttle"
    SERVICE_FAULT = "service_fault"


class TokenBucket:
    """A per-requester rate limit: `rate` tokens a second, a burst of `burst` tokens (default one
    second's worth, at least one). `take(now)` answers whether a request arriving at `now`
    (seconds; time.monotonic() when omitted) is served; the fake-clock tests pass their own."""

    def __init__(self, rate: float, burst: float | None = None, now: float | None = None) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self.tokens = self.capacity
        self.last = time.monotonic() if now is None else now

    def take(self, now: float | None = None) -> bool:
        current = time.monotonic() if now is None else now
        self.tokens = min(self.capacity, self.tokens + (current - self.last) * self.rate)
        self.last = current
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class FaultInjector:
    """Decides, request by request, which fault (if any) to inject."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        with self._lock:
            self.config = config
            self._rng = random.Random(config.seed)
            self._buckets: dict[str, TokenBucket] = {}

    def delay(self) -> None:
        if self.config.latency_ms:
            time.sleep(self.config.latency_ms / 1000)

    def fails(self, params: dict[str, object]) -> bool:
        """Whether this request is one the `failing_type` fault answers ServiceFault."""
        failing = self.config.failing_type
        return (
            failing is not None
            and params.get("QualificationTypeId") == failing
            and bool(params.get("NextToken"))
        )

    def draw(self, requester: str) -> Fault | None:
        with self._lock:
            config = self.config
            if config.reset_rate or config.throttle_rate or config.fault_rate:
                r = self._rng.random()
                if r < config.reset_rate:
                    return Fault.RESET
                r -= config.reset_rate
                if r < config.throttle_rate:
                    return Fault.THROTTLE
                r -= config.throttle_rate
                if r < config.fault_rate:
                    return Fault.SERVICE_FAULT
            if config.rate_limit is not None:
                bucket = self._buckets.get(requester)
                if bucket is None:
                    bucket = self._buckets[requester] = TokenBucket(config.rate_limit)
                if not bucket.take():
                    return Fault.THROTTLE
        return None
