"""Opening the warehouse file: writable for the single writer, read-only for queries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from qual_pipeline.lake.layout import warehouse_path
from qual_pipeline.warehouse.sql_files import create_models


class WarehouseNotFoundError(FileNotFoundError):
    """The warehouse file does not exist yet."""


class WarehouseBusyError(RuntimeError):
    """Another process holds the warehouse file (DuckDB allows one writer process, no readers)."""


def _configure(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    # Timestamps display and truncate in UTC whatever the machine's time zone; no progress bars
    # in logs.
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    return con


def open_warehouse(data_dir: Path) -> duckdb.DuckDBPyConnection:
    """A writable connection to <data_dir>/warehouse.duckdb, with every table and view in place.

    Only the single writer (the load step, or the push path recording what it pushed) opens this.
    """
    path = warehouse_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _configure(duckdb.connect(str(path)))
    create_models(con)
    return con


def open_warehouse_read_only(data_dir: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection for queries; a clear error if nothing was loaded yet."""
    path = warehouse_path(data_dir)
    if not path.is_file():
        raise WarehouseNotFoundError(
            f"No warehouse at {path}: run `qual-pipeline refresh` first "
            "(or point QUAL_PIPELINE_DATA_DIR at the data directory that holds warehouse.duckdb)."
        )
    try:
        return _configure(duckdb.connect(str(path), read_only=True))
    except duckdb.IOException as exc:
        raise WarehouseBusyError(
            f"Cannot open {path} for reading: {exc}. A load is probably writing it right now; "
            "retry when it is done."
        ) from exc


@contextmanager
def warehouse_session(data_dir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A writable connection opened for one unit of work and closed after it (never held idle:
    DuckDB lets one process write the file at a time)."""
    path = warehouse_path(data_dir)
    if not path.is_file():
        raise WarehouseNotFoundError(
            f"No warehouse at {path}: run `qual-pipeline refresh` first "
            "(or point QUAL_PIPELINE_DATA_DIR at the data directory that holds warehouse.duckdb)."
        )
    con = open_warehouse(data_dir)
    try:
        yield con
    finally:
        con.close()
