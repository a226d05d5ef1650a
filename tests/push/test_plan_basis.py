"""A refresh that finds MTurk as it was records a new warehouse load but leaves a saved plan
pushable; a refresh that changed what the plan read (a score, a holder, a pending request of a
request plan, a broken extraction) still makes `push` refuse it, with no MTurk call. Through the CLI
against a local MTurk; each refresh is new lake snapshots loaded by the warehouse's own load."""

from __future__ import annotations

from pathlib import Path

from push_helpers import (
    World,
    push_cli,
    saved_plan_id,
    start_world,
    warehouse_rows,
    write_decisions,
    write_desired,
)
from support.mturk import type_id, worker_id

T1 = type_id(43)
W = [worker_id(i) for i in range(20)]
ASSOCIATE = "AssociateQualificationWithWorker"
ACCEPT = "AcceptQualificationRequest"


def holders(count: int = 10, *, rescored: int | None = None, requests: int = 1) -> World:
    """W[0..count) hold T1 with score i (W[rescored] with 99); requests REQ0.. are pending."""
    return World(
        types=[T1],
        qualifications=[(T1, W[i], "Granted", 99 if i == rescored else i) for i in range(count)],
        requests=[(f"REQ{i}", T1, W[15 + i]) for i in range(requests)],
    )


def loads(data: Path) -> int:
    return warehouse_rows(data, "SELECT count(*) FROM warehouse_loads")[0][0]


def refused_as_reloaded(output: str, plan_id: str) -> bool:
    return (
        f"the warehouse was reloaded since plan {plan_id} was saved" in output
        and "the rows the plan read changed" in output
    )


def test_an_unchanged_refresh_leaves_the_plan_pushable(
    local_mturk, mturk_env, tmp_path: Path
) -> None:
    # Before: "push refused ... the warehouse was reloaded since plan ..." after a refresh whose
    # history changes were none (README: such a refresh does not invalidate plans).
    mturk, common = start_world(local_mturk, mturk_env, tmp_path, holders())
    data = tmp_path / "data"
    write_desired(tmp_path / "inputs", [(T1, W[1], 50)])
    plan_id = saved_plan_id(push_cli("plan", *common, "--max-share", "1").output)
    holders().warehouse(data)  # a refresh: new snapshots, the same rows
    holders().warehouse(data)
    assert loads(data) == 3
    pushed = push_cli("push", *common)
    assert pushed.exit_code == 0, pushed.output
    assert f"pushed plan {plan_id}" in pushed.output
    assert mturk.call_counts()[ASSOCIATE] == 1


def test_a_refresh_that_changed_what_the_plan_read_makes_push_refuse(
    local_mturk, mturk_env, tmp_path: Path
) -> None:
    mturk, common = start_world(local_mturk, mturk_env, tmp_path, holders())
    data = tmp_path / "data"
    write_desired(tmp_path / "inputs", [(T1, W[1], 50)])
    changed = {
        "the planned worker's score": holders(rescored=1),
        "another holder's score": holders(rescored=7),
        "a new holder (the guard's share)": holders(11),
        "a worker twice (a broken extraction; a blocking check fails)": holders(),
    }
    for what, refresh in changed.items():
        holders().warehouse(data)  # back to the planned state
        plan_id = saved_plan_id(push_cli("plan", *common, "--max-share", "1").output)
        duplicated = [(T1, W[3])] if "check" in what else []
        refresh.warehouse(data, duplicated=duplicated)
        refused = push_cli("push", *common)
        assert refused.exit_code == 1, (what, refused.output)
        assert refused_as_reloaded(refused.output, plan_id), (what, refused.output)
    assert sum(mturk.call_counts().values()) == 0


def test_a_request_plan_is_refused_when_the_pending_requests_changed(
    local_mturk, mturk_env, tmp_path: Path
) -> None:
    mturk, common = start_world(local_mturk, mturk_env, tmp_path, holders(requests=2))
    data = tmp_path / "data"
    write_decisions(tmp_path / "inputs", [("REQ0", "accept", None, None)])
    plan_id = saved_plan_id(push_cli("plan", "--requests", *common).output)
    holders(requests=2).warehouse(data)  # unchanged: still pushable after this
    holders(requests=1).warehouse(data)  # REQ1 was decided elsewhere
    refused = push_cli("push", "--requests", *common)
    assert refused.exit_code == 1, refused.output
    assert refused_as_reloaded(refused.output, plan_id), refused.output
    assert sum(mturk.call_counts().values()) == 0
    plan_id = saved_plan_id(push_cli("plan", "--requests", *common).output)
    holders(requests=1).warehouse(data)
    pushed = push_cli("push", "--requests", *common)
    assert pushed.exit_code == 0, pushed.output
    assert mturk.call_counts()[ACCEPT] == 1
