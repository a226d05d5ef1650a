"""The product's boto3 client: UTC timestamps, retries counted, fresh credentials, clear settings
errors; all against the local MTurk over HTTP."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from support.mturk import OTHER_REQUESTER, REQUESTER, TYPE_ID, make_data, qualification, worker_id

from qual_pipeline.local_mturk.server import FaultConfig
from qual_pipeline.mturk_api.client import (
    ApiStats,
    ConfigurationError,
    RateLimiter,
    make_client,
    utc_timestamp,
)

GRANTED_AT = 1_700_000_000.123456


@pytest.fixture
def kolkata() -> Iterator[None]:
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kolkata"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def test_timestamps_come_back_in_utc_whatever_the_local_zone(
    local_mturk: Any, mturk_env: Any, kolkata: None
) -> None:
    server = local_mturk(data=make_data(qualifications=[qualification(1, grant_time=GRANTED_AT)]))
    mturk_env(server)
    found = make_client(endpoint_url=server.endpoint_url).get_qualification_score(
        QualificationTypeId=TYPE_ID, WorkerId=worker_id(1)
    )
    grant_time = found["Qualification"]["GrantTime"]
    assert grant_time.utcoffset().total_seconds() == 0
    assert grant_time == datetime.fromtimestamp(GRANTED_AT, UTC)


def test_utc_timestamp_accepts_iso_strings_too() -> None:
    assert utc_timestamp("2026-03-29T01:30:00+02:00") == datetime(2026, 3, 28, 23, 30, tzinfo=UTC)


def test_retries_and_throttles_are_counted(local_mturk: Any, mturk_env: Any) -> None:
    server = local_mturk(
        data=make_data(qualifications=[qualification(1)]),
        faults=FaultConfig(throttle_rate=0.25, fault_rate=0.15, seed=2),
    )
    mturk_env(server)
    stats = ApiStats()
    client = make_client(endpoint_url=server.endpoint_url, stats=stats, max_attempts=30)
    for _ in range(10):
        client.get_qualification_score(QualificationTypeId=TYPE_ID, WorkerId=worker_id(1))
    assert stats.calls["GetQualificationScore"] == 10
    assert stats.throttles > 0 and stats.faults > 0
    assert stats.retries == stats.throttles + stats.faults
    assert stats.as_metadata()["api_calls"] == 10


def test_each_client_reads_the_credentials_of_its_time(local_mturk: Any, mturk_env: Any) -> None:
    server = local_mturk(data=make_data())
    mturk_env(server, REQUESTER)
    first = make_client(endpoint_url=server.endpoint_url).get_account_balance()
    mturk_env(server, OTHER_REQUESTER)
    # The other requester owns nothing: listing its own types finds none of REQUESTER's.
    other = make_client(endpoint_url=server.endpoint_url).list_qualification_types(
        MustBeRequestable=False, MustBeOwnedByCaller=True
    )
    assert first["AvailableBalance"]
    assert other["QualificationTypes"] == []


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"environment": "staging"}, "MTURK_ENVIRONMENT='staging'"),
        ({"retry_mode": "legacy"}, "retry mode 'legacy'"),
        ({"max_attempts": 0}, "max attempts"),
    ],
)
def test_bad_settings_name_the_setting(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        make_client(**kwargs)


def test_rate_limiter_holds_the_rate() -> None:
    now = [100.0]  # a clock that moves only when the limiter sleeps: no wall-clock timing

    def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = RateLimiter(50, burst=1, clock=lambda: now[0], sleep=sleep)
    start = now[0]
    for _ in range(11):
        limiter.acquire()
    assert now[0] - start >= 10 / 50 * 0.9  # ten waits of 1/50 s after the first token
    assert now[0] - start == pytest.approx(10 / 50)  # and no more than that
