"""Where things live under the data directory, in one place.

Lake layout (Hive-style, readable as is by DuckDB, Polars and Spark):

    <data_dir>/lake/<table>/qualification_type_id=<id>/<snapshot>.parquet   (partitioned tables)
    <data_dir>/lake/<table>/<snapshot>.parquet                                (qualification_types)

`<snapshot>` is a UTC timestamp `YYYYMMDDTHHMMSSffffffZ`, so names sort in time order. A partition
holds exactly one published snapshot at rest: a new one is written to a dot-prefixed temporary file
(which readers ignore), renamed into place, and only then are older snapshots removed. A reader that
lists a partition mid-publish may see two snapshots for an instant; `current_snapshots` picks the
newest, so the warehouse never reads two.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

PARTITION_KEY = "qualification_type_id"
PARTITIONED_TABLES = ("worker_qualifications", "qualification_requests")
SNAPSHOT_PATTERN = re.compile(r"^\d{8}T\d{12}Z\.parquet$")


def lake_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "lake"


def table_dir(data_dir: Path, table: str) -> Path:
    return lake_dir(data_dir) / table


def partition_dir(data_dir: Path, table: str, qualification_type_id: str) -> Path:
    return table_dir(data_dir, table) / f"{PARTITION_KEY}={qualification_type_id}"


def warehouse_path(data_dir: Path) -> Path:
    return Path(data_dir) / "warehouse.duckdb"


def snapshot_name(at: datetime | None = None) -> str:
    at = (at or datetime.now(UTC)).astimezone(UTC)
    return at.strftime("%Y%m%dT%H%M%S%fZ") + ".parquet"


def snapshots_in(directory: Path) -> list[Path]:
    """Published snapshots in one partition (or unpartitioned table) directory, oldest first."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if SNAPSHOT_PATTERN.match(p.name))


def current_snapshots(data_dir: Path, table: str) -> dict[str, Path]:
    """The newest published snapshot of each partition of a partitioned table, by type id."""
    root = table_dir(data_dir, table)
    found: dict[str, Path] = {}
    if not root.is_dir():
        return found
    prefix = f"{PARTITION_KEY}="
    for part in sorted(root.iterdir()):
        if not (part.is_dir() and part.name.startswith(prefix)):
            continue
        snaps = snapshots_in(part)
        if snaps:
            found[part.name[len(prefix) :]] = snaps[-1]
    return found


def current_snapshot(data_dir: Path, table: str) -> Path | None:
    """The newest published snapshot of an unpartitioned table."""
    snaps = snapshots_in(table_dir(data_dir, table))
    return snaps[-1] if snaps else None
