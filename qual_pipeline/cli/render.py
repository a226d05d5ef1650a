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


TYPE_LINES_UP_TO = 10
"""A refresh of at most this many types gets a final line per type and table; more get one
summary line (thousands of lines are no report)."""


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


def extract_line(p: Report, seconds: float) -> str:
    """`extract: 120/2,000 types, 5,900 rows, 2 failed, 14.2 types/s, 700 rows/s`."""
    total = f"/{p.total:,}" if p.total is not None else ""
    failed = f", {p.failed:,} failed" if p.failed else ""
    seconds = max(seconds, 1e-3)
    return (
        f"extract: {p.done:,}{total} types, {p.rows:,} rows{failed}, "
        f"{p.done / seconds:,.1f} types/s, {p.rows / seconds:,.0f} rows/s"
    )


@dataclass(frozen=True)
class RefreshListeners:
    """The callbacks to pass `qual_pipeline.refresh.refresh` (as keyword arguments)."""

    on_run: Callable[[str], None]
    on_materialized: Materialized


class _Lines:
    """Final lines of a refresh: one per type and table for a few types, else none (the
    extraction's summary line says it all)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.types: set[str] = set()

    def add(self, key: list[str], partition: str | None, metadata: dict[str, Any]) -> None:
        line = refresh_final_line(key, partition, metadata)
        if line is None:
            return
        if partition is not None:
            self.types.add(partition)
        self.lines.append(line)

    def shown(self) -> list[str]:
        if len(self.types) <= TYPE_LINES_UP_TO:
            return self.lines
        return [line for line in self.lines if not line.startswith(("worker_", "qualification_r"))]


@contextmanager
def refresh_progress(console: Console) -> Iterator[RefreshListeners]:
    """Show a refresh's progress while the block runs; yields the callbacks to pass it.

    Readable with thousands of types: the extraction is one count (types done of all, rows,
    failures, types/s and rows/s), never a line per page or per type. On a terminal: a progress
    bar for the extraction and one for the warehouse load. Elsewhere (a pipe, a log): a line when
    each run starts, the extraction's count at most every 5 s and when it ends, every warehouse
    step with its counts, and a final line per type and table when there are only a few types.
    """
    lines = _Lines()
    if console.is_terminal:
        with _progress_bar(console, lines) as listeners:
            yield listeners
        for line in lines.shown():
            console.print(line, highlight=False, soft_wrap=True)
        return
    last = [0.0]
    started = [time.monotonic()]
    final: list[Report] = []

    def on_progress(p: Report) -> None:
        if p.task == "extract":
            final[:] = [p]
            now = time.monotonic()
            if now - last[0] >= LOG_EVERY_S or (p.total is not None and p.done == p.total):
                last[0] = now
                console.print(extract_line(p, now - started[0]), highlight=False)
        elif p.unit not in ("pages", "types"):  # a named step (the warehouse load)
            console.print(f"{p.task}: {p.unit}", highlight=False, soft_wrap=True)

    def on_run(name: str) -> None:
        started[0] = time.monotonic()
        console.print(f"running: {name}")

    with listening(on_progress):
        yield RefreshListeners(on_run, lines.add)
    for line in lines.shown():
        console.print(line, highlight=False, soft_wrap=True)


@contextmanager
def _progress_bar(console: Console, lines: _Lines) -> Iterator[RefreshListeners]:
    columns = (
        SpinnerColumn(finished_text="[green]✓"),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        tasks: dict[str, TaskID] = {}
        started = time.monotonic()

        def task(name: str) -> TaskID:
            if name not in tasks:
                for other in tasks.values():  # one phase at a time: the previous one is done
                    bar.update(other, total=1, completed=1)
                tasks[name] = bar.add_task(name, total=None, detail="")
            return tasks[name]

        def on_progress(p: Report) -> None:
            if p.task == "extract":
                detail = extract_line(p, time.monotonic() - started).removeprefix("extract: ")
                bar.update(task("extract"), total=p.total, completed=p.done, detail=detail)
            elif p.task == "warehouse load":
                bar.update(task("warehouse load"), detail=p.unit)

        with listening(on_progress):
            yield RefreshListeners(lambda _name: None, lines.add)
        for task_id in tasks.values():
            bar.update(task_id, total=1, completed=1)
