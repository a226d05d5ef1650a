"""Small helpers that turn our results into Dagster metadata."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from dagster import MetadataValue, TableColumn, TableColumnConstraints, TableSchema

from qual_pipeline.warehouse.columns import table_doc


def warehouse_column_schema(table: str) -> TableSchema:
    """`dagster/column_schema` of a warehouse table: DuckDB's types, descriptions from its DDL."""
    return TableSchema(
        columns=[
            TableColumn(
                name=c.name,
                type=c.type,
                description=c.description,
                constraints=TableColumnConstraints(nullable=c.nullable),
            )
            for c in table_doc(table).columns
        ]
    )


def lake_column_schema(schema: pa.Schema, table: str) -> TableSchema:
    """`dagster/column_schema` of a lake table: its Arrow types, and the descriptions of the
    warehouse table of the same name and columns (the one place columns are described)."""
    described = {c.name: c.description for c in table_doc(table).columns}
    return TableSchema(
        columns=[
            TableColumn(
                name=f.name,
                type=str(f.type),
                description=described[f.name],
                constraints=TableColumnConstraints(nullable=f.nullable),
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
