"""`qual-pipeline refresh --retry-failed` extracts what THIS data folder lacks, not only what the
Dagster instance records as failed: the records are the instance's, and another data folder
refreshed with the same DAGSTER_HOME recorded the failed type extracted, so the retry skipped it
and left the first folder without it; a lake that lost a type's files was skipped the same way.
Through the console script and a local MTurk."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.cli_process import warehouse_types
from support.mturk import make_data, qualification, qualification_type, type_id

from qual_pipeline.local_mturk.server import FaultConfig

SCRIPT = Path(sys.executable).with_name("qual-pipeline")
TYPES = [type_id(700 + n) for n in range(4)]
FAILING = TYPES[1]
LOST = TYPES[2]


def refresh(env: dict[str, str], data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(SCRIPT), "refresh", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "COLUMNS": "300"},
        timeout=300,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.mark.slow(60)
def test_a_retry_extracts_what_this_data_folder_lacks(
    local_mturk: Any, mturk_env: Any, tmp_path: Path
) -> None:
    # FAILING has 250 workers (3 pages): the fault serves its first page and fails the next.
    quals = [
        qualification(i, 10 + i % 90, qual_type_id=t)
        for t in TYPES
        for i in range(250 if t == FAILING else 3)
    ]
    server = local_mturk(
        data=make_data(types=[qualification_type(t) for t in TYPES], qualifications=quals),
        faults=FaultConfig(failing_type=FAILING),
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**mturk_env(server), "DAGSTER_HOME": str(home)}
    first, second = tmp_path / "first", tmp_path / "second"

    failed = refresh(env, first, "--max-attempts", "2")
    assert failed.returncode == 1, failed.stderr
    assert f"failed: {FAILING}:" in failed.stderr
    # The blocking check's fix says what a retry extracts.
    assert (
        "refresh again (a whole refresh, or `refresh --types` with the ids named; "
        "`--retry-failed` extracts the types that failed and those the lake holds no snapshot "
        "of)"
    ) in failed.stderr, failed.stderr
    server.set_faults(FaultConfig())
    # A second data folder on the same DAGSTER_HOME: its refresh records FAILING extracted.
    assert refresh(env, second).returncode == 0
    assert warehouse_types(second) == set(TYPES)

    before = server.call_counts()
    retried = refresh(env, first, "--retry-failed")
    assert retried.returncode == 0, retried.stderr
    assert "refresh done: 4 type(s), 1 extracted (250 rows)" in retried.stderr, retried.stderr
    calls = server.call_counts() - before
    assert calls["ListQualificationRequests"] == 1  # FAILING's, alone
    assert warehouse_types(first) == set(TYPES)

    # The lake lost a type's files: the retry extracts it again, and only it.
    shutil.rmtree(first / "lake" / "worker_qualifications" / f"qualification_type_id={LOST}")
    before = server.call_counts()
    again = refresh(env, first, "--retry-failed")
    assert again.returncode == 0, again.stderr
    assert "refresh done: 4 type(s), 1 extracted (3 rows)" in again.stderr, again.stderr
    assert (server.call_counts() - before)["ListQualificationRequests"] == 1
    assert (first / "lake" / "worker_qualifications" / f"qualification_type_id={LOST}").is_dir()
    assert warehouse_types(first) == set(TYPES)
    # Nothing is missing now: no extraction.
    last = refresh(env, first, "--retry-failed")
    assert last.returncode == 0 and "running: extract" not in last.stderr, last.stderr
