"""What a saved plan read from the warehouse, as one digest: its *basis*.

A plan is built on the warehouse as it is at `plan` time. `push` must refuse it when that state
changed, but not merely because a refresh ran: a refresh that found MTurk as it was records a new
warehouse load (its snapshots are new) while every row the plan read is the same. So `plan`
saves the basis beside the load id, and when the newest load is another one, `push` computes the
basis again and lets the plan go only if it is identical.

The basis covers exactly what the planner SQL and its guard read:
- worker_qualifications: (qualification_type_id, worker_id, status, integer_value) of every row
  (a worker gained, lost, revoked or rescored anywhere changes it; extracted_at does not);
- qualification_types: (qualification_type_id, name) (your types, and the names a website CSV
  is matched by);
- for request plans, qualification_requests: (qualification_request_id, qualification_type_id,
  worker_id) (the pending requests);
- the blocking checks that failed in the newest load, by (check, type).
The inputs the plan read are checked apart (`inputs_fingerprint`), and so is a push that ran
since the plan (the journal).

Each table's rows are combined order-independently in SQL (count, XOR and sum of DuckDB's `hash`
of the columns, as the inputs fingerprint does), so the basis of 10,000,000 rows is one scan.
"""

from __future__ import annotations

import hashlib

import duckdb

BASIS_COLUMNS: dict[str, tuple[str, ...]] = {
    "worker_qualifications": ("qualification_type_id", "worker_id", "status", "integer_value"),
    "qualification_types": ("qualification_type_id", "name"),
}
"""Table -> the columns of it a plan of any kind reads."""
REQUEST_COLUMNS: dict[str, tuple[str, ...]] = {
    "qualification_requests": ("qualification_request_id", "qualification_type_id", "worker_id"),
}
"""Table -> the columns a request plan reads besides BASIS_COLUMNS."""


def warehouse_basis(con: duckdb.DuckDBPyConnection, kind: str, load_id: str | None) -> str:
    """`basis-` and 24 hex digits: a digest of what a plan of `kind` ('scores' or 'requests')
    reads from the warehouse on `con` (read-only is fine), `load_id` being its newest load.
    Tables and column names come from this module, never from user input."""
    tables = {**BASIS_COLUMNS, **(REQUEST_COLUMNS if kind == "requests" else {})}
    present = {
        row[0]
        for row in con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_catalog = current_database() AND table_schema = 'main'"
        ).fetchall()
    }
    digest = hashlib.sha256(kind.encode())
    for table, columns in tables.items():
        if table not in present:
            digest.update(f"|{table}:absent".encode())
            continue
        rows, xor, total = con.execute(
            f"SELECT count(*), coalesce(bit_xor(h), 0), coalesce(sum(CAST(h AS HUGEINT)), 0) "
            f"FROM (SELECT hash({', '.join(columns)}) AS h FROM main.{table})"
        ).fetchall()[0]
        digest.update(f"|{table}:{rows}:{xor}:{total}".encode())
    failed: list[tuple[str, str]] = []
    if load_id is not None and "check_results" in present:
        failed = con.execute(
            "SELECT DISTINCT check_name, coalesce(qualification_type_id, '') FROM check_results "
            "WHERE load_id = ? AND blocking AND NOT passed ORDER BY ALL",
            [load_id],
        ).fetchall()
    digest.update(f"|failed:{failed!r}".encode())
    return "basis-" + digest.hexdigest()[:24]


def same_basis(
    con: duckdb.DuckDBPyConnection, kind: str, load_id: str | None, saved: object
) -> bool:
    """Whether the warehouse on `con` still gives the basis `saved` with a plan (False for a plan
    saved without one, by an earlier version)."""
    return isinstance(saved, str) and warehouse_basis(con, kind, load_id) == saved
