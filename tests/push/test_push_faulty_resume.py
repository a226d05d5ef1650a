"""Under an MTurk that fails most calls, repeated pushes make progress, and say why they stop.

The local MTurk answers 70% of requests with ServiceFault. botocore's retry quota (drawn by
faults, by design: an outage fails fast) runs dry within each run, so each `qual-pipeline push`
stops early with exit 1; what each run read back or sent is journalled change by change, so the
next run goes on from there, and the plan is finished after a few runs with each change applied
by exactly one call. A read-back refused for good on resume is recorded as what it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from push_helpers import (
    World,
    journal_of,
    mturk_state,
    push_cli,
    push_here,
    saved_plan_id,
    start_world,
    warehouse_rows,
    write_desired,
)
from support.mturk import type_id, worker_id

from qual_pipeline.local_mturk.server import FaultConfig
from qual_pipeline.mturk_api.client import make_client
from qual_pipeline.push.guard import GuardLimits
from qual_pipeline.push.runner import PushFailed, PushInterrupted
from qual_pipeline.push.saved_plan import PlanSettings

T1 = type_id(61)
W = [worker_id(i) for i in range(60)]
CHANGES = 40
ASSOCIATE = "AssociateQualificationWithWorker"
RUNS = 15


@pytest.mark.slow(30)
def test_repeated_pushes_under_faults_progress_and_finish_exactly_once(
    local_mturk, mturk_env, tmp_path: Path
) -> None:
    world = World(types=[T1], qualifications=[(T1, W[i], "Granted", i) for i in range(50)])
    mturk, common = start_world(local_mturk, mturk_env, tmp_path, world)
    desired = {W[i]: 500 + i for i in range(CHANGES)}
    write_desired(tmp_path / "inputs", [(T1, w, v) for w, v in desired.items()])
    planned = push_cli("plan", *common, "--max-share", "1")
    assert planned.exit_code == 0, planned.output
    plan_id = saved_plan_id(planned.output)

    mturk.set_faults(FaultConfig(fault_rate=0.7, seed=11))
    first = push_cli("push", *common, "--max-attempts", "1")  # leaves the batch 'sending'
    assert first.exit_code == 1, first.output
    outputs: list[Any] = []
    for _ in range(RUNS):
        run = push_cli("push", *common)
        outputs.append(run)
        assert "Traceback" not in run.output
        if run.exit_code == 0:
            break
        assert run.exit_code == 1, run.output
    else:
        with journal_of(tmp_path / "data") as journal:
            states = journal.state_counts(plan_id)
        raise AssertionError(f"not finished after {RUNS} pushes: {states}")
    assert len(outputs) > 1  # the faults did stop runs
    stopped = [r.output for r in outputs[:-1]]
    assert any("MTurk failed too many calls in a row (retry quota spent)" in o for o in stopped)
    assert f"resumed plan {plan_id} (scores): {CHANGES} change(s), verified {CHANGES}" in (
        outputs[-1].output
    )
    assert mturk.call_counts()[ASSOCIATE] == CHANGES  # each change applied by one call
    mturk.set_faults(FaultConfig())
    assert mturk_state(mturk, [(T1, w) for w in desired]) == {
        (T1, w): ("Granted", v) for w, v in desired.items()
    }
    verified = warehouse_rows(
        tmp_path / "data",
        "SELECT count(*), count(DISTINCT worker_id) FROM push_audit WHERE status = 'verified'",
    )
    assert verified == [(CHANGES, CHANGES)]


def test_a_read_back_refused_for_good_on_resume_is_not_called_sent_again(
    local_mturk, mturk_env, tmp_path: Path
) -> None:
    world = World(types=[T1], qualifications=[(T1, W[i], "Granted", i) for i in range(10)])
    mturk, _ = start_world(local_mturk, mturk_env, tmp_path, world)
    write_desired(tmp_path / "inputs", [(T1, W[1], 358)])

    def answer_lost(**_: Any) -> None:  # MTurk applied the call; its answer never arrives
        raise EndpointConnectionError(endpoint_url=mturk.endpoint_url)

    client = make_client(endpoint_url=mturk.endpoint_url, max_attempts=1)
    client.meta.events.register("after-call.mturk.AssociateQualificationWithWorker", answer_lost)
    with pytest.raises(PushInterrupted):
        push_here(client, tmp_path, replan=PlanSettings(limits=GuardLimits(max_share=1)))
    assert mturk_state(mturk, [(T1, W[1])]) == {(T1, W[1]): ("Granted", 358)}
    assert mturk.call_counts()[ASSOCIATE] == 1

    def malformed_read(params: dict[str, Any], **_: Any) -> None:
        params["WorkerId"] = "not-a-worker"  # MTurk answers ValidationException: no retry helps

    client = make_client(endpoint_url=mturk.endpoint_url)
    client.meta.events.register("provide-client-params.mturk.GetQualificationScore", malformed_read)
    with pytest.raises(PushFailed, match="outcome unknown"):
        push_here(client, tmp_path)
    assert mturk.call_counts()[ASSOCIATE] == 1  # never sent a second time unknowingly
    (row,) = warehouse_rows(
        tmp_path / "data", f"SELECT status, error FROM push_audit WHERE worker_id = '{W[1]}'"
    )
    assert row[0] == "failed"
    assert "MTurk refused to read it back" in row[1] and "ValidationException" in row[1]
    assert "not sent again" in row[1] and "sent again;" not in row[1]
