"""The plan you review is the plan that runs, over real HTTP against a local MTurk.

`plan` saves a plan (reading the warehouse only, byte for byte), `push` applies exactly that plan,
and refuses it, with no MTurk call at all, when the inputs, the warehouse load or another push
moved under it, when a blocking check of its load failed for a type it changes (unless ignored,
which is audited), or when an accept would change a held score without saying so. MTurk errors
that outlive the retries end the push with a resume hint, and the resumed push verifies each
change once.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from push_helpers import (
    REPO,
    World,
    file_digest,
    journal_of,
    mturk_state,
    push_cli,
    push_here,
    run_push_process,
    saved_plan_id,
    start_world,
    warehouse_rows,
    write_decisions,
    write_desired,
)
from support.mturk import type_id, worker_id
from support.stores import stores_of, write_warehouse

from qual_pipeline.lake.layout import warehouse_path
from qual_pipeline.local_mturk.server import FaultConfig
from qual_pipeline.mturk_api.client import make_client
from qual_pipeline.push.guard import GuardLimits
from qual_pipeline.push.runner import PushFailed, PushInterrupted
from qual_pipeline.push.saved_plan import PlanSettings
from qual_pipeline.warehouse.load import load_warehouse
from qual_pipeline.warehouse.sql_files import SQL_DIR

T1, T2 = type_id(41), type_id(42)
ASSOCIATE = "AssociateQualificationWithWorker"
W = [worker_id(i) for i in range(40)]


def calls(mturk: Any) -> int:
    """Every successful MTurk call the local MTurk answered, reads included."""
    return sum(mturk.call_counts().values())


def holders(count: int = 10, type_ids: tuple[str, ...] = (T1,)) -> World:
    return World(
        types=list(type_ids),
        qualifications=[(t, W[i], "Granted", i) for t in type_ids for i in range(count)],
    )


@pytest.fixture
def world(local_mturk, mturk_env, tmp_path: Path):
    def start(world: World, faults: FaultConfig | None = None):
        return start_world(local_mturk, mturk_env, tmp_path, world, faults)

    return start


def test_push_applies_exactly_the_saved_plan(world, tmp_path: Path) -> None:
    mturk, common = world(holders())
    write_desired(tmp_path / "inputs", [(T1, W[1], 50), (T1, W[2], 51), (T1, W[3], 3)])
    planned = push_cli("plan", *common, "--max-share", "1")
    assert planned.exit_code == 0, planned.output
    plan_id = saved_plan_id(planned.output)
    with journal_of(tmp_path / "data") as journal:
        saved = journal.plan(plan_id)
        assert saved is not None and (saved.state, saved.total) == ("saved", 2)
        rows = [
            (c.worker_id, c.old_value, c.new_value) for c in journal.changes(plan_id, "pending")
        ]
    assert rows == [(W[1], 1, 50), (W[2], 2, 51)]
    assert calls(mturk) == 0

    pushed = push_cli("push", *common)
    assert pushed.exit_code == 0, pushed.output
    assert f"pushed plan {plan_id}" in pushed.output
    audit = warehouse_rows(
        tmp_path / "data",
        "SELECT plan_id, worker_id, old_value, new_value, status, observed_status "
        "FROM push_audit ORDER BY worker_id",
    )
    assert audit == [
        (plan_id, w, old, new, "verified", "Granted") for w, old, new in rows
    ]  # exactly the saved rows, nothing else
    assert mturk.call_counts()[ASSOCIATE] == 2
    with journal_of(tmp_path / "data") as journal:
        assert journal.plan(plan_id).state == "done"  # type: ignore[union-attr]

    nothing = push_cli("push", *common)
    assert nothing.exit_code == 1
    assert "no saved scores plan to push" in nothing.output and "--replan" in nothing.output
    again = push_cli("push", *common, "--plan", plan_id)
    assert again.exit_code == 1 and "already applied" in again.output
    assert mturk.call_counts()[ASSOCIATE] == 2
    misuse = push_cli("push", *common, "--max-share", "1")
    assert misuse.exit_code == 2 and "push --replan" in misuse.output


def test_edited_inputs_between_plan_and_push_are_refused_with_no_call(
    world, tmp_path: Path
) -> None:
    mturk, common = world(holders())
    write_desired(tmp_path / "inputs", [(T1, W[1], 50), (T1, W[2], 51)])
    plan_id = saved_plan_id(push_cli("plan", *common, "--max-share", "1").output)
    write_desired(tmp_path / "inputs", [(T1, W[1], 50), (T1, W[2], 52)])  # the CSV changed

    refused = push_cli("push", *common)
    assert refused.exit_code == 1
    assert f"the inputs changed since plan {plan_id} was saved" in refused.output
    assert "Run `qual-pipeline plan` again" in refused.output
    assert calls(mturk) == 0

    # Editing the model (not the file) is caught the same way.
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    shutil.copy(SQL_DIR / "desired_scores.sql", sql_dir)
    replanned = push_cli("plan", *common, "--max-share", "1", "--sql-dir", str(sql_dir))
    assert replanned.exit_code == 0, replanned.output
    model = sql_dir / "desired_scores.sql"
    model.write_text(
        model.read_text().replace(
            "SELECT * FROM",
            "SELECT qualification_type_id, worker_id, "
            "CAST(integer_value AS INTEGER) + 1 AS integer_value FROM",
        )
    )
    edited = push_cli("push", *common, "--sql-dir", str(sql_dir))
    assert edited.exit_code == 1 and "the inputs changed since plan" in edited.output, edited.output
    assert calls(mturk) == 0

    push_cli("plan", *common, "--max-share", "1")
    pushed = push_cli("push", *common)
    assert pushed.exit_code == 0, pushed.output
    assert mturk_state(mturk, [(T1, W[2])]) == {(T1, W[2]): ("Granted", 52)}


def test_a_reload_between_plan_and_push_is_refused_with_no_call(world, tmp_path: Path) -> None:
    mturk, common = world(holders())
    data = tmp_path / "data"
    write_desired(tmp_path / "inputs", [(T1, W[1], 50)])
    plan_id = saved_plan_id(push_cli("plan", *common, "--max-share", "1").output)
    assert load_warehouse(stores_of(data)).up_to_date  # a load with nothing new changes nothing
    holders(11).warehouse(data)  # a refresh that found a new holder: a new load, other rows

    refused = push_cli("push", *common)
    assert refused.exit_code == 1
    assert f"the warehouse was reloaded since plan {plan_id} was saved" in refused.output
    assert calls(mturk) == 0
    assert push_cli("plan", *common, "--max-share", "1").exit_code == 0
    assert push_cli("push", *common).exit_code == 0
    assert mturk.call_counts()[ASSOCIATE] == 1


def test_a_push_after_a_plan_was_saved_makes_it_out_of_date(world, tmp_path: Path) -> None:
    """Scores and requests planned together: pushing the scores writes read-back values into the
    warehouse, so the requests plan (built on the old values) must be planned again."""
    base = holders()
    base.requests = [("REQ1", T1, W[30])]
    mturk, common = world(base)
    write_desired(tmp_path / "inputs", [(T1, W[1], 50)])
    write_decisions(tmp_path / "inputs", [("REQ1", "accept", 5, None)])
    first = saved_plan_id(push_cli("plan", *common, "--max-share", "1").output)
    requests = saved_plan_id(push_cli("plan", "--requests", *common, "--max-share", "1").output)
    newer = saved_plan_id(push_cli("plan", *common, "--max-share", "1").output)

    superseded = push_cli("push", *common, "--plan", first)
    assert superseded.exit_code == 1
    assert f"superseded by a newer scores plan ({newer})" in superseded.output
    assert push_cli("push", *common).exit_code == 0
    stale = push_cli("push", "--requests", *common)
    assert stale.exit_code == 1
    assert f"the push of plan {newer} ran after plan {requests} was saved" in stale.output
    assert mturk.call_counts()["AcceptQualificationRequest"] == 0
    kind = push_cli("push", *common, "--plan", requests)
    assert kind.exit_code == 1 and "push it with --requests" in kind.output
    sandbox = saved_plan_id(push_cli("plan", *common, "--max-share", "1").output)
    production = push_cli("push", *common, "--environment", "production", "--allow-production")
    assert production.exit_code == 1
    assert f"plan {sandbox} was made for the sandbox environment" in production.output
    assert mturk.call_counts()["AcceptQualificationRequest"] == 0


def test_plan_leaves_the_warehouse_file_byte_for_byte_unchanged(world, tmp_path: Path) -> None:
    base = holders()
    base.requests = [("REQ1", T1, W[30])]
    _mturk, common = world(base)
    write_desired(tmp_path / "inputs", [(T1, W[1], 50), (T1, W[2], "bad")])
    write_decisions(tmp_path / "inputs", [("REQ1", "accept", 5, None)])
    path = warehouse_path(tmp_path / "data")
    before, files = file_digest(path), sorted(p.name for p in path.parent.iterdir())
    assert push_cli("plan", *common, "--allow-grants").exit_code == 1  # a rejected row
    assert push_cli("plan", *common, "--output", "json").exit_code == 1
    # Requests are planned read-only too (push_audit exists from the first load's migration).
    assert push_cli("plan", "--requests", *common, "--max-share", "1").exit_code == 0
    assert file_digest(path) == before
    added = {p.name for p in path.parent.iterdir()} - set(files)
    journal = {"push_journal.sqlite", "push_journal.sqlite-wal", "push_journal.sqlite-shm"}
    assert added <= journal | {"push_journal.lock"}  # no warehouse.duckdb.wal, nothing else


def test_a_failing_blocking_check_refuses_plan_and_push_until_ignored(
    world, tmp_path: Path
) -> None:
    broken = holders(10, (T1, T2))
    mturk, common = world(broken)
    # The test's own broken extraction: a snapshot of T1 holding one worker twice.
    broken.warehouse(tmp_path / "data", duplicated=[(T1, W[3])])
    write_desired(tmp_path / "inputs", [(T1, W[1], 50), (T2, W[1], 60)])

    planned = push_cli("plan", *common, "--max-share", "1")
    assert planned.exit_code == 1, planned.output
    out = planned.output
    assert f"blocking check unique_worker_qualifications failed for type {T1}" in out
    assert "--ignore-check unique_worker_qualifications" in out
    assert f"failed for type {T2}" not in out
    assert push_cli("push", *common).exit_code == 1
    replanned = push_cli("push", *common, "--replan", "--max-share", "1")
    assert replanned.exit_code == 1 and "unique_worker_qualifications" in replanned.output
    assert calls(mturk) == 0

    # The other type is not blocked by T1's broken data.
    write_desired(tmp_path / "inputs", [(T2, W[1], 60)])
    assert push_cli("plan", *common, "--max-share", "1").exit_code == 0

    write_desired(tmp_path / "inputs", [(T1, W[1], 50), (T2, W[1], 60)])
    bad_name = push_cli("plan", *common, "--ignore-check", "scores_present")
    assert bad_name.exit_code == 2 and "not a blocking check" in bad_name.output
    ignored = push_cli(
        "plan", *common, "--max-share", "1", "--ignore-check", "unique_worker_qualifications"
    )
    assert ignored.exit_code == 0, ignored.output
    assert "ignored (--ignore-check): unique_worker_qualifications" in ignored.output
    pushed = push_cli("push", *common)
    assert pushed.exit_code == 0, pushed.output
    audit = warehouse_rows(
        tmp_path / "data", "SELECT worker_id, new_value, ignored_checks FROM push_audit ORDER BY 2"
    )
    assert audit == [
        (W[1], 50, "unique_worker_qualifications"),
        (W[1], 60, "unique_worker_qualifications"),
    ]
    assert mturk.call_counts()[ASSOCIATE] == 2


def test_an_accept_over_a_holder_is_rejected_unless_the_value_is_explicit(
    world, tmp_path: Path
) -> None:
    base = World(
        types=[T1],
        qualifications=[(T1, W[i], "Granted", i * 10) for i in range(10)]
        + [(T1, W[20], "Revoked", 7)],
        requests=[("REQHOLD", T1, W[5]), ("REQREVOKED", T1, W[20]), ("REQNEW", T1, W[30])],
    )
    mturk, common = world(base)
    inputs = tmp_path / "inputs"
    write_decisions(
        inputs,
        [
            ("REQHOLD", "accept", None, None),
            ("REQREVOKED", "accept", None, None),
            ("REQNEW", "accept", 7, None),
        ],
    )
    surprise = push_cli("plan", "--requests", *common, "--max-share", "1", "--rows", "10")
    assert surprise.exit_code == 1, surprise.output
    assert "already holds this qualification with value 50" in surprise.output
    assert "give integer_value (e.g. 50 to keep it) or decide reject" in surprise.output
    assert push_cli("push", "--requests", *common).exit_code == 1
    assert calls(mturk) == 0

    write_decisions(
        inputs,
        [
            ("REQHOLD", "accept", 80, None),
            ("REQREVOKED", "accept", None, None),
            ("REQNEW", "accept", 7, None),
        ],
    )
    guarded = push_cli("plan", "--requests", *common, "--max-share", "1", "--max-changes", "2")
    assert guarded.exit_code == 1
    assert "3 changes, 1 of them change a held score" in guarded.output
    planned = push_cli("plan", "--requests", *common, "--max-share", "1", "--output", "json")
    assert planned.exit_code == 0, planned.output
    shown = json.loads(planned.output)
    assert [(t["changes"], t["score_changes"]) for t in shown["per_type"]] == [(3, 1)]
    effects = {r["qualification_request_id"]: r["effect"] for r in shown["rows"]}
    assert effects == {"REQHOLD": "update", "REQREVOKED": "grant", "REQNEW": "grant"}

    pushed = push_cli("push", "--requests", *common)
    assert pushed.exit_code == 0, pushed.output
    assert mturk_state(mturk, [(T1, W[5]), (T1, W[20]), (T1, W[30])]) == {
        (T1, W[5]): ("Granted", 80),
        (T1, W[20]): ("Granted", 1),
        (T1, W[30]): ("Granted", 7),
    }


@pytest.mark.slow(13)
def test_throttling_beyond_the_retries_ends_cleanly_and_the_push_resumes(
    local_mturk, mturk_env, tmp_path: Path
) -> None:
    base = holders(20)
    mturk = local_mturk(data=base.mturk_data(), faults=FaultConfig(throttle_rate=0.95, seed=3))
    env = {**mturk_env(mturk), "MTURK_MAX_ATTEMPTS": "2"}
    base.warehouse(tmp_path / "data")
    desired = {W[i]: 100 + i for i in range(12)}
    write_desired(tmp_path / "inputs", [(T1, w, v) for w, v in desired.items()])
    common = ["--data-dir", str(tmp_path / "data"), "--inputs-dir", str(tmp_path / "inputs")]

    failed = run_push_process(
        ["push", *common, "--replan", "--max-share", "1", "--rate", "500"], env, cwd=REPO
    )
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Traceback" not in failed.stderr + failed.stdout
    assert "ThrottlingException" in failed.stderr and "after 2 attempt(s)" in failed.stderr
    assert "Run `qual-pipeline push` again" in failed.stderr
    with journal_of(tmp_path / "data") as journal:
        (plan,) = journal.open_plans()  # consistent: every change in a known state
        assert sum(journal.state_counts(plan.plan_id).values()) == plan.total == 12
    unfinished = push_cli("plan", *common, "--max-share", "1")
    assert unfinished.exit_code == 1
    assert f"the push of plan {plan.plan_id} was interrupted and is unfinished" in unfinished.output

    mturk.set_faults(FaultConfig())
    resumed = run_push_process(["push", *common, "--rate", "500"], env, cwd=REPO)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resumed plan {plan.plan_id}" in resumed.stdout
    assert mturk_state(mturk, [(T1, w) for w in desired]) == {
        (T1, w): ("Granted", v) for w, v in desired.items()
    }
    assert mturk.call_counts()[ASSOCIATE] == 12  # each change applied by one successful call
    verified = warehouse_rows(
        tmp_path / "data",
        "SELECT worker_id, count(*) FROM push_audit WHERE status = 'verified' GROUP BY 1",
    )
    assert sorted(verified) == [(w, 1) for w in sorted(desired)]


def test_a_read_back_that_keeps_failing_interrupts_and_resumes(
    local_mturk, mturk_env, tmp_path: Path
) -> None:
    mturk, _ = start_world(local_mturk, mturk_env, tmp_path, holders())
    write_desired(tmp_path / "inputs", [(T1, W[1], 50), (T1, W[2], 51)])

    def push(**more: Any) -> Any:
        client = make_client(endpoint_url=mturk.endpoint_url, max_attempts=2)
        return push_here(client, tmp_path, **more)

    associated: list[bool] = []

    def throttle_from_now(**_: Any) -> None:
        # The first read-back (a read after both calls; the reads before each update come
        # first): the calls have landed; from here on every request is throttled.
        if len(associated) == 2:
            mturk.set_faults(FaultConfig(throttle_rate=1.0))

    client = make_client(endpoint_url=mturk.endpoint_url, max_attempts=2)
    client.meta.events.register(
        "after-call.mturk.AssociateQualificationWithWorker", lambda **_: associated.append(True)
    )
    client.meta.events.register("before-call.mturk.GetQualificationScore", throttle_from_now)
    with pytest.raises(PushInterrupted) as stopped:
        push_here(client, tmp_path, replan=PlanSettings(limits=GuardLimits(max_share=1)))
    message = str(stopped.value)
    assert "while reading back the changes of plan" in message
    assert "ThrottlingException" in message and "sent 2" in message
    mturk.set_faults(FaultConfig())
    report = push()
    assert report.verified == 2 and report.plans[0].resumed
    assert mturk.call_counts()[ASSOCIATE] == 2


def test_plan_without_a_warehouse_says_to_refresh_and_creates_nothing(tmp_path: Path) -> None:
    data = tmp_path / "nowhere"
    result = push_cli("plan", "--data-dir", str(data), "--inputs-dir", str(tmp_path))
    assert result.exit_code == 1
    assert "qual-pipeline refresh" in result.output and "Traceback" not in result.output
    assert not data.exists()


def test_a_warehouse_without_a_recorded_load_is_refused_until_a_load_records_one(
    local_mturk, mturk_env, tmp_path: Path
) -> None:
    """A warehouse loaded before load ids existed has no recorded checks: plan refuses until a
    load records them; that first load records one even with nothing new in the lake.
    Its push_audit, created by an earlier version, gains the newer columns on the next push."""
    _mturk, common = start_world(local_mturk, mturk_env, tmp_path, holders())
    data = tmp_path / "data"
    con = write_warehouse(data)
    try:  # as a warehouse loaded by the first release: no load ids, no recorded checks
        con.execute("DROP TABLE warehouse_loads")
        con.execute("DROP TABLE check_results")
        con.execute("DROP TABLE qual_pipeline_migrations")  # no migrations were recorded then
        con.execute("DROP TABLE push_audit")
        con.execute(  # push_audit as the first release created it
            "CREATE TABLE push_audit (run_id VARCHAR NOT NULL, plan_id VARCHAR NOT NULL, "
            "seq BIGINT NOT NULL, attempt INTEGER NOT NULL, kind VARCHAR NOT NULL, "
            "qualification_type_id VARCHAR NOT NULL, worker_id VARCHAR NOT NULL, "
            "qualification_request_id VARCHAR, old_value INTEGER, new_value INTEGER, "
            "observed_value INTEGER, action VARCHAR NOT NULL, status VARCHAR NOT NULL, "
            "error VARCHAR, attempted_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ, "
            "PRIMARY KEY (plan_id, seq, attempt))"
        )
    finally:
        con.close()
    write_desired(tmp_path / "inputs", [(T1, W[1], 50)])
    refused = push_cli("plan", *common, "--max-share", "1")
    assert refused.exit_code == 1
    assert "the warehouse has no recorded load" in refused.output
    assert "qual-pipeline refresh" in refused.output

    first = load_warehouse(stores_of(data))
    assert first.up_to_date and first.load_id is not None
    assert push_cli("plan", *common, "--max-share", "1").exit_code == 0
    pushed = push_cli("push", *common)
    assert pushed.exit_code == 0, pushed.output
    assert warehouse_rows(data, "SELECT observed_status, ignored_checks FROM push_audit") == [
        ("Granted", None)
    ]


def test_a_read_back_mturk_refuses_for_good_is_recorded_as_failed(
    local_mturk, mturk_env, tmp_path: Path
) -> None:
    mturk, _ = start_world(local_mturk, mturk_env, tmp_path, holders())
    write_desired(tmp_path / "inputs", [(T1, W[1], 50)])

    client = make_client(endpoint_url=mturk.endpoint_url)

    associated: list[bool] = []

    def malformed_read(params: dict[str, Any], **_: Any) -> None:
        if associated:  # a read-back, not the read before the update
            params["WorkerId"] = "not-a-worker"  # MTurk answers ValidationException

    # Every read-back is refused for good.
    client.meta.events.register(
        "after-call.mturk.AssociateQualificationWithWorker", lambda **_: associated.append(True)
    )
    client.meta.events.register("provide-client-params.mturk.GetQualificationScore", malformed_read)
    with pytest.raises(PushFailed, match="MTurk refused to read it back"):
        push_here(client, tmp_path, replan=PlanSettings(limits=GuardLimits(max_share=1)))
    data = tmp_path / "data"
    (row,) = warehouse_rows(data, "SELECT status, observed_status, error FROM push_audit")
    assert row[:2] == ("failed", None) and "ValidationException" in row[2]
    assert mturk_state(mturk, [(T1, W[1])]) == {(T1, W[1]): ("Granted", 50)}


def test_no_saved_requests_plan_names_the_requests_commands(
    local_mturk, mturk_env, tmp_path: Path
) -> None:
    # Before: "... then `qual-pipeline push`; or use `qual-pipeline push --replan`", both of
    # which push scores, not request decisions.
    world = World(types=[T1], qualifications=[(T1, W[0], "Granted", 1)])
    mturk, common = start_world(local_mturk, mturk_env, tmp_path, world)
    nothing = push_cli("push", *common, "--requests")
    assert nothing.exit_code == 1, nothing.output
    said = " ".join(nothing.output.split())
    assert "there is no saved requests plan to push" in said
    assert (
        "Run `qual-pipeline plan --requests` first and review it, then "
        "`qual-pipeline push --requests`; or use `qual-pipeline push --requests --replan`"
    ) in said, said
    assert sum(mturk.call_counts().values()) == 0
