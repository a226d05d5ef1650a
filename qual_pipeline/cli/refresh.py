"""`qual-pipeline refresh`: the Dagster definitions run in-process, with progress on a terminal.

Off a terminal (cron, CI, a pipe) it prints log lines: page progress at most every 5 s per task,
every warehouse step with its real counts, and a final line per task once its run has finished.
Exit codes: 0 done (check warnings are printed, they block nothing), 1 a run failed or a blocking
check failed (plan and push refuse the types it names), 2 bad configuration.

The options are the settings the refresh reads (`qual_pipeline.settings`); their values go to the
definitions' resources as they are, never through the process environment.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from qual_pipeline import settings
from qual_pipeline.cli.options import (
    DATA_DIR_DEFAULT,
    Account,
    Catalog,
    DataDir,
    Storage,
    StorageProfile,
    open_cli_stores,
    option,
)
from qual_pipeline.cli.render import err, fail, refresh_progress

if TYPE_CHECKING:
    from dagster import DagsterInstance
    from rich.console import Console

    from qual_pipeline.refresh import RefreshOutcome


def refresh(
    data_dir: DataDir = DATA_DIR_DEFAULT,
    types: Annotated[str, option(settings.TYPES)] = settings.TYPES.default,
    endpoint_url: Annotated[str | None, option(settings.ENDPOINT_URL)] = None,
    environment: Annotated[str, option(settings.ENVIRONMENT)] = settings.ENVIRONMENT.default,
    retry_mode: Annotated[str, option(settings.RETRY_MODE)] = settings.RETRY_MODE.default,
    max_attempts: Annotated[int, option(settings.MAX_ATTEMPTS)] = settings.MAX_ATTEMPTS.default,
    rate: Annotated[float | None, option(settings.RATE)] = None,
    aws_profile: Annotated[str | None, option(settings.AWS_PROFILE)] = None,
    max_row_drop_share: Annotated[
        float, option(settings.MAX_ROW_DROP_SHARE)
    ] = settings.MAX_ROW_DROP_SHARE.default,
    warehouse_wait: Annotated[
        float, option(settings.WAREHOUSE_WAIT)
    ] = settings.WAREHOUSE_WAIT.default,
    storage: Storage = None,
    catalog: Catalog = None,
    account: Account = None,
    storage_profile: StorageProfile = None,
) -> None:
    """Discover, extract every type into the lake and load the warehouse, through the same Dagster
    definitions the UI uses (runs appear in the UI when DAGSTER_HOME is set)."""
    values: dict[str, Any] = {
        settings.DATA_DIR.name: str(data_dir),
        settings.TYPES.name: types,
        settings.ENDPOINT_URL.name: endpoint_url or None,
        settings.ENVIRONMENT.name: environment,
        settings.RETRY_MODE.name: retry_mode,
        settings.MAX_ATTEMPTS.name: max_attempts,
        settings.RATE.name: rate,
        settings.AWS_PROFILE.name: aws_profile or None,
        settings.MAX_ROW_DROP_SHARE.name: max_row_drop_share,
        settings.WAREHOUSE_WAIT.name: warehouse_wait,
        settings.STORAGE.name: storage or None,
        settings.CATALOG.name: catalog or None,
        settings.ACCOUNT.name: account or None,
        settings.STORAGE_PROFILE.name: storage_profile or None,
    }
    raise typer.Exit(run_refresh(values))


def instance_for_cli() -> DagsterInstance:
    """The instance in DAGSTER_HOME when set (runs then show in the UI), else a throwaway one."""
    from dagster import DagsterInstance

    if os.environ.get("DAGSTER_HOME"):
        return DagsterInstance.get()
    return DagsterInstance.ephemeral()


def run_refresh(values: dict[str, Any], instance: DagsterInstance | None = None) -> int:
    """Run a refresh with these setting values (by name); the exit code: 0 done (warnings
    allowed), 1 a run or a blocking check failed (each failure printed), 2 it could not start
    (settings, credentials, type list)."""
    from botocore.exceptions import NoCredentialsError
    from dagster import DagsterUserCodeExecutionError

    from qual_pipeline.definitions import build_definitions
    from qual_pipeline.extract.errors import ExtractionError, TypeSelectionError
    from qual_pipeline.refresh import refresh as run
    from qual_pipeline.settings import ConfigurationError

    started = time.monotonic()
    try:
        # The profile's settings are checked before any run starts (a bad one exits 2).
        open_cli_stores(
            data_dir=Path(values.get(settings.DATA_DIR.name) or DATA_DIR_DEFAULT),
            storage=values.get(settings.STORAGE.name),
            catalog=values.get(settings.CATALOG.name),
            account=values.get(settings.ACCOUNT.name),
            storage_profile=values.get(settings.STORAGE_PROFILE.name),
            environment=values.get(settings.ENVIRONMENT.name) or settings.ENVIRONMENT.default,
            aws_profile=values.get(settings.AWS_PROFILE.name),
        )
        defs = build_definitions(values)
        instance = instance or instance_for_cli()
        with refresh_progress(err) as listeners:
            outcome = run(
                defs,
                instance,
                on_run=listeners.on_run,
                on_materialized=listeners.on_materialized,
            )
    except (
        DagsterUserCodeExecutionError,
        TypeSelectionError,
        ExtractionError,
        ConfigurationError,
        NoCredentialsError,
    ) as e:
        return fail(root_cause(e), 2).exit_code
    return report(outcome, err, time.monotonic() - started)


def root_cause(error: BaseException) -> BaseException:
    """Dagster wraps errors raised in user code; the user wants ours, which names the fix."""
    from dagster import DagsterUserCodeExecutionError

    while isinstance(error, DagsterUserCodeExecutionError) and error.__cause__ is not None:
        error = error.__cause__
    return error


def report(outcome: RefreshOutcome, console: Console, seconds: float) -> int:
    """Print on `console` what the refresh did, failed and warned about; 0 when no run and no
    blocking check failed (warnings allowed), else 1."""
    if outcome.added:
        console.print(f"discovered {len(outcome.added)} new type(s): {', '.join(outcome.added)}")
    if outcome.removed:
        console.print(f"no longer mirrored: {', '.join(outcome.removed)}")
    for name, message in outcome.failures.items():
        console.print(
            f"[bold red]failed:[/] {name}: {escape(message)}", highlight=False, soft_wrap=True
        )
    for check in outcome.check_failures:
        console.print(
            f"[bold red]check failed:[/] {escape(check)}", highlight=False, soft_wrap=True
        )
    for check in outcome.check_warnings:
        console.print(f"[yellow]warning:[/] {escape(check)}", highlight=False, soft_wrap=True)
    if outcome.failures:
        status = "refresh with failures"
    elif outcome.check_failures:
        status = "refresh done, but blocking checks failed"
    else:
        status = "refresh done"
    warned = f", {len(outcome.check_warnings)} check warning(s)" if outcome.check_warnings else ""
    console.print(f"{status}: {len(outcome.type_ids)} type(s) in {seconds:.1f} s{warned}")
    return 0 if outcome.ok else 1
