"""Plan, push, grants and score lookup through the CLI against a local MTurk over real HTTP."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from push_helpers import (
    World,
    mturk_state,
    push_cli,
    push_here,
    start_world,
    warehouse_rows,
    write_decisions,
    write_desired,
)
from support.mturk import type_id, worker_id

from qual_pipeline.local_mturk.server import FaultConfig
from qual_pipeline.mturk_api.client import make_client
from qual_pipeline.push.guard import GuardLimits
from qual_pipeline.push.runner import PushFailed
from qual_pipeline.push.saved_plan import PlanSettings

T1 = type_id(21)
ASSOCIATE = "AssociateQualificationWithWorker"

cli = push_cli


@pytest.fixture
def setup(local_mturk, mturk_env, tmp_path: Path):
    """start(world, faults=None) -> (mturk, data args): MTurk and the warehouse hold `world`."""

    def start(world: World, faults: FaultConfig | None = None):
        return start_world(local_mturk, mturk_env, tmp_path, world, faults)

    return start


def standard_world(holders: int = 40) -> World:
    return World(
        types=[T1],
        qualifications=[(T1, worker_id(i), "Granted", i) for i in range(holders)]
        + [(T1, worker_id(100), "Revoked", 7)],
    )


@pytest.mark.slow(24)
def test_push_under_throttling_and_faults_lands_exactly_the_desired_scores(
    setup, tmp_path: Path
) -> None:
    mturk, common = setup(standard_world(), FaultConfig(throttle_rate=0.2, fault_rate=0.05, seed=7))
    desired = {worker_id(i): i + 1000 for i in range(30)}  # updates
    desired |= {worker_id(i): i for i in range(30, 35)}  # unchanged
    desired |= {worker_id(100): 5, worker_id(101): 6}  # re-grant after revoke, new grant
    write_desired(tmp_path / "inputs", [(T1, w, v) for w, v in desired.items()])

    plan = cli("plan", *common, "--allow-grants", "--max-share", "1")
    assert plan.exit_code == 0, plan.output
    assert "update" in plan.output and "nothing was sent to MTurk" in plan.output
    assert mturk.call_counts()[ASSOCIATE] == 0

    result = cli("push", *common, "--rate", "200", "--concurrency", "8")
    assert result.exit_code == 0, result.output
    assert mturk_state(mturk, [(T1, w) for w in desired]) == {
        (T1, w): ("Granted", v) for w, v in desired.items()
    }
    assert mturk.notifications() == []
    assert mturk.call_counts()[ASSOCIATE] == 32  # one successful call per change
    audit = warehouse_rows(
        tmp_path / "data", "SELECT action, status, count(*) FROM push_audit GROUP BY 1, 2"
    )
    assert sorted(audit) == [("grant", "verified", 2), ("update", "verified", 30)]
    # the warehouse reflects the pushed values without a refresh
    current = dict(
        warehouse_rows(
            tmp_path / "data",
            f"SELECT worker_id, integer_value FROM worker_qualifications "
            f"WHERE qualification_type_id = '{T1}' AND status = 'Granted'",
        )
    )
    assert {w: current.get(w) for w in desired} == desired

    again = cli("push", *common, "--replan", "--allow-grants", "--max-share", "1", "--rate", "200")
    assert again.exit_code == 0, again.output
    assert "Nothing to push" in again.output
    assert mturk.call_counts()[ASSOCIATE] == 32


def test_guard_refuses_and_the_override_allows(setup, tmp_path: Path) -> None:
    mturk, common = setup(standard_world(holders=10))
    write_desired(tmp_path / "inputs", [(T1, worker_id(i), 99) for i in range(6)])

    refused = cli("push", *common, "--replan")
    assert refused.exit_code == 1
    assert f"type {T1}: 6 changes = 60.0% of its workers" in refused.output
    assert "--max-share 0.60" in refused.output
    by_count = cli("push", *common, "--replan", "--max-changes", "5", "--max-share", "1")
    assert by_count.exit_code == 1 and "--max-changes 6" in by_count.output
    # The same verdict through plan, then push: plan says it and exits 1, push refuses it.
    planned = cli("plan", *common)
    assert planned.exit_code == 1 and "--max-share 0.60" in planned.output
    assert "A push of this plan would be refused" in planned.output
    pushed = cli("push", *common)
    assert pushed.exit_code == 1 and "was saved with a verdict that refuses it" in pushed.output
    assert mturk.call_counts()[ASSOCIATE] == 0

    allowed = cli("push", *common, "--replan", "--max-changes", "6", "--max-share", "0.6")
    assert allowed.exit_code == 0, allowed.output
    assert mturk.call_counts()[ASSOCIATE] == 6


def test_rejected_rows_stop_the_push_unless_skipped(setup, tmp_path: Path) -> None:
    mturk, common = setup(standard_world(holders=10))
    write_desired(tmp_path / "inputs", [(T1, worker_id(1), 50), (T1, worker_id(2), "high")])
    refused = cli("push", *common, "--replan", "--max-share", "1")
    assert refused.exit_code == 1
    assert "1 row(s) of the plan are rejected" in refused.output
    assert "integer_value is not an integer" in refused.output
    assert mturk.call_counts()[ASSOCIATE] == 0

    skipped = cli("push", *common, "--replan", "--max-share", "1", "--skip-rejected")
    assert skipped.exit_code == 0, skipped.output
    assert mturk_state(mturk, [(T1, worker_id(1)), (T1, worker_id(2))]) == {
        (T1, worker_id(1)): ("Granted", 50),
        (T1, worker_id(2)): ("Granted", 2),
    }


def test_production_needs_the_opt_in(setup, tmp_path: Path) -> None:
    mturk, common = setup(standard_world(holders=10))
    write_desired(tmp_path / "inputs", [(T1, worker_id(1), 50)])
    refused = cli("push", *common, "--replan", "--environment", "production", "--max-share", "1")
    assert refused.exit_code == 1 and "--allow-production" in refused.output
    assert mturk.call_counts()[ASSOCIATE] == 0


def test_notifications_only_when_asked(setup, tmp_path: Path) -> None:
    mturk, common = setup(standard_world(holders=10))
    write_desired(tmp_path / "inputs", [(T1, worker_id(1), 50), (T1, worker_id(2), 51)])
    result = cli("push", *common, "--replan", "--max-share", "1", "--send-notifications")
    assert result.exit_code == 0, result.output
    assert sorted(n["WorkerId"] for n in mturk.notifications()) == [worker_id(1), worker_id(2)]


def test_grant_decisions_accept_and_reject_pending_requests(setup, tmp_path: Path) -> None:
    world = World(
        types=[T1],
        qualifications=[(T1, worker_id(i), "Granted", 1) for i in range(10)],
        requests=[("REQACCEPT1", T1, worker_id(50)), ("REQREJECT1", T1, worker_id(51))],
    )
    mturk, common = setup(world)
    write_decisions(
        tmp_path / "inputs",
        [("REQACCEPT1", "accept", 80, None), ("REQREJECT1", "reject", None, "Not yet.")],
    )
    plan = cli("plan", "--requests", *common, "--max-share", "1")
    assert plan.exit_code == 0 and "accept" in plan.output, plan.output

    result = cli("push", "--requests", *common)
    assert result.exit_code == 0, result.output
    assert mturk.admin.get_qualification_request("REQACCEPT1") is None
    assert mturk.admin.get_qualification_request("REQREJECT1") is None
    assert mturk_state(mturk, [(T1, worker_id(50)), (T1, worker_id(51))]) == {
        (T1, worker_id(50)): ("Granted", 80),
        (T1, worker_id(51)): None,
    }
    counts = mturk.call_counts()
    assert (counts["AcceptQualificationRequest"], counts["RejectQualificationRequest"]) == (1, 1)
    audit = warehouse_rows(
        tmp_path / "data",
        "SELECT qualification_request_id, action, status FROM push_audit ORDER BY 1",
    )
    assert audit == [("REQACCEPT1", "accept", "verified"), ("REQREJECT1", "reject", "verified")]

    again = cli("push", "--requests", *common, "--replan", "--max-share", "1")
    assert again.exit_code == 0 and "Nothing to push" in again.output, again.output
    assert mturk.call_counts()["AcceptQualificationRequest"] == 1


def test_score_lookup_granted_revoked_missing(setup) -> None:
    setup(standard_world(holders=3))
    shown = cli("score", "--type", T1, "--worker", worker_id(2))
    assert shown.exit_code == 0, shown.output
    qualification = json.loads(shown.output)["Qualification"]
    assert (qualification["WorkerId"], qualification["IntegerValue"]) == (worker_id(2), 2)
    assert qualification["Status"] == "Granted"
    assert qualification["GrantTime"].endswith("+00:00")
    table = cli("score", "--type", T1, "--worker", worker_id(2), "--output", "table")
    assert table.exit_code == 0 and "GetQualificationScore" in table.output

    revoked = cli("score", "--type", T1, "--worker", worker_id(100))
    assert revoked.exit_code == 1 and "was revoked" in revoked.output
    missing = cli("score", "--type", T1, "--worker", worker_id(77))
    assert missing.exit_code == 1
    assert "does not hold" in missing.output and "sandbox and production" in missing.output
    bad = cli("score", "--type", T1, "--worker", "not-a-worker")
    assert bad.exit_code == 2


def test_a_read_back_mismatch_is_recorded_and_fails_the_run(setup, tmp_path: Path) -> None:
    mturk, _ = setup(standard_world(holders=10))
    write_desired(tmp_path / "inputs", [(T1, worker_id(1), 50), (T1, worker_id(2), 51)])

    written = threading.Lock()
    wrote: list[bool] = []

    associated: list[bool] = []

    def someone_else_writes(**_: Any) -> None:
        # Before the first read-back, so between our calls and every read-back of them (the
        # reads before each update come before both calls).
        with written:
            if len(associated) == 2 and not wrote:
                mturk.admin.put_qualification(
                    {
                        "QualificationTypeId": T1,
                        "WorkerId": worker_id(2),
                        "Status": "Granted",
                        "IntegerValue": 3,
                    }
                )
                wrote.append(True)

    client = make_client(endpoint_url=mturk.endpoint_url)
    client.meta.events.register(
        "after-call.mturk.AssociateQualificationWithWorker", lambda **_: associated.append(True)
    )
    client.meta.events.register("before-call.mturk.GetQualificationScore", someone_else_writes)
    data_dir = tmp_path / "data"
    with pytest.raises(PushFailed, match=r"read back Granted 3, expected Granted 51"):
        push_here(client, tmp_path, replan=PlanSettings(limits=GuardLimits(max_share=1)))
    audit = warehouse_rows(data_dir, "SELECT worker_id, status, observed_value FROM push_audit")
    assert sorted(audit) == [(worker_id(1), "verified", 50), (worker_id(2), "mismatch", 3)]
    current = warehouse_rows(
        data_dir,
        f"SELECT integer_value FROM worker_qualifications WHERE worker_id = '{worker_id(2)}'",
    )
    assert current == [(3,)]  # the warehouse holds what MTurk holds
