"""What the CLI shows: the two consoles, the one error helper, tables and progress.

Domain packages return data; turning it into text for a person happens here. Messages go to
stderr (`err`), results a script may read to stdout (`out`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from qual_pipeline.progress import Progress as Report
from qual_pipeline.progress import listening

if TYPE_CHECKING:
    from qual_pipeline.refresh import Materialized

out = Console()
err = Console(stderr=True)
LOG_EVERY_S = 5.0  # off a terminal, one progress line per task at most this often
WHOLE_WORD_MAX = 64  # longest value kept whole in a table: MTurk's ids are at most 64 characters


def fail(message: object, code: int = 1) -> typer.Exit:
    """Print `error: message` on stderr and return the exit to raise (`raise fail(...)`)."""
    err.print(f"[bold red]error:[/] {escape(str(message))}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def query_table(
    names: Sequence[str], rows: Sequence[Sequence[Any]], limit: int, width: int
) -> Table:
    """Rows of a query as a table for a console `width` wide, at most `limit` of them, the count
    in the caption (and a hint when the values cannot all be shown whole)."""
    caption = f"{len(rows)} row(s)" + (f", first {limit} shown" if len(rows) > limit else "")
    table = Table(*names, caption=caption)
    if not whole_words(table, rows[:limit], width):
        table.caption = f"{caption}; too wide to show every value whole: try --output csv"
    return table


def whole_words(table: Table, rows: Sequence[Sequence[Any]], width: int) -> bool:
    """Add `rows` to `table`, keeping every value without spaces (an id, a number) whole: never
    cut or folded where a table squeezes its columns to fit `width`, so it can be copied. Text
    with spaces wraps. False when those values are too wide for `width` together: then the table
    is left to shorten them, rather than drop columns off its edge."""
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    widths = [
        min(max((len(c) for c in column if c and " " not in c), default=0), WHOLE_WORD_MAX)
        for column in zip(*cells, strict=True)
    ]
    # No column gets narrower than the longest word of its header and cells: what that needs,
    # with cell padding and borders.
    needed = sum(
        max((len(word) for text in (str(c.header), *cells_of) for word in text.split()), default=0)
        for c, cells_of in zip(table.columns, zip(*cells, strict=True), strict=False)
    )
    fits = needed + 3 * len(table.columns) + 1 <= width
    if fits:
        for column, minimum in zip(table.columns, widths, strict=False):
            column.min_width = minimum
    for row in cells:
        table.add_row(*row)
    return fits


def refresh_final_line(
    key: list[str], partition: str | None, metadata: dict[str, Any]
) -> str | None:
    """The last word on one task of a refresh, from its materialization metadata
    (`task: done, ...`); None for the assets that have no task line of their own."""
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


@dataclass(frozen=True)
class RefreshListeners:
    """The callbacks to pass `qual_pipeline.refresh.refresh` (as keyword arguments)."""

    on_run: Callable[[str], None]
    on_materialized: Materialized


@contextmanager
def refresh_progress(console: Console) -> Iterator[RefreshListeners]:
    """Show a refresh's progress while the block runs; yields the callbacks to pass it.

    On a terminal: one progress bar per task with pages, rows and rows/s, and its final counts
    when its run has finished. Elsewhere (a pipe, a log): a line when each run starts, a progress
    line per task at most every 5 s, every named step (the warehouse load) and a final line per
    task once its run has finished.
    """
    if console.is_terminal:
        with _progress_bar(console) as listeners:
            yield listeners
        return
    last: dict[str, float] = {}

    def on_progress(p: Report) -> None:
        if p.unit != "pages":  # a named step (the warehouse load): always worth a line
            console.print(f"{p.task}: {p.unit}", highlight=False, soft_wrap=True)
            return
        now = time.monotonic()
        if now - last.get(p.task, 0.0) >= LOG_EVERY_S:
            last[p.task] = now
            console.print(f"{p.task}: {p.done} pages, {p.rows} rows so far", highlight=False)

    def on_done(key: list[str], partition: str | None, metadata: dict[str, Any]) -> None:
        line = refresh_final_line(key, partition, metadata)
        if line is not None:
            console.print(line, highlight=False, soft_wrap=True)

    with listening(on_progress):
        yield RefreshListeners(lambda name: console.print(f"running: {name}"), on_done)


@contextmanager
def _progress_bar(console: Console) -> Iterator[RefreshListeners]:
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

        def on_done(key: list[str], partition: str | None, metadata: dict[str, Any]) -> None:
            line = refresh_final_line(key, partition, metadata)
            if line is None:
                return
            task, detail = line.split(": ", 1)  # the line starts with the task's name
            if task in tasks:
                bar.update(tasks[task][0], detail=detail)

        with listening(on_progress):
            yield RefreshListeners(lambda _name: None, on_done)
        finish_current()
