"""A warehouse written by the previous release's schema (651a1bb: text columns without a named
compression) upgraded by a load of this version: the migration runs once, keeps the tables and
their rows, and the history goes on from the versions written before."""

from __future__ import annotations

from pathlib import Path

from support.stores import read_warehouse, stores_of, write_warehouse
from warehouse_lake import SKILL, T1, T2, worker, write_worker_qualifications

from qual_pipeline.warehouse import load_warehouse
from qual_pipeline.warehouse.sql_files import (
    COLUMN_COMPRESSION,
    VIEWS,
    schema_version,
    sql_text,
)

PREVIOUS_SCHEMA = "schema-1422f46a02f8b86d"
"""schema_version() of 651a1bb, the release before the named compressions."""


def _as_previous_release(data_dir: Path) -> None:
    """Rewrite the two tables with 651a1bb's DDL (the same without `USING COMPRESSION`), rows
    kept, and record only 651a1bb's schema version: a warehouse that release wrote."""
    con = write_warehouse(data_dir)
    try:
        for table in ("worker_qualifications", "worker_qualification_history"):
            con.execute(f"ALTER TABLE {table} RENAME TO {table}_prev")
            con.execute(COLUMN_COMPRESSION.sub("", sql_text(table)))
            con.execute(f"INSERT INTO {table} SELECT * FROM {table}_prev")
            con.execute(f"DROP TABLE {table}_prev")
        con.execute("DELETE FROM qual_pipeline_migrations")
        con.execute("INSERT INTO qual_pipeline_migrations VALUES (?, now())", [PREVIOUS_SCHEMA])
    finally:
        con.close()


def test_a_warehouse_of_the_previous_release_is_migrated_once_and_its_history_goes_on(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    write_worker_qualifications(data, SKILL, [worker("A", 10), worker("B", 20)], T1)
    assert load_warehouse(stores_of(data)).changes == {"new": 2}
    _as_previous_release(data)

    write_worker_qualifications(data, SKILL, [worker("A", 15), worker("C", 30)], T2)
    second = load_warehouse(stores_of(data))
    assert second.changes == {"score": 1, "gone": 1, "new": 1}
    assert load_warehouse(stores_of(data)).up_to_date  # nothing new: no second migration

    con = read_warehouse(data)
    try:
        migrations = con.execute(
            "SELECT version FROM qual_pipeline_migrations ORDER BY applied_at"
        ).fetchall()
        history = con.execute(
            "SELECT worker_id, integer_value, valid_from, valid_to, change, end_reason "
            "FROM worker_qualification_history ORDER BY worker_id, valid_from"
        ).fetchall()
        for view in VIEWS:
            con.execute(f"SELECT * FROM {view}").fetchall()  # every view reads the old tables
    finally:
        con.close()
    assert migrations == [(PREVIOUS_SCHEMA,), (schema_version(),)]
    assert history == [
        ("A", 10, T1, T2, "new", "superseded"),
        ("A", 15, T2, None, "score", None),
        ("B", 20, T1, T2, "new", "gone"),
        ("C", 30, T2, None, "new", None),
    ]
