"""Writes lake snapshots for the warehouse tests the way the lake writer publishes them.

Rows are plain dicts with sensible defaults, so each test states only what it is about.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from qual_pipeline.lake import layout
from qual_pipeline.schema import QUALIFICATION_REQUESTS, QUALIFICATION_TYPES, WORKER_QUALIFICATIONS
from qual_pipeline.warehouse import LoadResult, load_warehouse

GRANTED_AT = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
SKILL = "3SKILL0000000000000000000000"
OTHER = "3OTHER0000000000000000000000"
T1 = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)
T2 = T1 + timedelta(days=1)
T3 = T2 + timedelta(days=1)
T4 = T3 + timedelta(days=1)


def _write(
    directory: Path,
    schema: pa.Schema,
    rows: list[dict[str, Any]],
    extracted_at: datetime,
    metadata: dict[str, Any] | None,
) -> Path:
    columns = {f.name: [row.get(f.name) for row in rows] for f in schema}
    columns["extracted_at"] = [extracted_at] * len(rows)
    table = pa.Table.from_pydict(columns, schema=schema)
    if metadata is not None:
        table = table.replace_schema_metadata(
            {b"qual_pipeline.extract": json.dumps(metadata).encode()}
        )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / layout.snapshot_name(extracted_at)
    tmp = directory / f".{path.name}"
    pq.write_table(table, tmp)
    tmp.rename(path)
    return path


def worker(worker_id: str, value: int | None = 10, status: str = "Granted", **more: Any) -> dict:
    row = {
        "worker_id": worker_id,
        "integer_value": value,
        "status": status,
        "grant_time": GRANTED_AT,
    }
    row.update(more)
    return row


def write_worker_qualifications(
    data_dir: Path,
    type_id: str,
    rows: list[dict[str, Any]],
    extracted_at: datetime,
    metadata: dict[str, Any] | None = None,
) -> Path:
    full = [{"qualification_type_id": type_id, **row} for row in rows]
    directory = layout.partition_dir(data_dir, "worker_qualifications", type_id)
    return _write(directory, WORKER_QUALIFICATIONS, full, extracted_at, metadata)


def write_qualification_types(
    data_dir: Path, types: list[dict[str, Any]], extracted_at: datetime
) -> Path:
    directory = layout.table_dir(data_dir, "qualification_types")
    return _write(directory, QUALIFICATION_TYPES, types, extracted_at, None)


def write_qualification_requests(
    data_dir: Path, type_id: str, rows: list[dict[str, Any]], extracted_at: datetime
) -> Path:
    full = [{"qualification_type_id": type_id, **row} for row in rows]
    directory = layout.partition_dir(data_dir, "qualification_requests", type_id)
    return _write(directory, QUALIFICATION_REQUESTS, full, extracted_at, None)


def load_three_refreshes(data_dir: Path) -> tuple[LoadResult, LoadResult, LoadResult]:
    """The history scenario: SKILL over three refreshes, OTHER extracted once.

    1: A 10, B 20, C 30, D 40 (and X 1 in OTHER). 2: A's score 15, B revoked.
    3: B granted again, C gone, D moved to US-WA, E new with 50.
    """
    write_worker_qualifications(
        data_dir, SKILL, [worker("A", 10), worker("B", 20), worker("C", 30), worker("D", 40)], T1
    )
    write_worker_qualifications(data_dir, OTHER, [worker("X", 1)], T1)
    first = load_warehouse(data_dir)
    write_worker_qualifications(
        data_dir,
        SKILL,
        [worker("A", 15), worker("B", 20, "Revoked"), worker("C", 30), worker("D", 40)],
        T2,
    )
    second = load_warehouse(data_dir)
    write_worker_qualifications(
        data_dir,
        SKILL,
        [
            worker("A", 15),
            worker("B", 20),
            worker("D", 40, country="US", subdivision="US-WA"),
            worker("E", 50),
        ],
        T3,
    )
    return first, second, load_warehouse(data_dir)
