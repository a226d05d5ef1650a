"""The `qual-pipeline` command: one entry point for the whole product.

Exit codes scripts can trust: 0 done, 1 the work failed or was refused (the message says why),
2 bad usage or configuration, 130 interrupted.
"""

from __future__ import annotations

import sys

import typer

from qual_pipeline.cli.demo import demo
from qual_pipeline.cli.export import export
from qual_pipeline.cli.local_mturk import app as local_mturk_app
from qual_pipeline.cli.plan import plan
from qual_pipeline.cli.push import push
from qual_pipeline.cli.refresh import refresh
from qual_pipeline.cli.render import err
from qual_pipeline.cli.score import score
from qual_pipeline.cli.sql import sql
from qual_pipeline.cli.ui import ui

app = typer.Typer(
    name="qual-pipeline",
    help="Mirror MTurk qualifications into a Parquet lake and a DuckDB warehouse, and push "
    "changed scores back safely.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(refresh)
app.command()(sql)
app.command()(plan)
app.command()(push)
app.command()(score)
app.command()(export)
app.command()(demo)
app.command()(ui)
app.add_typer(local_mturk_app, name="local-mturk")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
