"""A refresh whose types' metadata step fails while types fail too: the `failed:
qualification_types:` line is that step's own message, without the exception's class path, and
does not repeat the per-type failures printed above it (it once joined every failed step's
message: `qual_pipeline.extract.errors.ExtractionError: extracting ...; 1 of 1 qualification
type(s) failed ...`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.mturk import make_data, qualification, qualification_type, type_id

from qual_pipeline.local_mturk.faults import FaultConfig

T1 = type_id(81)
SCRIPT = Path(sys.executable).with_name("qual-pipeline")


@pytest.mark.slow(8)  # a whole refresh: started early, not in the suite's tail
def test_the_types_step_failure_is_its_own_message_once(
    local_mturk: Any, mturk_env: Any, tmp_path: Path
) -> None:
    # T1's paging fails after its first page (every time): the type fails, deterministically.
    server = local_mturk(
        data=make_data(
            types=[qualification_type(T1, "Accuracy")],
            qualifications=[qualification(i, i % 100, qual_type_id=T1) for i in range(250)],
        ),
        faults=FaultConfig(failing_type=T1),
    )
    env = mturk_env(server)
    env.pop("DAGSTER_HOME", None)
    data = tmp_path / "data"
    # The types' metadata cannot be written: its lake folder is a file.
    (data / "lake").mkdir(parents=True)
    (data / "lake" / "qualification_types").write_text("not a folder\n")
    result = subprocess.run(
        [str(SCRIPT), "refresh", "--data-dir", str(data), "--max-attempts", "1"],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "COLUMNS": "400"},
        timeout=300,
    )
    text = result.stdout + result.stderr
    assert result.returncode == 1, text
    assert "Traceback" not in text, text
    failed = [line for line in text.splitlines() if line.startswith("failed: ")]
    per_type = [line for line in failed if line.startswith(f"failed: {T1}: ")]
    types_step = [line for line in failed if line.startswith("failed: qualification_types: ")]
    assert len(per_type) == 1 and len(types_step) == 1, failed
    line = types_step[0]
    assert "qual_pipeline." not in line and "Error: " not in line.split(": ", 2)[2][:40], line
    assert T1 not in line and "ListWorkersWithQualificationType" not in line, line
    assert "qualification type(s) failed" not in line, line
