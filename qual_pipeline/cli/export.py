"""`qual-pipeline export`: the warehouse as the requester website's worker CSV, to edit and bring
back with `qual-pipeline plan --website-csv FILE`. Reads the warehouse only.

Exit codes: 0 written, 1 no warehouse, a busy one or a file that cannot be written, 2 bad usage.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from qual_pipeline.cli import preflight
from qual_pipeline.cli.options import SettingValues, open_cli_stores, takes_settings
from qual_pipeline.cli.render import failures, say


@takes_settings("export")
def export(
    website_csv: Annotated[
        Path,
        typer.Option(
            "--website-csv",
            dir_okay=False,
            help="File to write in the requester website's worker CSV layout: Worker ID, then "
            "CURRENT-<type name> and an empty UPDATE-<type name> per mirrored type.",
        ),
    ],
    *,
    values: SettingValues,
) -> None:
    """Export the warehouse as the requester website's worker CSV: type a score or Revoke in an
    UPDATE- cell, then `qual-pipeline plan --website-csv FILE`. Revoked and missing
    qualifications are blank, as on the website. Reads the warehouse only."""
    from qual_pipeline.warehouse.export import export_website_csv

    preflight.check("export", values)
    with failures():
        stores = open_cli_stores(values)
        warehouse = stores.warehouse
        with warehouse.reporting_damage(), closing(warehouse.connect(read_only=True)) as con:
            written = export_website_csv(con, website_csv)
    names = ", ".join(name for _, name in written.types) or "none"
    say(
        f"Wrote {written.workers:,} worker(s) x {len(written.types)} qualification type(s) "
        f"({names}) to {written.path}."
    )
    if written.skipped:
        say(
            "[yellow]not exported:[/] types named "
            + ", ".join(escape(repr(n)) for n in written.skipped)
            + " (several of your types share each name, and the website layout names types;"
            " plan those with desired_scores.csv and type ids)"
        )
    say(
        "Type a new score or Revoke in an UPDATE- cell (blank cells leave the worker "
        f"untouched), then `qual-pipeline plan --website-csv {written.path}`."
    )
