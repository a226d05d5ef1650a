"""`qual-pipeline refresh`: the Dagster definitions run in-process, with progress on a terminal.

Off a terminal (cron, CI, a pipe) it prints log lines: page progress at most every 5 s per task,
every warehouse step with its real counts, and a final line per task once its run has finished.
Exit codes: 0 done (check warnings are printed, they block nothing), 1 a run failed or a blocking
check failed (plan and push refuse the types it names), 2 bad configuration.
"""

from __future__ import annotations

import os
import time
from typing import Any

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


def final_line(key: list[str], partition: str | None, metadata: dict[str, Any]) -> str | None:
    """The last word on one task of a refresh, from its materialization metadata; None for the
    assets that have no task line of their own."""
    rows = metadata.get("dagster/row_count", 0)
    duration = float(metadata.get("duration_s") or 0.0)
    if key[0] == "lake":
        name = f"{key[1]} {partition}" if partition else key[1]
        line = f"{name}: done, {rows:,} rows, {metadata.get('pages', 0)} pages"
        if key[1] == "worker_qualifications":
            line += (
                f", {metadata.get('granted', 0):,} granted, {metadata.get('revoked', 0):,} revoked"
            )
        return f"{line}, {duration:.1f} s"
    if key == ["warehouse", "worker_qualifications"]:
        changes = metadata.get("changes") or {}
        history = ", ".join(f"{k} {n:,}" for k, n in sorted(changes.items())) or "none"
        return (
            f"warehouse load: done, {metadata.get('snapshots_loaded', 0)} new snapshot(s), "
            f"{rows:,} worker_qualifications rows, history changes: {history}, "
            f"load {metadata.get('load_id') or '-'}, {duration:.1f} s"
        )
    return None


def _with_log_lines(defs, instance: DagsterInstance, err: Console) -> RefreshOutcome:  # type: ignore[no-untyped-def]
    last: dict[str, float] = {}

    def on_progress(p: PageProgress) -> None:
        if p.unit != "pages":  # a named step (the warehouse load): always worth a line
            err.print(f"{p.task}: {p.unit}", highlight=False, soft_wrap=True)
            return
        now = time.monotonic()
        if now - last.get(p.task, 0.0) >= 5.0:
            last[p.task] = now
            err.print(f"{p.task}: {p.done} pages, {p.rows} rows so far", highlight=False)

    def on_done(key: list[str], partition: str | None, metadata: dict[str, Any]) -> None:
        line = final_line(key, partition, metadata)
        if line is not None:
            err.print(line, highlight=False, soft_wrap=True)

    with listening(on_progress):
        return refresh(
            defs,
            instance,
            on_run=lambda name: err.print(f"running: {name}"),
            on_materialized=on_done,
        )


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

        def on_done(key: list[str], partition: str | None, metadata: dict[str, Any]) -> None:
            line = final_line(key, partition, metadata)
            if line is None:
                return
            task, detail = line.split(": ", 1)  # the line starts with the task's name
            if task in tasks:
                bar.update(tasks[task][0], detail=detail)

        with listening(on_progress):
            outcome = refresh(defs, instance, on_materialized=on_done)
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
        err.print(f"[bold red]check failed:[/] {check}", highlight=False, soft_wrap=True)
    for check in outcome.check_warnings:
        err.print(f"[yellow]warning:[/] {check}", highlight=False, soft_wrap=True)
    if outcome.failures:
        status = "refresh with failures"
    elif outcome.check_failures:
        status = "refresh done, but blocking checks failed"
    else:
        status = "refresh done"
    warned = f", {len(outcome.check_warnings)} check warning(s)" if outcome.check_warnings else ""
    err.print(f"{status}: {len(outcome.type_ids)} type(s) in {seconds:.1f} s{warned}")
    return 0 if outcome.ok else 1
