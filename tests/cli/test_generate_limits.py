"""`qual-pipeline local-mturk generate` has declared ranges (README, Local MTurk): a size outside
them is refused before anything is written, exit 2, naming the option; it never starts writing a
file without bound (`--workers 100000000000000000000` once wrote 10 MB in 8 s and went on)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from qual_pipeline.local_mturk.generate import MAX_QUALIFICATIONS, MAX_TYPES, MAX_WORKERS

SCRIPT = Path(sys.executable).with_name("qual-pipeline")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--workers", "100000000000000000000"], "Invalid value for '--workers'"),
        (["--workers", str(MAX_WORKERS + 1)], "Invalid value for '--workers'"),
        (["--workers", "0"], "Invalid value for '--workers'"),
        (["--types", str(MAX_TYPES + 1)], "Invalid value for '--types'"),
        (["--seed", "-1"], "Invalid value for '--seed'"),
        (
            ["--workers", str(MAX_WORKERS), "--types", str(MAX_QUALIFICATIONS // MAX_WORKERS + 1)],
            f"error: --workers {MAX_WORKERS:,} x --types {MAX_QUALIFICATIONS // MAX_WORKERS + 1}"
            f" is {MAX_WORKERS * (MAX_QUALIFICATIONS // MAX_WORKERS + 1):,} qualifications at "
            f"most, above the limit of {MAX_QUALIFICATIONS:,}",
        ),
    ],
)
def test_a_size_outside_the_ranges_is_refused_before_writing(
    tmp_path: Path, args: list[str], said: str
) -> None:
    out = tmp_path / "data.json"
    done = subprocess.run(
        [str(SCRIPT), "local-mturk", "generate", "--out", str(out), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert said in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()


def test_sizes_inside_the_ranges_are_written(tmp_path: Path) -> None:
    out = tmp_path / "data.json"
    done = subprocess.run(
        [str(SCRIPT), "local-mturk", "generate", "--out", str(out), "--workers", "10"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {out}: 10 qualifications")
