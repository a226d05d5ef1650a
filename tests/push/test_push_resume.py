"""A push killed with SIGKILL at any point resumes to the same end state, one call per change.

The push (`push --replan`: plan, save, open and send in one run) runs in a child process that
kills itself (hidden --crash-at POINT:N) at the N-th time it reaches POINT: after opening the
plan, after marking a batch 'sending' (before its calls), right after a successful call (before it
is marked 'sent'), after marking a batch 'sent' (before its read-back) and after the read-back
(before push_audit and the warehouse are written). The local MTurk counts successful calls, so a
change sent twice would show.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import type_id, worker_id
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

T1 = type_id(31)
CHANGES = 23
ASSOCIATE = "AssociateQualificationWithWorker"


@pytest.mark.parametrize(
    "crashes",
    [
        ["marked_sending:2"],
        ["sent:7"],
        ["verified:3"],
        # killed again and again, each time while resuming the previous run
        ["journalled:1", "sent:4", "marked_sent:1", "verified:1"],
    ],
    ids=lambda c: "+".join(c),
)
def test_killed_push_resumes_exactly_once(
    crashes: list[str], local_mturk, mturk_env, tmp_path: Path
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
    resumed = kill_then_resume(args, env, crashes)
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
