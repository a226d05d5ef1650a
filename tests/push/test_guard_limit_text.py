"""A guard's share limit in the refusal reads as typed, however small: `--max-share 5e-324` (a
value the option takes) printed its limit as '0.' and some 320 more digits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from push_helpers import World, write_csv
from support.mturk import type_id, worker_id

SCRIPT = Path(sys.executable).with_name("qual-pipeline")
T = type_id(72)


def plan(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "QUAL_PIPELINE"))}
    return subprocess.run(
        [str(SCRIPT), "plan", "--data-dir", str(tmp_path / "data"), "--inputs-dir",
         str(tmp_path / "inputs"), *args],
        capture_output=True,
        text=True,
        env={**clean, "COLUMNS": "200"},
        timeout=120,
    )  # fmt: skip


def test_a_tiny_share_limit_is_written_short_and_exact(tmp_path: Path) -> None:
    workers = [worker_id(i) for i in range(10)]
    World(types=[T], qualifications=[(T, w, "Granted", 1) for w in workers]).warehouse(
        tmp_path / "data"
    )
    write_csv(
        tmp_path / "inputs" / "desired_scores.csv",
        ["qualification_type_id", "worker_id", "integer_value"],
        [(T, w, "7") for w in workers[:5]],
    )
    for limit, shown in (("5e-324", "5e-322%"), ("1e-20", "1e-18%"), ("0.07", "7%")):
        refused = plan(tmp_path, "--max-share", limit)
        assert refused.returncode == 1, refused.stderr
        said = refused.stdout + refused.stderr
        assert (
            f"type {T}: 5 changes = 50.0% of its workers (10 workers hold it); the limit is 500 "
            f"changes and {shown}. If this is intended, pass --max-share 0.50"
        ) in said, said
        assert "0.00000000000000" not in said
        assert max(len(line) for line in said.splitlines()) < 400
