"""Opening the warehouse file: writable for the single writer, read-only for queries.

DuckDB lets one process hold the file for writing, and then no other process may open it at all.
A lock conflict becomes WarehouseBusyError with a clear message, after an optional short wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from qual_pipeline import settings
from qual_pipeline.lake.layout import warehouse_path
from qual_pipeline.warehouse.sql_files import create_models

SESSION_WAIT_S: float = settings.WAREHOUSE_WAIT.default
OnBusy = Callable[[], None]
"""Called once when the file is found busy and the caller will wait (e.g. to say so)."""


class WarehouseNotFoundError(FileNotFoundError):
    """The warehouse file does not exist yet."""


class WarehouseBusyError(RuntimeError):
    """Another process holds the warehouse file (DuckDB allows one writer process, no readers)."""


def _configure(
    con: duckdb.DuckDBPyConnection, memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection:
    # Timestamps display and truncate in UTC whatever the machine's time zone; no progress bars
    # in logs.
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    if memory_limit:
        set_memory_limit(con, memory_limit)
    return con


def set_memory_limit(con: duckdb.DuckDBPyConnection, memory_limit: str) -> None:
    """Hold DuckDB to `memory_limit` (e.g. '256MB'); beyond it, sorts, joins and aggregates
    spill to DuckDB's temp folder (`<warehouse>.tmp` next to the file), and inserts do not keep
    the order of the rows they read. ConfigurationError
    naming QUAL_PIPELINE_WAREHOUSE_MEMORY when DuckDB cannot read the value."""
    try:
        con.execute(f"SET memory_limit = '{_size(memory_limit)}'")
        # Inserts from thousands of lake files need not keep the files' order; keeping it holds
        # every file's rows in memory until the earlier ones are written (out of memory at 300
        # small types under 64MB, 2,000 under 256MB). Every query that needs an order says so.
        con.execute("SET preserve_insertion_order = false")
    except duckdb.Error as exc:
        raise settings.ConfigurationError(
            f"{settings.WAREHOUSE_MEMORY.env}={memory_limit!r} is not a memory size DuckDB "
            "reads; write it as e.g. 256MB or 2GB"
        ) from exc


def _size(text: str) -> str:
    """`text` if it is a plain size (digits, a dot, letters, spaces), else ConfigurationError."""
    if not text.strip() or not all(c.isalnum() or c in ". " for c in text):
        raise settings.ConfigurationError(
            f"{settings.WAREHOUSE_MEMORY.env}={text!r} is not a memory size; write it as e.g. "
            "256MB or 2GB"
        )
    return text.strip()


def _connect(
    path: Path,
    *,
    read_only: bool,
    wait_s: float,
    on_busy: OnBusy | None = None,
    memory_limit: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """Connect, retrying with backoff (50 ms doubling to 1 s) while another process holds the
    file's lock, for up to `wait_s` seconds; any other error is raised at once."""
    deadline = time.monotonic() + wait_s
    delay = 0.05
    told = False
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if on_busy is not None and not told:
                told = True
                on_busy()
            if time.monotonic() >= deadline:
                raise WarehouseBusyError(
                    f"Cannot open {path} for {'reading' if read_only else 'writing'}: another "
                    "process holds it (a load, a push or a query session). Retry when it is done. "
                    f"({exc})"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
            continue
        try:
            return _configure(con, memory_limit)
        except BaseException:
            con.close()
            raise


def open_warehouse(
    data_dir: Path,
    *,
    wait_s: float = 0.0,
    on_busy: OnBusy | None = None,
    memory_limit: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """A writable connection to <data_dir>/warehouse.duckdb, with every table and view in place.

    Only the single writer (the load step, or the push path recording what it pushed) opens this.
    wait_s: how long to wait for another process to release the file before WarehouseBusyError.
    memory_limit: DuckDB's memory limit for this connection's work (None: DuckDB's default, 80%
    of the machine's memory), beyond which it spills to `warehouse.duckdb.tmp`.
    """
    path = warehouse_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _connect(path, read_only=False, wait_s=wait_s, on_busy=on_busy, memory_limit=memory_limit)
    try:
        create_models(con)
    except BaseException:
        con.close()
        raise
    return con


def require_warehouse(data_dir: Path) -> Path:
    """The warehouse file's path; WarehouseNotFoundError, saying what to do, if there is none."""
    path = warehouse_path(data_dir)
    if not path.is_file():
        raise WarehouseNotFoundError(
            f"No warehouse at {path}: run `qual-pipeline refresh` first "
            "(or point QUAL_PIPELINE_DATA_DIR at the data directory that holds warehouse.duckdb)."
        )
    return path


def open_warehouse_read_only(data_dir: Path, *, wait_s: float = 0.0) -> duckdb.DuckDBPyConnection:
    """A read-only connection for queries (and for `plan`, which writes nothing to the file);
    a clear error if nothing was loaded yet. TEMP tables and views work on it."""
    return _connect(require_warehouse(data_dir), read_only=True, wait_s=wait_s)


@contextmanager
def warehouse_session(
    data_dir: Path, *, wait_s: float = SESSION_WAIT_S, on_busy: OnBusy | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A writable connection for one unit of work (the push path), closed when the block ends.

    The warehouse must exist (WarehouseNotFoundError otherwise: there is nothing to push from).
    Waits up to wait_s for a running load to release the file, then WarehouseBusyError. A
    transaction left open by an exception is rolled back when the connection closes.
    """
    if not warehouse_path(data_dir).is_file():
        raise WarehouseNotFoundError(
            f"No warehouse at {warehouse_path(data_dir)}: run `qual-pipeline refresh` first."
        )
    con = open_warehouse(data_dir, wait_s=wait_s, on_busy=on_busy)
    try:
        yield con
    finally:
        con.close()
