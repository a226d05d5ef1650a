"""The `qual-pipeline` command as a user meets it: help everywhere, trustworthy exit codes, clear
errors, and `refresh` and `sql` working end to end through the installed console script."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.mturk import make_data, qualification_type
from support.prepared import CLI_FOREIGN, CLI_TYPE, cli_world_data, copy_of, refreshed_folder
from typer.testing import CliRunner

from qual_pipeline.cli.app import app

T1, FOREIGN = CLI_TYPE, CLI_FOREIGN
COMMANDS = [
    [],
    ["refresh"],
    ["sql"],
    ["plan"],
    ["push"],
    ["score"],
    ["demo"],
    ["ui"],
    ["local-mturk"],
    ["local-mturk", "serve"],
    ["local-mturk", "generate"],
]


def qual_pipeline(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("qual-pipeline")
    return subprocess.run(
        [str(script), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {}), "COLUMNS": "200"},
        timeout=120,
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "top")
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert "--help" in result.output


def odd_line_breaks(rendered: str, width: int) -> list[str]:
    """Places where a line of help ends although the next line's first word would have fit after
    it: a break the source text made, not the terminal. Checks the prose and the Commands panel
    of the boxed help (option help is one string per option, wrapped by the terminal alone), and
    every paragraph of the plain layout (its section titles, option names and the bracketed
    `[env var: ...; default: ...]` start lines of their own)."""
    odd: list[str] = []
    previous: tuple[str, int] | None = None  # the text of the line before and the room it had
    in_commands = False
    in_section = False  # the plain layout's Options, Arguments, Commands...
    column = 0
    for line in rendered.splitlines():
        text, room = None, 0
        indent = len(line) - len(line.lstrip())
        if not line.startswith(("│", "╭", "╰")) and line.strip() and "Usage:" not in line:
            if indent == 0 and line.endswith(":"):  # a section of the plain layout
                in_section, previous = True, None
                continue
            if in_section and indent == 2:  # an option's or a command's name
                previous = None
                continue
            if line.lstrip().startswith("["):  # its environment variable, default, range
                previous = None
        if line.startswith("╭"):
            in_commands, column, previous = "Commands" in line, 0, None
        elif line.startswith("╰"):
            in_commands, previous = False, None
        elif line.startswith("│") and in_commands:
            inner = line[1:-1]
            name = inner[1:].split("  ", 1)[0] if inner[1:2].strip() else ""
            if name:
                column = inner.index(inner[len(name) + 1 :].lstrip(), len(name) + 1)
                previous = None
            text, room = inner[column:].rstrip(), len(inner) - column - 1
        elif not line.startswith(("│", "╭", "╰")) and line.strip() and "Usage:" not in line:
            text, room = line.strip(), width - max(indent, 2)
        else:
            previous = None
        if text is None:
            continue
        if previous is not None and len(previous[0]) + 1 + len(text.split()[0]) <= previous[1]:
            odd.append(f"{previous[0]!r} / {text!r}")
        previous = (text, room)
    return odd


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "pipe"])
@pytest.mark.parametrize("width", [60, 80, 120])
def test_help_breaks_lines_only_where_the_terminal_is_full(width: int, terminal: bool) -> None:
    """`--help` of every command at three widths, on a terminal (the boxed help, or the plain
    layout where the box would cut a name) and off one (the plain layout): a paragraph never
    breaks mid-sentence where the docstring's source lines ended (e.g. generate's "the others by
    / 20-100% of them")."""
    odd = {}
    env = {"COLUMNS": str(width), "TTY_COMPATIBLE": "1" if terminal else "0"}
    for command in COMMANDS:
        result = CliRunner().invoke(app, [*command, "--help"], env=env)
        assert result.exit_code == 0, result.output
        found = odd_line_breaks(re.sub(r"\x1b\[[0-9;]*m", "", result.output), width)
        if found:
            odd[" ".join(command) or "top"] = found
    assert not odd, odd


def test_unknown_option_is_usage_error() -> None:
    result = CliRunner().invoke(app, ["sql", "SELECT 1", "--bogus"])
    assert result.exit_code == 2


def test_sql_without_warehouse_says_to_refresh(tmp_path: Path) -> None:
    result = qual_pipeline("sql", "SELECT 1", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert f"No warehouse at {tmp_path / 'warehouse.duckdb'}" in result.stderr
    assert "qual-pipeline refresh" in result.stderr
    assert "Traceback" not in result.stderr


def world_data() -> dict[str, Any]:
    """One type of ours (12 workers) and one of another requester (support.prepared's)."""
    return cli_world_data()


@pytest.fixture
def world(local_mturk: Any, mturk_env: Any, tmp_path: Path) -> dict[str, Any]:
    """A local MTurk of world_data(), the environment that reaches it, and a data folder not
    made yet."""
    server = local_mturk(data=world_data())
    env = mturk_env(server)
    env.pop("DAGSTER_HOME", None)
    return {"data_dir": tmp_path / "data", "env": env}


@pytest.fixture
def refreshed(world: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The world after a `qual-pipeline refresh` (its result under "result"): a copy of the data
    folder of the session's one refresh of world_data() (support.prepared; a refresh per test
    was one more child process importing Dagster and running its jobs)."""
    made = refreshed_folder(tmp_path_factory, "cli_world", world_data())
    copy_of(made["data_dir"], world["data_dir"])
    result = subprocess.CompletedProcess([], made["returncode"], made["stdout"], made["stderr"])
    return {**world, "result": result}


@pytest.mark.slow(25)
def test_refresh_then_sql(refreshed: dict[str, Any]) -> None:
    result = refreshed["result"]
    assert result.returncode == 0, result.stderr
    assert "refresh done: 1 type(s)" in result.stderr
    # A throw-away instance (no DAGSTER_HOME) knows no type before a run: nothing to announce.
    assert "discovered" not in result.stderr
    data_dir = str(refreshed["data_dir"])
    query = "SELECT count(*) AS workers, max(integer_value) AS top FROM worker_qualifications"
    table = qual_pipeline("sql", query, "--data-dir", data_dir)
    assert table.returncode == 0, table.stderr
    assert "workers" in table.stdout and "12" in table.stdout and "81" in table.stdout
    csv_out = qual_pipeline("sql", query, "--data-dir", data_dir, "--output", "csv")
    assert csv_out.stdout.splitlines() == ["workers,top", "12,81"]

    # Read-only, and bad SQL is reported without a traceback.
    write = qual_pipeline("sql", "DELETE FROM worker_qualifications", "--data-dir", data_dir)
    assert write.returncode == 1
    assert "read-only" in write.stderr
    bad = qual_pipeline("sql", "SELEC nonsense", "--data-dir", data_dir)
    assert bad.returncode == 1
    assert "query failed" in bad.stderr and "Traceback" not in bad.stderr
    count = qual_pipeline(
        "sql",
        "SELECT count(*) FROM worker_qualifications",
        "--data-dir",
        data_dir,
        "--output",
        "csv",
    )
    assert count.stdout.splitlines()[1] == "12"


@pytest.mark.slow(16)
def test_refresh_and_sql_on_a_damaged_warehouse_name_the_file_and_the_fix(
    refreshed: dict[str, Any],
) -> None:
    # The refresh's failure read "_duckdb.IOException: ... not a valid DuckDB database file!" and
    # `sql` printed a traceback; only `rm warehouse.duckdb` cured it, and nothing said so. Then
    # the refresh extracted every type before it failed at the load.
    data_dir = refreshed["data_dir"]
    path = data_dir / "warehouse.duckdb"
    path.write_bytes(b"not a database" * 100)
    again = qual_pipeline("refresh", "--data-dir", str(data_dir), env=refreshed["env"])
    assert again.returncode == 1
    # Refused before the extraction (no type is extracted only to fail at the load).
    assert again.stderr.startswith(
        f"error: The warehouse {path} is damaged: DuckDB cannot read it as a database (IO Error:"
    )
    assert len(again.stderr.splitlines()) == 1, again.stderr
    assert f"Restore it from a backup, or move it away (e.g. `mv {path} {path}.broken`)" in (
        again.stderr
    )
    assert "WarehouseLoadError" not in again.stderr and "_duckdb" not in again.stderr
    query = qual_pipeline("sql", "SELECT 1", "--data-dir", str(data_dir))
    assert query.returncode == 1
    assert query.stderr.startswith(f"error: The warehouse {path} is damaged")
    assert "Traceback" not in query.stderr + again.stderr


def test_refresh_names_a_type_not_owned(world: dict[str, Any]) -> None:
    # The refusal needs no refreshed data folder (it had one: a whole refresh more).
    result = qual_pipeline(
        "refresh",
        "--data-dir",
        str(world["data_dir"]),
        "--types",
        f"{T1},{FOREIGN}",
        env=world["env"],
    )
    assert result.returncode == 2
    assert FOREIGN in result.stderr
    assert f"qualification type '{FOREIGN}' in --types is not owned" in result.stderr
    assert "QUAL_PIPELINE_TYPES" not in result.stderr  # the user typed --types
    assert "Traceback" not in result.stderr
    assert world["env"]["AWS_SECRET_ACCESS_KEY"] not in result.stderr + result.stdout
    # The message names what the user wrote: the flag here, the variable when that set it.
    assert f"qualification type '{FOREIGN}' in --types is not owned" in result.stderr
    assert "fix --types or set it to 'owned'" in result.stderr
    assert "QUAL_PIPELINE_TYPES" not in result.stderr
    env = {**world["env"], "QUAL_PIPELINE_TYPES": f"{T1},bad-id"}
    by_variable = qual_pipeline("refresh", "--data-dir", str(world["data_dir"]), env=env)
    assert by_variable.returncode == 2
    assert "qualification type 'bad-id' in QUAL_PIPELINE_TYPES is malformed" in by_variable.stderr
    assert "--types" not in by_variable.stderr


def test_mturk_failing_the_discovery_is_a_failure_not_bad_usage(
    local_mturk: Any, mturk_env: Any, tmp_path: Path
) -> None:
    """MTurk answering every request ServiceFault: the listing of the types fails after its
    attempts; that is a failed refresh (exit 1), not a usage or configuration error (2)."""
    from qual_pipeline.local_mturk.server import FaultConfig

    server = local_mturk(
        data=make_data(types=[qualification_type(T1, "Accuracy")]),
        faults=FaultConfig(fault_rate=1.0, seed=1),
    )
    env = mturk_env(server)
    env.pop("DAGSTER_HOME", None)
    data_dir = tmp_path / "data"
    result = qual_pipeline("refresh", "--data-dir", str(data_dir), "--max-attempts", "1", env=env)
    assert result.returncode == 1, result.stderr
    assert "ListQualificationTypes" in result.stderr and "ServiceFault" in result.stderr
    assert "after 1 attempt(s)" in result.stderr
    assert "Traceback" not in result.stderr
