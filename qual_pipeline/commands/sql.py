"""`qual-pipeline sql`: a read-only query on the warehouse, printed as a table, CSV or JSON."""

from __future__ import annotations

import csv
import json
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.table import Table

from qual_pipeline.warehouse.connection import WarehouseNotFoundError, open_warehouse_read_only


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def run_query(query: str, data_dir: Path, output: str, limit: int, err: Console) -> int:
    try:
        con = open_warehouse_read_only(data_dir)
    except WarehouseNotFoundError as e:
        err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        return 1
    try:
        cursor = con.execute(query)
        if cursor.description is None:
            err.print("the statement returned no rows")
            return 0
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    except duckdb.Error as e:
        err.print(f"[bold red]query failed:[/] {e}", highlight=False, soft_wrap=True)
        return 1
    finally:
        con.close()
    if output == "json":
        print(
            json.dumps(
                [{n: _plain(v) for n, v in zip(names, r, strict=True)} for r in rows], indent=1
            )
        )
    elif output == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([[_plain(v) for v in r] for r in rows])
    else:
        table = Table(
            *names,
            caption=f"{len(rows)} row(s)" + (f", first {limit} shown" if len(rows) > limit else ""),
        )
        for row in rows[:limit]:
            table.add_row(*("" if v is None else str(_plain(v)) for v in row))
        Console().print(table)
    return 0
