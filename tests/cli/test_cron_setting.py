"""QUAL_PIPELINE_SCHEDULE_CRON is checked as every other setting is (README, Configuration): a
value Dagster would refuse as the schedule's cron is refused before the command does anything, in
one line naming the variable and the fix, exit 2, by every command (not Dagster's traceback from
inside refresh or demo).

Each command starts a child process (~1.5 CPU-s: the check imports Dagster), so not every value
is run through every command: every command is given a different bad value, and `sql` is given
every one of them (the check is one function, run up front by every command: what a command
proves is that it runs it before it does anything)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

SCRIPT = Path(sys.executable).with_name("qual-pipeline")
FIX = (
    "is not a cron expression Dagster runs; use 5 fields, minute hour day-of-month month "
    "day-of-week, e.g. '0 6 * * *' (06:00 UTC every day)"
)
BAD = ["bogus", "61 * * * *", "0 0 30 2 *", "* * * * * *"]
COMMANDS = ["refresh", "demo", "sql", "ui"]


def run(cron: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "QUAL_PIPELINE_SCHEDULE_CRON": cron, "COLUMNS": "300"},
        timeout=120,
    )


def assert_refused(cron: str, command: str, tmp_path: Path) -> None:
    """`command` with QUAL_PIPELINE_SCHEDULE_CRON=`cron`: the one line, exit 2, nothing done."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    duckdb.connect(str(data / "warehouse.duckdb")).close()
    kept = tmp_path / "demo" / "kept.txt"  # the demo deletes its folder first: not with a bad cron
    kept.parent.mkdir(exist_ok=True)
    kept.write_text("mine")
    args = {
        "refresh": ["refresh", "--data-dir", str(data), "--types", "3ABCDEFGHIJKLMNOPQRSTUVWXYZ01"],
        "demo": ["demo", "--data-dir", str(kept.parent)],
        "sql": ["sql", "--data-dir", str(data), "SELECT 1"],
        "ui": ["ui", "--port", "1", "--data-dir", str(data)],
    }[command]
    done = run(cron, *args)
    assert (done.returncode, done.stderr) == (
        2,
        f"error: QUAL_PIPELINE_SCHEDULE_CRON={cron!r} {FIX}\n",
    ), (cron, command)
    assert done.stdout == "", (cron, command)
    assert kept.read_text() == "mine"


@pytest.mark.parametrize(("command", "cron"), list(zip(COMMANDS, BAD, strict=True)))
def test_a_bad_cron_is_refused_up_front_by_every_command(
    tmp_path: Path, command: str, cron: str
) -> None:
    assert_refused(cron, command, tmp_path)


@pytest.mark.parametrize("cron", [c for c in BAD if c != BAD[COMMANDS.index("sql")]])
def test_every_bad_cron_is_refused(tmp_path: Path, cron: str) -> None:
    """The values the test above gives the other commands, through `sql` (it is given its own
    there)."""
    assert_refused(cron, "sql", tmp_path)


def test_a_good_cron_is_taken(tmp_path: Path) -> None:
    duckdb.connect(str(tmp_path / "warehouse.duckdb")).close()
    query = "SELECT 1 AS one"
    done = run("*/15 * * * *", "sql", "--data-dir", str(tmp_path), query, "--output", "csv")
    assert (done.returncode, done.stdout) == (0, "one\n1\n"), done.stderr
