"""The change history: scores changed, a worker revoked, re-granted and gone, across refreshes."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from support.stores import stores_of, warehouse_rows, write_warehouse
from warehouse_lake import (
    OTHER,
    SKILL,
    T1,
    T2,
    T3,
    T4,
    load_three_refreshes,
    worker,
    write_worker_qualifications,
)

from qual_pipeline.warehouse import (
    load_warehouse,
    record_pushed_changes,
)

HISTORY = (
    "SELECT qualification_type_id, worker_id, status, integer_value, country, subdivision, "
    "valid_from, valid_to, change, end_reason, source FROM worker_qualification_history "
    "ORDER BY ALL"
)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def three_refreshes(data_dir: Path) -> None:
    first, second, third = load_three_refreshes(data_dir)
    assert first.changes == {"new": 5}
    assert second.changes == {"score": 1, "status": 1}
    assert third.changes == {"status": 1, "gone": 1, "locale": 1, "new": 1}


def test_three_refreshes_produce_exactly_the_expected_history(data_dir: Path) -> None:
    three_refreshes(data_dir)
    s, o = SKILL, OTHER
    assert warehouse_rows(data_dir, HISTORY) == sorted(
        [
            (s, "A", "Granted", 10, None, None, T1, T2, "new", "superseded", "refresh"),
            (s, "A", "Granted", 15, None, None, T2, None, "score", None, "refresh"),
            (s, "B", "Granted", 20, None, None, T1, T2, "new", "superseded", "refresh"),
            (s, "B", "Revoked", 20, None, None, T2, T3, "status", "superseded", "refresh"),
            (s, "B", "Granted", 20, None, None, T3, None, "status", None, "refresh"),
            (s, "C", "Granted", 30, None, None, T1, T3, "new", "gone", "refresh"),
            (s, "D", "Granted", 40, None, None, T1, T3, "new", "superseded", "refresh"),
            (s, "D", "Granted", 40, "US", "US-WA", T3, None, "locale", None, "refresh"),
            (s, "E", "Granted", 50, None, None, T3, None, "new", None, "refresh"),
            (o, "X", "Granted", 1, None, None, T1, None, "new", None, "refresh"),
        ],
        key=lambda r: tuple((v is None, v) for v in r),
    )
    current = warehouse_rows(
        data_dir,
        "SELECT worker_id, status, integer_value, extracted_at FROM worker_qualifications "
        "ORDER BY worker_id",
    )
    assert current == [
        ("A", "Granted", 15, T3),
        ("B", "Granted", 20, T3),
        ("D", "Granted", 40, T3),
        ("E", "Granted", 50, T3),
        ("X", "Granted", 1, T1),
    ]


def test_a_worker_who_comes_back_opens_a_returned_version(data_dir: Path) -> None:
    three_refreshes(data_dir)
    write_worker_qualifications(
        data_dir,
        SKILL,
        [worker("A", 15), worker("B", 20), worker("C", 31), worker("D", 40), worker("E", 50)],
        T4,
    )
    assert load_warehouse(stores_of(data_dir)).changes == {"returned": 1, "locale": 1}
    assert warehouse_rows(
        data_dir,
        "SELECT integer_value, valid_from, valid_to, change, end_reason "
        "FROM worker_qualification_history WHERE worker_id = 'C' ORDER BY valid_from",
    ) == [(30, T1, T3, "new", "gone"), (31, T4, None, "returned", None)]


def all_tables(data_dir: Path) -> dict[str, list[tuple]]:
    names = ["worker_qualifications", "worker_qualification_history", "extract_runs"]
    return {name: warehouse_rows(data_dir, f"SELECT * FROM {name} ORDER BY ALL") for name in names}


def test_loading_the_same_snapshots_again_changes_nothing(data_dir: Path) -> None:
    three_refreshes(data_dir)
    before = all_tables(data_dir)
    again = load_warehouse(stores_of(data_dir))
    assert again.up_to_date and again.changes == {}
    assert all_tables(data_dir) == before


def test_replaying_a_loaded_snapshot_adds_no_history(data_dir: Path) -> None:
    """Even with the record of loaded snapshots gone, the merge itself is idempotent."""
    three_refreshes(data_dir)
    before = all_tables(data_dir)
    con = write_warehouse(data_dir)
    con.execute("DELETE FROM extract_runs WHERE lake_table = 'worker_qualifications'")
    con.close()
    replay = load_warehouse(stores_of(data_dir))
    assert [s.snapshot for s in replay.loaded if s.lake_table == "worker_qualifications"]
    assert replay.changes == {}
    after = all_tables(data_dir)
    assert after["worker_qualification_history"] == before["worker_qualification_history"]
    assert after["worker_qualifications"] == before["worker_qualifications"]


def test_duplicate_rows_in_a_snapshot_keep_one_version_per_worker(data_dir: Path) -> None:
    write_worker_qualifications(
        data_dir,
        SKILL,
        [
            worker("A", 12, grant_time=T1 - timedelta(days=1)),  # the latest grant wins
            worker("A", 10, grant_time=T1 - timedelta(days=2)),
            worker("B", 1),
        ],
        T1,
    )
    load_warehouse(stores_of(data_dir))
    assert warehouse_rows(data_dir, "SELECT count(*) FROM worker_qualifications") == [(3,)]
    assert warehouse_rows(
        data_dir,
        "SELECT worker_id, integer_value FROM worker_qualification_history ORDER BY worker_id",
    ) == [("A", 12), ("B", 1)]


def pushed(con: duckdb.DuckDBPyConnection, changes: list[tuple], at: datetime) -> int:
    return record_pushed_changes(con, changes, at)


def test_pushed_changes_show_at_once_and_the_next_refresh_adds_nothing(data_dir: Path) -> None:
    write_worker_qualifications(
        data_dir, SKILL, [worker("A", 10, country="DE"), worker("B", 20)], T1
    )
    load_warehouse(stores_of(data_dir))
    pushed_at = T1 + timedelta(hours=2)
    con = write_warehouse(data_dir)
    added = pushed(
        con,
        [(SKILL, "A", 90, "Granted"), (SKILL, "B", 20, "Revoked"), (SKILL, "N", 5, "Granted")],
        pushed_at,
    )
    assert added == 3
    # Pushing the same value again adds no version; it only moves the last observation.
    again_at = pushed_at + timedelta(minutes=1)
    assert pushed(con, [(SKILL, "A", 90, "Granted")], again_at) == 0
    con.close()
    assert warehouse_rows(
        data_dir,
        "SELECT worker_id, status, integer_value, country, extracted_at "
        "FROM worker_qualifications ORDER BY worker_id",
    ) == [
        ("A", "Granted", 90, "DE", again_at),
        ("B", "Revoked", 20, None, pushed_at),
        ("N", "Granted", 5, None, pushed_at),
    ]
    assert warehouse_rows(
        data_dir,
        "SELECT worker_id, integer_value, status, valid_from, change, source "
        "FROM worker_qualification_history WHERE valid_to IS NULL ORDER BY worker_id",
    ) == [
        ("A", 90, "Granted", pushed_at, "score", "push"),
        ("B", 20, "Revoked", pushed_at, "status", "push"),
        ("N", 5, "Granted", pushed_at, "new", "push"),
    ]
    history_before = warehouse_rows(data_dir, HISTORY)

    write_worker_qualifications(
        data_dir,
        SKILL,
        [worker("A", 90, country="DE"), worker("B", 20, "Revoked"), worker("N", 5)],
        T2,
    )
    refresh = load_warehouse(stores_of(data_dir))
    assert refresh.changes == {}
    assert warehouse_rows(data_dir, HISTORY) == history_before
    assert warehouse_rows(
        data_dir, "SELECT worker_id, extracted_at FROM worker_qualifications ORDER BY worker_id"
    ) == [("A", T2), ("B", T2), ("N", T2)]


def test_a_snapshot_taken_before_a_push_does_not_undo_it(data_dir: Path) -> None:
    write_worker_qualifications(data_dir, SKILL, [worker("A", 10)], T1)
    load_warehouse(stores_of(data_dir))
    pushed_at = T2
    con = write_warehouse(data_dir)
    pushed(con, [(SKILL, "A", 90, "Granted"), (SKILL, "N", 5, "Granted")], pushed_at)
    con.close()
    # An extraction that started before the push finishes after it, with the old value.
    write_worker_qualifications(data_dir, SKILL, [worker("A", 10)], pushed_at - timedelta(hours=1))
    assert load_warehouse(stores_of(data_dir)).changes == {}
    assert warehouse_rows(
        data_dir,
        "SELECT worker_id, integer_value FROM worker_qualifications ORDER BY worker_id",
    ) == [("A", 90), ("N", 5)]
    assert warehouse_rows(
        data_dir,
        "SELECT worker_id, integer_value FROM worker_qualification_history "
        "WHERE valid_to IS NULL ORDER BY worker_id",
    ) == [("A", 90), ("N", 5)]


def test_swapped_and_nulled_fields_are_changes(data_dir: Path) -> None:
    """Values swapped between the two locale fields, a subdivision alone, a null turning into 0
    and back are changes."""
    write_worker_qualifications(
        data_dir,
        SKILL,
        [
            worker("A", 10, country="US"),
            worker("B", None),
            worker("C", 5, country="US", subdivision="US-WA"),
            worker("D", 7, country="DE"),
            worker("E", 1),
            worker("F", 2, country="US", subdivision="US-WA"),
        ],
        T1,
    )
    load_warehouse(stores_of(data_dir))
    write_worker_qualifications(
        data_dir,
        SKILL,
        [
            worker("A", 10, subdivision="US"),  # the value moved to the other locale field
            worker("B", 0),  # null score -> 0
            worker("C", 5, country="US-WA", subdivision="US"),  # the two values swapped
            worker("D", 7, "Revoked", country="DE"),
            worker("E", 1),
            worker("F", 2, country="US", subdivision="US-CA"),  # the subdivision alone
        ],
        T2,
    )
    assert load_warehouse(stores_of(data_dir)).changes == {"locale": 3, "score": 1, "status": 1}
    write_worker_qualifications(
        data_dir,
        SKILL,
        [
            worker("A", 10, subdivision="US"),
            worker("B", None),  # 0 -> null
            worker("C", 5, country="US-WA", subdivision="US"),
            worker("D", 7, "Revoked", country="DE"),
            worker("E", 1),
            worker("F", 2, country="US", subdivision="US-CA"),
        ],
        T3,
    )
    assert load_warehouse(stores_of(data_dir)).changes == {"score": 1}
    assert warehouse_rows(
        data_dir,
        "SELECT worker_id, change, integer_value, country, subdivision "
        "FROM worker_qualification_history WHERE valid_to IS NULL ORDER BY worker_id",
    ) == [
        ("A", "locale", 10, None, "US"),
        ("B", "score", None, None, None),
        ("C", "locale", 5, "US-WA", "US"),
        ("D", "status", 7, "DE", None),
        ("E", "new", 1, None, None),
        ("F", "locale", 2, "US", "US-CA"),
    ]
