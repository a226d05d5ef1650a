"""What every warehouse table and column means, read back from its DDL file: the one source.

Each `sql/<table>.sql` opens with comment lines that say what the table holds, and gives every
column a `-- description` after its definition (continued on comment lines below it). The
Dagster assets' `dagster/column_schema` and the README's column tables are both made from here,
so they cannot drift from the SQL; types and nullability come from DuckDB itself, by running the
DDL in an in-memory database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb

from qual_pipeline.warehouse.sql_files import SQL_DIR, TABLES, sql_text

_COLUMN_LINE = re.compile(r"^\s+(?P<name>[a-z_][a-z0-9_]*)\s+[A-Z][^-]*?(?:--\s*(?P<text>.*))?$")
_COMMENT_LINE = re.compile(r"^\s*--\s?(?P<text>.*)$")


class ColumnDocError(ValueError):
    """A warehouse DDL file leaves a column without a description; the message names both."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB's type name, e.g. VARCHAR, TIMESTAMP WITH TIME ZONE
    nullable: bool
    description: str


@dataclass(frozen=True)
class TableDoc:
    name: str
    description: str
    columns: tuple[Column, ...]


def _descriptions(ddl: str) -> tuple[str, dict[str, str]]:
    """The table's leading comment and each column's description, from the text of its DDL."""
    header: list[str] = []
    described: dict[str, list[str]] = {}
    current: str | None = None
    in_body = False
    for line in ddl.splitlines():
        if not in_body:
            if line.lstrip().upper().startswith("CREATE"):
                in_body = True
            elif (comment := _COMMENT_LINE.match(line)) is not None:
                header.append(comment.group("text").strip())
            continue
        if line.strip().startswith(")"):
            break
        if (comment := _COMMENT_LINE.match(line)) is not None:
            if current is not None:
                described[current].append(comment.group("text").strip())
        elif (column := _COLUMN_LINE.match(line)) is not None:
            current = column.group("name")
            described[current] = [(column.group("text") or "").strip()]
    texts = {name: " ".join(part for part in parts if part) for name, parts in described.items()}
    return " ".join(header), texts


@cache
def table_doc(table: str, sql_dir: Path = SQL_DIR) -> TableDoc:
    """The description and columns of warehouse table `table` (one of `TABLES`), from
    `<sql_dir>/<table>.sql` (by default the SQL shipped in the package).

    Raises ColumnDocError when a column of the table has no description in its DDL file.
    """
    if table not in TABLES:
        raise ValueError(f"{table!r} is not a warehouse table; the tables are {', '.join(TABLES)}")
    # A DDL file is never read from a user's --sql-dir (sql_text would give the package's):
    # `sql_dir` here is this package's or a test's folder of DDL files.
    own = Path(sql_dir) == SQL_DIR
    ddl = sql_text(table) if own else (Path(sql_dir) / f"{table}.sql").read_text("utf-8")
    description, texts = _descriptions(ddl)
    con = duckdb.connect(":memory:")
    try:
        con.execute(ddl)
        described = con.execute(f'DESCRIBE "{table}"').fetchall()
    finally:
        con.close()
    columns = []
    for name, column_type, null, *_ in described:
        text = texts.get(name, "")
        if not text:
            raise ColumnDocError(
                f"{Path(sql_dir) / table}.sql: column {name} has no description; add "
                "`-- what it means` after its definition"
            )
        columns.append(Column(name, column_type, null == "YES", text))
    return TableDoc(table, description, tuple(columns))


def markdown_table(table: str) -> str:
    """The README's text for `table`: what it holds, then each column's type and meaning."""
    doc = table_doc(table)
    lines = [doc.description, "", "| column | type | meaning |", "|---|---|---|"]
    for c in doc.columns:
        kind = c.type if c.nullable else f"{c.type} NOT NULL"
        lines.append(f"| {c.name} | {kind} | {c.description.replace('|', '&#124;')} |")
    return "\n".join(lines) + "\n"
