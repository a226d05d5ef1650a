"""`qual-pipeline refresh`: the Dagster definitions run in-process, with progress on a terminal.

Off a terminal (cron, CI, a pipe) it prints log lines: page progress at most every 5 s per task,
every warehouse step with its real counts, and a final line per task once its run has finished.
Exit codes: 0 done (check warnings are printed, they block nothing), 1 a run failed or a blocking
check failed (plan and push refuse the types it names) or another refresh of the data folder is
running, 2 bad configuration (checked before any MTurk call: `cli/preflight.py`).

The options are the settings the refresh reads (`qual_pipeline.settings`); their values go to the
definitions' resources as they are, never through the process environment.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from qual_pipeline import settings
from qual_pipeline.cli import preflight
from qual_pipeline.cli.options import (
    SettingValues,
    named,
    open_cli_stores,
    shared_profile,
    takes_settings,
)
from qual_pipeline.cli.render import err, fail, refresh_progress

if TYPE_CHECKING:
    from dagster import DagsterInstance
    from rich.console import Console

    from qual_pipeline.refresh import RefreshOutcome


@takes_settings("refresh")
def refresh(*, values: SettingValues) -> None:
    """Discover, extract every type into the lake and load the warehouse, through the same Dagster
    definitions the UI uses (runs appear in the UI when DAGSTER_HOME is set)."""
    preflight.check("refresh", values)
    # One refresh per data folder in the local profile; the shared profile has no local folder
    # (concurrent loads there commit or retry whole, and lake snapshots are never overwritten).
    lock = (
        contextlib.nullcontext()
        if shared_profile(values)
        else preflight.refresh_lock(Path(values[settings.DATA_DIR.name]))
    )
    with lock:
        # A mistake in the type list names what the user wrote: the flag, or the variable.
        code = run_refresh(values, types_source=named(settings.TYPES))
    raise typer.Exit(code)


def instance_for_cli() -> DagsterInstance:
    """The instance in DAGSTER_HOME when set (runs then show in the UI), else a throwaway one."""
    from dagster import DagsterInstance

    if os.environ.get("DAGSTER_HOME"):
        return DagsterInstance.get()
    return DagsterInstance.ephemeral()


def run_refresh(
    values: dict[str, Any],
    instance: DagsterInstance | None = None,
    *,
    types_source: str = settings.TYPES.env,
) -> int:
    """Run a refresh with these setting values (by name); the exit code: 0 done (warnings
    allowed), 1 a run or a blocking check failed (each failure printed), 2 it could not start
    (settings, credentials, type list; a type list mistake names `types_source`)."""
    from botocore.exceptions import NoCredentialsError
    from dagster import DagsterUserCodeExecutionError

    from qual_pipeline.definitions import build_definitions
    from qual_pipeline.extract.errors import ExtractionError, TypeSelectionError
    from qual_pipeline.refresh import refresh as run
    from qual_pipeline.settings import ConfigurationError

    started = time.monotonic()
    try:
        # The profile's settings are checked before any run starts (a bad one exits 2).
        open_cli_stores(values)
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
        cause = root_cause(e)
        if isinstance(cause, TypeSelectionError):
            return fail(cause.naming(types_source), 2).exit_code
        return fail(preflight.types_message(str(cause)), 2).exit_code
    # A throw-away instance starts empty, so every type is "new" to it: nothing to announce.
    return report(outcome, err, time.monotonic() - started, discovery=not instance.is_ephemeral)


def root_cause(error: BaseException) -> BaseException:
    """Dagster wraps errors raised in user code; the user wants ours, which names the fix."""
    from dagster import DagsterUserCodeExecutionError

    while isinstance(error, DagsterUserCodeExecutionError) and error.__cause__ is not None:
        error = error.__cause__
    return error


def report(
    outcome: RefreshOutcome, console: Console, seconds: float, *, discovery: bool = True
) -> int:
    """Print on `console` what the refresh did, failed and warned about; 0 when no run and no
    blocking check failed (warnings allowed), else 1. `discovery`: say which types are new or
    gone (False for a throw-away instance, which knows no type before the run)."""
    if outcome.added and discovery:
        console.print(f"discovered {len(outcome.added)} new type(s): {', '.join(outcome.added)}")
    if outcome.removed and discovery:
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
