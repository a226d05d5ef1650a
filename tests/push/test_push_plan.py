"""The planner: every action and every kind of bad input, on a warehouse built with its own DDL."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from push_helpers import World, write_decisions, write_desired
from support.mturk import type_id, worker_id
from support.stores import write_warehouse

from qual_pipeline.push.plan import (
    PlanError,
    build_request_plan,
    build_score_plan,
    inputs_fingerprint,
    plan_rows,
    prepare_model,
)
from qual_pipeline.warehouse.sql_files import SQL_DIR

T1, T2, NOT_OWNED = type_id(11), type_id(12), type_id(99)
W = [worker_id(i) for i in range(20)]


@pytest.fixture
def world_con(tmp_path: Path):
    world = World(
        types=[T1, T2],
        qualifications=[
            (T1, W[0], "Granted", 10),
            (T1, W[1], "Granted", 10),
            (T1, W[2], "Revoked", 10),
            (T1, W[3], "Granted", None),
            (T2, W[0], "Granted", 5),
        ],
        requests=[("REQ1", T1, W[10]), ("REQ2", T1, W[11]), ("REQ3", T2, W[12])],
    )
    world.warehouse(tmp_path / "data")
    con = write_warehouse(tmp_path / "data")
    yield con
    con.close()


def rows_by_worker(con, kind="scores"):
    return {
        (r["qualification_type_id"], r["worker_id"]): r
        for batch in plan_rows(con, kind)
        for r in batch
    }


def test_score_plan_every_action_and_every_bad_input(world_con, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    write_desired(
        inputs,
        [
            (T1, W[0], 10),  # unchanged
            (T1, W[1], 11),  # update
            (T1, W[2], 12),  # revoked: rejected without --allow-grants
            (T1, W[3], 13),  # held without a value: update
            (T1, W[4], 14),  # not held: rejected without --allow-grants
            (T2, W[0], "5.0"),  # integral decimal text: unchanged
            (T1, W[5], None),  # null
            (T1, W[6], "3.5"),  # not an integer
            (T1, W[7], "abc"),  # not a number
            (T1, W[8], "2147483648"),  # out of range
            (T1, W[9], "-2147483649"),  # out of range
            (T1, "a123", 1),  # worker id pattern
            (T1, "A", 1),  # worker id too short
            ("bad-type", W[0], 1),  # type id pattern
            ("X" * 65, W[0], 1),  # type id too long
            (None, W[0], 1),  # missing type
            (T1, None, 1),  # missing worker
            (NOT_OWNED, W[0], 1),  # type not owned
            (T1, W[10], 1),  # conflicting duplicate
            (T1, W[10], 2),
            (T1, W[11], 7),  # identical duplicate: one change
            (T1, W[11], "7"),
            (T1, W[12], "nan"),  # not finite
        ],
    )
    summary = build_score_plan(world_con, inputs_dir=inputs)
    rows = rows_by_worker(world_con)
    assert rows[(T1, W[0])]["action"] == "unchanged"
    assert rows[(T2, W[0])]["action"] == "unchanged"
    assert (rows[(T1, W[1])]["action"], rows[(T1, W[1])]["old_value"]) == ("update", 10)
    assert rows[(T1, W[1])]["new_value"] == 11
    assert rows[(T1, W[3])]["action"] == "update"
    assert "revoked" in rows[(T1, W[2])]["reason"]
    assert "--allow-grants" in rows[(T1, W[4])]["reason"]
    expected_reasons = {
        (T1, W[5]): "integer_value is missing",
        (T1, W[6]): "not an integer",
        (T1, W[7]): "not an integer",
        (T1, W[8]): "32-bit range",
        (T1, W[9]): "32-bit range",
        (T1, "a123"): "worker_id must be",
        (T1, "A"): "worker_id must be",
        ("bad-type", W[0]): "qualification_type_id must be",
        ("X" * 65, W[0]): "qualification_type_id must be",
        (None, W[0]): "qualification_type_id is missing",
        (T1, None): "worker_id is missing",
        (NOT_OWNED, W[0]): "not one of your qualification types",
        (T1, W[10]): "appears 2 times with different values",
        (T1, W[12]): "not an integer",
    }
    for key, reason in expected_reasons.items():
        assert rows[key]["action"] == "rejected", key
        assert reason in rows[key]["reason"], (key, rows[key]["reason"])
    assert rows[(T1, W[11])]["action"] == "rejected"  # not held, no grants
    assert summary.counts == {
        "update": 2,
        "grant": 0,
        "revoke": 0,
        "unchanged": 2,
        "rejected": 17,
    }
    assert sum(summary.rejected.values()) == 17
    assert [(t.qualification_type_id, t.changes, t.workers) for t in summary.per_type] == [
        (T1, 2, 3)
    ]


def test_grants_only_when_allowed(world_con, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    write_desired(inputs, [(T1, W[2], 12), (T1, W[4], 14), (T2, W[1], 1)])
    summary = build_score_plan(world_con, inputs_dir=inputs, allow_grants=True)
    rows = rows_by_worker(world_con)
    assert {k: r["action"] for k, r in rows.items()} == {
        (T1, W[2]): "grant",
        (T1, W[4]): "grant",
        (T2, W[1]): "grant",
    }
    assert rows[(T1, W[2])]["current_status"] == "Revoked"
    assert summary.changes == 3
    assert {t.qualification_type_id: t.share for t in summary.per_type} == {T1: 2 / 3, T2: 1.0}


def test_typed_model_values_are_checked_not_trusted(world_con, tmp_path: Path) -> None:
    """A model returning DOUBLE or BIGINT values gets the same checks as text from a CSV."""
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    (sql_dir / "desired_scores.sql").write_text(
        f"SELECT * FROM (VALUES ('{T1}', '{W[0]}', 20.0::DOUBLE), ('{T1}', '{W[1]}', 2.5), "
        f"('{T1}', '{W[3]}', 1e12)) AS t(qualification_type_id, worker_id, integer_value)"
    )
    build_score_plan(world_con, inputs_dir=tmp_path, sql_dir=sql_dir)
    rows = rows_by_worker(world_con)
    assert (rows[(T1, W[0])]["action"], rows[(T1, W[0])]["new_value"]) == ("update", 20)
    assert rows[(T1, W[1])]["reason"] == "integer_value is not an integer"
    assert "32-bit range" in rows[(T1, W[3])]["reason"]


def test_missing_input_file_names_the_file(world_con, tmp_path: Path) -> None:
    with pytest.raises(PlanError) as e:
        build_score_plan(world_con, inputs_dir=tmp_path / "nowhere")
    message = str(e.value)
    assert str(tmp_path / "nowhere" / "desired_scores.csv") in message
    assert "--inputs-dir" in message


def test_model_without_the_required_columns(world_con, tmp_path: Path) -> None:
    write_csv_path = tmp_path / "inputs" / "desired_scores.csv"
    write_csv_path.parent.mkdir()
    write_csv_path.write_text("type,worker,score\nX,A1,1\n")
    with pytest.raises(PlanError) as e:
        build_score_plan(world_con, inputs_dir=tmp_path / "inputs")
    assert str(e.value).startswith(f"{write_csv_path}: the header (line 1) must name the columns")
    assert "missing: qualification_type_id, worker_id, integer_value" in str(e.value)
    assert "The header is: type, worker, score" in str(e.value)
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    (sql_dir / "desired_scores.sql").write_text("SELECT 1 AS worker_id")
    with pytest.raises(PlanError, match=r"must return the columns.*missing: qualification_type_id"):
        build_score_plan(world_con, inputs_dir=tmp_path, sql_dir=sql_dir)


def test_plan_refuses_a_warehouse_holding_a_worker_twice(world_con, tmp_path: Path) -> None:
    world_con.execute(
        "INSERT INTO worker_qualifications (qualification_type_id, worker_id, status, "
        "integer_value, extracted_at) VALUES (?, ?, 'Granted', 3, now())",
        [T1, W[1]],
    )
    write_desired(tmp_path / "inputs", [(T1, W[1], 50)])
    with pytest.raises(PlanError, match="holds a worker twice"):
        build_score_plan(world_con, inputs_dir=tmp_path / "inputs")


def test_request_plan_actions_and_bad_input(world_con, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    write_decisions(
        inputs,
        [
            ("REQ1", "accept", 80, None),
            ("REQ2", "Reject", None, "Please finish the practice HIT first."),
            ("REQ3", "accept", None, None),  # value defaults to 1
            ("REQ404", "accept", 1, None),  # not pending
            ("REQ1", "reject", None, None),  # conflicts with the accept above
            (None, "accept", 1, None),
            ("REQ5", "maybe", 1, None),
            ("REQ6", "accept", "x", None),
        ],
    )
    summary = build_request_plan(world_con, inputs_dir=inputs)
    rows = [r for batch in plan_rows(world_con, "requests") for r in batch]
    by_id = {r["qualification_request_id"]: r for r in rows}
    assert by_id["REQ1"]["action"] == "rejected"
    assert "different decisions" in by_id["REQ1"]["reason"]
    assert by_id["REQ2"]["action"] == "reject"
    assert by_id["REQ2"]["reject_reason"] == "Please finish the practice HIT first."
    assert (by_id["REQ3"]["action"], by_id["REQ3"]["new_value"]) == ("accept", 1)
    assert by_id["REQ3"]["worker_id"] == W[12]
    assert "not a pending request" in by_id["REQ404"]["reason"]
    assert by_id[None]["reason"] == "qualification_request_id is missing"
    assert by_id["REQ5"]["reason"] == "decision must be accept or reject"
    assert by_id["REQ6"]["reason"] == "integer_value is not an integer"
    assert summary.counts == {"accept": 1, "reject": 1, "unchanged": 0, "rejected": 5}


def test_request_decided_by_an_earlier_push_is_unchanged(world_con, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    write_decisions(inputs, [("REQ1", "accept", 80, None)])
    assert build_request_plan(world_con, inputs_dir=inputs).changes == 1  # push_audit is empty
    world_con.execute(
        "INSERT INTO push_audit (run_id, plan_id, seq, attempt, kind, qualification_type_id, "
        "worker_id, qualification_request_id, action, status, attempted_at) VALUES "
        "('run1', 'plan1', 0, 1, 'requests', ?, ?, 'REQ1', 'accept', 'verified', now())",
        [T1, W[10]],
    )
    summary = build_request_plan(world_con, inputs_dir=inputs)
    assert summary.counts["unchanged"] == 1
    assert summary.changes == 0


def test_an_accept_never_lowers_a_held_score_by_surprise(world_con, tmp_path: Path) -> None:
    """Accepting a request of a worker who holds the type overwrites the score: without an
    explicit value that would set 1, so such a row is rejected with both fixes; with one, it is
    an accept that changes a held score and the guard counts it as such."""
    world_con.execute(
        "INSERT INTO qualification_requests (qualification_request_id, qualification_type_id, "
        "worker_id, extracted_at) VALUES ('REQHOLDER', ?, ?, now()), ('REQREVOKED', ?, ?, now()), "
        "('REQSAME', ?, ?, now())",
        [T1, W[0], T1, W[2], T1, W[3]],
    )
    world_con.execute(
        "UPDATE worker_qualifications SET integer_value = 1 WHERE worker_id = ? "
        "AND qualification_type_id = ?",
        [W[3], T1],
    )
    inputs = tmp_path / "inputs"
    write_decisions(
        inputs,
        [
            ("REQHOLDER", "accept", None, None),  # holds 10: would become 1
            ("REQREVOKED", "accept", None, None),  # revoked: a grant
            ("REQSAME", "accept", None, None),  # holds 1 already: nothing changes
        ],
    )
    summary = build_request_plan(world_con, inputs_dir=inputs)
    by_id = {r["qualification_request_id"]: r for b in plan_rows(world_con, "requests") for r in b}
    holder = by_id["REQHOLDER"]
    assert holder["action"] == "rejected"
    assert "already holds this qualification with value 10" in holder["reason"]
    assert "would set it to 1" in holder["reason"]
    assert "give integer_value (e.g. 10 to keep it) or decide reject" in holder["reason"]
    revoked = by_id["REQREVOKED"]
    assert (revoked["action"], revoked["effect"], revoked["current_status"]) == (
        "accept",
        "grant",
        "Revoked",
    )
    assert (by_id["REQSAME"]["action"], by_id["REQSAME"]["effect"]) == ("accept", "none")
    assert [(t.changes, t.score_changes) for t in summary.per_type] == [(2, 0)]

    write_decisions(inputs, [("REQHOLDER", "accept", 95, None)])
    summary = build_request_plan(world_con, inputs_dir=inputs)
    (row,) = [r for b in plan_rows(world_con, "requests") for r in b]
    assert (row["action"], row["effect"], row["old_value"], row["new_value"]) == (
        "accept",
        "update",
        10,
        95,
    )
    assert [(t.qualification_type_id, t.changes, t.score_changes) for t in summary.per_type] == [
        (T1, 1, 1)
    ]


def test_the_inputs_fingerprint_ignores_order_and_sees_any_edit(world_con, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"

    def fingerprint(rows: list[tuple]) -> str:
        write_desired(inputs, rows)
        prepare_model(world_con, "scores", inputs_dir=inputs)
        return inputs_fingerprint(world_con, "scores")

    base = [(T1, W[0], 10), (T1, W[1], 11), (T2, W[0], 5)]
    first = fingerprint(base)
    assert first.startswith("3-")
    assert fingerprint(list(reversed(base))) == first
    assert fingerprint([(T1, W[0], 10), (T1, W[1], 12), (T2, W[0], 5)]) != first
    assert fingerprint([*base, (T1, W[1], 11)]) != first  # a repeated row counts
    assert fingerprint(base) == first
