"""MTURK_MAX_ATTEMPTS means attempts per request: sustained faults or throttles do not use up a
client's retries (botocore's retry quota), a request that fails for good says how many attempts
it took, and a stop cuts a back-off short; against the local MTurk over HTTP, the attempts counted
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
from qual_pipeline.mturk_api.errors import attempts_made, describe


def test_sustained_faults_are_retried_up_to_the_attempts_of_each_request(
    local_mturk: Any, mturk_env: Any
) -> None:
    # A third of all requests fail (ServiceFault, HTTP 500), 8 threads sharing one client as an
    # extraction's do: botocore's retry quota (500 tokens a client, 14 taken by a retry) ran dry
    # after about 200 calls, and from then on most requests failed at their first fault. Twenty
    # attempts each leave a request failing about 1 time in a billion (0.35 ** 20).
    server = local_mturk(
        data=make_data(qualifications=[qualification(1)]),
        faults=FaultConfig(fault_rate=0.35, seed=7),
    )
    mturk_env(server)
    stats = ApiStats()
    client = make_client(
        endpoint_url=server.endpoint_url, retry_mode="standard", max_attempts=20, stats=stats
    )
    retried: list[int] = []
    failures: list[str] = []
    lock = threading.Lock()

    def calls(count: int) -> None:
        for _ in range(count):
            try:
                answer = client.get_qualification_score(
                    QualificationTypeId=TYPE_ID, WorkerId=worker_id(1)
                )
            except (ClientError, BotoCoreError) as e:
                with lock:
                    failures.append(describe(e))
            else:
                with lock:
                    retried.append(answer["ResponseMetadata"]["RetryAttempts"])

    began = time.monotonic()
    threads = [threading.Thread(target=calls, args=(60,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [], f"{len(failures)} of 480 requests failed, e.g. {failures[0]}"
    assert stats.calls["GetQualificationScore"] == len(retried) == 480
    assert stats.faults > 200  # beyond what the quota let through
    # Counted honestly: every attempt arrived at the server, and each call's retries add up.
    assert server.requests_after(began) == stats.attempts == 480 + sum(retried)
    assert stats.retries == stats.faults == sum(retried)


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
    server = local_mturk(data=make_data(qualifications=[qualification(1)]), faults=faults)
    mturk_env(server)
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
    server = local_mturk(data=make_data(qualifications=[qualification(1)]))
    mturk_env(server)
    client = make_client(endpoint_url=server.endpoint_url)
    with pytest.raises(ClientError) as failed:
        client.get_qualification_score(QualificationTypeId=TYPE_ID, WorkerId=worker_id(99))
    assert describe(failed.value).endswith(", after 1 attempt(s)")


def test_a_stop_cuts_the_back_off_short_and_sends_nothing_more(
    local_mturk: Any, mturk_env: Any
) -> None:
    # Every request throttled: the back-offs grow to up to 20 s each; a stop ends the one under
    # way at once, and no attempt is sent after it.
    server = local_mturk(
        data=make_data(qualifications=[qualification(1)]),
        faults=FaultConfig(throttle_rate=1.0, seed=1),
    )
    mturk_env(server)
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
