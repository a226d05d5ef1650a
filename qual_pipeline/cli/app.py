"""The `qual-pipeline` command: one entry point for the whole product.

Exit codes scripts can trust: 0 done, 1 the work failed or was refused (the message says why),
2 bad usage or configuration, 130 / 143 interrupted by SIGINT / SIGTERM (one line on stderr:
`interrupted (SIGINT)`, or the command's own line; see `qual_pipeline.entry`).
"""

from __future__ import annotations

import inspect
import sys

import typer
from typer.core import TyperCommand

from qual_pipeline.cli.dagster_home import dagster_home
from qual_pipeline.cli.demo import demo
from qual_pipeline.cli.export import export
from qual_pipeline.cli.help import HelpCommand, HelpGroup
from qual_pipeline.cli.local_mturk import app as local_mturk_app
from qual_pipeline.cli.plan import plan
from qual_pipeline.cli.push import push
from qual_pipeline.cli.refresh import refresh
from qual_pipeline.cli.score import score
from qual_pipeline.cli.sql import sql
from qual_pipeline.cli.ui import ui
from qual_pipeline.memory import limit_malloc_arenas

app = typer.Typer(
    name="qual-pipeline",
    help="Mirror MTurk qualifications into a Parquet lake and a DuckDB warehouse, and push "
    "changed scores back safely.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=HelpGroup,
)
app.command()(refresh)
app.command()(sql)
app.command()(plan)
app.command()(push)
app.command()(score)
app.command()(export)
app.command()(demo)
app.command()(ui)
app.command(name="dagster-home")(dagster_home)
app.add_typer(local_mturk_app, name="local-mturk", cls=HelpGroup)


def reflowed(text: str) -> str:
    """Help text from a docstring: its paragraphs kept, the line breaks inside each dropped.

    Docstrings break lines where the source is 100 columns wide; typer's rich help keeps those
    breaks and wraps again at the terminal's width, which breaks sentences in odd places. Without
    them the terminal alone decides where a line ends.
    """
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs)


def reflow_help(commands: typer.Typer) -> None:
    """Give every command of `commands` (and of its sub-apps) its help text `reflowed`, and the
    help that shows every option's name whole (`HelpCommand`)."""
    for info in commands.registered_commands:
        if info.cls in (None, TyperCommand):
            info.cls = HelpCommand
        text = info.help or (inspect.getdoc(info.callback) if info.callback else None)
        if text:
            info.help = reflowed(text)
    for group in commands.registered_groups:
        if group.typer_instance is not None:
            reflow_help(group.typer_instance)


reflow_help(app)


def main() -> None:
    # Before any thread starts: every thread's malloc arena, not only the extraction's, counts.
    limit_malloc_arenas()
    try:
        app()
    except KeyboardInterrupt:  # the handler that raised it said so (qual_pipeline.entry)
        sys.exit(130)
    except ImportError as e:
        # Ctrl-C while a compiled module initialised (DuckDB's, imported when a command first
        # needs it): the KeyboardInterrupt surfaces as `ImportError: initialization failed`.
        if interrupted_import(e):
            sys.exit(130)
        raise


def interrupted_import(error: BaseException) -> bool:
    """Whether `error`, or an exception it was raised from or during, is a KeyboardInterrupt."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


if __name__ == "__main__":
    main()
