"""`qual-pipeline plan`: diff the desired scores (or request decisions, or the requester website's
worker CSV) against the warehouse, opened read-only, and save the plan in the push journal.

Sends nothing to MTurk and writes nothing to the warehouse. Exit codes: 0 saved and a push of it
may go, 1 saved but a push of it would be refused (the reasons are printed) or it could not be
built, 2 bad usage, 130 / 143 interrupted by SIGINT / SIGTERM while it was built (nothing saved).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from qual_pipeline import settings
from qual_pipeline.cli import preflight
from qual_pipeline.cli.options import (
    SettingValues,
    open_cli_stores,
    plan_settings,
    takes_settings,
)
from qual_pipeline.cli.render import err, failures, out, plan_json, plan_lines, plan_tables, say
from qual_pipeline.warehouse.sql_files import SQL_DIR, USER_MODELS, foreign_sql_files

Requests = Annotated[
    bool,
    typer.Option(
        "--requests",
        help="Plan decisions on pending qualification requests (sql/grant_decisions.sql: "
        "AcceptQualificationRequest / RejectQualificationRequest) instead of scores.",
    ),
]
WebsiteCsv = Annotated[
    Path | None,
    typer.Option(
        "--website-csv",
        dir_okay=False,
        help="Plan the requester website's worker CSV (Manage > Workers > Download CSV, or "
        "`qual-pipeline export --website-csv`): its UPDATE-<type name> cells, a whole number "
        "or Revoke, instead of sql/desired_scores.sql.",
    ),
]


def check_sql_dir(sql_dir: Path) -> Path:
    """`--sql-dir` as given, refused (bad usage, exit 2) when it holds .sql files other than
    desired_scores.sql and grant_decisions.sql: those are the only files read from it, so any
    other (e.g. a copy of the package's whole sql/ folder) would be silently ignored."""
    foreign = foreign_sql_files(sql_dir)
    if foreign:
        shown = ", ".join(foreign[:5]) + (
            f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        )
        owned = " and ".join(f"{name}.sql" for name in USER_MODELS)
        raise typer.BadParameter(
            f"{sql_dir} holds {shown}: remove {'it' if len(foreign) == 1 else 'them'}; only "
            f"{owned} are read from --sql-dir "
            "(the package's other SQL always comes from the package)"
        )
    return sql_dir


SqlDir = Annotated[
    Path,
    typer.Option(
        exists=True,
        file_okay=False,
        callback=check_sql_dir,
        help="Folder of your own models, desired_scores.sql and grant_decisions.sql: each one it "
        "holds replaces the package's (the package gives the rest). Any other .sql file in it is "
        "refused.",
    ),
]


@takes_settings("plan")
def plan(
    requests: Requests = False,
    website_csv: WebsiteCsv = None,
    sql_dir: SqlDir = SQL_DIR,
    rows: Annotated[int, typer.Option(min=0, help="Plan rows to list (changes first).")] = 50,
    output: Annotated[str, typer.Option(help="table or json.")] = "table",
    *,
    values: SettingValues,
) -> None:
    """Plan: diff the desired scores (or request decisions) against the warehouse, opened
    read-only, and save the plan in the journal under the id it prints, with its verdict.
    `push` then applies exactly that plan. Sends nothing to MTurk and writes nothing to the
    warehouse. Exit 1 when a push of the plan would be refused (the reasons are printed)."""
    from qual_pipeline.push.journal import Journal
    from qual_pipeline.push.saved_plan import read_only_warehouse, save_plan

    check_output(output)
    check_website_csv(website_csv, requests)
    chosen = plan_settings(values)
    preflight.check("plan", values)
    saved_ids: list[str] = []
    with failures(), _stopped_by_signals(saved_ids):
        stores = open_cli_stores(values)
        stores.warehouse.require()  # before the journal is created (next to it, locally)
        with Journal(stores.journal.connect(), sql_dir) as journal, journal.lock():
            saved = save_plan(
                "requests" if requests else "scores",
                journal=journal,
                read_warehouse=read_only_warehouse(stores.warehouse),
                inputs_dir=Path(values[settings.INPUTS_DIR.name]),
                settings=chosen,
                sql_dir=sql_dir,
                preview_rows=rows,
                website_csv=website_csv,
                on_saved=saved_ids.append,
                profile=stores.profile,
            )
    if output == "json":
        out.print_json(plan_json(saved))
    else:
        for table in plan_tables(saved):
            out.print(table)
        for line in plan_lines(saved):
            say(line)
    if saved.verdict:
        raise typer.Exit(1)


class _Signalled(BaseException):
    """SIGINT or SIGTERM while a plan is built: raised where the plan is, so its one journal
    transaction rolls back (BaseException: no handler of errors takes it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def _stopped_by_signals(saved_ids: list[str]) -> Iterator[None]:
    """Inside the block SIGINT and SIGTERM stop the plan at once: nothing is saved unless the
    plan was (its id in `saved_ids`: it is saved in one transaction), one line says which,
    exit 128 + the signal."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    caught: list[int] = []

    def handle(signum: int, _frame: FrameType | None) -> None:
        caught.append(signum)
        raise _Signalled(signum)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    except BaseException:
        if not caught:
            raise
        # _Signalled, or what it became where it was raised (DuckDB: 'Query interrupted')
        signum = caught[0]
        name = signal.Signals(signum).name
        if saved_ids:
            said = f"after plan {saved_ids[0]} was saved: `qual-pipeline push` applies it"
        else:
            said = "no plan was saved; the journal and the warehouse are as they were"
        say(f"[bold red]interrupted[/] ({name}): {said}.", err)
        raise typer.Exit(128 + signum) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def check_website_csv(website_csv: Path | None, requests: bool) -> None:
    if website_csv is not None and requests:
        raise typer.BadParameter(
            "--website-csv holds scores and revocations, not request decisions: drop --requests"
        )


def check_output(output: str) -> None:
    if output not in ("json", "table"):
        raise typer.BadParameter(f"--output must be json or table, got {output!r}")
