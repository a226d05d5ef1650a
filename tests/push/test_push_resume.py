"""A push killed with SIGKILL at any point resumes to the same end state, one call per change.

The push (`push --replan`: plan, save, open and send in one run) is the user's command in a child
process, killed by the test at moments it observes from outside (support.push_process): when a
batch is journalled 'sending' and its first call arrives (before any of its calls reach MTurk),
right after MTurk applied a call (before the child hears of it), when a batch journalled 'sent'
starts its read-back, and after the read-back is journalled while the test holds the warehouse
(before push_audit and the warehouse are written). The local MTurk counts successful calls, so a
change sent twice would show.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from push_helpers import (
    REPO,
    World,
    kill_then_resume,
    mturk_state,
    run_push_process,
    subprocess_push_args,
    warehouse_rows,
    write_desired,
)
from support.mturk import type_id, worker_id

T1 = type_id(31)
CHANGES = 23
ASSOCIATE = "AssociateQualificationWithWorker"


@pytest.mark.parametrize(
    "kills",
    [
        ["before_send:2"],
        ["after_call:7"],
        ["before_audit:3"],
        # killed again and again, each time while resuming the previous run
        ["before_send:1", "after_call:4", "before_read_back:1", "before_audit:1"],
    ],
    ids=lambda c: "+".join(c),
)
@pytest.mark.slow(25)
def test_killed_push_resumes_exactly_once(
    kills: list[str], local_mturk, mturk_env, tmp_path: Path
) -> None:
    world = World(
        types=[T1],
        qualifications=[(T1, worker_id(i), "Granted", i) for i in range(30)]
        + [(T1, worker_id(90), "Revoked", 1)],
    )
    mturk = local_mturk(data=world.mturk_data())
    env = mturk_env(mturk)
    world.warehouse(tmp_path / "data")
    desired = {worker_id(i): 500 + i for i in range(CHANGES - 1)} | {worker_id(90): 9}
    write_desired(tmp_path / "inputs", [(T1, w, v) for w, v in desired.items()])
    args = subprocess_push_args(tmp_path, "--allow-grants", "--max-share", "1")
    resumed = kill_then_resume(mturk, tmp_path / "data", args, env, kills)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert mturk_state(mturk, [(T1, w) for w in desired]) == {
        (T1, w): ("Granted", v) for w, v in desired.items()
    }
    assert mturk.call_counts()[ASSOCIATE] == CHANGES
    assert mturk.notifications() == []
    data = tmp_path / "data"
    verified = warehouse_rows(
        data, "SELECT count(*), count(DISTINCT worker_id) FROM push_audit WHERE status = 'verified'"
    )
    assert verified == [(CHANGES, CHANGES)]
    current = dict(
        warehouse_rows(
            data,
            f"SELECT worker_id, integer_value FROM worker_qualifications "
            f"WHERE qualification_type_id = '{T1}' AND status = 'Granted'",
        )
    )
    assert {w: current.get(w) for w in desired} == desired

    again = run_push_process(args, env, cwd=REPO)
    assert again.returncode == 0 and "Nothing to push" in again.stdout, again.stdout
    assert mturk.call_counts()[ASSOCIATE] == CHANGES
