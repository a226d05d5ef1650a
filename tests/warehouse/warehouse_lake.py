"""Writes lake snapshots for the warehouse tests through the lake store, as the extraction does
(under a data folder, or in any stores, e.g. the shared profile's).

Rows are plain dicts with sensible defaults, so each test states only what it is about.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from support.stores import stores_of

from qual_pipeline.lake.footer import footer_metadata
from qual_pipeline.schema import QUALIFICATION_REQUESTS, QUALIFICATION_TYPES, WORKER_QUALIFICATIONS
from qual_pipeline.stores.lake import LakeSnapshot
from qual_pipeline.stores.profile import Stores
from qual_pipeline.warehouse import LoadResult, load_warehouse

GRANTED_AT = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
SKILL = "3SKILL0000000000000000000000"
OTHER = "3OTHER0000000000000000000000"
T1 = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)
T2 = T1 + timedelta(days=1)
T3 = T2 + timedelta(days=1)
T4 = T3 + timedelta(days=1)


def _write(
    target: Path | Stores,
    table: str,
    partition: str | None,
    schema: pa.Schema,
    rows: list[dict[str, Any]],
    extracted_at: datetime,
    metadata: dict[str, Any] | None,
) -> LakeSnapshot:
    """Publish one snapshot through the lake store of `target` (a data folder, or any stores)."""
    columns = {f.name: [row.get(f.name) for row in rows] for f in schema}
    columns["extracted_at"] = [extracted_at] * len(rows)
    table_rows = pa.Table.from_pydict(columns, schema=schema)
    with stores_of(target).lake.writer(table, schema, partition, snapshot_at=extracted_at) as w:
        w.write(table_rows)
        if metadata is not None:
            w.set_footer_metadata(footer_metadata(metadata))
    assert w.snapshot is not None
    return w.snapshot


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
    data_dir: Path | Stores,
    type_id: str,
    rows: list[dict[str, Any]],
    extracted_at: datetime,
    metadata: dict[str, Any] | None = None,
) -> LakeSnapshot:
    full = [{"qualification_type_id": type_id, **row} for row in rows]
    return _write(
        data_dir,
        "worker_qualifications",
        type_id,
        WORKER_QUALIFICATIONS,
        full,
        extracted_at,
        metadata,
    )


def write_qualification_types(
    data_dir: Path | Stores, types: list[dict[str, Any]], extracted_at: datetime
) -> LakeSnapshot:
    return _write(
        data_dir, "qualification_types", None, QUALIFICATION_TYPES, types, extracted_at, None
    )


def write_qualification_requests(
    data_dir: Path | Stores, type_id: str, rows: list[dict[str, Any]], extracted_at: datetime
) -> LakeSnapshot:
    full = [{"qualification_type_id": type_id, **row} for row in rows]
    return _write(
        data_dir,
        "qualification_requests",
        type_id,
        QUALIFICATION_REQUESTS,
        full,
        extracted_at,
        None,
    )


def load_three_refreshes(data_dir: Path | Stores) -> tuple[LoadResult, LoadResult, LoadResult]:
    """The history scenario: SKILL over three refreshes, OTHER extracted once.

    1: A 10, B 20, C 30, D 40 (and X 1 in OTHER). 2: A's score 15, B revoked.
    3: B granted again, C gone, D moved to US-WA, E new with 50.
    """
    write_worker_qualifications(
        data_dir, SKILL, [worker("A", 10), worker("B", 20), worker("C", 30), worker("D", 40)], T1
    )
    write_worker_qualifications(data_dir, OTHER, [worker("X", 1)], T1)
    first = load_warehouse(stores_of(data_dir))
    write_worker_qualifications(
        data_dir,
        SKILL,
        [worker("A", 15), worker("B", 20, "Revoked"), worker("C", 30), worker("D", 40)],
        T2,
    )
    second = load_warehouse(stores_of(data_dir))
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
    return first, second, load_warehouse(stores_of(data_dir))
