"""Small helpers that turn our results into Dagster metadata."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from dagster import MetadataValue, TableColumn, TableSchema


def column_schema(schema: pa.Schema) -> TableSchema:
    return TableSchema(
        columns=[
            TableColumn(
                name=f.name, type=str(f.type), description=None if f.nullable else "not null"
            )
            for f in schema
        ]
    )


def markdown_table(rows: list[dict[str, Any]], limit: int = 20) -> MetadataValue:
    if not rows:
        return MetadataValue.md("_(none)_")
    headers = list(rows[0])
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows[:limit]:
        lines.append(
            "| " + " | ".join("" if row[h] is None else str(row[h]) for h in headers) + " |"
        )
    if len(rows) > limit:
        lines.append(f"\n_{len(rows) - limit} more rows_")
    return MetadataValue.md("\n".join(lines))
