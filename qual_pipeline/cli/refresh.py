"""`qual-pipeline refresh`: the Dagster definitions run in-process, with progress on a terminal."""

from __future__ import annotations

import os
import time

from botocore.exceptions import NoCredentialsError
from dagster import DagsterInstance
from dagster._core.errors import DagsterUserCodeExecutionError
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from qual_pipeline.defs.in_process import RefreshOutcome, refresh
from qual_pipeline.extract.errors import ExtractionError, TypeSelectionError
from qual_pipeline.mturk_api.client import ConfigurationError
from qual_pipeline.progress import Progress as PageProgress
from qual_pipeline.progress import listening

# Errors before any extraction starts: discovery, settings, credentials.
SETUP_ERRORS = (
    DagsterUserCodeExecutionError,
    TypeSelectionError,
    ExtractionError,
    ConfigurationError,
    NoCredentialsError,
)


def instance_for_cli() -> DagsterInstance:
    """The instance in DAGSTER_HOME when set (runs then show in the UI), else a throwaway one."""
    if os.environ.get("DAGSTER_HOME"):
        return DagsterInstance.get()
    return DagsterInstance.ephemeral()


def run_refresh(err: Console, instance: DagsterInstance | None = None) -> int:
    from qual_pipeline.definitions import build_definitions

    started = time.monotonic()
    try:
        defs = build_definitions()
        instance = instance or instance_for_cli()
        if err.is_terminal:
            outcome = _with_progress_bar(defs, instance, err)
        else:
            outcome = _with_log_lines(defs, instance, err)
    except SETUP_ERRORS as e:
        err.print(f"[bold red]error:[/] {root_cause(e)}", highlight=False, soft_wrap=True)
        return 2
    return report(outcome, err, time.monotonic() - started)


def root_cause(error: BaseException) -> BaseException:
    """Dagster wraps errors raised in user code; the user wants ours, which names the fix."""
    while isinstance(error, DagsterUserCodeExecutionError) and error.__cause__ is not None:
        error = error.__cause__
    return error


def _with_log_lines(defs, instance: DagsterInstance, err: Console) -> RefreshOutcome:  # type: ignore[no-untyped-def]
    last: dict[str, float] = {}

    def on_progress(p: PageProgress) -> None:
        now = time.monotonic()
        if now - last.get(p.task, 0.0) >= 5.0:
            last[p.task] = now
            err.print(f"{p.task}: {p.done} {p.unit}, {p.rows} rows", highlight=False)

    with listening(on_progress):
        return refresh(defs, instance, on_run=lambda name: err.print(f"running: {name}"))


def _with_progress_bar(defs, instance: DagsterInstance, err: Console) -> RefreshOutcome:  # type: ignore[no-untyped-def]
    columns = (
        SpinnerColumn(finished_text="[green]✓"),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err) as bar:
        tasks: dict[str, tuple[TaskID, float]] = {}
        current: list[TaskID] = []

        def finish_current() -> None:
            for task_id in current:
                bar.update(task_id, total=1, completed=1)
            current.clear()

        def on_progress(p: PageProgress) -> None:
            if p.task not in tasks:
                finish_current()
                tasks[p.task] = (bar.add_task(p.task, total=None, detail=""), time.monotonic())
                current.append(tasks[p.task][0])
            task_id, started = tasks[p.task]
            if p.unit == "pages":
                rate = p.rows / max(time.monotonic() - started, 1e-3)
                detail = f"{p.done} pages, {p.rows} rows, {rate:,.0f} rows/s"
            else:
                detail = p.unit
            bar.update(task_id, detail=detail)

        with listening(on_progress):
            outcome = refresh(defs, instance)
        finish_current()
        return outcome


def report(outcome: RefreshOutcome, err: Console, seconds: float) -> int:
    if outcome.added:
        err.print(f"discovered {len(outcome.added)} new type(s): {', '.join(outcome.added)}")
    if outcome.removed:
        err.print(f"no longer mirrored: {', '.join(outcome.removed)}")
    for name, message in outcome.failures.items():
        err.print(f"[bold red]failed:[/] {name}: {message}", highlight=False, soft_wrap=True)
    for check in outcome.check_failures:
        err.print(f"[yellow]check failed:[/] {check}", highlight=False, soft_wrap=True)
    status = "with failures" if outcome.failures else "done"
    err.print(f"refresh {status}: {len(outcome.type_ids)} type(s) in {seconds:.1f} s")
    return 0 if outcome.ok else 1
