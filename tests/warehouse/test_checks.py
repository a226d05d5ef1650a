"""Every data-quality check passes on good data and fails on data made to break it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import duckdb
import pytest
from warehouse_lake import T1, T2, worker, write_qualification_types, write_worker_qualifications

from qual_pipeline.warehouse import (
    BLOCKING_CHECKS,
    check_grant_time_not_in_future,
    check_locales_valid,
    check_row_count_drop,
    check_scores_present,
    check_unique_worker_qualifications,
    load_warehouse,
    open_warehouse_read_only,
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
    load_warehouse(data_dir)
    con = open_warehouse_read_only(data_dir)
    try:
        return check(con)
    finally:
        con.close()


def test_every_check_passes_on_good_data(data_dir: Path) -> None:
    good_lake(data_dir)
    results = checked(data_dir, lambda con: run_checks(con, now=NOW))
    assert [(r.name, r.passed) for r in results] == [
        ("unique_worker_qualifications", True),
        ("scores_present", True),
        ("row_count_not_dropping", True),
        ("locales_valid", True),
        ("grant_time_not_in_future", True),
    ]
    assert {r.name for r in results if r.blocking} == BLOCKING_CHECKS
    assert all(r.metadata["offending"] == 0 for r in results)


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
def test_missing_scores_fail_where_the_type_uses_scores(
    data_dir: Path, type_id: str, rows: list[dict]
) -> None:
    good_lake(data_dir)
    write_worker_qualifications(data_dir, type_id, rows, T2)
    result = checked(data_dir, check_scores_present)
    assert not result.passed and result.blocking
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


def test_a_row_count_drop_beyond_the_share_fails(data_dir: Path) -> None:
    write_worker_qualifications(data_dir, SKILL, [worker(f"W{i}") for i in range(10)], T1)
    load_warehouse(data_dir)
    write_worker_qualifications(data_dir, SKILL, [worker(f"W{i}") for i in range(4)], T2)
    result = checked(data_dir, check_row_count_drop)
    assert not result.passed and result.blocking
    (example,) = result.metadata["examples"]
    assert (example["previous_rows"], example["rows"], example["drop_share"]) == (10, 4, 0.6)
    tolerant = checked(data_dir, lambda con: check_row_count_drop(con, max_drop_share=0.7))
    assert tolerant.passed
