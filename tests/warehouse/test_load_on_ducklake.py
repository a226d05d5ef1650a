"""The warehouse SQL runs unchanged on DuckLake (PostgreSQL catalog, data files on moto's S3): the
same refreshes and a recorded push give the same tables, history, views and check results as on a
DuckDB file.

The load is not wired to the warehouse store yet: this test opens DuckLake through the store and
hands that connection to the existing load in place of the DuckDB file.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from warehouse_lake import SKILL, T3, load_three_refreshes

from qual_pipeline.stores.namespace import Namespace
from qual_pipeline.stores.object_storage import S3Storage
from qual_pipeline.stores.warehouse import DuckLakeWarehouse
from qual_pipeline.warehouse import load as load_module
from qual_pipeline.warehouse import open_warehouse, record_pushed_changes, run_checks
from qual_pipeline.warehouse.sql_files import TABLES, VIEWS, create_models

# The clock at load time, and load ids made from it.
NOT_REPRODUCIBLE = {
    "extract_runs": "EXCLUDE (loaded_at)",
    "warehouse_loads": "EXCLUDE (load_id, loaded_at)",
    "check_results": "EXCLUDE (load_id, checked_at, details)",  # details: checked against now
}


def refresh_and_push(data_dir: Path, con_for_push: duckdb.DuckDBPyConnection) -> None:
    load_three_refreshes(data_dir)
    record_pushed_changes(
        con_for_push, [(SKILL, "A", 99, "Granted"), (SKILL, "N", 5, "Granted")], T3 + timedelta(1)
    )


def contents(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    found = {}
    for name in (*TABLES, *VIEWS):
        columns = NOT_REPRODUCIBLE.get(name, "")
        found[name] = con.execute(f"SELECT * {columns} FROM {name} ORDER BY ALL").fetchall()
    checks = run_checks(con, now=T3 + timedelta(days=2))
    found["checks"] = [(c.name, c.passed, c.metadata) for c in checks]
    return found


def test_the_warehouse_sql_gives_the_same_results_on_ducklake_as_on_a_duckdb_file(
    tmp_path, monkeypatch: pytest.MonkeyPatch, s3_bucket, postgres_database
):
    local_dir = tmp_path / "local"
    con = open_warehouse(local_dir)
    try:
        refresh_and_push(local_dir, con)
        expected = contents(con)
    finally:
        con.close()

    store = DuckLakeWarehouse(
        postgres_database, S3Storage(f"s3://{s3_bucket}/team"), Namespace("sandbox", "acme")
    )
    assert store.migrate("1", create_models)
    monkeypatch.setattr(load_module, "open_warehouse", lambda data_dir, **_: store.connect())
    con = store.connect()
    try:
        refresh_and_push(tmp_path / "shared", con)
        found = contents(con)
        snapshots = con.execute("SELECT count(*) FROM ducklake_snapshots('warehouse')").fetchone()
    finally:
        con.close()

    assert expected["worker_qualification_history"]  # the scenario produced history
    assert found == expected
    assert snapshots[0] >= 5  # migration, three loads, the push: each its own DuckLake snapshot
