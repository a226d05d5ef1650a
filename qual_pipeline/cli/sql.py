"""`qual-pipeline sql`: a read-only query on the warehouse, printed as a table, CSV or JSON."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from qual_pipeline.warehouse.checks import json_ready
from qual_pipeline.warehouse.connection import WarehouseNotFoundError, open_warehouse_read_only


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
                [{n: json_ready(v) for n, v in zip(names, r, strict=True)} for r in rows], indent=1
            )
        )
    elif output == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([[json_ready(v) for v in r] for r in rows])
    else:
        table = Table(
            *names,
            caption=f"{len(rows)} row(s)" + (f", first {limit} shown" if len(rows) > limit else ""),
        )
        for row in rows[:limit]:
            table.add_row(*("" if v is None else str(json_ready(v)) for v in row))
        Console().print(table)
    return 0
