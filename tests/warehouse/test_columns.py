"""Column descriptions are read back from the DDL files: every column of every warehouse table
has one, multi-line comments are joined, and a column left without one is named."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from qual_pipeline.warehouse.columns import ColumnDocError, table_doc
from qual_pipeline.warehouse.sql_files import SQL_DIR, TABLES


@pytest.mark.parametrize("table", TABLES)
def test_every_column_of_every_table_is_described(table: str) -> None:
    doc = table_doc(table)
    con = duckdb.connect()
    try:
        con.execute((SQL_DIR / f"{table}.sql").read_text())
        described = con.execute(f"DESCRIBE {table}").fetchall()
    finally:
        con.close()
    assert [(c.name, c.type, c.nullable) for c in doc.columns] == [
        (name, kind, null == "YES") for name, kind, null, *_ in described
    ]
    assert all(len(c.description) > 5 for c in doc.columns)
    assert doc.description  # the table's leading comment


def test_a_comment_continued_on_the_next_lines_is_one_description() -> None:
    change = {c.name: c.description for c in table_doc("worker_qualification_history").columns}
    assert change["change"].startswith("why this version began: `new` (first sighting)")
    assert change["change"].endswith("order: `score`, `status`, `locale` (e.g. `score,status`)")
    assert "--" not in change["change"]


def test_a_column_without_a_description_is_named(tmp_path: Path) -> None:
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    ddl = (SQL_DIR / "warehouse_loads.sql").read_text()
    undocumented = ddl.replace(
        "seq BIGINT NOT NULL,  -- 1, 2, ...: the order of the loads", "seq BIGINT NOT NULL,"
    )
    assert undocumented != ddl
    (sql_dir / "warehouse_loads.sql").write_text(undocumented)
    with pytest.raises(ColumnDocError, match="column seq has no description"):
        table_doc("warehouse_loads", sql_dir)
    shutil.rmtree(sql_dir)
