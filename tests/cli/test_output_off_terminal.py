"""What the installed `qual-pipeline` prints where no person reads it as it comes (a pipe, a log
file, cron, a container) stays whole: one logical line is one physical line, and `--help` names
every environment variable whole; on a terminal, the help fits the terminal's width."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path
from typing import Any

import pytest
import typer
from support.mturk import make_data, qualification, qualification_type, type_id

from qual_pipeline.cli.app import app

SCRIPT = Path(sys.executable).with_name("qual-pipeline")
COMMANDS = [
    ["refresh"],
    ["sql"],
    ["plan"],
    ["push"],
    ["score"],
    ["export"],
    ["demo"],
    ["ui"],
    ["dagster-home"],
    ["local-mturk", "serve"],
    ["local-mturk", "generate"],
]
ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")


def without_columns(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a process started by cron or in a container: no COLUMNS or LINES."""
    merged = {**os.environ, **(env or {})}
    return {k: v for k, v in merged.items() if k not in ("COLUMNS", "LINES")}


def env_vars(command: list[str]) -> list[str]:
    """The environment variables `qual-pipeline <command> --help` must name."""
    group: Any = typer.main.get_command(app)
    ctx = group.make_context("qual-pipeline", [*command, "--help"], resilient_parsing=True)
    found: Any = group
    for name in command:
        found = found.get_command(ctx, name)
    names = []
    for param in found.params:
        envvar = getattr(param, "envvar", None)
        if envvar and getattr(param, "show_envvar", False):
            names += [envvar] if isinstance(envvar, str) else list(envvar)
    return names


def assert_named_whole(text: str, names: list[str], where: str) -> None:
    """Every one of `names` is in `text` whole (as typer ends it: 'NAME]' or 'NAME;') and no
    word is cut with '…'."""
    cut = [name for name in names if f"{name}]" not in text and f"{name};" not in text]
    assert not cut, f"{where}: names cut or missing: {cut}\n{text}"
    assert "…" not in text, f"{where}: a word cut with '…'\n{text}"


def on_terminal(args: list[str], columns: int) -> str:
    """What `qual-pipeline *args` shows on a terminal `columns` wide (a pseudo-terminal), without
    its colours."""
    main, side = pty.openpty()
    fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    process = subprocess.Popen(
        [str(SCRIPT), *args], stdin=side, stdout=side, stderr=side, env=without_columns()
    )
    os.close(side)
    shown = b""
    try:
        while chunk := os.read(main, 65536):
            shown += chunk
    except OSError:  # the terminal's other side closed: the process is done
        pass
    finally:
        os.close(main)
        assert process.wait(timeout=60) == 0
    return ANSI.sub("", shown.decode()).replace("\r\n", "\n")


@pytest.mark.slow(14)
def test_help_off_a_terminal_names_every_variable_whole(tmp_path: Path) -> None:
    """`<command> --help | less` or `> file` cut the longer variables at 80 columns
    (QUAL_PIPELINE_PUSH_SEND_NOTIFICATIONS showed as QUAL_PIPELINE_PUSH_SEN…): off a terminal the
    help is a plain layout, each option's variable on a line of its own, whatever COLUMNS says."""
    for command in COMMANDS:
        names = env_vars(command)
        piped = subprocess.run(
            [str(SCRIPT), *command, "--help"],
            capture_output=True,
            text=True,
            env=without_columns(),
            timeout=60,
        )
        assert piped.returncode == 0, piped.stderr
        assert_named_whole(piped.stdout, names, " ".join(command))
        assert "--help" in piped.stdout and piped.stdout.startswith("Usage: qual-pipeline ")
    # Redirected to a file, and with a narrow COLUMNS: words are never split.
    for columns in (None, "40"):
        log = tmp_path / f"help-{columns}.txt"
        with log.open("w") as file:
            extra = {"COLUMNS": columns} if columns else {}
            done = subprocess.run(
                [str(SCRIPT), "push", "--help"], stdout=file, env=without_columns(extra), timeout=60
            )
        assert done.returncode == 0
        text = log.read_text()
        assert_named_whole(text, env_vars(["push"]), f"push --help > file, COLUMNS={columns}")
        assert "      [env var: QUAL_PIPELINE_PUSH_SEND_NOTIFICATIONS]\n" in text


@pytest.mark.slow(7)
def test_help_on_a_terminal_fits_it_and_names_every_variable_whole() -> None:
    """On a wide terminal the boxed help stays; on an 80- or 60-column one, where its description
    column would cut the variables, the plain layout instead."""
    wide = on_terminal(["push", "--help"], 200)
    assert "╭─ Options" in wide
    assert_named_whole(wide, env_vars(["push"]), "push --help at 200 columns")
    for columns in (80, 60):
        narrow = on_terminal(["push", "--help"], columns)
        assert_named_whole(narrow, env_vars(["push"]), f"push --help at {columns} columns")
        assert max(len(line) for line in narrow.splitlines()) <= columns
    # A command whose box shows every name whole at 80 columns keeps it.
    serve = on_terminal(["local-mturk", "generate", "--help"], 80)
    assert "╭─ Options" in serve


def test_a_usage_error_off_a_terminal_is_one_line() -> None:
    """The error box wrapped its message at 80 columns; in a log it is click's one line."""
    value = "a-retry-mode-that-does-not-exist-" * 3
    done = subprocess.run(
        [str(SCRIPT), "refresh", "--retry-mode", value],
        capture_output=True,
        text=True,
        env=without_columns(),
        timeout=60,
    )
    assert done.returncode == 2
    assert (
        f"Error: Invalid value for '--retry-mode' (env var: 'MTURK_RETRY_MODE'): '{value}' is "
        "not one of standard, adaptive\n"
    ) in done.stderr, done.stderr
    assert "╭" not in done.stderr


@pytest.mark.slow(20)
def test_a_refresh_logged_to_a_file_keeps_every_line_whole(
    local_mturk: Any, mturk_env: Any, tmp_path: Path
) -> None:
    """`qual-pipeline refresh >> log 2>&1` (cron): the list of new types and the summary were cut
    at 80 columns ('refresh done: ... 1 check' / 'warning(s)'), which broke grep and parsers.

    The same log: every task ends with its real final counts, the warehouse steps name theirs,
    and a type where 10% of the granted workers hold no score (presence-only grants, legal on
    MTurk) is a warning with exit 0, not a failure (that was a test of its own in
    tests/cli/test_cli.py, one more refresh)."""
    types = [type_id(300 + n) for n in range(4)]
    odd_locale = {"Country": "XX"}  # not an ISO 3166 code: the locales_valid check warns
    quals = [
        qualification(i, 50 + i, qual_type_id=t, locale=odd_locale if i == 0 else None)
        for t in types
        for i in range(3)
    ]
    # A type of 184 scored and 20 unscored granted workers and 4 revoked: scores_present warns.
    unscored = type_id(304)
    quals += [qualification(i, 50 + i % 50, qual_type_id=unscored) for i in range(184)]
    quals += [qualification(i, None, qual_type_id=unscored) for i in range(184, 204)]
    quals += [
        qualification(i, 10, qual_type_id=unscored, status="Revoked") for i in range(204, 208)
    ]
    everyone = [*types, unscored]
    server = local_mturk(
        data=make_data(types=[qualification_type(t) for t in everyone], qualifications=quals)
    )
    home = tmp_path / "dagster_home"  # an instance of its own: it announces new types
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**mturk_env(server), "DAGSTER_HOME": str(home)}
    log = tmp_path / "refresh.log"
    with log.open("w") as file:
        done = subprocess.run(
            [str(SCRIPT), "refresh", "--data-dir", str(tmp_path / "data")],
            stdout=file,
            stderr=subprocess.STDOUT,
            env=without_columns(env),
            timeout=300,
        )
    text = log.read_text()
    lines = text.splitlines()
    assert done.returncode == 0, lines
    assert f"discovered 5 new type(s): {', '.join(sorted(everyone))}" in lines, lines
    assert re.fullmatch(
        r"refresh done: 5 type\(s\), 5 extracted \(220 rows\) in [\d.]+ s, 2 check warning\(s\)",
        lines[-1],
    ), lines
    load = [line for line in lines if line.startswith("warehouse load: done, ")]
    assert len(load) == 1 and re.search(r", load \S+, [\d.]+ s$", load[0]), lines
    assert any(line.startswith("warning: locales_valid: ") for line in lines), lines
    # Each task's final counts, and the warehouse steps'.
    assert (
        f"worker_qualifications {unscored}: done, 208 rows, 4 pages, 204 granted, 4 revoked" in text
    ), text
    assert f"qualification_requests {unscored}: done, 0 rows" in text
    assert "qualification_types: done, 5 rows" in text
    assert (
        "warehouse load: replace worker_qualifications: 5 type(s), 220 rows from the lake" in text
    ), text
    assert "warehouse load: done, 11 new snapshot(s), 220 worker_qualifications rows" in text
    assert "0 replace" not in text  # no placeholder counts
    assert "warning: scores_present: 20 granted workers have no integer_value" in text
    assert f"Types: {unscored} (20)." in text
    assert "Traceback" not in text
