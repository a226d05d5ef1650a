"""MTURK_MAX_ATTEMPTS means attempts per throttled request: sustained throttles do not use up a
client's retries (botocore's retry quota), while an outage of faults still does (so it fails
fast), a request that fails for good says how many attempts it took, and a stop cuts a back-off
short; against the local MTurk over HTTP, the attempts counted
by the server as they arrive."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError
from support.mturk import TYPE_ID, make_data, qualification, worker_id

from qual_pipeline.local_mturk.server import FaultConfig
from qual_pipeline.mturk_api.client import (
    ApiStats,
    RequestsStopped,
    allow_requests,
    make_client,
    stop_requests,
)
from qual_pipeline.mturk_api.errors import QUOTA_SPENT, attempts_made, describe


def _server(local_mturk: Any, mturk_env: Any, faults: FaultConfig | None = None) -> Any:
    """A local MTurk holding one qualification, answering with `faults`; the env set for it."""
    server = local_mturk(data=make_data(qualifications=[qualification(1)]), faults=faults)
    mturk_env(server)
    return server


def _call_from_threads(client: Any, threads: int, each: int) -> list[str]:
    """`each` GetQualificationScore calls from each of `threads` threads sharing `client` (as an
    extraction's do); the failures' messages."""
    failures: list[str] = []
    lock = threading.Lock()

    def calls() -> None:
        for _ in range(each):
            try:
                client.get_qualification_score(QualificationTypeId=TYPE_ID, WorkerId=worker_id(1))
            except (ClientError, BotoCoreError) as e:
                with lock:
                    failures.append(describe(e))

    running = [threading.Thread(target=calls) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    return failures


def test_sustained_throttles_do_not_use_up_the_retries_of_a_client(
    local_mturk: Any, mturk_env: Any
) -> None:
    # Every request throttled, two attempts each, 8 threads sharing one client: botocore's retry
    # quota (500 tokens a client, 5 taken by a throttled retry, none given back by a throttle)
    # ran dry after 100 retries, and the other requests failed at their first attempt.
    server = _server(local_mturk, mturk_env, FaultConfig(throttle_rate=1.0, seed=7))
    stats = ApiStats()
    client = make_client(
        endpoint_url=server.endpoint_url, retry_mode="standard", max_attempts=2, stats=stats
    )
    began = time.monotonic()
    failures = _call_from_threads(client, threads=8, each=16)
    assert len(failures) == 128
    assert all(f.endswith(", after 2 attempt(s)") for f in failures), failures[-1]
    # Counted honestly: every attempt arrived at the server.
    assert server.requests_after(began) == stats.attempts == 256 == stats.throttles


def test_an_outage_fails_requests_at_once_once_it_used_up_the_retries(
    local_mturk: Any, mturk_env: Any
) -> None:
    # Every request a fault (an outage): faults still draw on botocore's retry quota (14 tokens a
    # retry), so after 500 tokens' worth a request fails at its first attempt instead of waiting
    # out all its back-offs.
    server = _server(local_mturk, mturk_env, FaultConfig(fault_rate=1.0, seed=7))
    client = make_client(endpoint_url=server.endpoint_url, retry_mode="standard", max_attempts=4)
    failures = _call_from_threads(client, threads=1, each=20)
    assert failures[0].endswith(", after 4 attempt(s)")
    # stopped by the quota, not by its attempts: the message says so
    assert failures[-1].endswith(f", after 1 attempt(s){QUOTA_SPENT}")
    assert sum(f.endswith(", after 4 attempt(s)") for f in failures) == 500 // (3 * 14)


@pytest.mark.parametrize(
    ("faults", "attempts", "named"),
    [
        (FaultConfig(fault_rate=1.0, seed=1), 4, "ServiceFault"),
        (FaultConfig(reset_rate=1.0, seed=1), 4, "Connection"),
        (FaultConfig(throttle_rate=1.0, seed=1), 3, "ThrottlingException: Rate exceeded"),
    ],
)
def test_a_request_that_fails_for_good_says_how_many_attempts_it_took(
    local_mturk: Any, mturk_env: Any, faults: FaultConfig, attempts: int, named: str
) -> None:
    server = _server(local_mturk, mturk_env, faults)
    stats = ApiStats()
    client = make_client(endpoint_url=server.endpoint_url, max_attempts=attempts, stats=stats)
    began = time.monotonic()
    with pytest.raises((ClientError, BotoCoreError)) as failed:
        client.get_qualification_score(QualificationTypeId=TYPE_ID, WorkerId=worker_id(1))
    message = describe(failed.value)
    assert named in message
    assert message.endswith(f", after {attempts} attempt(s)")
    if isinstance(failed.value, ClientError):
        assert attempts_made(failed.value) == attempts
    assert server.requests_after(began) == stats.attempts == attempts


def test_a_request_not_retried_says_one_attempt(local_mturk: Any, mturk_env: Any) -> None:
    server = _server(local_mturk, mturk_env)
    client = make_client(endpoint_url=server.endpoint_url)
    with pytest.raises(ClientError) as failed:
        client.get_qualification_score(QualificationTypeId=TYPE_ID, WorkerId=worker_id(99))
    assert describe(failed.value).endswith(", after 1 attempt(s)")


def test_a_stop_cuts_the_back_off_short_and_sends_nothing_more(
    local_mturk: Any, mturk_env: Any
) -> None:
    # Every request throttled: the back-offs grow to up to 20 s each; a stop ends the one under
    # way at once, and no attempt is sent after it.
    server = _server(local_mturk, mturk_env, FaultConfig(throttle_rate=1.0, seed=1))
    client = make_client(endpoint_url=server.endpoint_url, retry_mode="standard", max_attempts=20)
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            client.get_qualification_score(QualificationTypeId=TYPE_ID, WorkerId=worker_id(1))
        except BaseException as e:  # handed to the test's thread
            outcome.append(e)

    worker = threading.Thread(target=call)
    worker.start()
    try:
        time.sleep(3.0)  # two attempts or more; a back-off of up to 4 s or more under way
        stopped = time.monotonic()
        stop_requests("test stop")
        worker.join(timeout=2.0)
        assert not worker.is_alive(), "the back-off was not cut short"
        assert time.monotonic() - stopped < 1.0
    finally:
        stop_requests("test stop")  # the call ends at its next attempt at the latest
        worker.join()
        allow_requests()
    assert len(outcome) == 1 and isinstance(outcome[0], RequestsStopped)
    assert server.requests_after(stopped) == 0
