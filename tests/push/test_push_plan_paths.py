"""The score plan's two paths: every input row its own candidate (no (type, worker) repeats, the
common case and the fast one) or the rows grouped per (type, worker, problem). They must give the
same plan wherever both apply, and a repeat anywhere must send the plan to the grouped path."""

from __future__ import annotations

from pathlib import Path

import pytest
from push_helpers import World, write_csv
from support.mturk import type_id, worker_id
from support.stores import write_warehouse

from qual_pipeline.push.plan import build_score_plan, read_sql

T1, T2, NOT_OWNED = type_id(21), type_id(22), type_id(98)
W = [worker_id(100 + i) for i in range(30)]
HEADER = ["qualification_type_id", "worker_id", "integer_value", "action", "reason"]

# Every action and every kind of bad input, no (type, worker) twice.
VARIED: list[tuple[object, ...]] = [
    (T1, W[0], 10, None, None),  # unchanged
    (T1, W[1], 11, "", None),  # update
    (T1, W[2], 12, None, None),  # revoked: a grant
    (T1, W[3], " 13 ", "Score", None),  # held without a value: update, value trimmed
    (T1, W[4], 14, None, None),  # not held: a grant
    (T2, W[0], "5.0", None, None),  # integral decimal text: unchanged
    (T2, W[1], None, "revoke", "  left the study "),  # revoke with a reason
    (T2, W[2], 3, "REVOKE", ""),  # revoke of a worker who does not hold it: unchanged
    (T1, W[5], None, None, None),  # value missing
    (T1, W[6], "3.5", None, None),  # not an integer
    (T1, W[7], "2147483648", None, None),  # out of range
    (T1, W[8], 4, "delete", None),  # unknown action
    (T1, "a123", 1, None, None),  # worker id pattern
    ("bad-type", W[9], 1, None, None),  # type id pattern
    (None, W[10], 1, None, None),  # type missing
    (T1, None, 1, None, None),  # worker missing
    (NOT_OWNED, W[11], 1, None, None),  # type not owned
    (T1, W[12], "nan", "revoke", "r"),  # a revocation ignores its value
]


@pytest.fixture
def con(tmp_path: Path):
    World(
        types=[T1, T2],
        qualifications=[
            (T1, W[0], "Granted", 10),
            (T1, W[1], "Granted", 10),
            (T1, W[2], "Revoked", 10),
            (T1, W[3], "Granted", None),
            (T2, W[0], "Granted", 5),
            (T2, W[1], "Granted", 7),
            (T1, W[12], "Granted", 1),
        ],
    ).warehouse(tmp_path / "data")
    con = write_warehouse(tmp_path / "data")
    yield con
    con.close()


def plan(con, inputs: Path, rows: list[tuple[object, ...]]) -> tuple[bool, list[tuple]]:
    """Plan `rows` (written as the CSV the user edits) with grants and revocations allowed;
    whether the plan took the grouped path, and its rows in order (type, worker, reason)."""
    write_csv(inputs / "desired_scores.csv", HEADER, rows)
    build_score_plan(con, inputs_dir=inputs, allow_grants=True, allow_revokes=True)
    (grouped,) = con.execute("SELECT getvariable('group_rows')").fetchone()
    return grouped, table_rows(con)


def table_rows(con) -> list[tuple]:
    return con.execute(
        "SELECT * FROM push_plan ORDER BY qualification_type_id, worker_id, reason"
    ).fetchall()


def test_both_paths_give_the_same_plan_for_the_same_rows(con, tmp_path: Path) -> None:
    """push_plan.sql run grouped and ungrouped on rows without a repeat: the same table."""
    grouped, fast = plan(con, tmp_path / "inputs", VARIED)
    assert not grouped  # no repeat: the plan took the ungrouped path
    assert len(fast) == len(VARIED)
    con.execute("SET VARIABLE group_rows = true")
    con.execute(f"CREATE OR REPLACE TEMP TABLE push_plan AS {read_sql('push_plan')}")
    assert table_rows(con) == fast
    actions = {(r[0], r[1]): r[10] for r in fast}
    assert actions[(T1, W[0])] == "unchanged"
    assert actions[(T1, W[1])] == "update"
    assert actions[(T1, W[2])] == "grant"
    assert actions[(T2, W[1])] == "revoke"
    assert actions[(T2, W[2])] == "unchanged"
    assert actions[(T1, W[12])] == "revoke"
    assert sum(a == "rejected" for a in actions.values()) == 9


@pytest.mark.parametrize(
    "repeat",
    [
        [(T1, W[20], 1, None, None), (T1, W[20], "1", None, None)],  # identical: merged
        [(T1, W[20], 1, None, None), (T1, W[20], 2, None, None)],  # different: rejected
        [(T1, W[20], 1, None, None), (T1, W[20], "x", None, None)],  # one valid, one not
        [(None, W[20], 1, None, None), (None, W[20], 1, None, None)],  # the same missing type
        [(T1, W[20], 1, None, None), (T1, W[20], None, "revoke", None)],  # score and revoke
    ],
)
def test_a_repeat_elsewhere_leaves_every_other_row_as_it_was(
    con, tmp_path: Path, repeat: list[tuple[object, ...]]
) -> None:
    """The same rows with a repeated worker after them (so every other row keeps its line):
    the plan is grouped, and every other key's row is the one the ungrouped plan gave."""
    _, alone = plan(con, tmp_path / "alone", VARIED)
    grouped, with_repeat = plan(con, tmp_path / "repeat", VARIED + repeat)
    assert grouped  # a (type, worker) repeats: the grouped path
    key = (repeat[0][0], repeat[0][1])
    assert [r for r in with_repeat if (r[0], r[1]) != key] == alone
    repeated = [r for r in with_repeat if (r[0], r[1]) == key]
    # the grouped path's own result for the repeat: one row per problem, counting both rows
    assert sum(r[7] for r in repeated) == 2
    assert len(repeated) == (2 if repeat[1][2] == "x" else 1)
    first_line = len(VARIED) + 2  # after the header and VARIED
    assert min(r[8] for r in repeated) == first_line


def test_a_repeat_is_merged_or_rejected_never_planned_twice(con, tmp_path: Path) -> None:
    """Fails if the repeat check misses a repeat: the ungrouped path would plan the worker twice
    (two grants, or a grant beside a rejection)."""
    rows = [
        (T1, W[20], 5, None, None),
        (T1, W[21], 6, None, None),
        (T1, W[20], "5", None, None),  # identical repeat of line 2
        (T1, W[21], 7, None, None),  # a different value for line 3's worker
    ]
    grouped, planned = plan(con, tmp_path / "inputs", rows)
    assert grouped
    by_key = {(r[0], r[1]): r for r in planned}
    assert len(planned) == len(by_key) == 2
    merged, conflict = by_key[(T1, W[20])], by_key[(T1, W[21])]
    assert (merged[10], merged[4], merged[7], merged[8]) == ("grant", 5, 2, 2)
    assert (conflict[10], conflict[7], conflict[8]) == ("rejected", 2, 3)
    assert conflict[11] == "the same worker appears 2 times with different values (6 and 7)"


def test_a_plan_without_repeats_takes_the_ungrouped_path_again(con, tmp_path: Path) -> None:
    """The path is chosen per plan: after a plan with a repeat, one without is ungrouped."""
    grouped, _ = plan(con, tmp_path / "a", [(T1, W[20], 5, None, None)] * 2)
    assert grouped
    grouped, rows = plan(con, tmp_path / "b", [(T1, W[20], 5, None, None)])
    assert not grouped
    assert [(r[10], r[7]) for r in rows] == [("grant", 1)]
