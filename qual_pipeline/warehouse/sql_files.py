"""Runs the plain .sql files under sql/: the warehouse's tables, views, load steps and checks.

The SQL is the product a user reads and extends; Python only decides the order and binds parameters.
Tables and views are listed explicitly in dependency order, so adding a model is one file plus one
line here.

The warehouse's schema (every table and view, push_audit included) is applied as a migration, once
per version (`ensure_schema`): the version is a digest of the DDL files' text, so a release that
changes any of them migrates every warehouse once, and opening a warehouse at that version runs no
DDL at all. The DDL is idempotent (CREATE TABLE IF NOT EXISTS, ADD COLUMN IF NOT EXISTS, CREATE OR
REPLACE VIEW), so warehouses written before migrations were recorded migrate too.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from qual_pipeline.stores.warehouse import WarehouseStore

SQL_DIR = Path(str(files("qual_pipeline") / "sql"))
"""The SQL shipped inside the package (package data, read the same from a checkout or a wheel)."""

TABLES: tuple[str, ...] = (
    "qualification_types",
    "worker_qualifications",
    "worker_qualification_history",
    "qualification_requests",
    "extract_runs",
    "warehouse_loads",
    "check_results",
)
"""Warehouse tables, each made by sql/<name>.sql (CREATE TABLE IF NOT EXISTS)."""

VIEWS: tuple[str, ...] = (
    "worker_qualification_changes",
    "changes_per_day",  # reads worker_qualification_changes
    "score_distribution",
    "score_scales",
    "workers_by_location",
    "revocations",
    "daily_scores",
)
"""Analysis views in dependency order, each made by sql/<name>.sql (CREATE OR REPLACE VIEW)."""


USER_MODELS: tuple[str, ...] = ("desired_scores", "grant_decisions")
"""The models a user owns (README, "The two models you own"): the only files read from a folder
the user names (`--sql-dir`). Every other model (the plan, guard, journal and audit SQL) always
comes from the package, so no file in that folder can change what the safety checks compute."""


def sql_path(relative: str, sql_dir: Path = SQL_DIR) -> Path:
    """The file `sql_text(relative, sql_dir)` reads: <sql_dir>/<relative>.sql when `relative` is
    one of USER_MODELS and that folder holds it, else the package's own. A folder the user names
    (`--sql-dir`) thus overrides only their desired_scores.sql and grant_decisions.sql; the
    package gives the rest. `relative` comes from this package, never from user input."""
    own = Path(sql_dir) / f"{relative}.sql"
    if Path(sql_dir) == SQL_DIR or (relative in USER_MODELS and own.is_file()):
        return own
    return SQL_DIR / f"{relative}.sql"


def foreign_sql_files(sql_dir: Path) -> list[str]:
    """The .sql files under `sql_dir` (any depth, sorted, relative to it with `/`) other than
    the USER_MODELS at its top: files a user may expect `--sql-dir` to read, which it never does.
    Empty for the package's own folder."""
    folder = Path(sql_dir)
    if folder == SQL_DIR:
        return []
    allowed = {folder / f"{name}.sql" for name in USER_MODELS}
    return sorted(
        path.relative_to(folder).as_posix() for path in folder.rglob("*.sql") if path not in allowed
    )


def sql_source(relative: str, sql_dir: Path = SQL_DIR) -> str:
    """How messages name the file `sql_text` reads: `sql/<relative>.sql` for the package's
    own, else the user's file as their folder names it (e.g. `mysql/desired_scores.sql`)."""
    path = sql_path(relative, sql_dir)
    return f"sql/{relative}.sql" if path.parent == SQL_DIR else str(path)


def sql_text(relative: str, sql_dir: Path = SQL_DIR) -> str:
    """The text of `sql_path(relative, sql_dir)`: the user's <sql_dir>/<relative>.sql when their
    folder holds it, else the SQL shipped in the package. FileNotFoundError names the file and
    the fix when neither is there (an incomplete installation)."""
    path = sql_path(relative, sql_dir)
    if not path.is_file():
        raise FileNotFoundError(
            f"SQL file {path} is missing; the installed qual_pipeline package is incomplete: "
            "install it again"
        )
    return path.read_text(encoding="utf-8")


def run_sql_file(
    con: duckdb.DuckDBPyConnection, relative: str, params: Mapping[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """Run every statement of sql/<relative>.sql, binding the named parameters each one uses.

    Returns the connection holding the last statement's result.
    """
    import duckdb

    params = params or {}
    result = con
    for statement in duckdb.extract_statements(sql_text(relative)):
        used = {name: params[name] for name in statement.named_parameters}
        result = con.execute(statement, used) if used else con.execute(statement)
    return result


SCHEMA_FILES: tuple[str, ...] = (*TABLES, "push_audit", *VIEWS)
"""The DDL files of the warehouse's schema, in the order a migration runs them."""


COLUMN_COMPRESSION = re.compile(r"\s+USING\s+COMPRESSION\s+\w+", re.IGNORECASE)
"""A column's `USING COMPRESSION <method>` in a table's DDL. A DuckDB file then does not try every
string compression on every segment it writes (10,000,000 rows loaded and merged: CPU x0.71,
same file size); DuckLake, which writes Parquet, refuses the clause, so it is left out there."""


def create_models(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tables that do not exist yet (adding the columns newer versions record) and
    (re)create every view, in dependency order. Column compression is kept only in a DuckDB
    file (the current database's type is `duckdb`)."""
    import duckdb

    kind = con.execute(
        "SELECT type FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()
    keep_compression = bool(kind) and kind[0][0] == "duckdb"
    for name in SCHEMA_FILES:
        text = sql_text(name)
        if not keep_compression:
            text = COLUMN_COMPRESSION.sub("", text)
        for statement in duckdb.extract_statements(text):
            con.execute(statement)


@cache
def schema_version() -> str:
    """`schema-` and 16 hex digits of a SHA-256 of the schema's DDL files, in order."""
    digest = hashlib.sha256()
    for name in SCHEMA_FILES:
        digest.update(name.encode() + b"\0" + sql_text(name).encode() + b"\0")
    return "schema-" + digest.hexdigest()[:16]


def ensure_schema(store: WarehouseStore, con: duckdb.DuckDBPyConnection) -> bool:
    """Migrate the warehouse to this version's schema on `con`, a connection of
    `store.writer()`: a read when it is there already. True when this call applied it."""
    return store.migrate_with(con, schema_version(), create_models)


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> Iterator[None]:
    """Expose an Arrow table to SQL under `name` for the duration of the block, as a temporary
    table holding a copy of its rows (`name` comes from this package, never from user input).

    A copy, not a view of the Arrow table: DuckDB knows a table's row count, so a join of a
    short list (the refreshed types) with a large table builds its hash table on the short side;
    over an Arrow view it could pick the large side and run out of the memory limit (it did at
    10,000,000 rows under 256MB). Created inside the caller's transaction, if any, so a rollback
    removes it too.
    """
    import duckdb

    view = f"_arrow_{name}"
    con.register(view, table)
    try:
        con.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" AS SELECT * FROM "{view}"')
    finally:
        con.unregister(view)
    try:
        yield
    finally:
        with contextlib.suppress(duckdb.Error):  # an aborted transaction drops it on rollback
            con.execute(f'DROP TABLE IF EXISTS temp.main."{name}"')
