"""`qual-pipeline sql`: a read-only query on the warehouse, printed as a table, CSV or JSON.

The query's connection is read-only (the warehouse file opened read-only, DuckLake attached
READ_ONLY) and then locked down (`lock_down`): no file outside the warehouse can be read or
written (no COPY, EXPORT, ATTACH, read_csv of a path), no extension installed or loaded, no
setting changed. TEMP tables and views still work: they live in the connection, for the one
command.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from typing import TYPE_CHECKING, Annotated, TextIO

import typer
from rich.markup import escape

from qual_pipeline.cli import preflight
from qual_pipeline.cli.options import SettingValues, open_cli_stores, takes_settings
from qual_pipeline.cli.render import err, fail, out, query_table, stdout_gone, warehouse_message
from qual_pipeline.settings import ConfigurationError

if TYPE_CHECKING:
    import duckdb

    from qual_pipeline.stores.profile import Stores

OUTPUTS = ("table", "csv", "json")
LOCKED = "the configuration has been locked"
"""In DuckDB's message refusing a SET on a connection with lock_configuration."""


@takes_settings("sql")
def sql(
    query: Annotated[
        str, typer.Argument(metavar="QUERY", help='A read-only SQL query, e.g. "SELECT ...".')
    ],
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


def allowed_directories(stores: Stores) -> list[str]:
    """The folders the locked-down connection may still read besides the warehouse file: the
    shared profile's DuckLake data files (s3://BUCKET/PREFIX/warehouse/...); none locally."""
    from qual_pipeline.stores.warehouse import DuckLakeWarehouse

    warehouse = stores.warehouse
    return [warehouse.data_path] if isinstance(warehouse, DuckLakeWarehouse) else []


def lock_down(con: duckdb.DuckDBPyConnection, directories: list[str]) -> None:
    """Make `con` (a read-only warehouse connection) unable to touch anything else: no file
    access outside `directories` (DuckDB's enable_external_access off: no COPY TO, EXPORT,
    ATTACH, INSTALL or LOAD, no read_csv of a path), extensions neither installed nor loaded
    automatically, and the configuration locked (no SET of a setting, no RESET). Each is one-way
    for the connection."""
    for name in ("autoinstall_known_extensions", "autoload_known_extensions"):
        con.execute(f"SET {name} = false")
    if directories:
        con.execute("SET allowed_directories = ?", [directories])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _empty(query: str) -> bool:
    """Whether `query` holds no statement (blank, only comments or semicolons)."""
    import duckdb

    if not query.strip():
        return True
    try:
        return not duckdb.extract_statements(query)
    except duckdb.Error:
        return False  # a syntax error: running it reports it


def _statements(query: str) -> int:
    """How many statements `query` holds (0 when DuckDB cannot split it: running it reports the
    syntax error)."""
    import duckdb

    try:
        return len(duckdb.extract_statements(query))
    except duckdb.Error:
        return 0


NESTED = ("list", "array", "struct", "map", "union")
"""DuckDB type ids whose values csv and the table write as JSON (`to_json`)."""
_NON_FINITE = re.compile(r'"(?:[^"\\]|\\.)*"|-?Infinity|NaN')
"""A JSON string (left as it is) or one of the bare words DuckDB's to_json writes for a DOUBLE or
FLOAT that is not finite, which JSON has no number for."""


def json_text(value: str | None) -> str:
    """DuckDB's `to_json` text of one value as valid JSON: null for NULL, and NaN, Infinity and
    -Infinity (anywhere in it, also inside a list or struct) as the strings "NaN", "Infinity",
    "-Infinity"."""
    if value is None:
        return "null"
    if "NaN" not in value and "Infinity" not in value:
        return value
    return _NON_FINITE.sub(lambda m: m[0] if m[0][0] == '"' else f'"{m[0]}"', value)


def as_text(type_id: str, column: int, output: str) -> str:
    """The DuckDB expression writing result column `column` (from 1) of DuckDB type `type_id` as
    text for `output`: json, every value as JSON (`to_json`); csv and table, lists, arrays,
    structs, maps and unions as JSON and every other value as DuckDB's cast to VARCHAR."""
    if output == "json" or type_id in NESTED:
        return f"to_json(#{column})::VARCHAR"
    return f"CAST(#{column} AS VARCHAR)"


def run_query(query: str, stores: Stores, output: str, limit: int) -> int:
    """Run `query` on a locked-down, read-only warehouse connection and print its result as
    `output` (table, csv or json) on stdout; the exit code: 0 printed (also when the reader of
    stdout closed it early), 1 the query failed or was refused, 2 an empty query.

    Every value is written as DuckDB writes it (one rule for every type, `as_text`), so no DuckDB
    type (an INTERVAL, a BLOB, a UUID, a MAP...) can fail to print."""
    import duckdb

    from qual_pipeline.stores.warehouse import WarehouseStoreError

    if _empty(query):
        return fail('the query is empty: pass one, e.g. qual-pipeline sql "SELECT 1"', 2).exit_code
    if (count := _statements(query)) > 1:
        return fail(
            f"the query holds {count} statements and one result is printed: pass one statement "
            "per qual-pipeline sql (combine SELECTs with UNION ALL or a WITH clause)",
            2,
        ).exit_code
    try:
        con = stores.warehouse.connect(read_only=True)
    except WarehouseStoreError as e:
        return fail(warehouse_message(e)).exit_code
    try:
        lock_down(con, allowed_directories(stores))
        relation = con.sql(query)
        if relation is None:
            err.print("the statement returned no rows")
            return 0
        result = relation.execute()  # run once: the text below is made from these rows
        names = list(result.columns)
        if output == "json" and (clash := duplicate_name(names)) is not None:
            err.print(
                f"[bold red]query refused:[/] {escape(clash)}", highlight=False, soft_wrap=True
            )
            return 1
        texts = ", ".join(as_text(t.id, i, output) for i, t in enumerate(result.types, start=1))
        rows = result.project(texts).fetchall()
        nested = [i for i, t in enumerate(result.types) if t.id in NESTED]
    except RuntimeError as e:  # DuckDB's 'Query interrupted', from a KeyboardInterrupt (Ctrl-C)
        if isinstance(e.__cause__, KeyboardInterrupt):
            return 130  # the signal's handler said `interrupted (SIGINT)` (qual_pipeline.entry)
        raise
    except duckdb.Error as e:
        damaged = stores.warehouse.damage(e)  # a corrupt block the query read: not the query's
        if damaged is not None:
            return fail(warehouse_message(damaged)).exit_code
        if isinstance(e, duckdb.PermissionException) or LOCKED in str(e):
            err.print(
                "[bold red]query refused:[/] `qual-pipeline sql` only reads the warehouse (it "
                "writes no file, reads none outside the warehouse, installs or loads no extension "
                f"and changes no setting): {escape(str(e).splitlines()[0])}",
                highlight=False,
                soft_wrap=True,
            )
            return 1
        err.print(f"[bold red]query failed:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        return 1
    finally:
        con.close()
    if nested and output != "json":  # JSON inside a cell: valid JSON too
        rows = [
            tuple(json_text(v) if i in nested and v is not None else v for i, v in enumerate(r))
            for r in rows
        ]
    if output == "table":
        out.print(query_table(names, rows, limit, out.width))
        return 0
    try:
        if output == "json":
            write_json(names, rows, sys.stdout)
        else:
            write_csv(names, rows, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:
        stdout_gone()
    return 0


def duplicate_name(names: list[str]) -> str | None:
    """Why `--output json` cannot write columns `names` (a JSON object holds one value per key:
    a second column of one name would hide the first from most readers), or None: one sentence
    naming the repeated name and the fix."""
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    repeated = [name for name, count in seen.items() if count > 1]
    if not repeated:
        return None
    name = repeated[0]
    return (
        f"--output json writes one key per column, and {seen[name]} columns are named "
        f"{json.dumps(name)}: give each its own name with AS (e.g. SELECT 1 AS a, 2 AS b), or "
        "use --output csv or table"
    )


def write_json(names: list[str], rows: list[tuple[str | None, ...]], stream: TextIO) -> None:
    """`rows` (each value DuckDB's to_json text, or None) as a JSON array of objects, one key per
    column in the query's order, laid out as `json.dumps(..., indent=1)` lays it out."""
    if not rows:
        stream.write("[]\n")
        return
    keys = [json.dumps(name) for name in names]
    stream.write("[\n")
    for n, row in enumerate(rows):
        fields = ",\n".join(
            f"  {key}: {json_text(value)}" for key, value in zip(keys, row, strict=True)
        )
        stream.write(f" {{\n{fields}\n }}{',' if n < len(rows) - 1 else ''}\n")
    stream.write("]\n")


def write_csv(names: list[str], rows: list[tuple[str | None, ...]], stream: TextIO) -> None:
    """`rows` (each value text, or None) as CSV with a header; NULL is an empty cell."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(names)
    writer.writerows(rows)
