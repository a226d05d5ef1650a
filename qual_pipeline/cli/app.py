"""The `qual-pipeline` command: one entry point for the whole product.

Exit codes scripts can trust: 0 done, 1 the work failed or was refused (the message says why),
2 bad usage or configuration.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from qual_pipeline.local_mturk.cli import app as local_mturk_app
from qual_pipeline.push.cli import register as register_push

app = typer.Typer(
    name="qual-pipeline",
    help="Mirror MTurk qualifications into a Parquet lake and a DuckDB warehouse, and push "
    "changed scores back safely.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(local_mturk_app, name="local-mturk")
register_push(app)

err = Console(stderr=True)

DataDir = Annotated[
    Path,
    typer.Option(
        envvar="QUAL_PIPELINE_DATA_DIR",
        help="Folder of the lake and warehouse.duckdb.",
        file_okay=False,
    ),
]


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@app.command()
def refresh(
    data_dir: DataDir = Path("data"),
    types: Annotated[
        str,
        typer.Option(
            envvar="QUAL_PIPELINE_TYPES",
            help="'owned' (every type you own) or a comma-separated list of type ids.",
        ),
    ] = "owned",
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            envvar="MTURK_ENDPOINT_URL",
            help="MTurk endpoint; unset means the real service of --environment.",
        ),
    ] = None,
    environment: Annotated[
        str, typer.Option(envvar="MTURK_ENVIRONMENT", help="sandbox or production.")
    ] = "sandbox",
) -> None:
    """Discover, extract every type into the lake and load the warehouse, through the same Dagster
    definitions the UI uses (runs appear in the UI when DAGSTER_HOME is set)."""
    from qual_pipeline.commands.refresh import run_refresh

    os.environ.update(
        {
            "QUAL_PIPELINE_DATA_DIR": str(data_dir),
            "QUAL_PIPELINE_TYPES": types,
            "MTURK_ENVIRONMENT": environment,
        }
    )
    if endpoint_url:
        os.environ["MTURK_ENDPOINT_URL"] = endpoint_url
    code = run_refresh(err)
    raise typer.Exit(code)


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help='A read-only SQL query, e.g. "SELECT ...".')],
    data_dir: DataDir = Path("data"),
    output: Annotated[
        str, typer.Option(help="table, csv or json.", case_sensitive=False)
    ] = "table",
    limit: Annotated[int, typer.Option(min=1, help="Most rows printed in a table.")] = 200,
) -> None:
    """Run a read-only query on the warehouse and print the result."""
    from qual_pipeline.commands.sql import run_query

    if output.lower() not in ("table", "csv", "json"):
        raise fail(f"--output {output!r} is not known; use table, csv or json", 2)
    raise typer.Exit(run_query(query, data_dir, output.lower(), limit, err))


@app.command()
def demo(
    data_dir: Annotated[
        Path, typer.Option(help="Where the demo keeps its lake, warehouse and inputs.")
    ] = Path("data/demo"),
    workers: Annotated[int, typer.Option(min=10, help="Workers in the demo data set.")] = 3000,
    types: Annotated[int, typer.Option(min=1, max=20, help="Qualification types.")] = 3,
) -> None:
    """Run the whole product end to end against a local MTurk: no credentials needed."""
    from qual_pipeline.commands.demo import run_demo

    raise typer.Exit(run_demo(data_dir.resolve(), workers=workers, types=types))


@app.command()
def ui(
    port: Annotated[int, typer.Option(help="Port of the Dagster UI.")] = 3000,
    data_dir: Annotated[Path, typer.Option(help="Data folder of the UI session.")] = Path("data"),
    workers: Annotated[int, typer.Option(min=10, help="Workers in the local data set.")] = 3000,
    types: Annotated[int, typer.Option(min=1, max=20, help="Qualification types.")] = 4,
) -> None:
    """Start a local MTurk and the Dagster UI (dagster dev) on dagster_home/ and workspace.yaml."""
    from qual_pipeline.commands.ui import run_ui

    raise typer.Exit(run_ui(port=port, data_dir=data_dir.resolve(), workers=workers, types=types))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
