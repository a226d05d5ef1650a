"""QUAL_PIPELINE_SCHEDULE_CRON is checked as every other setting is (README, Configuration): a
value Dagster would refuse as the schedule's cron is refused before the command does anything, in
one line naming the variable and the fix, exit 2, by every command (not Dagster's traceback from
inside refresh or demo)."""

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


def run(cron: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "QUAL_PIPELINE_SCHEDULE_CRON": cron, "COLUMNS": "300"},
        timeout=120,
    )


@pytest.mark.parametrize("cron", ["bogus", "61 * * * *", "0 0 30 2 *", "* * * * * *"])
def test_a_bad_cron_is_refused_up_front_by_every_command(tmp_path: Path, cron: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    duckdb.connect(str(data / "warehouse.duckdb")).close()
    kept = tmp_path / "demo" / "kept.txt"  # the demo deletes its folder first: not with a bad cron
    kept.parent.mkdir()
    kept.write_text("mine")
    commands = [
        ["refresh", "--data-dir", str(data), "--types", "3ABCDEFGHIJKLMNOPQRSTUVWXYZ01"],
        ["demo", "--data-dir", str(kept.parent)],
        ["sql", "--data-dir", str(data), "SELECT 1"],
        ["ui", "--port", "1", "--data-dir", str(data)],
    ]
    for command in commands:
        done = run(cron, *command)
        assert (done.returncode, done.stderr) == (
            2,
            f"error: QUAL_PIPELINE_SCHEDULE_CRON={cron!r} {FIX}\n",
        ), command
        assert done.stdout == "", command
    assert kept.read_text() == "mine"


def test_a_good_cron_is_taken(tmp_path: Path) -> None:
    duckdb.connect(str(tmp_path / "warehouse.duckdb")).close()
    query = "SELECT 1 AS one"
    done = run("*/15 * * * *", "sql", "--data-dir", str(tmp_path), query, "--output", "csv")
    assert (done.returncode, done.stdout) == (0, "one\n1\n"), done.stderr
