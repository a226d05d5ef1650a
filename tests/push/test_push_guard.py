"""The guard: mass changes, rejected rows and production refuse, naming the option to allow."""

from __future__ import annotations

from pathlib import Path

import pytest
from push_helpers import World, push_cli, write_csv
from support.mturk import type_id, worker_id

from qual_pipeline.push.guard import GuardLimits, PushRefused, check_push_allowed, guard_violations
from qual_pipeline.push.plan import PlanSummary, TypeChanges

T = type_id(71)


def summary(per_type: list[TypeChanges], rejected: int = 0) -> PlanSummary:
    changes = sum(t.changes for t in per_type)
    return PlanSummary(
        kind="scores",
        table="push_plan",
        counts={"update": changes, "grant": 0, "unchanged": 0, "rejected": rejected},
        rejected={"integer_value is missing": rejected} if rejected else {},
        per_type=tuple(per_type),
    )


def test_within_limits_passes() -> None:
    plan = summary([TypeChanges("T1", 500, 5000), TypeChanges("T2", 1, 10)])
    assert guard_violations(plan, GuardLimits()) == []
    check_push_allowed(
        plan, GuardLimits(), environment="sandbox", allow_production=False, skip_rejected=False
    )


def test_too_many_changes_names_type_count_share_and_the_flag() -> None:
    plan = summary([TypeChanges("T1", 501, 10_000), TypeChanges("T2", 3, 30)])
    (problem,) = guard_violations(plan, GuardLimits())
    assert problem.startswith("type T1: 501 changes = 5.0% of its workers (10,000 workers hold it)")
    assert "--max-changes 501" in problem
    assert "--max-share" not in problem
    assert guard_violations(plan, GuardLimits(max_changes=501)) == []


def test_too_large_a_share_names_the_share_flag() -> None:
    plan = summary([TypeChanges("T1", 35, 100)])
    (problem,) = guard_violations(plan, GuardLimits())
    assert "35.0%" in problem and "--max-share 0.35" in problem
    assert guard_violations(plan, GuardLimits(max_share=0.35)) == []
    # a type nobody holds yet counts as 100%
    (problem,) = guard_violations(summary([TypeChanges("T9", 2, 0)]), GuardLimits())
    assert "--max-share 1.00" in problem


def test_rejected_rows_stop_the_push_unless_skipped() -> None:
    plan = summary([TypeChanges("T1", 1, 100)], rejected=3)
    with pytest.raises(PushRefused, match=r"3 row.*integer_value is missing.*--skip-rejected"):
        check_push_allowed(
            plan, GuardLimits(), environment="sandbox", allow_production=False, skip_rejected=False
        )
    check_push_allowed(
        plan, GuardLimits(), environment="sandbox", allow_production=False, skip_rejected=True
    )


def test_production_needs_an_explicit_opt_in() -> None:
    plan = summary([TypeChanges("T1", 1, 100)])
    with pytest.raises(PushRefused, match=r"production.*--allow-production"):
        check_push_allowed(
            plan,
            GuardLimits(),
            environment="production",
            allow_production=False,
            skip_rejected=False,
        )
    check_push_allowed(
        plan, GuardLimits(), environment="production", allow_production=True, skip_rejected=False
    )


def test_a_refused_share_never_reads_as_the_limit(tmp_path: Path) -> None:
    # 10 revocations of 499 holders are 2.004%, over the 2% limit: the plan said "2.0%" next to
    # "2%", a refusal that read as equal to its limit.
    workers = [worker_id(i) for i in range(499)]
    World(types=[T], qualifications=[(T, w, "Granted", 1) for w in workers]).warehouse(
        tmp_path / "data"
    )
    write_csv(
        tmp_path / "inputs" / "desired_scores.csv",
        ["qualification_type_id", "worker_id", "integer_value", "action"],
        [(T, w, "", "revoke") for w in workers[:10]],
    )
    common = ["--data-dir", str(tmp_path / "data"), "--inputs-dir", str(tmp_path / "inputs")]
    result = push_cli("plan", *common, "--allow-revokes", "--max-share", "0.02")
    assert result.exit_code == 1, result.output
    assert (
        f"type {T}: 10 changes = 2.004% of its workers (499 workers hold it); the limit is 500 "
        "changes and 2%. If this is intended, pass --max-share 0.03"
    ) in result.output
    assert (
        f"type {T}: 10 revocation(s) = 2.004% of its workers (499 hold it); the limit for "
        "revocations is 50 and 2%"
    ) in result.output
    assert "2.0%" not in result.output
    table = result.output[result.output.index("changes per qualification type") :]
    assert "2.004%" in table.splitlines()[4]  # the guard table's row of the type


def test_a_limit_is_shown_with_its_every_digit() -> None:
    plan = summary([TypeChanges("T1", 30, 1000)])  # 3.0%
    (problem,) = guard_violations(plan, GuardLimits(max_share=0.025))
    assert "= 3.0% of its workers" in problem and "the limit is 500 changes and 2.5%" in problem
    # a tiny limit was shown as "1e-07%"
    (problem,) = guard_violations(plan, GuardLimits(max_share=1e-9))
    assert "the limit is 500 changes and 0.0000001%" in problem
    (problem,) = guard_violations(plan, GuardLimits(max_share=1e-12))
    assert "the limit is 500 changes and 0.0000000001%" in problem


def test_the_share_the_refusal_names_is_one_plan_takes_when_grants_outnumber_holders(
    tmp_path: Path,
) -> None:
    # Grants to new workers count as changes: 1 update and 2 grants against 1 holder are 300%,
    # and the refusal says to pass --max-share 3.00. The settings' range once capped it at 1,
    # so the fix the refusal named was refused as bad usage (exit 2).
    holder, *new = [worker_id(i) for i in range(3)]
    World(types=[T], qualifications=[(T, holder, "Granted", 1)]).warehouse(tmp_path / "data")
    write_csv(
        tmp_path / "inputs" / "desired_scores.csv",
        ["qualification_type_id", "worker_id", "integer_value"],
        [(T, w, "5") for w in (holder, *new)],
    )
    common = ["--data-dir", str(tmp_path / "data"), "--inputs-dir", str(tmp_path / "inputs")]
    refused = push_cli("plan", *common, "--allow-grants")
    assert refused.exit_code == 1, refused.output
    assert "3 changes = 300.0% of its workers" in refused.output
    assert "pass --max-share 3.00" in refused.output
    planned = push_cli("plan", *common, "--allow-grants", "--max-share", "3.00")
    assert planned.exit_code == 0, planned.output
    assert "A push would send 3 change(s)." in planned.output


def test_the_refusal_writes_its_numbers_as_the_plan_table_does(tmp_path: Path) -> None:
    """The refusal said `(1341 workers hold it)` under a table that says 1,341: every count in
    it is written with thousands separators, as the tables write them; the options it names keep
    the form they are typed in (`--max-changes 1200`)."""
    workers = [worker_id(i) for i in range(1341)]
    World(types=[T], qualifications=[(T, w, "Granted", 1) for w in workers]).warehouse(
        tmp_path / "data"
    )
    write_csv(
        tmp_path / "inputs" / "desired_scores.csv",
        ["qualification_type_id", "worker_id", "integer_value", "action"],
        [(T, w, "5", "") for w in workers[:1140]]
        + [(T, w, "", "revoke") for w in workers[1140:1200]]
        + [(T, f"a{i}", "5", "") for i in range(1001)],  # not a worker id: rejected
    )
    common = ["--data-dir", str(tmp_path / "data"), "--inputs-dir", str(tmp_path / "inputs")]
    result = push_cli("plan", *common, "--allow-revokes", "--max-revokes", "60")
    assert result.exit_code == 1, result.output
    table = result.output[result.output.index("changes per qualification type") :]
    assert "│   1,200 │         1,140 │      60 │   1,341 │" in table.splitlines()[4]
    assert (
        f"type {T}: 1,200 changes = 89.5% of its workers (1,341 workers hold it); the limit is "
        "500 changes and 10%. If this is intended, pass --max-changes 1200 --max-share 0.90"
    ) in result.output
    assert "- 1,001 row(s) of the plan are rejected (1,001 x worker_id must be" in result.output

    revokes = push_cli("plan", *common, "--allow-revokes", "--max-changes", "1200")
    assert (
        f"type {T}: 60 revocation(s) = 4.5% of its workers (1,341 hold it); the limit for "
        "revocations is 50 and 2%"
    ) in revokes.output
    assert "--max-revokes 60 --max-revoke-share 0.05" in revokes.output
    limits = GuardLimits(max_changes=1000, max_revokes=1000)
    (problem,) = guard_violations(summary([TypeChanges("T1", 1001, 1)]), limits)
    assert problem.startswith("type T1: 1,001 changes = 100100.0% of its workers (1 worker holds")
    assert "the limit is 1,000 changes" in problem and "--max-changes 1001" in problem
