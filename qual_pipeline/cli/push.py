"""`qual-pipeline push`: apply a saved plan to MTurk (or, with --replan, plan and apply in one
step), finishing any interrupted push first.

The plan options (guard limits, grants, revocations, skipped rejections, ignored checks, the
website CSV) belong to the plan: `push` takes them only with --replan, and refuses them typed
without it (exit 2); set in the environment they apply to the plans --replan makes and are
otherwise unused. Exit codes: 0 done, 1 refused or failed (the message says why and how to
proceed), 2 bad usage or configuration.

Pace: `--rate` (QUAL_PIPELINE_PUSH_RATE, default 5/s) is the push's own limit; when
QUAL_PIPELINE_RATE, the shared limit of every request of one process, is set too, the push keeps
within both, as the Dagster push assets do.
"""

from __future__ import annotations

from typing import Annotated

import typer

from qual_pipeline import settings
from qual_pipeline.cli.options import (
    DATA_DIR_DEFAULT,
    INPUTS_DIR_DEFAULT,
    PLAN_OPTIONS,
    AllowGrants,
    AllowRevokes,
    AwsProfile,
    DataDir,
    EndpointUrl,
    Environment,
    IgnoreCheck,
    InputsDir,
    MaxAttempts,
    MaxChanges,
    MaxRevokes,
    MaxRevokeShare,
    MaxShare,
    MTurkOptions,
    RetryMode,
    SkipRejected,
    WarehouseWait,
    given_on_command_line,
    option,
)
from qual_pipeline.cli.plan import Requests, SqlDir, WebsiteCsv, check_website_csv, plan_settings
from qual_pipeline.cli.render import failures, push_lines, say
from qual_pipeline.warehouse.sql_files import SQL_DIR


def push(
    ctx: typer.Context,
    requests: Requests = False,
    plan: Annotated[
        str | None,
        typer.Option("--plan", help="The saved plan to apply (default: the newest saved one)."),
    ] = None,
    replan: Annotated[
        bool,
        typer.Option(
            "--replan",
            help="Plan and apply in one step (unattended use): every guard and check still "
            "applies, and the plan is saved in the journal like any other. The plan options "
            "below apply with it only.",
        ),
    ] = False,
    data_dir: DataDir = DATA_DIR_DEFAULT,
    inputs_dir: InputsDir = INPUTS_DIR_DEFAULT,
    sql_dir: SqlDir = SQL_DIR,
    environment: Environment = settings.ENVIRONMENT.required_default,
    endpoint_url: EndpointUrl = None,
    aws_profile: AwsProfile = None,
    allow_grants: AllowGrants = settings.PUSH_ALLOW_GRANTS.required_default,
    allow_revokes: AllowRevokes = settings.PUSH_ALLOW_REVOKES.required_default,
    website_csv: WebsiteCsv = None,
    max_changes: MaxChanges = settings.PUSH_MAX_CHANGES.required_default,
    max_share: MaxShare = settings.PUSH_MAX_SHARE.required_default,
    max_revokes: MaxRevokes = settings.PUSH_MAX_REVOKES.required_default,
    max_revoke_share: MaxRevokeShare = settings.PUSH_MAX_REVOKE_SHARE.required_default,
    skip_rejected: SkipRejected = settings.PUSH_SKIP_REJECTED.required_default,
    ignore_check: IgnoreCheck = None,
    send_notifications: Annotated[
        bool, option(settings.PUSH_SEND_NOTIFICATIONS)
    ] = settings.PUSH_SEND_NOTIFICATIONS.required_default,
    allow_production: Annotated[
        bool, option(settings.PUSH_ALLOW_PRODUCTION)
    ] = settings.PUSH_ALLOW_PRODUCTION.required_default,
    rate: Annotated[float, option(settings.PUSH_RATE)] = settings.PUSH_RATE.required_default,
    concurrency: Annotated[
        int, option(settings.PUSH_CONCURRENCY)
    ] = settings.PUSH_CONCURRENCY.required_default,
    batch_size: Annotated[
        int, option(settings.PUSH_BATCH_SIZE)
    ] = settings.PUSH_BATCH_SIZE.required_default,
    max_attempts: MaxAttempts = settings.MAX_ATTEMPTS.required_default,
    retry_mode: RetryMode = settings.RETRY_MODE.required_default,
    warehouse_wait: WarehouseWait = settings.WAREHOUSE_WAIT.required_default,
) -> None:
    """Push a saved plan to MTurk: finish any interrupted push first, then apply exactly the
    newest saved plan (or --plan ID), refusing it if the warehouse was reloaded, the inputs
    changed or another push ran since it was saved; send (SendNotification=False unless asked),
    read every change back and record it in push_audit. --replan plans and applies in one step."""
    from qual_pipeline.mturk_api.client import ApiStats
    from qual_pipeline.push.runner import PushFailed, PushSettings, run_push
    from qual_pipeline.push.saved_plan import read_only_warehouse
    from qual_pipeline.warehouse.connection import warehouse_session

    if plan is not None and replan:
        raise typer.BadParameter("pass either --plan ID (a saved plan) or --replan, not both")
    check_website_csv(website_csv, requests)
    typed = given_on_command_line(ctx, [*PLAN_OPTIONS, "website_csv"])
    if typed and not replan:
        raise typer.BadParameter(
            f"{', '.join(typed)} belong(s) to the plan: pass them to `qual-pipeline plan` (then "
            "push the plan it saves), or use `qual-pipeline push --replan` to plan and push in "
            "one step"
        )
    replan_settings = (
        plan_settings(
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
        if replan
        else None
    )
    mturk = MTurkOptions(environment, endpoint_url, retry_mode, max_attempts, aws_profile)
    stats = ApiStats()
    with failures():
        try:
            report = run_push(
                "requests" if requests else "scores",
                client=mturk.client(rate=rate, stats=stats),
                data_dir=data_dir,
                connect_warehouse=lambda: warehouse_session(data_dir, wait_s=warehouse_wait),
                inputs_dir=inputs_dir,
                settings=PushSettings(
                    environment=environment,
                    allow_production=allow_production,
                    send_notifications=send_notifications,
                    concurrency=concurrency,
                    batch_size=batch_size,
                ),
                plan_id=plan,
                replan=replan_settings,
                read_warehouse=read_only_warehouse(data_dir, wait_s=warehouse_wait),
                sql_dir=sql_dir,
                website_csv=website_csv,
            )
        except PushFailed as e:
            for line in push_lines(e.report, stats):
                say(line)
            raise
        for line in push_lines(report, stats):
            say(line)
