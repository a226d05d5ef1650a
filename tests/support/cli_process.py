"""The console script run as a user runs it, for the CLI tests: a child process whose
environment holds none of the caller's DAGSTER_ or QUAL_PIPELINE_ variables; and what a data
folder's warehouse file holds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

SCRIPT = Path(sys.executable).with_name("qual-pipeline")


def run_clean(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`qual-pipeline ARGS` in `cwd` with `env` over the caller's environment cleared of its
    DAGSTER_ and QUAL_PIPELINE_ variables (COLUMNS 400); no traceback in what it printed."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "QUAL_PIPELINE"))}
    done = subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**clean, "COLUMNS": "400", **env},
        timeout=120,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def warehouse_types(data_dir: Path) -> set[str]:
    """The qualification type ids `data_dir`'s warehouse.duckdb holds rows of."""
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT DISTINCT qualification_type_id FROM worker_qualifications"
        ).fetchall()
    return {r[0] for r in rows}
