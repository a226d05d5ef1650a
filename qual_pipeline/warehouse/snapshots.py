"""What the load needs to know about a lake snapshot, read from its Parquet footer alone (through
the lake store: a local file, or ranged reads of an object).

The footer gives the row count, the extraction figures the writer left in the key-value metadata,
and (from column statistics) when the rows were extracted, without reading any row. It is also where
a corrupt or foreign file is caught, with its name, before the load transaction starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from qual_pipeline.lake.footer import EXTRACT_METADATA_KEY, read_footer
from qual_pipeline.schema import LAKE_TABLES
from qual_pipeline.stores.lake import LakeSnapshot, LakeStore, LakeStoreError
from qual_pipeline.stores.object_storage import StorageError

EXTRACT_FIGURES = (
    "pages",
    "duplicates",
    "granted",
    "revoked",
    "invalid_locales",
    "retries",
    "throttles",
)
"""The footer's counts that extract_runs keeps, one BIGINT column each."""


class SnapshotError(ValueError):
    """A lake snapshot that cannot be loaded as it is."""


@dataclass(frozen=True)
class Snapshot:
    """One published lake snapshot and what its footer says."""

    lake_table: str
    qualification_type_id: str | None  # None for the unpartitioned qualification_types
    location: str  # what read_parquet takes: a local path or an s3:// URL
    name: str  # the snapshot's file name, <UTC timestamp>.parquet
    row_count: int
    extracted_at: datetime  # when the rows were observed on MTurk (UTC)
    extract: dict[str, Any]  # the footer (lake.footer.read_footer): every key, None when missing


def _time_from_name(name: str) -> datetime:
    return datetime.strptime(name.removesuffix(".parquet"), "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)


def _newest_extracted_at(metadata: pq.FileMetaData, schema: pa.Schema) -> datetime | None:
    column = schema.get_field_index("extracted_at")
    newest: datetime | None = None
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(column).statistics
        if stats is None or not stats.has_min_max or not isinstance(stats.max, datetime):
            continue
        value = stats.max if stats.max.tzinfo else stats.max.replace(tzinfo=UTC)
        newest = value if newest is None or value > newest else newest
    return newest


def _check_schema(path: str, lake_table: str, found: pa.Schema) -> None:
    expected = LAKE_TABLES[lake_table]
    problems = []
    for field in expected:
        index = found.get_field_index(field.name)
        if index < 0:
            problems.append(f"column {field.name} is missing")
        elif not found.field(index).type.equals(field.type):
            problems.append(f"column {field.name} is {found.field(index).type}, not {field.type}")
    if problems:
        raise SnapshotError(
            f"Snapshot {path} does not match the {lake_table} schema ({'; '.join(problems)}). "
            "Delete the file and extract that partition again."
        )


def _check_partition(
    path: str, metadata: pq.FileMetaData, schema: pa.Schema, qualification_type_id: str
) -> None:
    """The rows of a partition's file belong to its type (read from column statistics)."""
    column = schema.get_field_index("qualification_type_id")
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(column).statistics
        if stats is None or not stats.has_min_max:
            continue
        if stats.min != qualification_type_id or stats.max != qualification_type_id:
            raise SnapshotError(
                f"Snapshot {path} holds rows of qualification type {stats.min!r}"
                f"{'' if stats.min == stats.max else f' to {stats.max!r}'}, which belong to "
                f"another qualification type than its partition {qualification_type_id!r}; the "
                "lake partition is corrupt. Delete the file and extract that partition again."
            )


def read_snapshot(lake: LakeStore, snapshot: LakeSnapshot) -> Snapshot:
    """Read a snapshot's footer through its lake store; SnapshotError naming the snapshot if it
    is unreadable or foreign."""
    where = snapshot.location
    try:
        metadata = lake.read_footer(snapshot)
        schema = metadata.schema.to_arrow_schema()
    except (OSError, pa.ArrowException, LakeStoreError, StorageError) as exc:
        raise SnapshotError(
            f"Snapshot {where} is not a readable Parquet file ({exc}). "
            "Delete the file and extract that partition again."
        ) from exc
    _check_schema(where, snapshot.table, schema)
    if snapshot.partition is not None:
        _check_partition(where, metadata, schema, snapshot.partition)
    extract = read_footer((metadata.metadata or {}).get(EXTRACT_METADATA_KEY))
    extracted_at = (
        _newest_extracted_at(metadata, schema)
        or extract["finished_at"]
        or _time_from_name(snapshot.name)
    )
    return Snapshot(
        lake_table=snapshot.table,
        qualification_type_id=snapshot.partition,
        location=snapshot.location,
        name=snapshot.name,
        row_count=metadata.num_rows,
        extracted_at=extracted_at,
        extract=extract,
    )
