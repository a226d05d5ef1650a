"""A worker revoked twice with different reasons is listed twice with different values: the
reason is the message MTurk shows the worker, so the plan rejects the pair (it merged them and
sent the alphabetically first reason, neither the first line's nor a reviewed choice). The same
reason twice (as trimmed) is an identical repeat and merges."""

from __future__ import annotations

from pathlib import Path

import pytest
from push_helpers import World, write_csv
from support.mturk import type_id, worker_id
from support.stores import write_warehouse

from qual_pipeline.push.plan import build_score_plan

T1 = type_id(71)
W1, W2 = worker_id(1), worker_id(2)
HEADER = ["qualification_type_id", "worker_id", "integer_value", "action", "reason"]


@pytest.fixture
def con(tmp_path: Path):
    World(types=[T1], qualifications=[(T1, W1, "Granted", 1), (T1, W2, "Granted", 2)]).warehouse(
        tmp_path / "data"
    )
    con = write_warehouse(tmp_path / "data")
    yield con
    con.close()


def plan(con, tmp_path: Path, rows: list[tuple[object, ...]]) -> list[tuple]:
    write_csv(tmp_path / "inputs" / "desired_scores.csv", HEADER, rows)
    build_score_plan(con, inputs_dir=tmp_path / "inputs", allow_revokes=True)
    return con.execute(
        "SELECT worker_id, action, revoke_reason, input_rows, source_line, reason "
        "FROM push_plan ORDER BY worker_id"
    ).fetchall()


def test_two_revocations_with_different_reasons_are_rejected(con, tmp_path: Path) -> None:
    rows = plan(
        con,
        tmp_path,
        [
            (T1, W1, None, "revoke", "left the study"),
            (T1, W2, None, "revoke", " fraud"),
            (T1, W1, None, "revoke", "fraud"),
            (T1, W2, None, "revoke", "fraud "),
        ],
    )
    assert rows == [
        (
            W1,
            "rejected",
            None,
            2,
            2,
            "the same worker appears 2 times with different values "
            "(revoke: fraud and revoke: left the study)",
        ),
        (W2, "revoke", "fraud", 2, 3, None),  # the same reason, trimmed: merged
    ]


def test_a_revocation_with_and_without_a_reason_is_rejected(con, tmp_path: Path) -> None:
    rows = plan(con, tmp_path, [(T1, W1, None, "revoke", None), (T1, W1, None, "Revoke", "left")])
    assert [(r[0], r[1], r[3], r[4]) for r in rows] == [(W1, "rejected", 2, 2)]
    assert (
        rows[0][5]
        == "the same worker appears 2 times with different values (revoke and revoke: left)"
    )
