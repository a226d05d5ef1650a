"""Ctrl-C (SIGINT) or SIGTERM in the first second of a command, while it is still importing the
command line (Dagster, DuckDB, boto3): one `interrupted (SIGINT|SIGTERM)` line on stderr, exit
130 / 143, never a KeyboardInterrupt traceback nor a silent exit. The console script installs its
handlers before those imports (`qual_pipeline.entry`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

SCRIPT = Path(sys.executable).with_name("qual-pipeline")
DELAYS_S = (0.3, 0.4, 0.5, 0.6, 0.7)
"""After the start: past Python's own start (0.14 s for `python -c pass` at load 18, before any
code of the package can run), inside the imports (3.7 s at load 18; 1.2 s and more at load 11)."""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_signal_while_starting_is_one_line_and_the_signals_exit_code(
    tmp_path: Path, signum: signal.Signals
) -> None:
    duckdb.connect(str(tmp_path / "warehouse.duckdb")).close()
    # A query that runs for minutes: the process is still there whenever the signal comes.
    query = "SELECT count(*) FROM range(20000000000)"
    command = [str(SCRIPT), "sql", "--data-dir", str(tmp_path), query]
    for delay in DELAYS_S:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        time.sleep(delay)
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=120)
        assert "Traceback" not in stderr, (delay, stderr)
        assert (process.returncode, stderr) == (128 + signum, f"interrupted ({signum.name})\n"), (
            delay,
            stdout,
        )


def test_ctrl_c_while_duckdb_initialises_is_the_interrupts_exit_code(tmp_path: Path) -> None:
    # Before: a SIGINT landing while DuckDB's compiled module initialised (0.6 s after the start
    # of `sql`, seen in make test) ended in `ImportError: initialization failed` and a traceback.
    # The child raises what that import raised (an ImportError during a KeyboardInterrupt) from
    # the command line, through the console script's main.
    script = (
        "import sys\n"
        "import importlib\n"
        "cli = importlib.import_module('qual_pipeline.cli.app')\n"
        "def fails():\n"
        "    try:\n"
        "        raise KeyboardInterrupt\n"
        "    except KeyboardInterrupt:\n"
        "        raise ImportError('initialization failed')\n"
        "cli.app = fails\n"
        "cli.main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert (done.returncode, done.stderr) == (130, ""), done.stderr
