"""The stores in tests: a data folder stands for the local profile's stores."""

from __future__ import annotations

from pathlib import Path

import duckdb

from qual_pipeline.stores.profile import Stores, local_stores


def stores_of(target: Path | str | Stores) -> Stores:
    """`target` itself, or the local profile's stores under the data folder `target`."""
    return target if isinstance(target, Stores) else local_stores(target)


def read_warehouse(target: Path | str | Stores) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the warehouse (WarehouseNotFoundError before any load)."""
    return stores_of(target).warehouse.connect(read_only=True)


def write_warehouse(target: Path | str | Stores) -> duckdb.DuckDBPyConnection:
    """A writable connection to the warehouse, e.g. to damage it on purpose."""
    return stores_of(target).warehouse.connect()


def warehouse_rows(target: Path | str | Stores, query: str) -> list[tuple]:
    """The rows of `query` on the warehouse of `target`, read through a read-only connection."""
    con = read_warehouse(target)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()
