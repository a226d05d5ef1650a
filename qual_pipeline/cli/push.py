"""`qual-pipeline push`: apply a saved plan to MTurk (or, with --replan, plan and apply in one
step), finishing any interrupted push first.

The plan options (guard limits, grants, revocations, skipped rejections, ignored checks, the
website CSV, the memory limit) belong to the plan: `push` takes them only with --replan, and
refuses them typed without it (exit 2); set in the environment they apply to the plans --replan
makes and are otherwise unused. Exit codes: 0 done, 1 refused or failed (the message says why and
how to proceed), 2 bad usage or configuration (checked before any MTurk call), 130 / 143
interrupted by SIGINT (Ctrl-C) / SIGTERM.

Stopping: on SIGINT or SIGTERM no MTurk request is sent any more (the client refuses it just
before sending) and no further batch is journalled; the calls in flight end, the journal keeps
every change's state, and one line says so. `push` again resumes exactly as after a kill. A second
signal ends the process at once (the journal is safe at any point, as after a kill).

Pace: `--rate` (QUAL_PIPELINE_PUSH_RATE, unset by default) is the push's own limit; when
QUAL_PIPELINE_RATE, the shared limit of every request of one process, is set too, the push keeps
within both, as the Dagster push assets do. With neither set, the adaptive retry mode's pace finds
the rate MTurk accepts by itself.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from qual_pipeline import interrupt, settings
from qual_pipeline.cli import preflight
from qual_pipeline.cli.options import (
    SettingValues,
    mturk_client,
    open_cli_stores,
    plan_settings,
    takes_settings,
    typed_on_command_line,
)
from qual_pipeline.cli.plan import SqlDir, WebsiteCsv, check_website_csv
from qual_pipeline.cli.render import err, failures, push_lines, say
from qual_pipeline.interrupt import stopping_on_signals
from qual_pipeline.warehouse.sql_files import SQL_DIR

if TYPE_CHECKING:
    from qual_pipeline.mturk_api.client import ApiStats
    from qual_pipeline.push.runner import PushReport
    from qual_pipeline.push.saved_plan import PlanSettings


PushRequests = Annotated[
    bool,
    typer.Option(
        "--requests",
        help="Push a plan of decisions on pending qualification requests "
        "(AcceptQualificationRequest / RejectQualificationRequest) instead of a scores plan: "
        "the newest saved one (`qual-pipeline plan --requests`), --plan ID, or with --replan "
        "one planned from sql/grant_decisions.sql.",
    ),
]


@takes_settings("push", panels={"Plan options (with --replan only)": settings.PLAN_SETTINGS})
def push(
    ctx: typer.Context,
    requests: PushRequests = False,
    plan: Annotated[
        str | None,
        typer.Option("--plan", help="The saved plan to apply (default: the newest saved one)."),
    ] = None,
    replan: Annotated[
        bool,
        typer.Option(
            "--replan",
            help="Plan and apply in one step (unattended use): every guard and check still "
            "applies, and the plan is saved in the journal like any other. Takes the plan "
            "options of `plan` (--website-csv, --allow-grants, --max-share...), which a push "
            "of a saved plan refuses.",
        ),
    ] = False,
    website_csv: WebsiteCsv = None,
    sql_dir: SqlDir = SQL_DIR,
    *,
    values: SettingValues,
) -> None:
    """Push a saved plan to MTurk: finish any interrupted push first, then apply exactly the
    newest saved plan (or --plan ID), refusing it if the warehouse was reloaded, the inputs
    changed or another push ran since it was saved; send (SendNotification=False unless asked),
    read every change back and record it in push_audit. --replan plans and applies in one step."""
    from qual_pipeline.mturk_api.client import ApiStats

    if plan is not None and replan:
        raise typer.BadParameter("pass either --plan ID (a saved plan) or --replan, not both")
    check_website_csv(website_csv, requests)
    # A saved plan's inputs are read again within the memory limit it was planned with.
    typed = typed_on_command_line(ctx, (*settings.PLAN_SETTINGS, settings.WAREHOUSE_MEMORY))
    typed += ["--website-csv"] if website_csv is not None else []
    if typed and not replan:
        verb, them = ("belongs", "it") if len(typed) == 1 else ("belong", "them")
        raise typer.BadParameter(
            f"{', '.join(typed)} {verb} to the plan: pass {them} to `qual-pipeline plan` (then "
            "push the plan it saves), or use `qual-pipeline push --replan` to plan and push in "
            "one step"
        )
    replan_settings = plan_settings(values) if replan else None
    stats = ApiStats()
    with stopping_on_signals() as caught:
        if replan:
            preflight.check_memory(values)
        preflight.check("push", values)
        client = mturk_client(values, rate=values[settings.PUSH_RATE.name], stats=stats)
        refuse_once_stopped(client)
        try:
            report = _push(
                client,
                stats,
                values,
                kind="requests" if requests else "scores",
                plan=plan,
                replan=replan_settings,
                sql_dir=sql_dir,
                website_csv=website_csv,
            )
        except interrupt.Interrupted:
            if not caught:
                raise
            report = None
        except typer.Exit:
            if not caught:
                raise
            report = None  # the failure the stop caused: the line below says what happened
    if caught:
        raise typer.Exit(interrupted(caught[0], finished=report is not None))


def _push(
    client: Any,
    stats: ApiStats,
    values: SettingValues,
    *,
    kind: str,
    plan: str | None,
    replan: PlanSettings | None,
    sql_dir: Path,
    website_csv: Path | None,
) -> PushReport:
    """Run the push and print what it did; expected failures become one message (typer.Exit)."""
    from qual_pipeline.push.guard import PushRefused
    from qual_pipeline.push.runner import PushFailed, PushSettings, run_push
    from qual_pipeline.push.saved_plan import read_only_warehouse

    with failures():
        stores = open_cli_stores(values)
        try:
            report = run_push(
                kind,  # type: ignore[arg-type]
                client=client,
                stores=stores,
                inputs_dir=Path(values[settings.INPUTS_DIR.name]),
                settings=PushSettings.from_settings(lambda setting: values[setting.name]),
                plan_id=plan,
                replan=replan,
                read_warehouse=read_only_warehouse(stores.warehouse),
                sql_dir=sql_dir,
                website_csv=website_csv,
            )
        except PushFailed as e:
            for line in [*push_lines(e.report, stats), *e.report.notes]:
                say(line)
            raise
        except PushRefused as e:
            if e.report is not None:  # the plans it resumed before the refusal, and the calls
                lines = push_lines(e.report, stats)  # type: ignore[arg-type]
                for line in [*lines[: len(e.report.plans)], lines[-1], *e.report.notes]:  # type: ignore[attr-defined]
                    say(line)
            raise
        for line in [*push_lines(report, stats), *report.notes]:
            say(line)
    return report


def refuse_once_stopped(client: Any) -> None:
    """Make `client` refuse every request once the process is asked to stop: checked when an
    attempt is about to go (before and after any rate limit's wait), so nothing is sent after the
    signal; the refused call raises interrupt.Interrupted."""

    def refuse(**_: Any) -> None:
        reason = interrupt.stopped()
        if reason is not None:
            raise interrupt.Interrupted(reason)

    client.meta.events.register_first("before-send.mturk", refuse)
    client.meta.events.register("before-send.mturk", refuse)


def interrupted(signum: int, *, finished: bool) -> int:
    """Print the one line of an interrupted push; returns 128 + the signal number."""
    name = signal.Signals(signum).name
    if finished:
        say(
            f"[bold red]interrupted[/] ({name}) after the push had finished: nothing is left to "
            "resume.",
            err,
        )
    else:
        say(
            f"[bold red]interrupted[/] ({name}): no MTurk request was sent after the signal and "
            "the journal holds every change. Run `qual-pipeline push` again to resume: changes "
            "whose outcome is unknown are read back before anything is sent again.",
            err,
        )
    return 128 + signum
