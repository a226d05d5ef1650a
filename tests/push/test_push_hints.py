"""What `plan` and `push` say when there is nothing to do, and the commands they point to: each
claim true of what happened, each hint the command of the kind at hand (`--requests` for request
decisions), through the CLI against a local MTurk over real HTTP."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from push_helpers import (
    World,
    push_cli,
    saved_plan_id,
    start_world,
    warehouse_rows,
    write_csv,
    write_decisions,
)
from support.mturk import type_id, worker_id

from qual_pipeline.local_mturk.server import FaultConfig

T1 = type_id(31)
W = [worker_id(i) for i in range(12)]
REQUESTS = [(f"REQ{i}", T1, W[i]) for i in (8, 9)]


def hint_world() -> World:
    return World(
        types=[T1],
        qualifications=[(T1, W[i], "Granted", 10 + i) for i in range(8)],
        requests=REQUESTS,
    )


@pytest.fixture
def world(local_mturk, mturk_env, tmp_path: Path):
    def start(faults: FaultConfig | None = None):
        return start_world(local_mturk, mturk_env, tmp_path, hint_world(), faults)

    return start


def test_a_plan_without_changes_says_why_in_what_it_read(world, tmp_path: Path) -> None:
    """No row, every row rejected, every row already held: three reasons, each told as such.
    Before, all three read 'MTurk already holds every valid desired value', of a file with no
    row and of one whose every row was rejected too."""
    _, common = world()
    header = ["qualification_type_id", "worker_id", "integer_value"]
    desired = tmp_path / "inputs" / "desired_scores.csv"

    write_csv(desired, header, [])
    empty = push_cli("plan", *common)
    assert empty.exit_code == 0, empty.output
    assert "Nothing to push: the inputs named above hold no row." in empty.output
    assert "already" not in empty.output

    write_csv(desired, header, [(T1, W[0], "85.5"), (T1, "a-lower", 3)])
    rejected = push_cli("plan", *common, "--skip-rejected")
    assert rejected.exit_code == 0, rejected.output
    assert "Nothing to push: every row is rejected." in rejected.output
    assert "already" not in rejected.output

    write_csv(desired, header, [(T1, W[0], 10), (T1, W[1], "11.0")])
    held = push_cli("plan", *common)
    assert held.exit_code == 0, held.output
    assert (
        "Nothing to push: every valid row is already held on MTurk, as the warehouse shows it."
        in held.output
    )


def test_a_resumed_request_push_points_to_plan_requests(
    world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After finishing an interrupted request push, the next step named is `plan --requests`.
    Before, it was `qual-pipeline plan`, which plans scores."""
    mturk, common = world()
    write_decisions(tmp_path / "inputs", [(r, "accept", 5, "") for r, _, _ in REQUESTS[:1]])
    planned = push_cli("plan", "--requests", *common, "--max-share", "1")
    assert planned.exit_code == 0, planned.output
    secret = os.environ["AWS_SECRET_ACCESS_KEY"]
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    refused = push_cli("push", "--requests", *common)  # opens the plan, sends nothing
    assert refused.exit_code == 2, refused.output
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    resumed = push_cli("push", "--requests", *common)
    assert resumed.exit_code == 0, resumed.output
    assert "resumed plan" in resumed.output
    assert (
        "No saved plan left to push; run `qual-pipeline plan --requests` to plan new changes."
        in resumed.output
    )
    assert mturk.call_counts()["AcceptQualificationRequest"] == 1


def test_the_retries_count_names_dropped_connections(world, tmp_path: Path) -> None:
    """The retries are broken down by cause, dropped connections included: before, a push under
    dropped connections said `(15 retries: 4 throttled, 0 faults)`, the rest unaccounted for."""
    _, common = world(FaultConfig(reset_rate=0.4, seed=5))
    write_csv(
        tmp_path / "inputs" / "desired_scores.csv",
        ["qualification_type_id", "worker_id", "integer_value"],
        [(T1, W[i], 50 + i) for i in range(8)],
    )
    result = push_cli("push", *common, "--replan", "--max-share", "1", "--max-attempts", "30")
    assert result.exit_code == 0, result.output
    counts = re.search(
        r"\((\d+) retries: (\d+) throttled, (\d+) faults, (\d+) connection errors\)",
        result.output,
    )
    assert counts is not None, result.output
    retries, throttled, faults, dropped = map(int, counts.groups())
    assert dropped > 0 and (throttled, faults) == (0, 0) and retries == dropped


def test_hints_name_the_kind(world, tmp_path: Path) -> None:
    mturk, common = world()
    write_decisions(tmp_path / "inputs", [(r, "accept", 5, "") for r, _, _ in REQUESTS[:1]])
    first = saved_plan_id(push_cli("plan", "--requests", *common, "--max-share", "1").output)
    write_decisions(tmp_path / "inputs", [(r, "reject", "", "no") for r, _, _ in REQUESTS])
    second = saved_plan_id(push_cli("plan", "--requests", *common, "--max-share", "1").output)

    superseded = push_cli("push", "--requests", *common, "--plan", first)
    assert superseded.exit_code == 1, superseded.output
    assert (
        "Push the newest plan (`qual-pipeline push --requests`), or run "
        "`qual-pipeline plan --requests` again" in superseded.output
    )
    pushed = push_cli("push", "--requests", *common)
    assert pushed.exit_code == 0, pushed.output
    again = push_cli("push", "--requests", *common, "--plan", second)
    assert again.exit_code == 1, again.output
    assert "Run `qual-pipeline plan --requests` to plan the next changes" in again.output
    blank = push_cli("push", "--requests", *common, "--plan", "")
    assert blank.exit_code == 1, blank.output
    assert "there is no plan '' in" in blank.output
    assert "Run `qual-pipeline plan --requests` and push the plan id it prints" in blank.output
    assert mturk.call_counts()["RejectQualificationRequest"] == 2


def test_a_change_not_sent_says_so_once(world, tmp_path: Path) -> None:
    """MTurk throttling the read before each update: the change is not sent, and its attempt
    says why in one clause (before: 'MTurk failed before it (...) before its call')."""
    mturk, common = world(FaultConfig(throttle_rate=1.0))
    write_csv(
        tmp_path / "inputs" / "desired_scores.csv",
        ["qualification_type_id", "worker_id", "integer_value"],
        [(T1, W[0], 77)],
    )
    result = push_cli(
        "push",
        *common,
        "--replan",
        "--max-share",
        "1",
        "--max-attempts",
        "2",
        "--retry-mode",
        "standard",
    )
    assert result.exit_code == 1, result.output
    mturk.set_faults(FaultConfig())
    resumed = push_cli("push", *common)
    assert resumed.exit_code == 0, resumed.output
    (error,) = warehouse_rows(
        tmp_path / "data", "SELECT error FROM push_audit WHERE status = 'interrupted'"
    )
    assert error == (
        "not sent: MTurk failed (ThrottlingException: Rate exceeded, after 2 attempt(s)) before "
        "its call; the next push sends it",
    )
    assert mturk.call_counts()["AssociateQualificationWithWorker"] == 1  # the resume's


def test_push_help_says_what_requests_does_for_a_push() -> None:
    """`push --requests` pushes a saved plan of decisions; its help said 'Plan decisions ...',
    the wording of `plan --requests`."""
    shown = " ".join(push_cli("push", "--help").output.split())
    assert (
        "--requests Push a plan of decisions on pending qualification requests "
        "(AcceptQualificationRequest / RejectQualificationRequest) instead of a scores plan: the "
        "newest saved one (`qual-pipeline plan --requests`), --plan ID, or with --replan one "
        "planned from sql/grant_decisions.sql." in shown
    )
