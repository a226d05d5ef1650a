"""Injected faults: what a client sees, what botocore's retries absorb, and repeatability."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError
from support.mturk import TYPE_ID, mturk_client, workers_data

from qual_pipeline.local_mturk.server import FaultConfig


def test_throttling_is_rate_exceeded(local_mturk):
    client = mturk_client(local_mturk(workers_data(1), faults=FaultConfig(throttle_rate=1.0)))
    with pytest.raises(ClientError) as exc:
        client.get_account_balance()
    response = exc.value.response
    assert response["Error"] == {"Code": "ThrottlingException", "Message": "Rate exceeded"}
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_service_fault_is_a_500(local_mturk):
    mturk = local_mturk(workers_data(1), faults=FaultConfig(fault_rate=1.0))
    client = mturk_client(mturk)
    with pytest.raises(client.exceptions.ServiceFault) as exc:
        client.get_account_balance()
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert mturk.call_counts() == {}


def test_reset_drops_the_connection(local_mturk):
    client = mturk_client(local_mturk(workers_data(1), faults=FaultConfig(reset_rate=1.0)))
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        client.get_account_balance()


def test_botocore_retries_absorb_faults_and_counts_exclude_them(local_mturk):
    faults = FaultConfig(throttle_rate=0.15, fault_rate=0.1, reset_rate=0.1, seed=3)
    mturk = local_mturk(workers_data(400), faults=faults)
    client = mturk_client(mturk, max_attempts=10)
    attempts = []
    client.meta.events.register("needs-retry.mturk", lambda **_: attempts.append(1))
    rows = [
        q
        for page in client.get_paginator("list_workers_with_qualification_type").paginate(
            QualificationTypeId=TYPE_ID, PaginationConfig={"PageSize": 20}
        )
        for q in page["Qualifications"]
    ]
    assert len({q["WorkerId"] for q in rows}) == 400
    assert mturk.call_counts()["ListWorkersWithQualificationType"] == 20
    assert len(attempts) > 20  # some attempts were faulted and retried


def _outcomes(local_mturk, seed: int) -> list[str]:
    mturk = local_mturk(workers_data(1), faults=FaultConfig(throttle_rate=0.3, seed=seed))
    client = mturk_client(mturk)
    out = []
    for _ in range(30):
        try:
            client.get_account_balance()
            out.append("ok")
        except ClientError as exc:
            out.append(exc.response["Error"]["Code"])
    return out


def test_fault_seed_makes_runs_repeatable(local_mturk):
    first, again, other = (_outcomes(local_mturk, s) for s in (5, 5, 6))
    assert first == again
    assert first != other
    assert 0 < first.count("ThrottlingException") < 30


def test_rate_limit_throttles_each_requester_beyond_its_rate(local_mturk):
    # Half a request per second: a burst of one, then throttled unless two seconds pass.
    mturk = local_mturk(workers_data(1), faults=FaultConfig(rate_limit=0.5))
    client = mturk_client(mturk)
    codes = []
    for _ in range(4):
        try:
            client.get_account_balance()
            codes.append("ok")
        except ClientError as exc:
            codes.append(exc.response["Error"]["Code"])
    assert codes[0] == "ok"
    assert "ThrottlingException" in codes


def test_set_faults_while_running_and_latency(local_mturk):
    mturk = local_mturk(workers_data(1))
    client = mturk_client(mturk)
    client.get_account_balance()
    mturk.set_faults(FaultConfig(throttle_rate=1.0))
    with pytest.raises(ClientError):
        client.get_account_balance()
    mturk.set_faults(FaultConfig(latency_ms=150))
    started = time.monotonic()
    client.get_account_balance()
    assert time.monotonic() - started >= 0.15


def test_fault_config_rejects_nonsense():
    with pytest.raises(ValueError, match="throttle_rate"):
        FaultConfig(throttle_rate=1.5)
    with pytest.raises(ValueError, match="must not exceed 1"):
        FaultConfig(throttle_rate=0.6, fault_rate=0.6)
    with pytest.raises(ValueError, match="rate_limit"):
        FaultConfig(rate_limit=0)
