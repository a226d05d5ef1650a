"""`qual-pipeline export`: the warehouse as the requester website's worker CSV, to edit and bring
back with `qual-pipeline plan --website-csv FILE`. Reads the warehouse only.

It never writes into the data folder or DAGSTER_HOME, never replaces a file that is not a worker
CSV, and replaces an existing worker CSV only with --overwrite.

Exit codes: 0 written, 1 no warehouse, a busy one or a file that cannot be written, 2 bad usage
(a file it will not write over).
"""

from __future__ import annotations

import os
from contextlib import closing
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from qual_pipeline import settings
from qual_pipeline.cli import preflight
from qual_pipeline.cli.options import (
    SettingValues,
    open_cli_stores,
    shared_profile,
    takes_settings,
)
from qual_pipeline.cli.render import fail, failures, say


def file_path(text: str) -> Path:
    """--website-csv's value as a path: refused (exit 2) when empty or a folder."""
    if not text.strip():
        raise typer.BadParameter(
            "the option needs a file path, not an empty value: e.g. --website-csv workers.csv"
        )
    path = Path(text)
    if path.is_dir():
        raise typer.BadParameter(
            f"{text!r} is a folder: name a file, e.g. {text.rstrip('/')}/workers.csv"
        )
    return path


@takes_settings("export")
def export(
    website_csv: Annotated[
        Path,
        typer.Option(
            "--website-csv",
            parser=file_path,
            metavar="<file>",
            help="File to write in the requester website's worker CSV layout: Worker ID, then "
            "CURRENT-<type name> and an empty UPDATE-<type name> per mirrored type. Never "
            "inside the data folder or DAGSTER_HOME; an existing file only with --overwrite.",
        ),
    ],
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace FILE if it exists and is a worker CSV (its first cell is 'Worker ID'); "
            "any other existing file is never replaced.",
        ),
    ] = False,
    *,
    values: SettingValues,
) -> None:
    """Export the warehouse as the requester website's worker CSV: type a score or Revoke in an
    UPDATE- cell, then `qual-pipeline plan --website-csv FILE`. Revoked and missing
    qualifications are blank, as on the website. Reads the warehouse only."""
    from qual_pipeline.warehouse.export import ExportRefused, check_target, export_website_csv

    preflight.check("export", values)
    try:
        target = check_target(website_csv, _protected(values), overwrite=overwrite)
    except ExportRefused as e:
        raise fail(e, 2) from None
    with failures():
        stores = open_cli_stores(values)
        warehouse = stores.warehouse
        with warehouse.reporting_damage(), closing(warehouse.connect(read_only=True)) as con:
            try:
                written = export_website_csv(con, target, overwrite=overwrite)
            except ExportRefused as e:
                raise fail(e, 2) from None
    names = ", ".join(name for _, name in written.types) or "none"
    say(
        f"Wrote {written.workers:,} worker(s) x {len(written.types)} qualification type(s) "
        f"({names}) to {written.path}."
    )
    if written.skipped:
        say(
            "[yellow]not exported:[/] types named "
            + ", ".join(escape(repr(n)) for n in written.skipped)
            + " (the website layout names types, and a blank name, or one several of your"
            " types share once the spaces around it are ignored, names none or several; plan"
            " those with desired_scores.csv and type ids)"
        )
    say(
        "Type a new score or Revoke in an UPDATE- cell (blank cells leave the worker "
        f"untouched), then `qual-pipeline plan --website-csv {written.path}`."
    )


def _protected(values: SettingValues) -> list[tuple[Path, str]]:
    """The folders an export never writes into: the local profile's data folder and, when set,
    DAGSTER_HOME."""
    folders: list[tuple[Path, str]] = []
    if not shared_profile(values):
        folders.append(
            (
                Path(values[settings.DATA_DIR.name]),
                "the warehouse, the push journal and the lake (the data folder, "
                f"{settings.DATA_DIR.flag} or {settings.DATA_DIR.env})",
            )
        )
    home = os.environ.get("DAGSTER_HOME", "").strip()
    if home:
        folders.append((Path(home), "the Dagster instance (DAGSTER_HOME)"))
    return folders
