"""The typed Arrow schemas shared by the lake, the warehouse and the push path.

One schema per lake table, identical for every partition, so that DuckDB, Polars and Spark can read
the lake as one dataset and the warehouse never guesses types.
"""

from __future__ import annotations

import pyarrow as pa

UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")

WORKER_QUALIFICATIONS = pa.schema(
    [
        pa.field("qualification_type_id", pa.string(), nullable=False),
        pa.field("worker_id", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),  # 'Granted' | 'Revoked'
        pa.field("integer_value", pa.int32()),  # MTurk's Integer is 32-bit
        pa.field("country", pa.string()),  # ISO 3166-1 alpha-2, or as given when not ISO
        pa.field("subdivision", pa.string()),  # full ISO 3166-2 code, e.g. 'US-WA'
        pa.field("country_name", pa.string()),  # null when the country is not ISO
        pa.field("subdivision_name", pa.string()),  # null when the subdivision is not ISO
        pa.field("grant_time", UTC_TIMESTAMP),
        pa.field("extracted_at", UTC_TIMESTAMP, nullable=False),
    ]
)

QUALIFICATION_TYPES = pa.schema(
    [
        pa.field("qualification_type_id", pa.string(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("description", pa.string()),
        pa.field("keywords", pa.string()),
        pa.field("qualification_type_status", pa.string()),  # 'Active' | 'Inactive'
        pa.field("creation_time", UTC_TIMESTAMP),
        pa.field("is_requestable", pa.bool_()),
        pa.field("auto_granted", pa.bool_()),
        pa.field("auto_granted_value", pa.int32()),
        pa.field("retry_delay_in_seconds", pa.int64()),
        pa.field("test_duration_in_seconds", pa.int64()),
        pa.field("has_test", pa.bool_()),
        pa.field("extracted_at", UTC_TIMESTAMP, nullable=False),
    ]
)

QUALIFICATION_REQUESTS = pa.schema(
    [
        pa.field("qualification_request_id", pa.string(), nullable=False),
        pa.field("qualification_type_id", pa.string(), nullable=False),
        pa.field("worker_id", pa.string(), nullable=False),
        pa.field("test", pa.string()),
        pa.field("answer", pa.string()),
        pa.field("submit_time", UTC_TIMESTAMP),
        pa.field("extracted_at", UTC_TIMESTAMP, nullable=False),
    ]
)

LAKE_TABLES: dict[str, pa.Schema] = {
    "worker_qualifications": WORKER_QUALIFICATIONS,
    "qualification_types": QUALIFICATION_TYPES,
    "qualification_requests": QUALIFICATION_REQUESTS,
}
