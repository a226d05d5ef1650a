"""Build boto3 MTurk clients the way the whole product needs them.

One place decides the endpoint (local MTurk, sandbox or production), the retry mode (botocore's
own `standard` or `adaptive`, which retry `ThrottlingException`, `ServiceFault` and dropped
connections), an optional client-side request rate, and counters of what the retries absorbed.
Credentials come from boto3's standard chain only and are never read, logged or stored here.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import boto3
import botocore.exceptions
import botocore.session
from botocore.config import Config
from botocore.utils import parse_timestamp

from qual_pipeline.settings import ConfigurationError

__all__ = [
    "ApiStats",
    "ConfigurationError",
    "RateLimiter",
    "limit_rate",
    "make_client",
    "utc_timestamp",
]

Environment = Literal["sandbox", "production"]

ENDPOINTS: dict[str, str] = {
    "sandbox": "https://mturk-requester-sandbox.us-east-1.amazonaws.com",
    "production": "https://mturk-requester.us-east-1.amazonaws.com",
}
REGION = "us-east-1"  # the only region MTurk has
_EPSILON = 1e-9


@dataclass
class ApiStats:
    """What one client did: calls per operation, and errors that botocore retried."""

    calls: Counter[str] = field(default_factory=Counter)
    attempts: int = 0
    throttles: int = 0
    faults: int = 0
    connection_errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def retries(self) -> int:
        """Attempts beyond the first of each call: what botocore's retry mode absorbed."""
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

    `clock` (seconds, monotonic) and `sleep` are the time source; the defaults are the real ones.
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
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
        """Wait until a request may go."""
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1.0 - _EPSILON:  # floating-point sums of elapsed time
                    self._tokens = max(0.0, self._tokens - 1.0)
                    return
                wait = (1.0 - self._tokens) / self.rate
            self._sleep(wait)


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
    retry_mode: Literal["standard", "adaptive"] = "standard",
    max_attempts: int = 10,
    rate_limiter: RateLimiter | None = None,
    stats: ApiStats | None = None,
    profile_name: str | None = None,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
) -> Any:
    """A boto3 `mturk` client. `endpoint_url` overrides the environment's (the local MTurk)."""
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
            retries={"mode": retry_mode, "total_max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            tcp_keepalive=True,
        ),
    )
    if rate_limiter is not None:
        limit_rate(client, rate_limiter)
    if stats is not None:
        _count_into(stats, client.meta.events)
    return client


def limit_rate(client: Any, limiter: RateLimiter) -> Any:
    """Make every request of `client` (retries included) wait for `limiter`; returns the client.
    A client may be held to several limiters: a request goes when each of them allows it."""
    client.meta.events.register("before-send.mturk", lambda **_: limiter.acquire())
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


def _session(profile_name: str | None) -> boto3.session.Session:
    """A fresh session per client, so credentials are read from the environment or profile as
    they are now (a shared session would keep the first ones it resolved); ~80 ms, once per
    extraction or push."""
    core = botocore.session.get_session()
    core.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=utc_timestamp
    )
    return boto3.session.Session(botocore_session=core, profile_name=profile_name)


def _count_into(stats: ApiStats, events: Any) -> None:
    def on_before_call(model: Any, **_: Any) -> None:
        with stats._lock:
            stats.calls[model.name] += 1

    def on_needs_retry(response: Any, caught_exception: Any, **_: Any) -> None:
        with stats._lock:
            stats.attempts += 1
            if caught_exception is not None:
                stats.connection_errors += 1
                return
            if response is None:
                return
            http, parsed = response
            code = (parsed or {}).get("Error", {}).get("Code", "")
            if code == "ThrottlingException":
                stats.throttles += 1
            elif http.status_code >= 500:
                stats.faults += 1

    events.register("before-call.mturk", on_before_call)
    events.register("needs-retry.mturk", on_needs_retry)
