"""`qual-pipeline sql`: a read-only query on the warehouse, printed as a table, CSV or JSON."""

from __future__ import annotations

import csv
import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from qual_pipeline.cli import preflight
from qual_pipeline.cli.options import SettingValues, open_cli_stores, takes_settings
from qual_pipeline.cli.render import err, fail, out, query_table, warehouse_message
from qual_pipeline.settings import ConfigurationError

if TYPE_CHECKING:
    from qual_pipeline.stores.profile import Stores

OUTPUTS = ("table", "csv", "json")


@takes_settings("sql")
def sql(
    query: Annotated[str, typer.Argument(help='A read-only SQL query, e.g. "SELECT ...".')],
    output: Annotated[
        str, typer.Option(help="table, csv or json.", case_sensitive=False)
    ] = "table",
    limit: Annotated[int, typer.Option(min=1, help="Most rows printed in a table.")] = 200,
    *,
    values: SettingValues,
) -> None:
    """Run a read-only query on the warehouse and print the result (a DuckDB file, or the
    shared profile's DuckLake, read at its last commit without waiting for a writer)."""
    if output.lower() not in OUTPUTS:
        raise fail(f"--output {output!r} is not known; use table, csv or json", 2)
    preflight.check("sql", values)
    try:
        stores = open_cli_stores(values, warehouse_wait_s=0.0)
    except ConfigurationError as e:
        raise fail(e, 2) from None
    raise typer.Exit(run_query(query, stores, output.lower(), limit))


def run_query(query: str, stores: Stores, output: str, limit: int) -> int:
    import duckdb

    from qual_pipeline.stores.warehouse import WarehouseStoreError
    from qual_pipeline.warehouse.checks import json_ready

    try:
        con = stores.warehouse.connect(read_only=True)
    except WarehouseStoreError as e:
        return fail(warehouse_message(e)).exit_code
    try:
        cursor = con.execute(query)
        if cursor.description is None:
            err.print("the statement returned no rows")
            return 0
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    except duckdb.Error as e:
        damaged = stores.warehouse.damage(e)  # a corrupt block the query read: not the query's
        if damaged is not None:
            return fail(warehouse_message(damaged)).exit_code
        err.print(f"[bold red]query failed:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
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
        out.print(query_table(names, [[json_ready(v) for v in r] for r in rows], limit, out.width))
    return 0
