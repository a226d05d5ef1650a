"""`qual-pipeline --help`, a command's --help and a settings error import none of the heavy
libraries: those load only inside the commands that use them (every process of the command line,
even one that prints its help, paid ~0.75 s of CPU importing them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("qual-pipeline")
HEAVY = ("dagster", "duckdb", "pyarrow", "boto3", "botocore", "matplotlib", "numpy")


def imported(args: list[str], env: dict[str, str]) -> tuple[int, set[str]]:
    """The exit code of `qual-pipeline <args>` and the top-level packages it imported, read from
    Python's own import log (PYTHONPROFILEIMPORTTIME, i.e. -X importtime, on stderr)."""
    result = subprocess.run(
        [str(SCRIPT), *args],
        env={**os.environ, **env, "PYTHONPROFILEIMPORTTIME": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    names = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "typer" in names, result.stderr[-2000:]  # the log was read
    return result.returncode, names


@pytest.mark.parametrize(
    ("args", "env", "code"),
    [
        (["--help"], {}, 0),
        (["plan", "--help"], {}, 0),
        (["local-mturk", "serve", "--help"], {}, 0),
        (["plan"], {"QUAL_PIPELINE_PUSH_MAX_SHARE": "-1"}, 2),
    ],
    ids=["help", "plan-help", "local-mturk-serve-help", "settings-error"],
)
def test_help_and_usage_errors_import_no_heavy_library(
    args: list[str], env: dict[str, str], code: int
) -> None:
    returncode, names = imported(args, env)
    assert returncode == code
    assert sorted(names & set(HEAVY)) == []
