"""The merge load that writes only the rows that differ leaves worker_qualifications and the
history exactly as the previous release's load did (every row rewritten, every key compared),
over a sequence of loads and pushes: scores, revocations, locales, a grant time or a country name
alone changed, workers gone and back, a type emptied, a type no longer extracted, a type first
seen in a merging load, a push newer than the next snapshot, identical and conflicting duplicate
rows. The previous release's SQL is kept in previous_load/ as the oracle."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
from support.stores import stores_of, write_warehouse
from warehouse_lake import T1, worker, write_worker_qualifications

from qual_pipeline.schema import UTC_TIMESTAMP
from qual_pipeline.warehouse import load_warehouse
from qual_pipeline.warehouse.load import _partition_table
from qual_pipeline.warehouse.pushed_changes import (
    PushedChange,
    _pushed_table,
    record_pushed_changes,
)
from qual_pipeline.warehouse.snapshots import read_snapshot
from qual_pipeline.warehouse.sql_files import create_models, registered, run_sql_file

PREVIOUS = Path(__file__).parent / "previous_load"
A, B, C = (f"3MERGE{name}{'0' * 21}" for name in "ABC")
TABLES = ("worker_qualifications", "worker_qualification_history")


def run_previous(con: duckdb.DuckDBPyConnection, name: str, params: dict | None = None) -> None:
    for statement in duckdb.extract_statements((PREVIOUS / f"{name}.sql").read_text()):
        used = {k: (params or {})[k] for k in statement.named_parameters}
        con.execute(statement, used) if used else con.execute(statement)


class Previous:
    """The previous release's load and push path on a DuckDB file of its own."""

    def __init__(self, path: Path, data_dir: Path) -> None:
        self.con = duckdb.connect(str(path))
        create_models(self.con)
        self.lake = stores_of(data_dir).lake
        self.loaded: dict[str, str] = {}

    def load(self) -> dict[str, int]:
        current = self.lake.current_snapshots("worker_qualifications")
        new = [
            read_snapshot(self.lake, s)
            for t, s in current.items()
            if self.loaded.get(t) is None or s.name > self.loaded[t]
        ]
        self.loaded.update({s.qualification_type_id: s.name for s in new})
        con = self.con
        con.execute("BEGIN")
        with registered(con, "observed_partitions", _partition_table(new)):
            run_previous(con, "replace_worker_qualifications", {"files": [s.location for s in new]})
            (duplicates,) = con.execute(
                "SELECT count(*) FROM (SELECT 1 FROM worker_qualifications "
                "GROUP BY qualification_type_id, worker_id HAVING count(*) > 1)"
            ).fetchall()[0]
            dedup = "_deduplicated" if duplicates else ""
            run_sql_file(con, f"load/observe_refreshed_worker_qualifications{dedup}")
            run_previous(con, "merge_history")
            changes = dict(
                con.execute("SELECT change, count(*) FROM history_changes GROUP BY ALL").fetchall()
            )
            run_sql_file(con, "load/drop_staging")
        con.execute("COMMIT")
        return changes

    def push(self, changes: list[tuple], at: datetime) -> None:
        con = self.con
        con.execute("BEGIN")
        type_ids = sorted({c[0] for c in changes})
        partitions = pa.table(
            {
                "qualification_type_id": pa.array(type_ids, pa.string()),
                "observed_at": pa.array([at] * len(type_ids), UTC_TIMESTAMP),
                "complete": pa.array([False] * len(type_ids)),
            }
        )
        pushed = _pushed_table([PushedChange(*c) for c in changes], at)
        with (
            registered(con, "pushed_changes", pushed),
            registered(con, "observed_partitions", partitions),
        ):
            run_previous(con, "observe_pushed_changes")
            run_previous(con, "merge_history")
            run_sql_file(con, "load/apply_pushed_changes")
            run_sql_file(con, "load/drop_staging")
        con.execute("COMMIT")


def rows_of(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    return con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()


def test_the_merge_writes_what_the_previous_release_wrote(tmp_path: Path, merge_path: str) -> None:
    data_dir = tmp_path / "data"
    previous = Previous(tmp_path / "previous.duckdb", data_dir)
    rng = random.Random(16)
    places = [
        {},
        {"country": "US", "subdivision": "US-WA", "country_name": "United States"},
        {"country": "IN", "subdivision": "IN-KA", "country_name": "India"},
        {"country": "XX", "subdivision": None},  # not ISO: no name
    ]
    held = {
        t: {f"A{t[6]}{i:04d}": worker(f"A{t[6]}{i:04d}", rng.randint(0, 9)) for i in range(40)}
        for t in (A, B, C)
    }

    def churn(type_id: str) -> None:
        rows = held[type_id]
        for w in list(rows):
            roll = rng.random()
            row = dict(rows[w])
            if roll < 0.1:
                row["integer_value"] = rng.choice([None, rng.randint(0, 9)])
            elif roll < 0.18:
                row["status"] = "Revoked" if row["status"] == "Granted" else "Granted"
            elif roll < 0.25:
                for key in ("country", "subdivision", "country_name", "subdivision_name"):
                    row.pop(key, None)
                row.update(rng.choice(places))
            elif roll < 0.3:  # the grant time alone: a new current row, no history version
                row["grant_time"] = row["grant_time"] + timedelta(hours=1)
            elif roll < 0.35:
                del rows[w]
                continue
            rows[w] = row
        for _ in range(rng.randint(0, 4)):
            w = f"N{type_id[6]}{rng.randint(0, 60):04d}"
            rows[w] = worker(w, rng.randint(0, 9))

    gone: dict[str, dict] = {}
    at = T1  # the time of the next snapshot or push
    steps: list[str] = []

    def load(*types: str, extra: dict[str, list[dict]] | None = None) -> None:
        for t in types:
            rows = list(held[t].values()) + (extra or {}).get(t, [])
            write_worker_qualifications(data_dir, t, rows, at)
        result = load_warehouse(stores_of(data_dir))
        expected = previous.load()
        steps.append(f"load {len(steps)}")
        assert result.changes == expected, steps[-1]
        compare()

    def push(changes: list[tuple]) -> None:
        con = write_warehouse(data_dir)
        try:
            record_pushed_changes(con, changes, at)
        finally:
            con.close()
        previous.push(changes, at)
        steps.append(f"push {len(steps)}")
        compare()

    def compare() -> None:
        con = write_warehouse(data_dir)
        try:
            for table in TABLES:
                assert rows_of(con, table) == rows_of(previous.con, table), (steps[-1], table)
        finally:
            con.close()

    load(A, B)  # first load
    at += timedelta(hours=1)
    churn(A)
    load(A, B, C)  # A changed, B the same, C first seen in a merging load
    at += timedelta(hours=1)
    a_worker = sorted(held[A])[0]
    push([(A, a_worker, 99, "Granted"), (B, "PUSHED0001", 7, "Granted")])
    at -= timedelta(minutes=30)  # a snapshot taken before the push: the pushed rows stay
    churn(A)
    load(A)
    at += timedelta(hours=2)
    gone[B] = held[B]
    held[B] = {}
    churn(A)
    duplicate = dict(next(iter(held[A].values())))
    conflicting = dict(list(held[A].values())[1], integer_value=42)
    load(A, B, extra={A: [duplicate, conflicting]})  # B emptied; A holds a key twice (twice)
    at += timedelta(hours=1)
    held[B] = {w: row for i, (w, row) in enumerate(gone[B].items()) if i % 2}  # half come back
    churn(A)
    load(A, B)  # C no longer extracted: its rows and versions stay
    for _ in range(3):
        at += timedelta(hours=1)
        for t in (A, B, C):
            churn(t)
        load(A, B, C)
    assert len(steps) == 9
