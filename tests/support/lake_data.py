"""Rows for lake tests: worker_qualifications batches, small or deliberately large; footers."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from qual_pipeline.lake.footer import EXTRACT_METADATA_KEY
from qual_pipeline.schema import UTC_TIMESTAMP, WORKER_QUALIFICATIONS

TYPE_ID = "3TESTTYPE000000000000000000001"
EXTRACTED_AT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def worker_rows(
    count: int, *, type_id: str = TYPE_ID, start: int = 0, pad: int = 0
) -> pa.RecordBatch:
    """`count` granted workers numbered from `start` with scores 0..99; `pad` random hex characters
    appended to each worker id make the file big (random, so Parquet cannot compress them away)."""
    ids = [
        f"AW{start + i:012d}" + (os.urandom(pad // 2).hex() if pad else "") for i in range(count)
    ]
    return pa.RecordBatch.from_pydict(
        {
            "qualification_type_id": [type_id] * count,
            "worker_id": ids,
            "status": ["Granted"] * count,
            "integer_value": pa.array([(start + i) % 100 for i in range(count)], pa.int32()),
            "country": [None] * count,
            "subdivision": [None] * count,
            "country_name": [None] * count,
            "subdivision_name": [None] * count,
            "grant_time": pa.array([None] * count, UTC_TIMESTAMP),
            "extracted_at": pa.array([EXTRACTED_AT] * count, UTC_TIMESTAMP),
        },
        schema=WORKER_QUALIFICATIONS,
    )


def big_batches(min_bytes: int, *, type_id: str = TYPE_ID) -> list[pa.RecordBatch]:
    """Batches whose Parquet file is larger than min_bytes: 1024 hex characters of noise per row,
    which no codec shrinks below the 512 random bytes they encode."""
    per_batch, pad = 1000, 1024
    batches = min_bytes // (per_batch * pad // 2) + 1
    return [
        worker_rows(per_batch, type_id=type_id, start=i * per_batch, pad=pad)
        for i in range(batches)
    ]


def footer_figures(location: str | Path) -> dict[str, Any] | None:
    """The extraction figures a snapshot file carries in its footer, as written (JSON), or None."""
    raw = (pq.read_metadata(str(location)).metadata or {}).get(EXTRACT_METADATA_KEY)
    return json.loads(raw) if raw is not None else None
