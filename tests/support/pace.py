"""A server's rate limit for the fake-clock models of the adaptive pace (tests/mturk_api)."""

from __future__ import annotations


class Bucket:
    """A token bucket: `rate` tokens a second, a burst of `burst` tokens (default: one second's
    worth, at least one token, as the local MTurk's `--rate-limit`)."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self.tokens = self.capacity
        self.last = 0.0

    def take(self, now: float) -> bool:
        """Whether a request arriving at `now` (seconds) is answered (True) or throttled."""
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False
