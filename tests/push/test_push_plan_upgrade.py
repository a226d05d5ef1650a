"""A plan saved by another version of qual_pipeline is planned again, never pushed as saved.

The same inputs may plan otherwise after an upgrade: 651a1bb merged two revocations of one worker
with different reasons (sending the alphabetically first reason), today's version rejects them.
The journal row is written as 651a1bb wrote it (settings without `planner`), by SQL.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from push_helpers import World, push_cli, saved_plan_id, start_world, write_csv
from support.mturk import type_id, worker_id

T1 = type_id(41)
W = [worker_id(i) for i in range(4)]


def test_a_plan_saved_before_an_upgrade_is_refused_with_no_call(
    local_mturk, mturk_env, tmp_path: Path
) -> None:
    world = World(types=[T1], qualifications=[(T1, w, "Granted", 5) for w in W])
    mturk, common = start_world(local_mturk, mturk_env, tmp_path, world)
    write_csv(
        tmp_path / "inputs" / "desired_scores.csv",
        ["qualification_type_id", "worker_id", "integer_value", "action", "reason"],
        [(T1, W[1], "", "revoke", "zeta"), (T1, W[2], 9, "", "")],
    )
    planned = push_cli(
        "plan", *common, "--max-share", "1", "--max-revoke-share", "1", "--allow-revokes"
    )
    assert planned.exit_code == 0, planned.output
    plan_id = saved_plan_id(planned.output)
    journal = sqlite3.connect(tmp_path / "data" / "push_journal.sqlite")
    with journal:
        (settings,) = journal.execute(
            "SELECT settings FROM plans WHERE plan_id = ?", [plan_id]
        ).fetchone()
        old = {k: v for k, v in json.loads(settings).items() if k != "planner"}
        journal.execute(
            "UPDATE plans SET settings = ? WHERE plan_id = ?", [json.dumps(old), plan_id]
        )
    journal.close()
    before = sum(mturk.call_counts().values())

    refused = push_cli("push", *common)
    assert refused.exit_code == 1, refused.output
    assert f"plan {plan_id} was saved by another version of qual_pipeline" in refused.output
    assert "Run `qual-pipeline plan` again" in refused.output
    assert "Traceback" not in refused.output
    assert sum(mturk.call_counts().values()) == before

    assert (
        push_cli(
            "plan", *common, "--max-share", "1", "--max-revoke-share", "1", "--allow-revokes"
        ).exit_code
        == 0
    )
    pushed = push_cli("push", *common)
    assert pushed.exit_code == 0, pushed.output
