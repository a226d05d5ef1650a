"""An unknown qualification type id says that sandbox and production ids differ (README,
Selecting types: *does not exist*), through the console script: `refresh --types ID` (exit 2,
before any extraction) and `score --type ID` (exit 1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from support.mturk import make_data, qualification, qualification_type, type_id

T1 = type_id(91)
UNKNOWN = type_id(92)  # well formed, on no MTurk here
SCRIPT = Path(sys.executable).with_name("qual-pipeline")


def test_an_unknown_type_id_says_sandbox_and_production_ids_differ(
    local_mturk: Any, mturk_env: Any, tmp_path: Path
) -> None:
    server = local_mturk(
        data=make_data(
            types=[qualification_type(T1, "Accuracy")],
            qualifications=[qualification(i, 50, qual_type_id=T1) for i in range(3)],
        )
    )
    env = {**os.environ, **mturk_env(server), "COLUMNS": "400"}
    env.pop("DAGSTER_HOME", None)
    for args, code in (
        (["refresh", "--data-dir", str(tmp_path / "data"), "--types", UNKNOWN], 2),
        (["score", "--type", UNKNOWN, "--worker", "AW000000000001"], 1),
    ):
        done = subprocess.run(
            [str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=120
        )
        assert done.returncode == code, done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        assert UNKNOWN in done.stderr, done.stderr
        assert "sandbox and production" in done.stderr and "differ" in done.stderr, done.stderr
