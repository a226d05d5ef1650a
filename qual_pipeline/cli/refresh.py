"""`qual-pipeline refresh`: the Dagster definitions run in-process, with progress on a terminal.

One extraction run covers every type (many at once), then one warehouse load. Off a terminal
(cron, CI, a pipe) it prints log lines: the extraction's count of types done, rows and rate at most
every 5 s, every warehouse step with its real counts, and final lines (one per type and table for a
few types). Exit codes: 0 done (check warnings are printed, they block nothing), 1 a run failed or
a blocking check failed (plan and push refuse the types it names) or another refresh of the data
folder is running, 2 bad configuration (checked before any MTurk call: `cli/preflight.py`), 130
interrupted by SIGINT (Ctrl-C), 143 by SIGTERM: no MTurk request is sent after the signal, the
warehouse is not loaded, and what was published before it stays (snapshots are atomic); a second
signal ends the process at once.

The options are the settings the refresh reads (`qual_pipeline.settings`); their values go to the
definitions' resources as they are, never through the process environment.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    typed,
)
from qual_pipeline.cli.render import err, fail, refresh_progress
from qual_pipeline.interrupt import stopping_on_signals

if TYPE_CHECKING:
    from dagster import DagsterInstance
    from rich.console import Console

    from qual_pipeline.refresh import RefreshOutcome


@takes_settings("refresh")
def refresh(
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed",
            help="Extract only the types whose last extraction failed or never ran, as the "
            "Dagster instance in DAGSTER_HOME records them, and those the lake holds no "
            "snapshot of, then load.",
        ),
    ] = False,
    *,
    ctx: typer.Context,
    values: SettingValues,
) -> None:
    """Discover, extract every type into the lake (one run, many types at once) and load the
    warehouse, through the same Dagster definitions the UI uses (runs appear in the UI when
    DAGSTER_HOME is set)."""
    refuse_blank_types_option(ctx)
    preflight.check("refresh", values)
    preflight.check_dagster_home(retry_failed=retry_failed)
    # One refresh per data folder in the local profile; the shared profile has no local folder
    # (concurrent loads there commit or retry whole, and lake snapshots are never overwritten).
    lock = (
        contextlib.nullcontext()
        if shared_profile(values)
        else preflight.refresh_lock(Path(values[settings.DATA_DIR.name]))
    )
    with lock:
        # A mistake in the type list names what the user wrote: the flag, or the variable.
        code = run_refresh(values, retry_failed=retry_failed, types_source=named(settings.TYPES))
    raise typer.Exit(code)


def refuse_blank_types_option(ctx: typer.Context) -> None:
    """Exit 2 with one line when --types was typed but holds no text (`--types ""`, or
    `--types "$(cat ids.txt)"` of an empty file): every type is `--types` left out, never a
    blank list. A blank QUAL_PIPELINE_TYPES stays unset (the default), as every variable does."""
    given = ctx.params.get(settings.TYPES.name)
    if typed(settings.TYPES) and not (given or "").strip():
        raise fail(
            f"{settings.TYPES.flag} is blank: list type ids separated by commas, spaces or line "
            f"breaks, or leave {settings.TYPES.flag} out to refresh every type you own",
            2,
        )


def instance_for_cli() -> DagsterInstance:
    """The instance in DAGSTER_HOME when set (runs then show in the UI), else a throwaway one."""
    from dagster import DagsterInstance

    if os.environ.get("DAGSTER_HOME"):
        return preflight.open_dagster_instance()  # exit 2 naming a dagster.yaml it cannot use
    return DagsterInstance.ephemeral()


def run_refresh(
    values: dict[str, Any],
    instance: DagsterInstance | None = None,
    *,
    retry_failed: bool = False,
    types_source: str = settings.TYPES.env,
) -> int:
    """Run a refresh with these setting values (by name); the exit code: 0 done (warnings
    allowed), 1 a run or a blocking check failed (each failure printed), 2 it could not start
    (settings, credentials, type list; a type list mistake names `types_source`), 130 / 143
    interrupted by SIGINT / SIGTERM."""
    with stopping_on_signals() as caught:
        code = _run_refresh(
            values, instance, retry_failed=retry_failed, caught=caught, types_source=types_source
        )
    return code


def _run_refresh(
    values: dict[str, Any],
    instance: DagsterInstance | None,
    *,
    retry_failed: bool,
    caught: list[int],
    types_source: str,
) -> int:
    from botocore.exceptions import NoCredentialsError
    from dagster import DagsterUserCodeExecutionError

    from qual_pipeline.definitions import build_definitions
    from qual_pipeline.extract.errors import ExtractionError, TypeSelectionError
    from qual_pipeline.interrupt import Interrupted
    from qual_pipeline.refresh import SILENT
    from qual_pipeline.refresh import refresh as run
    from qual_pipeline.settings import ConfigurationError

    started = time.monotonic()
    outcome: RefreshOutcome | None = None
    try:
        # The profile's settings are checked before any run starts (a bad one exits 2).
        open_cli_stores(values)
        defs = build_definitions(values)
        if instance is None:
            if retry_failed and not os.environ.get("DAGSTER_HOME"):
                return fail(
                    "--retry-failed reads which types failed from the Dagster instance: set "
                    "DAGSTER_HOME to the folder the failed refresh used (a refresh without it "
                    "keeps no record, so run a whole refresh instead)",
                    2,
                ).exit_code
            instance = instance_for_cli()
        with refresh_progress(err) as listeners:
            outcome = run(
                defs,
                instance,
                retry_failed=retry_failed,
                on_run=listeners.on_run,
                on_materialized=listeners.on_materialized,
                run_config=SILENT,
            )
    except (
        DagsterUserCodeExecutionError,
        TypeSelectionError,
        ExtractionError,
        ConfigurationError,
        NoCredentialsError,
        Interrupted,
    ) as e:
        cause = root_cause(e)
        if not caught or not isinstance(cause, Interrupted):
            if isinstance(cause, TypeSelectionError):
                return fail(cause.naming(types_source), 2).exit_code
            # MTurk failing a request (discovery's listing after its retries) is a failure, 1;
            # the rest (settings, credentials, the type list) is bad usage or configuration, 2.
            code = 1 if isinstance(cause, ExtractionError) else 2
            return fail(preflight.types_message(str(cause)), code).exit_code
    if caught:
        return interrupted(caught[0], outcome, err)
    assert outcome is not None and instance is not None
    # A throw-away instance starts empty, so every type is "new" to it: nothing to announce.
    return report(outcome, err, time.monotonic() - started, discovery=not instance.is_ephemeral)


def interrupted(signum: int, outcome: RefreshOutcome | None, console: Console) -> int:
    """The line an interrupted refresh prints, after the types that had failed before the stop
    (as `report` shows them); returns 128 + the signal number."""
    name = signal.Signals(signum).name
    if outcome is not None and outcome.loaded:
        console.print(
            f"[bold red]interrupted[/] ({name}) after the warehouse load had committed: the "
            "refresh is complete.",
            highlight=False,
            soft_wrap=True,
        )
        return 128 + signum
    done = ""
    failed = []
    if outcome is not None:
        # Types that failed before the stop: shown as a refresh with failures shows them.
        failed = [(t, m) for t, m in outcome.failures.items() if t not in NOT_TYPES]
        print_type_failures(failed, console)
    if outcome is not None and outcome.requested:
        done = f" after {len(outcome.extracted):,} of {outcome.requested:,} type(s) were extracted"
        if failed:
            done += f" and {len(failed):,} had failed (listed above)"
    missing = "the failed and missing types" if failed else "what is missing"
    console.print(
        f"[bold red]interrupted[/] ({name}){done}: no MTurk request was sent after the signal, "
        "the warehouse was not loaded (it is as it was). Run the refresh again to finish "
        f"(with DAGSTER_HOME set, --retry-failed extracts only {missing}).",
        highlight=False,
        soft_wrap=True,
    )
    return 128 + signum


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
        console.print(f"discovered {len(outcome.added)} new type(s): {listed(outcome.added)}")
    if outcome.removed and discovery:
        console.print(f"no longer mirrored: {listed(outcome.removed)}")
    failures = list(outcome.failures.items())
    # Only failed types are folded into a count: a failed run (the types' metadata, the
    # warehouse load) is always shown in full, after them.
    types = [(name, message) for name, message in failures if name not in NOT_TYPES]
    runs = [(name, message) for name, message in failures if name in NOT_TYPES]
    print_type_failures(types, console)
    for name, message in runs:
        console.print(
            f"[bold red]failed:[/] {name}: {escape(message)}", highlight=False, soft_wrap=True
        )
    if failures and any(name not in ("warehouse", "extract") for name, _ in failures):
        landed = (
            f"the other {len(outcome.extracted):,} type(s) landed"
            if outcome.extracted
            else "no type landed"
        )
        console.print(
            f"{landed}; re-run the refresh to retry (with DAGSTER_HOME set, "
            "--retry-failed extracts only the failed types)",
            highlight=False,
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
    if outcome.check_failures and outcome.failures:  # the status names only the failed runs
        blocked = len(outcome.check_failures)
        warned = f", {blocked} blocking check(s) failed" + warned
    extracted = (
        f", {len(outcome.extracted):,} extracted ({outcome.rows:,} rows)"
        if outcome.requested
        else ""
    )
    console.print(
        f"{status}: {len(outcome.type_ids):,} type(s){extracted} in {seconds:.1f} s{warned}"
    )
    return 0 if outcome.ok else 1


def print_type_failures(types: list[tuple[str, str]], console: Console) -> None:
    """One `failed:` line per failed type (id, message) for the first FAILURES_SHOWN, then one
    line counting the rest and listing their ids (`listed`)."""
    for name, message in types[:FAILURES_SHOWN]:
        console.print(
            f"[bold red]failed:[/] {name}: {escape(message)}", highlight=False, soft_wrap=True
        )
    if len(types) > FAILURES_SHOWN:
        console.print(
            f"[bold red]failed:[/] {len(types) - FAILURES_SHOWN:,} more type(s): "
            f"{listed([name for name, _ in types[FAILURES_SHOWN:]])}",
            highlight=False,
            soft_wrap=True,
        )


FAILURES_SHOWN = 20
"""Failed types shown with their messages; the rest are counted and listed by id."""
NOT_TYPES = ("qualification_types", "extract", "warehouse")
"""Failures of a run rather than of one type (`RefreshOutcome.failures` keys): never folded."""
LISTED = 10


def listed(names: list[str]) -> str:
    """At most LISTED names, then how many more."""
    shown = ", ".join(names[:LISTED])
    return shown + (f" and {len(names) - LISTED:,} more" if len(names) > LISTED else "")
