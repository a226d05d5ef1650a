"""DuckDB connections that never download anything, and its extensions loaded by path.

The shared profile needs three DuckDB extensions: `httpfs` (S3), `ducklake` and `postgres_scanner`
(DuckLake's PostgreSQL catalog). DuckDB would download them from its own repository at run time;
here they come from PyPI at install time instead, as the wheels `duckdb-extension-httpfs`,
`duckdb-extension-ducklake` and `duckdb-extension-postgres-scanner` pinned to DuckDB's exact
version, and are loaded from the installed package by path. Every connection is opened with
`autoinstall_known_extensions` and `autoload_known_extensions` off and `allow_unsigned_extensions`
off, so DuckDB checks each extension's signature on LOAD and never fetches one by itself.

Production hosts get the extensions the same way (`pip install qual_pipeline` brings the wheels).
Where a wheel is absent (e.g. another DuckDB build), `load_extensions` falls back to `LOAD <name>`
from DuckDB's extension directory, which an air-gapped host can pre-populate (`INSTALL <name>` run
once on a connected machine, then copy `~/.duckdb/extensions/`); it still never downloads.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.util import find_spec
from pathlib import Path
from typing import Final

import duckdb

NO_DOWNLOADS: Final = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_unsigned_extensions": False,
}
"""DuckDB configuration of every store connection: no extension is fetched or loaded implicitly."""

EXTENSION_WHEELS: Final = {
    "httpfs": "duckdb_extension_httpfs",
    "ducklake": "duckdb_extension_ducklake",
    "postgres_scanner": "duckdb_extension_postgres_scanner",
}
"""Extension name -> the importable package of its PyPI wheel."""


class ExtensionMissingError(RuntimeError):
    """A DuckDB extension is neither installed as a wheel nor in DuckDB's extension directory."""


def extension_path(name: str) -> Path | None:
    """The extension file shipped by its wheel for this DuckDB version, or None without it."""
    package = EXTENSION_WHEELS.get(name)
    if package is None or find_spec(package) is None:
        return None
    path = Path(
        str(files(package) / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension")
    )
    return path if path.is_file() else None


def connect(database: str = ":memory:", *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with NO_DOWNLOADS, UTC timestamps and no progress bars in logs."""
    con = duckdb.connect(database, read_only=read_only, config=dict(NO_DOWNLOADS))
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    return con


def load_extensions(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    """LOAD each extension from its wheel by path (signature checked), else from DuckDB's
    extension directory; ExtensionMissingError naming the wheel to install if neither has it."""
    for name in names:
        path = extension_path(name)
        try:
            if path is not None:
                con.execute("LOAD '" + str(path).replace("'", "''") + "'")
            else:
                con.execute(f"LOAD {_identifier(name)}")
        except duckdb.Error as exc:
            wheel = EXTENSION_WHEELS.get(name, name).replace("_", "-")
            raise ExtensionMissingError(
                f"DuckDB extension {name!r} could not be loaded ({exc}). Install the wheel "
                f"`{wheel}=={duckdb.__version__}` (a dependency of qual_pipeline), or install the "
                "extension into DuckDB's extension directory on this host."
            ) from exc


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not an extension name: {name!r}")
    return name
