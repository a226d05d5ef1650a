"""Names in the lake, in one place: tables, the partition key, snapshot names, and where the local
profile keeps its files.

Lake layout (Hive-style, readable as is by DuckDB, Polars and Spark), the same under a folder and
under an object storage prefix (qual_pipeline.stores.lake lists, reads, writes and deletes it):

    <root>/<table>/qualification_type_id=<id>/<snapshot>.parquet   (partitioned tables)
    <root>/<table>/<snapshot>.parquet                               (qualification_types)

`<root>` is `<data_dir>/lake` in the local profile and `s3://BUCKET/PREFIX/lake/<environment>/
<account>` in the shared one. `<snapshot>` is a UTC timestamp `YYYYMMDDTHHMMSSffffffZ`, so names
sort in time order. A snapshot appears whole or not at all; older snapshots of a partition are
deleted by a later publish once they have been superseded for the grace period, so a partition
holds the newest snapshot and, for a while, the ones it superseded: the warehouse always reads the
newest.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

PARTITION_KEY = "qualification_type_id"
PARTITIONED_TABLES = ("worker_qualifications", "qualification_requests")
SNAPSHOT_PATTERN = re.compile(r"^\d{8}T\d{12}Z\.parquet$")


def lake_dir(data_dir: Path) -> Path:
    """The local profile's lake folder."""
    return Path(data_dir) / "lake"


def warehouse_path(data_dir: Path) -> Path:
    """The local profile's warehouse file."""
    return Path(data_dir) / "warehouse.duckdb"


def snapshot_name(at: datetime | None = None) -> str:
    at = (at or datetime.now(UTC)).astimezone(UTC)
    return at.strftime("%Y%m%dT%H%M%S%fZ") + ".parquet"
