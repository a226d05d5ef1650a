"""Data-quality checks on the loaded warehouse, as plain functions the Dagster asset checks call.

Each check runs one query from sql/checks/ that returns the offending rows; it passes when there are
none. The blocking ones protect the push path: scores pushed back to MTurk must not be computed from
duplicated, missing or truncated data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

import duckdb
import pyarrow as pa
import pycountry

from qual_pipeline.warehouse.sql_files import registered, sql_text

EXAMPLES = 10
DEFAULT_MAX_ROW_DROP_SHARE = 0.5
DEFAULT_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    blocking: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)
    """offending: how many rows (or types) fail; examples: up to 10 of them, JSON-ready."""


def json_ready(value: Any) -> Any:
    """A DuckDB value as JSON can hold it: dates and times in ISO 8601, decimals as floats."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _offending(
    con: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any] | None = None
) -> tuple[int, list[dict[str, Any]]]:
    params = params or {}
    # fetchall, not fetchone: a result left unfinished blocks the connection's next statement.
    (count,) = con.execute(f"SELECT count(*) FROM ({query}\n)", params).fetchall()[0]
    if not count:
        return 0, []
    cursor = con.execute(f"SELECT * FROM ({query}\n) LIMIT {EXAMPLES}", params)
    names = [d[0] for d in cursor.description]
    return count, [
        {n: json_ready(v) for n, v in zip(names, row, strict=True)} for row in cursor.fetchall()
    ]


def _result(
    name: str, blocking: bool, offending: int, examples: list[dict[str, Any]], ok: str, bad: str
) -> CheckResult:
    return CheckResult(
        name=name,
        passed=offending == 0,
        blocking=blocking,
        description=ok if offending == 0 else bad.format(offending=offending),
        metadata={"offending": offending, "examples": examples},
    )


def check_unique_worker_qualifications(con: duckdb.DuckDBPyConnection) -> CheckResult:
    """Blocking: one row per (qualification_type_id, worker_id) in worker_qualifications."""
    count, examples = _offending(con, sql_text("checks/duplicate_worker_qualifications"))
    return _result(
        "unique_worker_qualifications",
        True,
        count,
        examples,
        "Every (qualification type, worker) appears once in worker_qualifications.",
        "{offending} (qualification type, worker) keys appear more than once in "
        "worker_qualifications; the extraction wrote duplicates.",
    )


def check_scores_present(con: duckdb.DuckDBPyConnection) -> CheckResult:
    """Blocking: granted workers hold an integer_value in every type that uses scores."""
    count, examples = _offending(con, sql_text("checks/missing_scores"))
    return _result(
        "scores_present",
        True,
        count,
        examples,
        "Every granted worker of a type that uses scores holds a score.",
        "{offending} granted workers have no integer_value in a type that uses scores "
        "(auto-granted with a value, or most of its granted workers scored).",
    )


@cache
def _iso_3166() -> tuple[pa.Table, pa.Table]:
    countries = pa.table({"country": [c.alpha_2 for c in pycountry.countries]})
    subdivisions = list(pycountry.subdivisions)
    return countries, pa.table(
        {
            "subdivision": [s.code for s in subdivisions],
            "country": [s.country_code for s in subdivisions],
        }
    )


def check_locales_valid(con: duckdb.DuckDBPyConnection) -> CheckResult:
    """Countries are ISO 3166-1 alpha-2 and subdivisions ISO 3166-2 codes of their country."""
    countries, subdivisions = _iso_3166()
    with (
        registered(con, "iso_3166_countries", countries),
        registered(con, "iso_3166_subdivisions", subdivisions),
    ):
        count, examples = _offending(con, sql_text("checks/invalid_locales"))
    return _result(
        "locales_valid",
        False,
        count,
        examples,
        "Every country and subdivision is a valid ISO 3166 code.",
        "{offending} workers have a country or subdivision that is not a valid ISO 3166 code.",
    )


def check_grant_time_not_in_future(
    con: duckdb.DuckDBPyConnection,
    *,
    now: datetime | None = None,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> CheckResult:
    """No grant_time later than now plus the allowed clock skew (default 5 minutes)."""
    latest_allowed = (now or datetime.now(UTC)) + clock_skew
    count, examples = _offending(
        con, sql_text("checks/future_grant_times"), {"latest_allowed": latest_allowed}
    )
    result = _result(
        "grant_time_not_in_future",
        False,
        count,
        examples,
        "No grant_time lies in the future.",
        "{offending} workers have a grant_time later than now plus "
        f"{clock_skew.total_seconds():.0f} s of clock skew; a time zone went wrong somewhere.",
    )
    result.metadata["latest_allowed"] = latest_allowed.isoformat()
    return result


def check_row_count_drop(
    con: duckdb.DuckDBPyConnection, *, max_drop_share: float = DEFAULT_MAX_ROW_DROP_SHARE
) -> CheckResult:
    """Blocking: no type's newest snapshot lost over max_drop_share of the previous one's rows."""
    if not 0 <= max_drop_share <= 1:
        raise ValueError(f"max_drop_share must lie in [0, 1], got {max_drop_share}")
    count, examples = _offending(
        con, sql_text("checks/row_count_drops"), {"max_drop_share": max_drop_share}
    )
    result = _result(
        "row_count_not_dropping",
        True,
        count,
        examples,
        f"No qualification type lost more than {max_drop_share:.0%} of its rows since the "
        "previous snapshot.",
        "{offending} qualification types lost more than "
        f"{max_drop_share:.0%} of their rows since the previous snapshot; a sudden drop usually "
        "means a broken extraction.",
    )
    result.metadata["max_drop_share"] = max_drop_share
    return result


BLOCKING_CHECKS = frozenset(
    {"unique_worker_qualifications", "scores_present", "row_count_not_dropping"}
)


def run_checks(
    con: duckdb.DuckDBPyConnection,
    *,
    now: datetime | None = None,
    max_row_drop_share: float = DEFAULT_MAX_ROW_DROP_SHARE,
) -> list[CheckResult]:
    """Every check, blocking ones first."""
    return [
        check_unique_worker_qualifications(con),
        check_scores_present(con),
        check_row_count_drop(con, max_drop_share=max_row_drop_share),
        check_locales_valid(con),
        check_grant_time_not_in_future(con, now=now),
    ]
