"""`qual-pipeline plan`: diff the desired scores (or request decisions, or the requester website's
worker CSV) against the warehouse, opened read-only, and save the plan in the push journal.

Sends nothing to MTurk and writes nothing to the warehouse. Exit codes: 0 saved and a push of it
may go, 1 saved but a push of it would be refused (the reasons are printed) or it could not be
built, 2 bad usage.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from qual_pipeline import settings
from qual_pipeline.cli.options import (
    DATA_DIR_DEFAULT,
    INPUTS_DIR_DEFAULT,
    AllowGrants,
    AllowRevokes,
    DataDir,
    Environment,
    IgnoreCheck,
    InputsDir,
    MaxChanges,
    MaxRevokes,
    MaxRevokeShare,
    MaxShare,
    SkipRejected,
    WarehouseWait,
)
from qual_pipeline.cli.render import failures, out, plan_json, plan_lines, plan_tables, say
from qual_pipeline.warehouse.sql_files import SQL_DIR

if TYPE_CHECKING:
    from qual_pipeline.push.saved_plan import PlanSettings

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
SqlDir = Annotated[
    Path, typer.Option(help="Folder holding desired_scores.sql, grant_decisions.sql, push_*.sql.")
]


def plan(
    requests: Requests = False,
    data_dir: DataDir = DATA_DIR_DEFAULT,
    inputs_dir: InputsDir = INPUTS_DIR_DEFAULT,
    sql_dir: SqlDir = SQL_DIR,
    environment: Environment = settings.ENVIRONMENT.required_default,
    allow_grants: AllowGrants = settings.PUSH_ALLOW_GRANTS.required_default,
    allow_revokes: AllowRevokes = settings.PUSH_ALLOW_REVOKES.required_default,
    website_csv: WebsiteCsv = None,
    max_changes: MaxChanges = settings.PUSH_MAX_CHANGES.required_default,
    max_share: MaxShare = settings.PUSH_MAX_SHARE.required_default,
    max_revokes: MaxRevokes = settings.PUSH_MAX_REVOKES.required_default,
    max_revoke_share: MaxRevokeShare = settings.PUSH_MAX_REVOKE_SHARE.required_default,
    skip_rejected: SkipRejected = settings.PUSH_SKIP_REJECTED.required_default,
    ignore_check: IgnoreCheck = None,
    warehouse_wait: WarehouseWait = settings.WAREHOUSE_WAIT.required_default,
    rows: Annotated[int, typer.Option(min=0, help="Plan rows to list (changes first).")] = 50,
    output: Annotated[str, typer.Option(help="table or json.")] = "table",
) -> None:
    """Plan: diff the desired scores (or request decisions) against the warehouse, opened
    read-only, and save the plan in the journal under the id it prints, with its verdict.
    `push` then applies exactly that plan. Sends nothing to MTurk and writes nothing to the
    warehouse. Exit 1 when a push of the plan would be refused (the reasons are printed)."""
    from qual_pipeline.push.journal import Journal
    from qual_pipeline.push.saved_plan import read_only_warehouse, save_plan
    from qual_pipeline.warehouse.connection import require_warehouse

    check_output(output)
    check_website_csv(website_csv, requests)
    chosen = plan_settings(
        environment=environment,
        allow_grants=allow_grants,
        allow_revokes=allow_revokes,
        max_changes=max_changes,
        max_share=max_share,
        max_revokes=max_revokes,
        max_revoke_share=max_revoke_share,
        skip_rejected=skip_rejected,
        ignore_check=ignore_check,
    )
    with failures():
        require_warehouse(data_dir)  # before the journal is created next to it
        with Journal(data_dir, sql_dir) as journal, journal.lock():
            saved = save_plan(
                "requests" if requests else "scores",
                journal=journal,
                read_warehouse=read_only_warehouse(data_dir, wait_s=warehouse_wait),
                inputs_dir=inputs_dir,
                settings=chosen,
                sql_dir=sql_dir,
                preview_rows=rows,
                website_csv=website_csv,
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


def plan_settings(
    *,
    environment: str,
    allow_grants: bool,
    allow_revokes: bool,
    max_changes: int,
    max_share: float,
    max_revokes: int,
    max_revoke_share: float,
    skip_rejected: bool,
    ignore_check: list[str] | None,
) -> PlanSettings:
    """The plan options as PlanSettings; a bad value is a usage error (exit 2)."""
    from qual_pipeline.push.guard import GuardLimits
    from qual_pipeline.push.saved_plan import PlanSettings

    try:
        return PlanSettings(
            environment=environment,
            allow_grants=allow_grants,
            allow_revokes=allow_revokes,
            limits=GuardLimits(max_changes, max_share, max_revokes, max_revoke_share),
            skip_rejected=skip_rejected,
            ignore_checks=settings.names(ignore_check),
        )
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None


def check_website_csv(website_csv: Path | None, requests: bool) -> None:
    if website_csv is not None and requests:
        raise typer.BadParameter(
            "--website-csv holds scores and revocations, not request decisions: drop --requests"
        )


def check_output(output: str) -> None:
    if output not in ("json", "table"):
        raise typer.BadParameter(f"--output must be json or table, got {output!r}")
