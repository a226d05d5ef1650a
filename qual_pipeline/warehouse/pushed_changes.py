"""Recording a verified push in the warehouse, so it reflects pushed scores before the next refresh.

The pushed values go through the same history merge as a refresh, so the next refresh that sees
the same values on MTurk adds nothing, and one that sees different values records a real change.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

import duckdb
import pyarrow as pa

from qual_pipeline.mturk_api.model import QUALIFICATION_STATUSES as STATUSES
from qual_pipeline.schema import UTC_TIMESTAMP
from qual_pipeline.warehouse.sql_files import registered, run_sql_file


class PushedChange(NamedTuple):
    qualification_type_id: str
    worker_id: str
    integer_value: int | None
    status: str  # 'Granted' | 'Revoked'


def _pushed_table(changes: list[PushedChange], observed_at: datetime) -> pa.Table:
    seen: set[tuple[str, str]] = set()
    for change in changes:
        key = (change.qualification_type_id, change.worker_id)
        if change.status not in STATUSES:
            raise ValueError(
                f"Pushed change for worker {change.worker_id} in type "
                f"{change.qualification_type_id} has status {change.status!r}; "
                f"use one of {STATUSES}"
            )
        if key in seen:
            raise ValueError(
                f"Worker {change.worker_id} appears twice in the pushed changes for type "
                f"{change.qualification_type_id}; pass one final value per (type, worker)"
            )
        seen.add(key)
    return pa.table(
        {
            "qualification_type_id": pa.array(
                [c.qualification_type_id for c in changes], pa.string()
            ),
            "worker_id": pa.array([c.worker_id for c in changes], pa.string()),
            "integer_value": pa.array([c.integer_value for c in changes], pa.int32()),
            "status": pa.array([c.status for c in changes], pa.string()),
            "observed_at": pa.array([observed_at] * len(changes), UTC_TIMESTAMP),
        }
    )


def record_pushed_changes(
    con: duckdb.DuckDBPyConnection,
    changes: Iterable[PushedChange | tuple[str, str, int | None, str]],
    observed_at: datetime,
) -> int:
    """Apply verified pushed values to worker_qualifications and the history, in one transaction.

    changes: (qualification_type_id, worker_id, integer_value, status) read back from MTurk.
    observed_at: when the push was verified (timezone-aware); a value observed earlier than the
    warehouse's current version of a worker is ignored for that worker.
    Returns the number of history versions added. con must be a writable warehouse connection
    with no transaction open; this commits (`apply_pushed_changes` does the same inside the
    caller's transaction).
    """
    con.execute("BEGIN TRANSACTION")
    try:
        added = apply_pushed_changes(con, changes, observed_at)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return added


def apply_pushed_changes(
    con: duckdb.DuckDBPyConnection,
    changes: Iterable[PushedChange | tuple[str, str, int | None, str]],
    observed_at: datetime,
) -> int:
    """`record_pushed_changes` inside a transaction the caller opened (and commits)."""
    if observed_at.tzinfo is None:
        raise ValueError("observed_at must be timezone-aware (UTC), e.g. datetime.now(UTC)")
    rows = [PushedChange(*change) for change in changes]
    if not rows:
        return 0
    pushed = _pushed_table(rows, observed_at)
    type_ids = sorted({r.qualification_type_id for r in rows})
    partitions = pa.table(
        {
            "qualification_type_id": pa.array(type_ids, pa.string()),
            "observed_at": pa.array([observed_at] * len(type_ids), UTC_TIMESTAMP),
            "complete": pa.array([False] * len(type_ids)),
        }
    )
    with (
        registered(con, "pushed_changes", pushed),
        registered(con, "observed_partitions", partitions),
    ):
        run_sql_file(con, "load/observe_pushed_changes")
        run_sql_file(con, "load/first_sighted_types")
        run_sql_file(con, "load/compare_keys")
        run_sql_file(con, "load/merge_history")
        run_sql_file(con, "load/close_versions")
        run_sql_file(con, "load/open_versions")
        (added,) = con.execute(
            "SELECT count(*) FROM history_changes WHERE change <> 'gone'"
        ).fetchall()[0]
        run_sql_file(con, "load/apply_pushed_changes")
        run_sql_file(con, "load/drop_staging")
    return int(added)
