"""What the CLI shows: the two consoles, the one error helper, tables and progress.

Domain packages return data; turning it into text for a person happens here. Messages go to
stderr (`err`), results a script may read to stdout (`out`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from qual_pipeline.progress import Progress as Report
from qual_pipeline.progress import listening

if TYPE_CHECKING:
    from qual_pipeline.mturk_api.client import ApiStats
    from qual_pipeline.push.plan import PlanSummary
    from qual_pipeline.push.runner import PushReport
    from qual_pipeline.push.saved_plan import SavedPlan
    from qual_pipeline.refresh import Materialized


def stdout_gone() -> None:
    """The reader of stdout went away (`qual-pipeline sql ... | head -1`): send the rest of the
    output, and Python's flush at exit, to /dev/null, quietly, as Unix tools end when their
    reader does. The command's exit code stays its work's (0 for a query printed): the reader
    chose to read less (https://docs.python.org/3/library/signal.html#note-on-sigpipe)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


class _Console(Console):
    """A rich console that, when its reader goes away (a closed pipe), writes nothing more and
    lets the command go on, instead of rich's own `SystemExit(1)`."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        if self.file is sys.stdout:
            stdout_gone()


def console(*, stderr: bool = False) -> Console:
    """A console for stdout (or stderr) that, off a terminal (a pipe, a log file, cron, a
    container), never wraps a line of text: one logical line stays one physical line for grep and
    log parsers, however long. On a terminal, text wraps at the terminal's width between words.
    Tables keep the console's width (COLUMNS, else 80 off a terminal)."""
    made = _Console(stderr=stderr)
    made.soft_wrap = not made.is_terminal
    return made


out = console()
err = console(stderr=True)
LOG_EVERY_S = 5.0  # off a terminal, one progress line per task at most this often
WHOLE_WORD_MAX = 64  # longest value kept whole in a table: MTurk's ids are at most 64 characters


def visible(text: str, *, lines: bool = False) -> str:
    """`text` with every character a terminal would not show as itself (NUL, ESC, tab and the
    other control characters, invisible format characters such as a zero-width space, spaces
    other than ' ') written as its Python escape, e.g. 'A1\\x00B' for 'A1', NUL, 'B': a value is
    never shown as another, and never reaches the terminal as a control sequence. `lines`
    keeps line breaks (a message of several lines)."""
    if text.isprintable():
        return text
    return "".join(
        c
        if c.isprintable() or (lines and c == "\n")
        else c.encode("unicode_escape").decode("ascii")
        for c in text
    )


def fail(message: object, code: int = 1) -> typer.Exit:
    """Print `error: message` on stderr and return the exit to raise (`raise fail(...)`)."""
    shown = escape(visible(str(message), lines=True))
    err.print(f"[bold red]error:[/] {shown}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def say(text: str, console: Console = out) -> None:
    """A message line: never wrapped mid-sentence, so logs and greps see it whole."""
    console.print(text, highlight=False, soft_wrap=True)


def warehouse_message(error: Exception) -> str:
    """A warehouse store's error (which names QUAL_PIPELINE_DATA_DIR, e.g. `No warehouse at ...`),
    naming the data folder as the running command got it: --data-dir when typed."""
    from qual_pipeline import settings
    from qual_pipeline.cli.options import as_given

    return as_given(str(error), settings.DATA_DIR)


@contextmanager
def failures() -> Iterator[None]:
    """Expected failures of the plan, push, score and export commands become one clear message:
    exit 1 (refused or failed), or 2 for a bad setting; never a traceback."""
    import duckdb
    import psycopg2
    from botocore.exceptions import BotoCoreError, NoCredentialsError

    from qual_pipeline.mturk_api.errors import describe
    from qual_pipeline.push.guard import PushRefused
    from qual_pipeline.push.journal import JournalBusy
    from qual_pipeline.push.plan import PlanError
    from qual_pipeline.push.runner import RESUME_HINT, PushFailed, PushInterrupted
    from qual_pipeline.push.score import ScoreLookupError
    from qual_pipeline.settings import ConfigurationError
    from qual_pipeline.stores.journal import JournalStoreError
    from qual_pipeline.stores.locks import LockError
    from qual_pipeline.stores.object_storage import StorageError
    from qual_pipeline.stores.postgres import first_line
    from qual_pipeline.stores.warehouse import WarehouseStoreError
    from qual_pipeline.warehouse.export import ExportError

    try:
        yield
    except ConfigurationError as e:
        raise fail(e, 2) from None
    except WarehouseStoreError as e:
        raise fail(warehouse_message(e)) from None
    except (
        PlanError,
        PushRefused,
        PushFailed,
        PushInterrupted,
        JournalBusy,
        ScoreLookupError,
        ExportError,
        JournalStoreError,
        LockError,
        StorageError,
    ) as e:
        raise fail(e) from None
    except NoCredentialsError as e:
        raise fail(describe(e)) from None
    except BotoCoreError as e:
        raise fail(f"could not talk to MTurk: {describe(e)}") from None
    except psycopg2.Error as e:  # the shared profile's journal or lock database went away
        raise fail(f"the PostgreSQL catalog failed: {first_line(e)}. {RESUME_HINT}") from None
    except duckdb.IOException as e:
        raise fail(
            f"could not open the warehouse: {e}. Retry when the other process is done"
        ) from None


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
    for row in cells:  # as Text: a value is never read as rich markup ("[bold]")
        table.add_row(*(Text(visible(c)) for c in row))
    return fits


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
    """`extract: 1,998/2,000 types extracted, 2 failed, 155 recorded, 5,900 rows, 14.2 types/s,
    700 rows/s`: extracted counts the types published (failed and stopped ones apart), recorded
    (shown while it lags) the types whose snapshots Dagster has recorded so far; the rates are
    over `p.seconds` (the extraction's own time) when given, else over `seconds`."""
    total = f"/{p.total:,}" if p.total is not None else ""
    extracted = p.succeeded
    failed = f", {p.failed:,} failed" if p.failed else ""
    stopped = f", {p.stopped:,} stopped" if p.stopped else ""
    lags = p.recorded is not None and p.recorded < extracted
    behind = f", {p.recorded:,} recorded" if lags else ""
    seconds = max(p.seconds if p.seconds is not None else seconds, 1e-3)
    return (
        f"extract: {extracted:,}{total} types extracted{failed}{stopped}{behind}, "
        f"{p.rows:,} rows, {extracted / seconds:,.1f} types/s, {p.rows / seconds:,.0f} rows/s"
    )


def extract_finished(p: Report) -> bool:
    """Every type of the extraction is done and recorded."""
    extracted = p.succeeded
    return p.total is not None and p.done == p.total and p.recorded in (None, extracted)


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
    ended = [False]  # the finished extraction's line is printed (once)

    def on_progress(p: Report) -> None:
        if p.unit not in ("pages", "types"):  # a named step (creating a run, the load's)
            ended[0] = False  # a new run's count follows
            console.print(f"{p.task}: {p.unit}", highlight=False, soft_wrap=True)
        elif p.task == "extract":
            now = time.monotonic()
            line = extract_line(p, now - started[0])
            finished = extract_finished(p)
            if not ended[0] and (now - last[0] >= LOG_EVERY_S or finished):
                last[0] = now
                ended[0] = finished
                console.print(line, highlight=False, soft_wrap=True)  # one log line

    def on_run(name: str) -> None:
        started[0] = time.monotonic()
        ended[0] = False
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
            if p.task == "extract" and p.unit not in ("pages", "types"):  # creating the run
                bar.update(task("extract"), total=p.total, completed=0, detail=p.unit)
            elif p.task == "extract":
                detail = extract_line(p, time.monotonic() - started).removeprefix("extract: ")
                bar.update(task("extract"), total=p.total, completed=p.done, detail=detail)
            elif p.task == "warehouse load":
                bar.update(task("warehouse load"), detail=p.unit)

        with listening(on_progress):
            yield RefreshListeners(lambda _name: None, lines.add)
        for task_id in tasks.values():
            bar.update(task_id, total=1, completed=1)


# plan, push, score


PREVIEW_HEADERS = {
    "raw_value": "as written",
    "source_line": "line",
    "source_column": "column",
}
"""Column titles of the plan's preview rows, where the column name alone says too little."""


def plan_json(saved: SavedPlan) -> str:
    """A saved plan as `plan --output json` prints it: its record, numbers, checks and preview."""
    record, summary = saved.record, saved.summary
    return json.dumps(
        {
            "plan_id": record.plan_id,
            "kind": summary.kind,
            "environment": record.environment,
            "load_id": record.load_id,
            "inputs_fingerprint": record.inputs_fingerprint,
            "inputs": summary.inputs.source,
            "not_applied": list(summary.inputs.notes),
            "counts": summary.counts,
            "rejected": summary.rejected,
            "rejected_examples": summary.rejected_examples,
            "per_type": [t.__dict__ for t in summary.per_type],
            "checks": [f.__dict__ for f in saved.checks],
            "ignored_checks": list(record.ignored_checks),
            "verdict": list(record.verdict),
            "rows": saved.preview,
        },
        default=str,
    )


def plan_tables(saved: SavedPlan) -> list[Table]:
    """The plan as tables: counts per action, changes per type (what the guard judges), rejected
    rows by reason with the first of each, and the first rows of the plan."""
    from qual_pipeline.push.guard import share_text

    summary = saved.summary
    counts = Table(title=f"{summary.table}: counts per action")
    counts.add_column("action")
    counts.add_column("rows", justify="right")
    for action, n in summary.counts.items():
        counts.add_row(action, f"{n:,}")
    tables = [counts]
    if summary.per_type:
        types = Table(title="changes per qualification type (guard)")
        columns = ("type", "changes", "score changes", "revokes", "holders", "share")
        for column in columns:
            types.add_column(column, justify="left" if column == "type" else "right")
        limit = (saved.record.settings.get("limits") or {}).get("max_share")
        for t in summary.per_type:
            types.add_row(
                t.qualification_type_id,
                f"{t.changes:,}",
                f"{t.score_changes:,}",
                f"{t.revokes:,}",
                f"{t.workers:,}",
                share_text(t.share, limit),
            )
        tables.append(types)
    if summary.rejected:
        reasons = Table(title="rejected rows by reason")
        reasons.add_column("reason")
        reasons.add_column("rows", justify="right")
        reasons.add_column("first at")
        for reason, n in summary.rejected.items():
            example = summary.rejected_examples.get(reason, "")
            reasons.add_row(escape(visible(reason)), f"{n:,}", escape(visible(example)))
        tables.append(reasons)
    shown = saved.preview
    if shown:
        table = Table(title=f"plan rows (first {len(shown)}, changes first)")
        # Where a row comes from and its value as written; optional columns only when used.
        optional = ("source_column", "revoke_reason", "reject_reason")
        columns = [
            c
            for c in shown[0]
            if c != "explicit_value"
            and (c not in optional or any(row[c] is not None for row in shown))
        ]
        for column in columns:
            table.add_column(PREVIEW_HEADERS.get(column, column))
        for row in shown:
            table.add_row(
                *("" if row[c] is None else escape(visible(str(row[c]))) for c in columns)
            )
        tables.append(table)
    return tables


def plan_lines(saved: SavedPlan) -> list[str]:
    """What `plan` says under its tables: the inputs, the checks, the verdict and the plan id."""
    summary, record = saved.summary, saved.record
    lines = [f"Inputs: {escape(visible(summary.inputs.source))}"]
    lines += [f"[yellow]{escape(visible(note))}[/]" for note in summary.inputs.notes]
    for f in saved.checks:
        where = f"type {f.qualification_type_id}" if f.qualification_type_id else "the warehouse"
        if not f.blocking:
            label = "[yellow]warning:[/]"
        elif f.check_name in record.ignored_checks:
            label = "[yellow]ignored (--ignore-check):[/]"
        else:
            label = "[bold red]blocking check failed:[/]"
        lines.append(
            f"{label} {escape(f.check_name)} for {where} ({f.offending:,} offending) in "
            f"warehouse load {record.load_id}"
        )
    if record.verdict:
        listed = "\n- ".join(escape(visible(v)) for v in record.verdict)
        lines.append(f"[bold yellow]A push of this plan would be refused:[/]\n- {listed}")
    elif summary.changes == 0:
        lines.append(f"Nothing to push: {_why_nothing(summary)}.")
    else:
        lines.append(f"A push would send {summary.changes:,} change(s).")
    if summary.rejected_rows and not record.verdict:
        lines.append(f"{summary.rejected_rows:,} rejected row(s) are left out (--skip-rejected).")
    lines.append(
        f"Saved as plan [bold]{record.plan_id}[/] (warehouse load {record.load_id}, inputs "
        f"{record.inputs_fingerprint}); nothing was sent to MTurk."
    )
    if not record.verdict and summary.changes:
        flag = " --requests" if summary.kind == "requests" else ""
        lines.append(
            f"`qual-pipeline push{flag}` applies exactly this plan, and refuses it if a "
            "refresh changes the rows it read or the inputs change before then."
        )
    return lines


def _why_nothing(summary: PlanSummary) -> str:
    """Why a plan without a verdict has no change, in what its counts show: no input row, every
    row rejected (and skipped), or every valid row already held (by the warehouse's account)."""
    unchanged = summary.counts.get("unchanged", 0)
    if unchanged == 0 and summary.rejected_rows == 0:
        return "the inputs named above hold no row"
    if unchanged == 0:
        return "every row is rejected"
    done = "already decided" if summary.kind == "requests" else "already held on MTurk"
    return f"every valid row is {done}, as the warehouse shows it"


def push_lines(report: PushReport, stats: ApiStats) -> list[str]:
    """What `push` says at the end: each plan it pushed or resumed with its changes' states,
    what was left to push, and the MTurk calls it made."""
    lines = []
    for plan in report.plans:
        states = Counter(plan.states)
        label = "resumed" if plan.resumed else "pushed"
        lines.append(
            f"{label} plan {plan.plan_id} ({plan.kind}): {plan.total:,} change(s), "
            + ", ".join(f"{s} {n:,}" for s, n in sorted(states.items()))
        )
    if report.plan_id is not None and report.plan_id not in {p.plan_id for p in report.plans}:
        lines.append(
            f"Nothing to push: plan {report.plan_id} has no changes (it was planned with none "
            "to send)."
        )
    elif report.plan_id is None and report.plans:
        flag = " --requests" if report.kind == "requests" else ""
        lines.append(
            f"No saved plan left to push; run `qual-pipeline plan{flag}` to plan new changes."
        )
    meta = stats.as_metadata()
    lines.append(
        f"MTurk calls: {meta['api_calls']:,} ({meta['retries']:,} retries: "
        f"{meta['throttles']:,} throttled, {meta['service_faults']:,} faults, "
        f"{meta['connection_errors']:,} connection errors). "
        f"Run {report.run_id}; every attempt is in push_audit."
    )
    return lines


def score_table(result: dict[str, Any]) -> Table:
    """GetQualificationScore's answer as a two-column table, titled as the AWS CLI's table
    output is."""
    table = Table(title="GetQualificationScore", show_header=True)
    table.add_column("Field")
    table.add_column("Value")
    for key, value in result["Qualification"].items():
        if isinstance(value, dict):
            for sub, inner in value.items():
                table.add_row(f"{key}.{sub}", str(inner))
        else:
            table.add_row(key, str(value))
    return table
