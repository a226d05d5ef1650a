"""The README's synopses of plan, push, score, export and sql name exactly the options each
command's `--help` lists, with the same defaults.

A newcomer found `sql --limit` (and others) missing from the README: the synopses were written by
hand and drifted from the commands. This reads both as a user does: the README block, and each
command's `--help` through the installed console script (off a terminal: the plain layout, one
option per line, its `[... default: ...]` on a line of its own).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
SCRIPT = Path(sys.executable).with_name("qual-pipeline")
COMMANDS = ("plan", "push", "score", "export", "sql")
MARKER = "<!-- synopses: tests/cli/test_synopses.py"


def synopses() -> dict[str, str]:
    """Command -> its synopsis text (the first line and its indented continuation lines)."""
    text = README.read_text()
    block = text[text.index(MARKER) :]
    block = block[block.index("```") + 3 :]
    block = block[: block.index("```")]
    found: dict[str, str] = {}
    current = None
    for line in block.splitlines():
        named = re.match(r"qual-pipeline (\S+)", line)
        if named:
            current = named.group(1)
            found[current] = line[named.end() :]
        elif current is not None and line.startswith(" "):
            found[current] += " " + line.strip()
    return found


def help_options(command: str) -> dict[str, str | None]:
    """Option -> its default as `--help` shows it (None when it shows none), from the console
    script off a terminal."""
    done = subprocess.run(
        [str(SCRIPT), command, "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "100"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    options: dict[str, str | None] = {}
    name = None
    for line in done.stdout.splitlines():
        option = re.match(r"  (--[a-z][a-z-]*)", line)
        if option:
            name = option.group(1)
            options[name] = None
            continue
        default = re.search(r"default: ([^;\]]+)", line)
        if name is not None and default:
            options[name] = default.group(1).strip()
    options.pop("--help", None)
    return options


def test_every_command_has_a_synopsis() -> None:
    assert sorted(synopses()) == sorted(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_synopsis_names_every_option_of_its_help_and_no_other(command: str) -> None:
    synopsis = synopses()[command]
    named = re.findall(r"--[a-z][a-z-]*", synopsis)
    helped = help_options(command)
    assert sorted(set(named)) == sorted(helped), (
        f"missing from the README: {sorted(set(helped) - set(named))}; "
        f"not an option of `{command}`: {sorted(set(named) - set(helped))}"
    )
    assert len(named) == len(set(named)), f"named twice: {named}"


@pytest.mark.parametrize("command", COMMANDS)
def test_a_default_in_a_synopsis_is_the_commands(command: str) -> None:
    helped = help_options(command)
    for option, value in re.findall(r"\[(--[a-z][a-z-]*) (\d[\w.]*)\]?", synopses()[command]):
        default = helped[option]
        assert default is not None, f"{option} {value}: `{command} --help` shows no default"
        try:
            same = float(value) == float(default)
        except ValueError:
            same = value == default
        assert same, f"{option} {value} in the README, default {default} in `{command} --help`"
