"""Revocations in the desired state: allowed only with --allow-revokes, guarded by their own
limits, sent as DisassociateQualificationFromWorker with the reason, read back, recorded in the
history, and resumed exactly once after kill -9 (local MTurk over real HTTP)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from push_helpers import (
    REPO,
    World,
    kill_then_resume,
    mturk_state,
    push_cli,
    push_here,
    run_push_process,
    start_world,
    subprocess_push_args,
    warehouse_rows,
    write_csv,
)
from support.mturk import type_id, worker_id

from qual_pipeline.mturk_api.client import make_client
from qual_pipeline.push.guard import GuardLimits
from qual_pipeline.push.saved_plan import PlanSettings

T1 = type_id(71)
W = [worker_id(i) for i in range(120)]
DISASSOCIATE = "DisassociateQualificationFromWorker"
ASSOCIATE = "AssociateQualificationWithWorker"
HEADER = ["Qualification_Type_ID", "Worker_ID", "Integer_Value", "Action", "Reason"]


def holders(count: int) -> World:
    return World(
        types=[T1],
        qualifications=[(T1, W[i], "Granted", 50) for i in range(count)]
        + [(T1, W[110], "Revoked", 3)],
    )


def write_revokes(inputs: Path, rows: list[tuple[Any, ...]]) -> Path:
    return write_csv(inputs / "desired_scores.csv", HEADER, rows)


@pytest.fixture
def world(local_mturk, mturk_env, tmp_path: Path):
    def start(world: World) -> tuple[Any, list[str]]:
        return start_world(local_mturk, mturk_env, tmp_path, world)

    return start


def test_revocations_need_the_opt_in_and_their_own_limits(world, tmp_path: Path) -> None:
    mturk, common = world(holders(100))
    write_revokes(
        tmp_path / "inputs",
        [(T1, W[i], "", "revoke", "") for i in range(3)]
        + [(T1, W[110], "", "Revoke", ""), (T1, W[111], "", "REVOKE", "")],  # revoked, missing
    )

    refused = push_cli("push", *common, "--replan")
    assert refused.exit_code == 1
    assert "3 x revoking a qualification needs --allow-revokes" in refused.output
    assert mturk.call_counts()[DISASSOCIATE] == 0

    over_share = push_cli("push", *common, "--replan", "--allow-revokes")
    assert over_share.exit_code == 1
    assert f"type {T1}: 3 revocation(s) = 3.0% of its workers (100 hold it)" in over_share.output
    assert "the limit for revocations is 50 and 2%" in over_share.output
    assert "--max-revoke-share 0.03" in over_share.output
    over_count = push_cli(
        "plan", *common, "--allow-revokes", "--max-revokes", "2", "--max-revoke-share", "0.05"
    )
    assert over_count.exit_code == 1 and "pass --max-revokes 3" in over_count.output
    assert "--max-revoke-share" not in over_count.output.split("pass --max-revokes")[1]
    assert mturk.call_counts()[DISASSOCIATE] == 0

    allowed = push_cli("plan", *common, "--allow-revokes", "--max-revoke-share", "0.03")
    assert allowed.exit_code == 0, allowed.output
    assert "revoke    │    3" in allowed.output and "unchanged │    2" in allowed.output
    pushed = push_cli("push", *common)
    assert pushed.exit_code == 0, pushed.output
    assert mturk.call_counts()[DISASSOCIATE] == 3
    assert mturk_state(mturk, [(T1, W[i]) for i in range(4)]) == {
        (T1, W[0]): ("Revoked", 50),
        (T1, W[1]): ("Revoked", 50),
        (T1, W[2]): ("Revoked", 50),
        (T1, W[3]): ("Granted", 50),
    }


def test_a_revocation_is_sent_with_its_reason_read_back_and_recorded_in_the_history(
    world, tmp_path: Path
) -> None:
    mturk, _ = world(holders(10))
    write_revokes(tmp_path / "inputs", [(T1, W[4], "", " revoke ", "Too many errors.")])
    client = make_client(endpoint_url=mturk.endpoint_url)
    sent: list[dict[str, Any]] = []
    client.meta.events.register(
        f"provide-client-params.mturk.{DISASSOCIATE}",
        lambda params, **_: sent.append(dict(params)),
    )
    limits = GuardLimits(max_share=1, max_revoke_share=1)
    report = push_here(client, tmp_path, replan=PlanSettings(allow_revokes=True, limits=limits))
    assert report.verified == 1
    assert sent == [{"QualificationTypeId": T1, "WorkerId": W[4], "Reason": "Too many errors."}]

    data = tmp_path / "data"
    assert warehouse_rows(
        data, "SELECT action, status, observed_status, old_value FROM push_audit"
    ) == [("revoke", "verified", "Revoked", 50)]
    assert warehouse_rows(
        data,
        f"SELECT status, integer_value, change, source FROM worker_qualification_history "
        f"WHERE worker_id = '{W[4]}' ORDER BY valid_from",
    ) == [("Granted", 50, "new", "refresh"), ("Revoked", 50, "status", "push")]
    assert warehouse_rows(
        data, f"SELECT status FROM worker_qualifications WHERE worker_id = '{W[4]}'"
    ) == [("Revoked",)]

    # Revoking again is unchanged; asking for a score again is a grant, never an update.
    again = push_cli("plan", "--data-dir", str(data), "--inputs-dir", str(tmp_path / "inputs"))
    assert again.exit_code == 0 and "unchanged │    1" in again.output  # no opt-in needed
    assert "Nothing to push" in again.output
    write_csv(tmp_path / "inputs" / "desired_scores.csv", HEADER, [(T1, W[4], "60", "", "")])
    regrant = push_here(client, tmp_path, replan=PlanSettings(allow_grants=True, limits=limits))
    assert regrant.verified == 1
    assert warehouse_rows(data, "SELECT action FROM push_audit ORDER BY attempted_at") == [
        ("revoke",),
        ("grant",),
    ]
    assert mturk_state(mturk, [(T1, W[4])]) == {(T1, W[4]): ("Granted", 60)}
    assert mturk.call_counts()[DISASSOCIATE] == 1


@pytest.mark.parametrize(
    "kills",
    [["after_call:4"], ["before_send:2", "before_audit:1"]],
    ids=lambda c: "+".join(c),
)
@pytest.mark.slow(14)
def test_a_killed_push_of_revocations_resumes_exactly_once(
    kills: list[str], local_mturk, mturk_env, tmp_path: Path
) -> None:
    world = holders(30)
    mturk = local_mturk(data=world.mturk_data())
    env = mturk_env(mturk)
    world.warehouse(tmp_path / "data")
    revoked = W[:12]
    write_revokes(tmp_path / "inputs", [(T1, w, "", "revoke", "Quality review") for w in revoked])
    args = subprocess_push_args(
        tmp_path, "--allow-revokes", "--max-share", "1", "--max-revoke-share", "1"
    )
    resumed = kill_then_resume(mturk, tmp_path / "data", args, env, kills)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert mturk.call_counts()[DISASSOCIATE] == len(revoked)  # one successful call per change
    assert mturk.call_counts()[ASSOCIATE] == 0
    assert mturk_state(mturk, [(T1, w) for w in revoked]) == {
        (T1, w): ("Revoked", 50) for w in revoked
    }
    data = tmp_path / "data"
    assert warehouse_rows(
        data,
        "SELECT count(*), count(DISTINCT worker_id) FROM push_audit "
        "WHERE status = 'verified' AND observed_status = 'Revoked'",
    ) == [(len(revoked), len(revoked))]
    assert warehouse_rows(
        data,
        "SELECT count(*) FROM worker_qualification_history WHERE status = 'Revoked' "
        "AND source = 'push' AND change = 'status' AND valid_to IS NULL",
    ) == [(len(revoked),)]

    again = run_push_process(args, env, cwd=REPO)
    assert again.returncode == 0 and "Nothing to push" in again.stdout, again.stdout
    assert mturk.call_counts()[DISASSOCIATE] == len(revoked)
