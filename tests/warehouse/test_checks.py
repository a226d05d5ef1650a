"""Every data-quality check passes on good data and fails on data made to break it; each load
records its results, per check and per type, under its load id."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import duckdb
import pytest
from support.stores import read_warehouse, stores_of
from warehouse_lake import (
    T1,
    T2,
    worker,
    write_qualification_requests,
    write_qualification_types,
    write_worker_qualifications,
)

from qual_pipeline.warehouse import (
    BLOCKING_CHECKS,
    check_extraction_complete,
    check_failures,
    check_grant_time_not_in_future,
    check_locales_valid,
    check_row_count_drop,
    check_scores_present,
    check_unique_worker_qualifications,
    latest_load_id,
    load_warehouse,
    run_checks,
)

SKILL = "3SKILL0000000000000000000000"
FLAG = "3FLAG00000000000000000000000"
AUTO = "3AUTO00000000000000000000000"
NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def good_lake(data_dir: Path) -> None:
    write_qualification_types(
        data_dir,
        [
            {"qualification_type_id": SKILL, "name": "Skill"},
            {"qualification_type_id": FLAG, "name": "Flag"},
            {"qualification_type_id": AUTO, "auto_granted": True, "auto_granted_value": 1},
        ],
        T1,
    )
    write_worker_qualifications(
        data_dir,
        SKILL,
        [
            worker("A", 10, country="US", subdivision="US-WA"),
            worker("B", 20, country="DE", subdivision="DE-BE"),
            worker("C", None, "Revoked", country="IN"),  # revoked workers need no score
        ],
        T1,
    )
    # A type that does not use scores: most workers hold none.
    write_worker_qualifications(data_dir, FLAG, [worker("F", None), worker("G", None)], T1)
    write_worker_qualifications(data_dir, AUTO, [worker("H", 1)], T1)


Result = TypeVar("Result")


def checked(data_dir: Path, check: Callable[[duckdb.DuckDBPyConnection], Result]) -> Result:
    load_warehouse(stores_of(data_dir))
    con = read_warehouse(data_dir)
    try:
        return check(con)
    finally:
        con.close()


def test_every_check_passes_on_good_data(data_dir: Path) -> None:
    good_lake(data_dir)
    results = checked(data_dir, lambda con: run_checks(con, now=NOW))
    assert [(r.name, r.passed, r.blocking) for r in results] == [
        ("unique_worker_qualifications", True, True),
        ("extraction_complete", True, True),
        ("row_count_not_dropping", True, True),
        ("scores_present", True, False),
        ("locales_valid", True, False),
        ("grant_time_not_in_future", True, False),
    ]
    assert {r.name for r in results if r.blocking} == BLOCKING_CHECKS
    assert all(r.metadata["offending"] == 0 for r in results)


def test_each_load_records_its_checks_per_type_under_its_load_id(data_dir: Path) -> None:
    good_lake(data_dir)
    first = load_warehouse(stores_of(data_dir), now=NOW)
    assert first.load_id and [c.passed for c in first.checks] == [True] * 6
    # Nothing new in the lake: no new load, the recorded results are reported again.
    again = load_warehouse(stores_of(data_dir), now=NOW)
    assert again.up_to_date and again.load_id == first.load_id
    assert again.checks == first.checks
    write_worker_qualifications(data_dir, SKILL, [worker("A", 1), worker("A", 2)], T2)
    second = load_warehouse(stores_of(data_dir), now=NOW)
    assert second.load_id != first.load_id
    unique = {c.name: c for c in second.checks}["unique_worker_qualifications"]
    assert (unique.passed, unique.by_type) == (False, {SKILL: 1})
    con = read_warehouse(data_dir)
    try:
        assert latest_load_id(con) == second.load_id
        rows = con.execute(
            "SELECT load_id, check_name, qualification_type_id, passed, offending "
            "FROM check_results WHERE NOT passed ORDER BY ALL"
        ).fetchall()
        failures = check_failures(con, second.load_id, [SKILL])
        assert check_failures(con, second.load_id, [FLAG]) == []
        loads = con.execute(
            "SELECT seq, snapshots, blocking_failures FROM warehouse_loads ORDER BY seq"
        ).fetchall()
    finally:
        con.close()
    assert rows == [
        (second.load_id, "unique_worker_qualifications", SKILL, False, 1),
        (second.load_id, "unique_worker_qualifications", None, False, 1),
    ]
    assert [(f.check_name, f.qualification_type_id, f.blocking) for f in failures] == [
        ("unique_worker_qualifications", SKILL, True)
    ]
    assert loads == [(1, 4, 0), (2, 1, 1)]


def test_duplicate_keys_fail_the_uniqueness_check(data_dir: Path) -> None:
    write_worker_qualifications(data_dir, SKILL, [worker("A", 1), worker("A", 2), worker("B")], T1)
    result = checked(data_dir, check_unique_worker_qualifications)
    assert not result.passed and result.blocking
    assert result.metadata["offending"] == 1
    assert result.metadata["examples"] == [
        {"qualification_type_id": SKILL, "worker_id": "A", "copies": 2}
    ]


@pytest.mark.parametrize(
    ("type_id", "rows"),
    [
        # Most granted workers are scored, one is not.
        (SKILL, [worker("A", 10), worker("B", 20), worker("C", None)]),
        # Auto-granted with a value: every granted worker needs one, however few have it.
        (AUTO, [worker("H", None), worker("I", None)]),
    ],
)
def test_missing_scores_are_a_warning_where_the_type_uses_scores(
    data_dir: Path, type_id: str, rows: list[dict]
) -> None:
    """MTurk allows presence-only grants, so a null score is flagged, never blocking."""
    good_lake(data_dir)
    write_worker_qualifications(data_dir, type_id, rows, T2)
    result = checked(data_dir, check_scores_present)
    assert not result.passed and not result.blocking
    missing = sorted(r["worker_id"] for r in result.metadata["examples"])
    assert missing == sorted(r["worker_id"] for r in rows if r["integer_value"] is None)


@pytest.mark.parametrize(
    ("country", "subdivision", "problem"),
    [
        ("XX", None, "country is not an ISO 3166-1 alpha-2 code"),
        ("US", "US-ZZ", "subdivision is not an ISO 3166-2 code of the country"),
        ("US", "CA-ON", "subdivision is not an ISO 3166-2 code of the country"),
        (None, "US-WA", "subdivision without a country"),
    ],
)
def test_invalid_locales_fail_the_locale_check(
    data_dir: Path, country: str | None, subdivision: str | None, problem: str
) -> None:
    good_lake(data_dir)
    write_worker_qualifications(
        data_dir,
        SKILL,
        [
            worker("A", 10, country="US", subdivision="US-WA"),
            worker("Z", 5, country=country, subdivision=subdivision),
        ],
        T2,
    )
    result = checked(data_dir, check_locales_valid)
    assert not result.passed and not result.blocking
    assert result.metadata["examples"] == [
        {
            "qualification_type_id": SKILL,
            "worker_id": "Z",
            "country": country,
            "subdivision": subdivision,
            "problem": problem,
        }
    ]


def test_a_grant_time_in_the_future_fails_beyond_the_clock_skew(data_dir: Path) -> None:
    write_worker_qualifications(
        data_dir,
        SKILL,
        [
            worker("A", grant_time=NOW + timedelta(minutes=4)),  # within 5 minutes of skew
            worker("B", grant_time=NOW + timedelta(hours=1)),
        ],
        T1,
    )
    result = checked(data_dir, lambda con: check_grant_time_not_in_future(con, now=NOW))
    assert not result.passed
    assert [r["worker_id"] for r in result.metadata["examples"]] == ["B"]
    later = checked(
        data_dir, lambda con: check_grant_time_not_in_future(con, now=NOW + timedelta(hours=1))
    )
    assert later.passed


def test_a_mirrored_type_without_a_complete_snapshot_fails_the_extraction_check(
    data_dir: Path,
) -> None:
    good_lake(data_dir)
    # A type listed in qualification_types whose extraction never landed.
    write_qualification_types(
        data_dir,
        [{"qualification_type_id": t} for t in (SKILL, FLAG, AUTO, "3NEWTYPE00000000000000000000")],
        T2,
    )
    # A snapshot whose footer counts other rows by status than the file holds.
    figures = {"rows": 2, "granted": 2, "revoked": 1, "pages": 1}
    write_worker_qualifications(data_dir, FLAG, [worker("F"), worker("G")], T2, figures)
    result = checked(data_dir, check_extraction_complete)
    assert not result.passed and result.blocking
    assert result.by_type == {"3NEWTYPE00000000000000000000": 1, FLAG: 1}
    problems = {e["qualification_type_id"]: e["problem"] for e in result.metadata["examples"]}
    assert "has not finished" in problems["3NEWTYPE00000000000000000000"]
    assert "counts 3 rows by status, the file holds 2" in problems[FLAG]


def test_types_tables_without_a_qualification_types_snapshot_fail_the_extraction_check(
    data_dir: Path,
) -> None:
    """The tester's t4: the types' listing failed on a fresh instance, some types landed. The
    warehouse cannot tell which types are missing, so the check fails for the whole warehouse
    (and blocks plan and push of every type); a type whose requests landed without its workers
    is named."""
    write_worker_qualifications(data_dir, SKILL, [worker("A", 10)], T1)
    write_worker_qualifications(data_dir, FLAG, [], T1)  # a type with no workers landed too
    lost = [f"3LOST{i:023d}" for i in range(7)]
    for type_id in lost:  # the requests landed, the workers did not
        write_qualification_requests(data_dir, type_id, [], T1)
    result = load_warehouse(stores_of(data_dir), now=NOW)
    check = {c.name: c for c in result.checks}["extraction_complete"]
    assert not check.passed and check.blocking
    assert check.by_type == dict.fromkeys(lost, 1)
    assert check.metadata["offending"] == 8  # 7 types and the missing listing
    assert check.description.startswith("No qualification_types snapshot was loaded")
    assert "7 qualification type(s) have no complete snapshot loaded (" in check.description
    assert ", ".join(lost[:5]) + " and 2 more)" in check.description
    # The fix it gives works whatever the Dagster instance records (a second tester: another data
    # folder refreshed with the same DAGSTER_HOME made --retry-failed skip a missing type).
    assert "refresh again (a whole refresh, or `refresh --types` with the ids named;" in (
        check.description
    )
    assert [c.name for c in result.checks if not c.passed] == ["extraction_complete"]
    con = read_warehouse(data_dir)
    try:
        failures = check_failures(con, result.load_id, [SKILL])
    finally:
        con.close()
    # SKILL itself landed, but the warehouse-wide failure blocks it as well.
    assert [(f.check_name, f.qualification_type_id) for f in failures] == [
        ("extraction_complete", None)
    ]
    # The listing lands on the next refresh: every type it lists landed, the check passes.
    write_qualification_types(data_dir, [{"qualification_type_id": t} for t in (SKILL, FLAG)], T2)
    for type_id in lost:
        write_worker_qualifications(data_dir, type_id, [worker("B", 5)], T2)
    after = load_warehouse(stores_of(data_dir), now=NOW)
    assert [c.passed for c in after.checks] == [True] * 6


def test_a_row_count_drop_beyond_the_share_fails(data_dir: Path) -> None:
    write_worker_qualifications(data_dir, SKILL, [worker(f"W{i}") for i in range(10)], T1)
    load_warehouse(stores_of(data_dir))
    write_worker_qualifications(data_dir, SKILL, [worker(f"W{i}") for i in range(4)], T2)
    result = checked(data_dir, check_row_count_drop)
    assert not result.passed and result.blocking
    (example,) = result.metadata["examples"]
    assert (example["previous_rows"], example["rows"], example["drop_share"]) == (10, 4, 0.6)
    tolerant = checked(data_dir, lambda con: check_row_count_drop(con, max_drop_share=0.7))
    assert tolerant.passed
