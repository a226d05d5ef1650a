"""What a push says and does is what happened, over real HTTP against a local MTurk.

A push that resumed an interrupted plan before refusing the next one says what it resumed (never
"nothing was sent"); refused credentials stop the push at the first call, as a configuration error,
with the plan still pushable; an accept never overwrites a score that appeared on MTurk after the
plan; and a plain `push` re-checks the inputs folder the plan was built from.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from push_helpers import (
    World,
    journal_of,
    mturk_state,
    push_cli,
    saved_plan_id,
    start_world,
    warehouse_rows,
    write_decisions,
    write_desired,
)
from support.mturk import mturk_client, type_id, worker_id

from qual_pipeline.local_mturk.server import FaultConfig

T1 = type_id(51)
W = [worker_id(i) for i in range(40)]
ASSOCIATE = "AssociateQualificationWithWorker"
ACCEPT = "AcceptQualificationRequest"
READ = "GetQualificationScore"


def holders(count: int = 20) -> World:
    return World(types=[T1], qualifications=[(T1, W[i], "Granted", i) for i in range(count)])


@pytest.fixture
def world(local_mturk, mturk_env, tmp_path: Path):
    def start(world: World, faults: FaultConfig | None = None):
        return start_world(local_mturk, mturk_env, tmp_path, world, faults)

    return start


def test_a_replan_refused_after_a_resume_reports_the_resume(
    world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mturk, common = world(holders(), FaultConfig(throttle_rate=1.0))
    monkeypatch.setenv("MTURK_MAX_ATTEMPTS", "1")
    desired = {W[i]: 100 + i for i in range(12)}
    write_desired(tmp_path / "inputs", [(T1, w, v) for w, v in desired.items()])
    stopped = push_cli("push", *common, "--replan", "--max-share", "1")
    assert stopped.exit_code == 1 and "ThrottlingException" in stopped.output, stopped.output
    with journal_of(tmp_path / "data") as journal:
        (interrupted,) = journal.open_plans()
    assert mturk.call_counts()[ASSOCIATE] == 0

    mturk.set_faults(FaultConfig())
    good = tmp_path / "good"
    write_desired(good, [(T1, W[30], 5)])  # W[30] lacks the type: rejected without --allow-grants
    refused = push_cli(
        "push", "--data-dir", str(tmp_path / "data"), "--inputs-dir", str(good), "--replan"
    )
    assert refused.exit_code == 1, refused.output
    assert mturk.call_counts()[ASSOCIATE] == 12  # the interrupted plan was finished
    assert "nothing was sent" not in refused.output
    assert f"resumed plan {interrupted.plan_id} (scores): 12 change(s), verified 12" in (
        refused.output
    )
    assert "nothing of that plan was sent" in refused.output
    assert "rejected" in refused.output
    assert mturk_state(mturk, [(T1, w) for w in desired]) == {
        (T1, w): ("Granted", v) for w, v in desired.items()
    }


@pytest.mark.parametrize(
    ("variable", "value", "code"),
    [
        ("AWS_SECRET_ACCESS_KEY", "wrongsecret", "InvalidSignatureException"),
        ("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000", "UnrecognizedClientException"),
    ],
    ids=["wrong-secret", "unknown-key"],
)
def test_refused_credentials_stop_at_the_first_call_and_keep_the_plan(
    variable: str,
    value: str,
    code: str,
    world,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mturk, common = world(holders())
    desired = {W[i]: 100 + i for i in range(12)}
    write_desired(tmp_path / "inputs", [(T1, w, v) for w, v in desired.items()])
    planned = push_cli("plan", *common, "--max-share", "1")
    assert planned.exit_code == 0, planned.output
    plan_id = saved_plan_id(planned.output)
    right = os.environ[variable]

    monkeypatch.setenv(variable, value)
    refused = push_cli("push", *common)
    assert refused.exit_code == 2, refused.output
    lines = [line for line in refused.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: MTurk refused the credentials"), lines
    assert refused.output.count(code) == 1
    assert "marked no change failed" in refused.output
    assert mturk.requests_after(0) <= 4  # at most the calls already in flight (--concurrency)
    assert mturk.call_counts()[ASSOCIATE] == 0
    with journal_of(tmp_path / "data") as journal:
        states = journal.state_counts(plan_id)
        # None of them was called (the read before each update was refused): pending, never
        # 'sending' (their outcome is known), each attempt saying why it was not sent.
        assert states == {"pending": 12}, states
        assert [p.plan_id for p in journal.open_plans()] == [plan_id]
        attempts = journal._db.execute(
            "SELECT status, error FROM attempts WHERE plan_id = ?", (plan_id,)
        ).fetchall()
    assert len(attempts) == 12
    assert all(
        status == "interrupted"
        and error.startswith("not sent: MTurk refused the credentials")
        and error.endswith("before its call; the next push sends it")
        for status, error in attempts
    ), attempts

    monkeypatch.setenv(variable, right)
    reads = mturk.call_counts()[READ]
    resumed = push_cli("push", *common)
    assert resumed.exit_code == 0, resumed.output
    assert f"resumed plan {plan_id} (scores): 12 change(s), verified 12" in resumed.output
    assert mturk.call_counts()[ASSOCIATE] == 12
    # nothing read back as if in flight: a read before each update, a read-back after it
    assert mturk.call_counts()[READ] - reads == 24
    assert mturk_state(mturk, [(T1, w) for w in desired]) == {
        (T1, w): ("Granted", v) for w, v in desired.items()
    }


def test_an_accept_never_overwrites_a_score_granted_on_mturk_since_the_plan(
    world, tmp_path: Path
) -> None:
    base = World(
        types=[T1],
        qualifications=[(T1, W[i], "Granted", i) for i in range(10)] + [(T1, W[20], "Revoked", 7)],
        requests=[("REQNEW", T1, W[30]), ("REQREVOKED", T1, W[20]), ("REQOTHER", T1, W[31])],
    )
    mturk, common = world(base)
    write_decisions(
        tmp_path / "inputs",
        [
            ("REQNEW", "accept", None, None),
            ("REQREVOKED", "accept", None, None),
            ("REQOTHER", "accept", None, None),
        ],
    )
    planned = push_cli("plan", "--requests", *common, "--max-share", "1")
    assert planned.exit_code == 0, planned.output
    plan_id = saved_plan_id(planned.output)
    # On MTurk, after the plan and with no refresh: W[30] is granted 90, W[20] granted 40.
    client = mturk_client(mturk)
    for worker, value in ((W[30], 90), (W[20], 40)):
        client.associate_qualification_with_worker(
            QualificationTypeId=T1, WorkerId=worker, IntegerValue=value, SendNotification=False
        )

    pushed = push_cli("push", "--requests", *common)
    assert pushed.exit_code == 1, pushed.output
    assert f"pushed plan {plan_id} (requests): 3 change(s), refused 2, verified 1" in pushed.output
    assert (
        "request REQNEW (accept): not accepted: the worker's qualification changed on MTurk since "
        "the plan (the plan saw no qualification; MTurk holds Granted 90)" in pushed.output
    )
    assert "the plan saw Revoked; MTurk holds Granted 40" in pushed.output
    assert mturk.call_counts()[ACCEPT] == 1
    assert mturk_state(mturk, [(T1, W[30]), (T1, W[20]), (T1, W[31])]) == {
        (T1, W[30]): ("Granted", 90),
        (T1, W[20]): ("Granted", 40),
        (T1, W[31]): ("Granted", 1),
    }
    assert mturk.admin.get_qualification_request("REQNEW") is not None  # still pending
    audit = warehouse_rows(
        tmp_path / "data",
        "SELECT qualification_request_id, old_value, new_value, observed_value, "
        "observed_status, status FROM push_audit ORDER BY 1",
    )
    assert audit == [
        ("REQNEW", None, 1, 90, "Granted", "refused"),
        ("REQOTHER", None, 1, 1, "Granted", "verified"),
        ("REQREVOKED", 7, 1, 40, "Granted", "refused"),
    ]


def test_push_rechecks_the_inputs_and_sql_folders_the_plan_was_built_from(
    world, tmp_path: Path
) -> None:
    mturk, common = world(holders())
    data = ["--data-dir", str(tmp_path / "data")]
    write_desired(tmp_path / "inputs", [(T1, W[i], 300 + i) for i in range(12)])  # the default
    good = tmp_path / "good"
    write_desired(good, [(T1, W[1], 50), (T1, W[2], 51)])
    planned = push_cli("plan", *data, "--inputs-dir", str(good), "--max-share", "1")
    assert planned.exit_code == 0, planned.output
    pushed = push_cli("push", *common)  # --inputs-dir names the default folder
    assert pushed.exit_code == 0, pushed.output
    assert f"pushed plan {saved_plan_id(planned.output)}" in pushed.output
    assert mturk_state(mturk, [(T1, W[1]), (T1, W[2]), (T1, W[3])]) == {
        (T1, W[1]): ("Granted", 50),
        (T1, W[2]): ("Granted", 51),
        (T1, W[3]): ("Granted", 3),
    }

    mysql = tmp_path / "mysql"
    mysql.mkdir()
    (mysql / "desired_scores.sql").write_text(  # every desired score becomes 77
        "SELECT qualification_type_id, worker_id, '77' AS integer_value, source_line, "
        "input_problem FROM desired_scores_csv\n"
    )
    write_desired(good, [(T1, W[5], 70)])
    planned = push_cli(
        "plan", *data, "--inputs-dir", str(good), "--sql-dir", str(mysql), "--max-share", "1"
    )
    assert planned.exit_code == 0, planned.output
    pushed = push_cli("push", *data, "--inputs-dir", str(good))  # the package's sql/ by default
    assert pushed.exit_code == 0, pushed.output
    assert mturk_state(mturk, [(T1, W[5])]) == {(T1, W[5]): ("Granted", 77)}

    write_desired(good, [(T1, W[6], 71)])
    planned = push_cli("plan", *data, "--inputs-dir", str(good), "--max-share", "1")
    assert planned.exit_code == 0, planned.output
    write_desired(good, [(T1, W[6], 72)])  # edited after the plan: still refused
    refused = push_cli("push", *common)
    assert refused.exit_code == 1 and "the inputs changed since plan" in refused.output
    assert str(good / "desired_scores.csv") in refused.output


def test_an_update_or_grant_never_overwrites_a_score_changed_on_mturk_since_the_plan(
    world, tmp_path: Path
) -> None:
    base = World(
        types=[T1],
        qualifications=[(T1, W[i], "Granted", i) for i in range(10)] + [(T1, W[20], "Revoked", 7)],
    )
    mturk, common = world(base)
    # updates of W[0], W[1]; grants to W[20] (revoked) and W[30] (lacks it), W[31] (lacks it)
    desired = [(T1, W[0], 50), (T1, W[1], 51), (T1, W[20], 52), (T1, W[30], 53), (T1, W[31], 54)]
    write_desired(tmp_path / "inputs", desired)
    planned = push_cli("plan", *common, "--max-share", "1", "--allow-grants")
    assert planned.exit_code == 0, planned.output
    plan_id = saved_plan_id(planned.output)
    # On MTurk, after the plan and with no refresh: W[1] set to 99, W[30] granted 98.
    client = mturk_client(mturk)
    for worker, value in ((W[1], 99), (W[30], 98)):
        client.associate_qualification_with_worker(
            QualificationTypeId=T1, WorkerId=worker, IntegerValue=value, SendNotification=False
        )
    before = mturk.call_counts()[ASSOCIATE]

    pushed = push_cli("push", *common)
    assert pushed.exit_code == 1, pushed.output
    assert f"pushed plan {plan_id} (scores): 5 change(s), refused 2, verified 3" in pushed.output
    assert (
        f"{T1}/{W[1]} (update): not updated: the worker's qualification changed on MTurk since "
        "the plan (the plan saw Granted 1; MTurk holds Granted 99), and updating would set 51"
    ) in pushed.output
    assert "the plan saw no qualification; MTurk holds Granted 98), and granting would set 53" in (
        pushed.output
    )
    assert mturk.call_counts()[ASSOCIATE] - before == 3
    assert mturk_state(mturk, [(t, w) for t, w, _ in desired]) == {
        (T1, W[0]): ("Granted", 50),
        (T1, W[1]): ("Granted", 99),
        (T1, W[20]): ("Granted", 52),
        (T1, W[30]): ("Granted", 98),
        (T1, W[31]): ("Granted", 54),
    }
    audit = warehouse_rows(
        tmp_path / "data",
        "SELECT worker_id, action, old_value, new_value, observed_value, observed_status, status "
        "FROM push_audit WHERE status = 'refused' ORDER BY worker_id",
    )
    assert audit == [
        (W[1], "update", 1, 51, 99, "Granted", "refused"),
        (W[30], "grant", None, 53, 98, "Granted", "refused"),
    ]
    with journal_of(tmp_path / "data") as journal:
        assert journal.state_counts(plan_id) == {"refused": 2, "verified": 3}
