"""What the CLI shows: the two consoles, the one error helper, tables and progress.

Domain packages return data; turning it into text for a person happens here. Messages go to
stderr (`err`), results a script may read to stdout (`out`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from qual_pipeline.progress import Progress as Report
from qual_pipeline.progress import listening

out = Console()
err = Console(stderr=True)
LOG_EVERY_S = 5.0  # off a terminal, one progress line per task at most this often


def fail(message: object, code: int = 1) -> typer.Exit:
    """Print `error: message` on stderr and return the exit to raise (`raise fail(...)`)."""
    err.print(f"[bold red]error:[/] {escape(str(message))}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def query_table(names: Sequence[str], rows: Sequence[Sequence[Any]], limit: int) -> Table:
    """Rows of a query as a table, at most `limit` of them, the count in the caption."""
    caption = f"{len(rows)} row(s)" + (f", first {limit} shown" if len(rows) > limit else "")
    table = Table(*names, caption=caption)
    for row in rows[:limit]:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


@contextmanager
def refresh_progress(console: Console) -> Iterator[Callable[[str], None]]:
    """Show a refresh's progress while the block runs; yields the `on_run` callback to pass it.

    On a terminal: one progress bar per task with pages, rows and rows/s. Elsewhere (a pipe, a
    log): a line when each run starts and a progress line per task at most every 5 s.
    """
    if console.is_terminal:
        with _progress_bar(console) as on_run:
            yield on_run
        return
    last: dict[str, float] = {}

    def on_progress(p: Report) -> None:
        now = time.monotonic()
        if now - last.get(p.task, 0.0) >= LOG_EVERY_S:
            last[p.task] = now
            console.print(f"{p.task}: {p.done} {p.unit}, {p.rows} rows", highlight=False)

    with listening(on_progress):
        yield lambda name: console.print(f"running: {name}")


@contextmanager
def _progress_bar(console: Console) -> Iterator[Callable[[str], None]]:
    columns = (
        SpinnerColumn(finished_text="[green]✓"),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        tasks: dict[str, tuple[TaskID, float]] = {}
        current: list[TaskID] = []

        def finish_current() -> None:
            for task_id in current:
                bar.update(task_id, total=1, completed=1)
            current.clear()

        def on_progress(p: Report) -> None:
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
            yield lambda _name: None
        finish_current()
