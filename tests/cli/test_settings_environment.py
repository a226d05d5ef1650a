"""Every setting's variable is checked by every command that reads settings, whichever command
it belongs to, through the console script as a user runs it:

- `QUAL_PIPELINE_PUSH_ALLOW_GRANTS=maybe qual-pipeline refresh` exited 0 (refresh takes no push
  option, so nothing read the variable): now every command refuses it, exit 2;
- a QUAL_PIPELINE_ variable that names no setting (`QUAL_PIPELINE_PUSH_ALOW_GRANTS=yes`) was
  ignored without a word: now refused, naming the setting it is closest to;
- a bad variable of a command's own option printed click's usage error (a usage line, a `Try
  ... --help` line and the error): the variable is no part of the command line, so now one line.
  A bad option typed on the command line keeps click's form.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from support.cli_process import run_clean as run

from qual_pipeline import settings

SCRIPT = Path(sys.executable).with_name("qual-pipeline")
YES_NO = f"use {', '.join(settings.TRUE)} (yes) or {', '.join(settings.FALSE)} (no), in any case"


def commands(tmp_path: Path) -> list[list[str]]:
    """One invocation of every command that reads settings, each of which would do work (the
    demo deletes its folder first, refresh creates its data folder) were it not refused."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    duckdb.connect(str(data / "warehouse.duckdb")).close()
    kept = tmp_path / "demo" / "kept.txt"
    kept.parent.mkdir(exist_ok=True)
    kept.write_text("mine")
    fresh = str(tmp_path / "fresh")
    return [
        ["refresh", "--data-dir", fresh, "--types", "3ABCDEFGHIJKLMNOPQRSTUVWXYZ01"],
        ["sql", "--data-dir", str(data), "SELECT 1"],
        ["plan", "--data-dir", str(data)],
        ["push", "--data-dir", str(data)],
        ["export", "--data-dir", str(data), "--website-csv", str(tmp_path / "w.csv")],
        ["score", "--type", "3ABCDEFGHIJKLMNOPQRSTUVWXYZ01", "--worker", "A1B2C3D4E5F6G7"],
        ["ui", "--port", "1", "--data-dir", str(data)],
        ["dagster-home", str(tmp_path / "home")],
        ["demo", "--data-dir", str(kept.parent)],
    ]


def assert_refused_in_one_line(done: subprocess.CompletedProcess[str], line: str) -> None:
    assert (done.returncode, done.stderr, done.stdout) == (2, f"error: {line}\n", ""), done.stderr


def test_a_push_setting_is_checked_by_every_command_that_reads_settings(tmp_path: Path) -> None:
    for command in commands(tmp_path):
        done = run(*command, cwd=tmp_path, QUAL_PIPELINE_PUSH_ALLOW_GRANTS="maybe")
        assert_refused_in_one_line(
            done, f"QUAL_PIPELINE_PUSH_ALLOW_GRANTS='maybe' is not a yes/no value; {YES_NO}"
        )
    assert not (tmp_path / "fresh").exists() and not (tmp_path / "home").exists()
    assert (tmp_path / "demo" / "kept.txt").read_text() == "mine"


def test_a_misspelt_variable_is_refused_naming_the_setting_it_is_closest_to(
    tmp_path: Path,
) -> None:
    for command in commands(tmp_path):
        done = run(*command, cwd=tmp_path, QUAL_PIPELINE_PUSH_ALOW_GRANTS="yes")
        assert_refused_in_one_line(
            done,
            "QUAL_PIPELINE_PUSH_ALOW_GRANTS is not a variable qual_pipeline reads: did you mean "
            "QUAL_PIPELINE_PUSH_ALLOW_GRANTS? Rename it, or unset QUAL_PIPELINE_PUSH_ALOW_GRANTS",
        )
    assert (tmp_path / "demo" / "kept.txt").read_text() == "mine"
    sql = ["sql", "--data-dir", str(tmp_path / "data"), "SELECT 1"]
    # An MTurk setting under qual_pipeline's prefix is pointed to its own name.
    done = run(*sql, cwd=tmp_path, QUAL_PIPELINE_MAX_ATTEMPTS="3")
    assert "did you mean MTURK_MAX_ATTEMPTS?" in done.stderr and done.returncode == 2
    # Nothing close: where the names are listed. The value is never shown.
    done = run(*sql, cwd=tmp_path, QUAL_PIPELINE_NOTHING_LIKE_IT="s3cr3t")
    assert_refused_in_one_line(
        done,
        "QUAL_PIPELINE_NOTHING_LIKE_IT is not a variable qual_pipeline reads (the README's "
        "Configuration table lists those it reads): correct its name, or unset "
        "QUAL_PIPELINE_NOTHING_LIKE_IT",
    )
    # Blank is unset, whatever the name; and a variable without the prefix is not ours to judge.
    fine = run(*sql, cwd=tmp_path, QUAL_PIPELINE_PUSH_ALOW_GRANTS=" ", MTURK_SOMETHING="x")
    assert fine.returncode == 0, fine.stderr
    # The misspelt name's lines point at is in the README's table.
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert "| `QUAL_PIPELINE_PUSH_ALLOW_GRANTS` |" in readme


@pytest.mark.parametrize(
    ("command", "variable", "value", "line"),
    [
        ("refresh", "MTURK_MAX_ATTEMPTS", "x", "MTURK_MAX_ATTEMPTS='x' is not a whole number; "
         "use 1 to 100 attempts"),
        ("plan", "QUAL_PIPELINE_PUSH_MAX_SHARE", "-1", "QUAL_PIPELINE_PUSH_MAX_SHARE='-1' is below "
         "its minimum 0; use 0 to 100000000"),
        ("plan", "QUAL_PIPELINE_PUSH_ALLOW_REVOKES", "sometimes", "QUAL_PIPELINE_PUSH_ALLOW_"
         f"REVOKES='sometimes' is not a yes/no value; {YES_NO}"),
        ("sql", "MTURK_ENVIRONMENT", "prod", "MTURK_ENVIRONMENT='prod' is not known; use sandbox "
         "or production"),
        ("refresh", "MTURK_RETRY_MODE", "fast", "MTURK_RETRY_MODE='fast' is not known; use "
         "standard or adaptive"),
    ],
    ids=["number", "range", "yes-no", "environment", "retry-mode"],
)  # fmt: skip
def test_a_bad_variable_of_a_commands_own_option_is_one_line(
    command: str, variable: str, value: str, line: str, tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb")).close()
    args = [
        command,
        "--data-dir",
        str(tmp_path / "data"),
        *(["SELECT 1"] if command == "sql" else []),
    ]
    done = run(*args, cwd=tmp_path, **{variable: value})
    assert_refused_in_one_line(done, line)


def test_an_option_typed_on_the_command_line_keeps_clicks_usage_error_and_wins(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    duckdb.connect(str(data / "warehouse.duckdb")).close()
    typed = run("sql", "--data-dir", str(data), "--environment", "prod", "SELECT 1", cwd=tmp_path)
    assert typed.returncode == 2
    assert typed.stderr.startswith("Usage: qual-pipeline sql "), typed.stderr
    assert "Error: Invalid value for '--environment'" in typed.stderr, typed.stderr
    # The option given, its variable is not read: a bad value there does not matter.
    query = ["sql", "--data-dir", str(data), "--output", "csv", "SELECT 1 AS one"]
    done = run(*query, "--environment", "sandbox", cwd=tmp_path, MTURK_ENVIRONMENT="prod")
    assert (done.returncode, done.stdout) == (0, "one\n1\n"), done.stderr
    # Only the command's own option: push's --rate is QUAL_PIPELINE_PUSH_RATE, and the push still
    # reads QUAL_PIPELINE_RATE (the pace every request of the process shares).
    both = {"QUAL_PIPELINE_RATE": "x", "QUAL_PIPELINE_PUSH_RATE": "y"}
    rate = "use 0.01 to 10000 requests per second"
    pushed = run("push", "--data-dir", str(data), "--rate", "5", cwd=tmp_path, **both)
    assert_refused_in_one_line(pushed, f"QUAL_PIPELINE_RATE='x' is not a number; {rate}")
    refreshed = run("refresh", "--data-dir", str(data), "--rate", "5", cwd=tmp_path, **both)
    assert_refused_in_one_line(refreshed, f"QUAL_PIPELINE_PUSH_RATE='y' is not a number; {rate}")
