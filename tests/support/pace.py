"""The server of the fake-clock models of the adaptive pace (tests/mturk_api): the local MTurk's
own per-requester rate limit, its clock starting at 0 s."""

from __future__ import annotations

from qual_pipeline.local_mturk.faults import TokenBucket


def Bucket(rate: float, burst: float | None = None) -> TokenBucket:
    """`rate` requests/s with a burst of `burst` (default one second's worth, at least one);
    `take(now)` with the model's clock in seconds."""
    return TokenBucket(rate, burst, now=0.0)
