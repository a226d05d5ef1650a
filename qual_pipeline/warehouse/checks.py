"""Data-quality checks on the loaded warehouse: run inside each load, recorded per load.

Each check runs one query from sql/checks/ that returns the offending rows; it passes when there are
none. Every load records its results in check_results (one row per check, plus one per type with
offending rows). Blocking checks mean the data cannot be trusted (duplicate keys, an extraction that
did not finish, a type that lost most of its rows): `plan` and `push` refuse to change a type whose
load failed one. Warnings flag unusual but legal data (null scores, odd locales, clock skew).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

import duckdb
import pyarrow as pa
import pycountry

from qual_pipeline.settings import percent_text
from qual_pipeline.warehouse.sql_files import registered, sql_text

EXAMPLES = 10
CHECK_TYPES_NAMED = 5
"""How many types a check's description names; the metadata's by_type holds them all."""
DEFAULT_MAX_ROW_DROP_SHARE = 0.5
DEFAULT_CLOCK_SKEW = timedelta(minutes=5)
UNIQUENESS_BYTES_PER_KEY = 128
"""Memory limit the uniqueness check counts per key of one slice: about four times what DuckDB's
hash table took per key's hash (95-110 MB for 4,000,000 keys), the rest left to what the load
holds beside it. Within 128MB, slices of 1,000,000 keys: with 2,000,000, a merge load of
10,000,000 rows ran out of it (118.3 of 122.0 MiB used). Used when DuckDB has nowhere to spill
(no temp_directory): the hash table must then fit."""
UNIQUENESS_BYTES_PER_KEY_SPILLING = 16
"""The same where DuckDB can spill (a temp_directory, as a load's warehouse file has): what does
not fit is spilled, and the slices only bound it. Each slice scans every key: at 10,000,000 rows
within 128MB a first load took 13.1 s in 10 slices and 11.4 s in one, and a refresh of about
4,000,000 rows peaked at 463.1 MB in 4 slices and 458.9 MB in one (the lead's quiet runs,
README's Memory of a refresh); at this figure, 2 and 1."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    blocking: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)
    """offending: how many rows (or types) fail; examples: up to 10 of them, JSON-ready."""
    by_type: dict[str, int] = field(default_factory=dict)
    """Offending rows per qualification type (types without any are left out)."""


@dataclass(frozen=True)
class CheckFailure:
    """A check that failed for one qualification type in one warehouse load."""

    check_name: str
    qualification_type_id: str | None  # None: the check failed for the whole warehouse
    offending: int
    blocking: bool
    description: str


def json_ready(value: Any) -> Any:
    """A DuckDB value as JSON can hold it: dates and times in ISO 8601, decimals as floats."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


@dataclass(frozen=True)
class _Found:
    count: int
    examples: list[dict[str, Any]]
    by_type: dict[str, int]


def _offending(
    con: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any] | None = None
) -> _Found:
    params = params or {}
    # fetchall, not fetchone: a result left unfinished blocks the connection's next statement.
    counts = con.execute(
        f"SELECT qualification_type_id, count(*) FROM ({query}\n) GROUP BY ALL", params
    ).fetchall()
    # Rows without a type (a failure of the whole warehouse) count, but belong to no type.
    by_type = {str(t): int(n) for t, n in counts if t is not None}
    count = sum(int(n) for _, n in counts)
    if not count:
        return _Found(0, [], {})
    cursor = con.execute(f"SELECT * FROM ({query}\n) LIMIT {EXAMPLES}", params)
    names = [d[0] for d in cursor.description]
    examples = [
        {n: json_ready(v) for n, v in zip(names, row, strict=True)} for row in cursor.fetchall()
    ]
    return _Found(count, examples, by_type)


def _result(name: str, blocking: bool, found: _Found, ok: str, bad: str) -> CheckResult:
    return CheckResult(
        name=name,
        passed=found.count == 0,
        blocking=blocking,
        description=ok if found.count == 0 else bad.format(offending=found.count),
        metadata={"offending": found.count, "examples": found.examples},
        by_type=dict(sorted(found.by_type.items())),
    )


def uniqueness_slices(con: duckdb.DuckDBPyConnection) -> int:
    """How many slices the uniqueness check groups worker_qualifications' keys in: enough that
    each slice's keys take at most UNIQUENESS_BYTES_PER_KEY bytes each of the connection's
    memory limit as it stands, or UNIQUENESS_BYTES_PER_KEY_SPILLING where DuckDB can spill (at
    least one slice; one when the limit is not a size)."""
    from qual_pipeline.stores.warehouse import memory_bytes

    (limit, spill, keys) = con.execute(
        "SELECT current_setting('memory_limit'), current_setting('temp_directory'), "
        "(SELECT count(*) FROM worker_qualifications)"
    ).fetchall()[0]
    size = memory_bytes(str(limit))
    if size is None:
        return 1
    per_key = UNIQUENESS_BYTES_PER_KEY_SPILLING if str(spill or "") else UNIQUENESS_BYTES_PER_KEY
    per_slice = max(1, size // per_key)
    return max(1, -(-int(keys) // per_slice))


def check_unique_worker_qualifications(
    con: duckdb.DuckDBPyConnection, slices: int | None = None
) -> CheckResult:
    """Blocking: one row per (qualification_type_id, worker_id) in worker_qualifications.

    The keys' hashes are grouped one slice at a time (by hash), `slices` of them, by default
    as many as keep the hash table within the connection's memory limit as it stands
    (`uniqueness_slices`), whatever the rows."""
    query = sql_text("checks/duplicate_worker_qualifications")
    slices = uniqueness_slices(con) if slices is None else max(1, slices)
    parts = [_offending(con, query, {"slices": slices, "slice": n}) for n in range(slices)]
    by_type: dict[str, int] = {}
    for part in parts:
        for type_id, n in part.by_type.items():
            by_type[type_id] = by_type.get(type_id, 0) + n
    examples = sorted(
        (e for part in parts for e in part.examples),  # the query's order, across the slices
        key=lambda e: (-e["copies"], e["qualification_type_id"], e["worker_id"]),
    )[:EXAMPLES]
    found = _Found(sum(part.count for part in parts), examples, by_type)
    return _result(
        "unique_worker_qualifications",
        True,
        found,
        "Every (qualification type, worker) appears once in worker_qualifications.",
        "{offending} (qualification type, worker) keys appear more than once in "
        "worker_qualifications; the extraction wrote duplicates.",
    )


def check_extraction_complete(con: duckdb.DuckDBPyConnection) -> CheckResult:
    """Blocking: every type the warehouse knows of has a loaded snapshot whose figures add up.

    Fails for the whole warehouse (a row without a type) when types' tables were loaded but no
    qualification_types snapshot ever was (the types' listing failed: which types are missing
    cannot be told); for a type listed in qualification_types, or with a qualification_requests
    snapshot loaded, without a loaded worker_qualifications snapshot (its extraction failed or
    has not run); and for a type whose newest snapshot's footer counts Granted plus Revoked rows
    differently from the rows in the file. The description names what is missing and the first
    types (up to CHECK_TYPES_NAMED).
    """
    found = _offending(con, sql_text("checks/incomplete_extractions"))
    result = _result(
        "extraction_complete",
        True,
        found,
        "Every mirrored qualification type has a complete snapshot loaded.",
        "",
    )
    if found.count == 0:
        return result
    problems: list[str] = []
    if found.count > sum(found.by_type.values()):
        problems.append(
            "no qualification_types snapshot was loaded: the types' listing failed to extract, "
            "so the warehouse cannot tell which qualification types are missing"
        )
    if found.by_type:
        named = sorted(found.by_type)[:CHECK_TYPES_NAMED]
        more = len(found.by_type) - len(named)
        problems.append(
            f"{len(found.by_type)} qualification type(s) have no complete snapshot loaded "
            f"({', '.join(named)}{f' and {more} more' if more else ''})"
        )
    description = "; ".join(problems) + (
        ". The extraction did not finish: refresh again (a whole refresh, or `refresh --types` "
        "with the ids named; `--retry-failed` extracts the types that failed and those the "
        "lake holds no snapshot of)"
    )
    return CheckResult(
        name=result.name,
        passed=False,
        blocking=True,
        description=description[0].upper() + description[1:],
        metadata=result.metadata,
        by_type=result.by_type,
    )


def check_scores_present(con: duckdb.DuckDBPyConnection) -> CheckResult:
    """Warning: granted workers hold an integer_value in every type that uses scores.

    Not blocking: MTurk allows a granted qualification without a value (AcceptQualificationRequest
    without IntegerValue grants a presence-only qualification), so a null score is legal data.
    """
    found = _offending(con, sql_text("checks/missing_scores"))
    return _result(
        "scores_present",
        False,
        found,
        "Every granted worker of a type that uses scores holds a score.",
        "{offending} granted workers have no integer_value in a type that uses scores "
        "(auto-granted with a value, or most of its granted workers scored); MTurk allows "
        "presence-only grants, so this is a warning.",
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
        # The distinct pairs first: the rows are read again only when some pair offends.
        if con.execute(sql_text("checks/invalid_locale_pairs")).fetchall():
            found = _offending(con, sql_text("checks/invalid_locales"))
        else:
            found = _Found(0, [], {})
    return _result(
        "locales_valid",
        False,
        found,
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
    found = _offending(
        con, sql_text("checks/future_grant_times"), {"latest_allowed": latest_allowed}
    )
    result = _result(
        "grant_time_not_in_future",
        False,
        found,
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
    found = _offending(con, sql_text("checks/row_count_drops"), {"max_drop_share": max_drop_share})
    limit = percent_text(max_drop_share)
    result = _result(
        "row_count_not_dropping",
        True,
        found,
        f"No qualification type lost more than {limit} of its rows since the previous snapshot.",
        "{offending} qualification types lost more than "
        f"{limit} of their rows since the previous snapshot; a sudden drop usually "
        "means a broken extraction.",
    )
    result.metadata["max_drop_share"] = max_drop_share
    return result


BLOCKING_CHECKS = frozenset(
    {"unique_worker_qualifications", "extraction_complete", "row_count_not_dropping"}
)
WARNING_CHECKS = frozenset({"scores_present", "locales_valid", "grant_time_not_in_future"})
CHECK_ORDER = (
    "unique_worker_qualifications",
    "extraction_complete",
    "row_count_not_dropping",
    "scores_present",
    "locales_valid",
    "grant_time_not_in_future",
)
"""Every check by name, in the order run_checks runs them: blocking ones first."""


def run_checks(
    con: duckdb.DuckDBPyConnection,
    *,
    now: datetime | None = None,
    max_row_drop_share: float = DEFAULT_MAX_ROW_DROP_SHARE,
    unique: CheckResult | None = None,
) -> list[CheckResult]:
    """Every check, blocking ones first.

    unique: the uniqueness check's result when the caller computed it on worker_qualifications
    as it stands now (the load does, right after replacing the refreshed types' rows); None runs it.
    """
    return [
        unique if unique is not None else check_unique_worker_qualifications(con),
        check_extraction_complete(con),
        check_row_count_drop(con, max_drop_share=max_row_drop_share),
        check_scores_present(con),
        check_locales_valid(con),
        check_grant_time_not_in_future(con, now=now),
    ]


def record_checks(
    con: duckdb.DuckDBPyConnection,
    load_id: str,
    results: list[CheckResult],
    checked_at: datetime,
) -> None:
    """Write a load's check results to check_results (the caller's transaction commits them)."""
    rows: list[tuple[Any, ...]] = []
    for r in results:
        details = json.dumps(r.metadata, default=str)
        rows.append(
            (
                load_id,
                r.name,
                None,
                r.blocking,
                r.passed,
                _offending_count(r),
                r.description,
                details,
                checked_at,
            )
        )
        rows.extend(
            (load_id, r.name, type_id, r.blocking, False, n, r.description, None, checked_at)
            for type_id, n in r.by_type.items()
        )
    con.executemany("INSERT INTO check_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def _offending_count(result: CheckResult) -> int:
    return int(result.metadata.get("offending", 0))


def recorded_checks(con: duckdb.DuckDBPyConnection, load_id: str) -> list[CheckResult]:
    """The check results a load recorded, blocking ones first, as run_checks returned them."""
    rows = con.execute(
        "SELECT check_name, passed, blocking, description, details FROM check_results "
        "WHERE load_id = ? AND qualification_type_id IS NULL",
        [load_id],
    ).fetchall()
    by_type: dict[str, dict[str, int]] = {}
    for name, type_id, n in con.execute(
        "SELECT check_name, qualification_type_id, offending FROM check_results "
        "WHERE load_id = ? AND qualification_type_id IS NOT NULL ORDER BY ALL",
        [load_id],
    ).fetchall():
        by_type.setdefault(name, {})[type_id] = n
    order = {name: i for i, name in enumerate(CHECK_ORDER)}
    results = [
        CheckResult(
            name=name,
            passed=passed,
            blocking=blocking,
            description=description,
            metadata=json.loads(details) if details else {},
            by_type=by_type.get(name, {}),
        )
        for name, passed, blocking, description, details in rows
    ]
    return sorted(results, key=lambda r: order.get(r.name, len(order)))


def check_failures(
    con: duckdb.DuckDBPyConnection, load_id: str, type_ids: list[str] | None = None
) -> list[CheckFailure]:
    """Checks a load failed, per type: for `type_ids` only when given (plus whole-warehouse
    failures that name no type: a check's summary row counting more offending rows than its
    per-type rows hold), blocking ones first."""
    rows = con.execute(
        "SELECT check_name, qualification_type_id, offending, blocking, description "
        "FROM check_results AS c WHERE load_id = ? AND NOT passed AND ("
        "  qualification_type_id IS NOT NULL OR offending > ("
        "    SELECT coalesce(sum(t.offending), 0) FROM check_results AS t "
        "    WHERE t.load_id = c.load_id AND t.check_name = c.check_name "
        "    AND t.qualification_type_id IS NOT NULL)) "
        "ORDER BY NOT blocking, check_name, qualification_type_id",
        [load_id],
    ).fetchall()
    wanted = None if type_ids is None else set(type_ids)
    return [
        CheckFailure(name, type_id, int(n), bool(blocking), description)
        for name, type_id, n, blocking, description in rows
        if wanted is None or type_id is None or type_id in wanted
    ]
