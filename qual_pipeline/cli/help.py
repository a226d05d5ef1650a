"""`--help` and usage errors that stay whole wherever they are shown.

typer's rich help lays options out in a table as wide as the console (80 columns off a terminal):
its description column gets what the option and type columns leave, and a longer word there (an
environment variable such as QUAL_PIPELINE_PUSH_SEND_NOTIFICATIONS) is cut with '…'. So:

- on a terminal, the rich help is kept when it shows every option's environment variable whole at
  the terminal's width; else (a narrow terminal) the plain layout below;
- off a terminal (`--help | less`, `--help > file`), always the plain layout: each option on its
  own line, its description under it, wrapped between words only (a name is never cut or split);
- usage errors off a terminal (stderr a pipe or a log) are click's plain lines, not a box wrapped
  at 80 columns.

Commands and groups get this through `cls=` (`HelpCommand`, `HelpGroup`), typer's public hook for
its click classes.
"""

from __future__ import annotations

import contextlib
import io
import textwrap
from typing import Any

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperCommand, TyperGroup

PLAIN_MIN_WIDTH = 40
"""The plain layout wraps at the console's width, but never narrower than this (words are never
split, so a narrower console only gets more lines)."""
INDENT = "  "
DESCRIPTION_INDENT = "      "


def env_vars(command: Any, ctx: typer.Context) -> list[str]:
    """The environment variables `command`'s help names beside its options."""
    names: list[str] = []
    for param in command.get_params(ctx):
        envvar = getattr(param, "envvar", None)
        if envvar and getattr(param, "show_envvar", False) and not getattr(param, "hidden", False):
            names += [envvar] if isinstance(envvar, str) else list(envvar)
    return names


def shows_whole(text: str, plain: str, names: list[str]) -> bool:
    """Whether rendered help `text` shows every word whole: every one of `names` ('NAME]' or
    'NAME;', the end of typer's '[env var: NAME]') and no word cut with '…' at a column's edge
    (no more '…' than the `plain` help holds)."""
    whole = all(f"{name}]" in text or f"{name};" in text for name in names)
    return whole and text.count("…") <= plain.count("…")


def _wrap(text: str, width: int, indent: str) -> list[str]:
    """`text` in lines of at most `width` columns starting with `indent`, broken between words
    only: a word longer than the room is kept whole on its own line."""
    return textwrap.wrap(
        text,
        max(width, PLAIN_MIN_WIDTH),
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [indent.rstrip()]


def plain_help(command: Any, ctx: typer.Context, width: int) -> str:
    """`command`'s help as plain text: usage, description, then each section (Arguments, Options,
    the help panels) with every parameter's names on a line of their own and its description (with
    its environment variable, default and range) indented under them; subcommands of a group with
    their one-line help."""
    pieces = " ".join(command.collect_usage_pieces(ctx))
    lines = [f"Usage: {ctx.command_path} {pieces}".rstrip(), ""]
    if command.help:
        for paragraph in Text.from_markup(command.help).plain.split("\n\n"):
            lines += [*_wrap(" ".join(paragraph.split()), width, INDENT), ""]
    sections: dict[str, list[tuple[str, str]]] = {"Arguments": [], "Options": []}
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        default = "Arguments" if param.param_type_name == "argument" else "Options"
        title = getattr(param, "rich_help_panel", None) or default
        sections.setdefault(title, []).append(record)
    if isinstance(command, TyperGroup):
        sections["Commands"] = [
            (name, sub.get_short_help_str(limit=10_000))
            for name in command.list_commands(ctx)
            if (sub := command.get_command(ctx, name)) is not None and not sub.hidden
        ]
    for title, records in sections.items():
        if not records:
            continue
        lines.append(f"{title}:")
        for names, description in records:
            lines.append(f"{INDENT}{names}")
            # click appends '  [env var: NAME; default: ...]': on a line of its own.
            text, extra = description, ""
            if description.endswith("]") and "  [" in description:
                text, extra = description.rsplit("  [", 1)
                extra = f"[{extra}"
            for part in (text, extra):
                if part:
                    lines += _wrap(part, width, DESCRIPTION_INDENT)
        lines.append("")
    return "\n".join(lines)


class _Help:
    """format_help of `HelpCommand` and `HelpGroup` (see the module's docstring)."""

    def format_help(self, ctx: typer.Context, formatter: Any) -> None:
        command: Any = self
        console = Console()
        plain = plain_help(command, ctx, console.width)
        if console.is_terminal and command.rich_markup_mode is not None:
            shown = io.StringIO()
            with contextlib.redirect_stdout(shown):  # typer's console prints to sys.stdout
                super().format_help(ctx, formatter)  # type: ignore[misc]
            if shows_whole(shown.getvalue(), plain, env_vars(command, ctx)):
                super().format_help(ctx, formatter)  # type: ignore[misc]  # again, in colour
                return
        formatter.write(plain)


class HelpCommand(_Help, TyperCommand):
    """A typer command whose help shows every name whole."""


class HelpGroup(_Help, TyperGroup):
    """A typer group whose help shows every name whole, and whose usage errors off a terminal are
    plain lines."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        from qual_pipeline.settings import drop_blank_variables

        # Blank means unset for every setting, for this process and those it starts.
        drop_blank_variables()
        if not Console(stderr=True).is_terminal:
            self.rich_markup_mode = None  # click's `Error: ...` line instead of a boxed panel
        return super().main(*args, **kwargs)
