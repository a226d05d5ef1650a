"""`qual-pipeline dagster-home [FOLDER]` through the console script: the Dagster instance folder for
a `dagster dev -m qual_pipeline.definitions` of one's own gets the package's run limits and pools
(README, The Dagster UI); a dagster.yaml of the user's is kept; bad input is one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster import DagsterInstance

SCRIPT = Path(sys.executable).with_name("qual-pipeline")


def run(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "QUAL_PIPELINE"))}
    return subprocess.run(
        [str(SCRIPT), "dagster-home", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**clean, "COLUMNS": "200", **env},
        timeout=120,
    )


def limits(home: Path) -> tuple[int, dict[str, int], int, int]:
    """(max concurrent runs, tag limits, mturk_api slots, warehouse slots) of the instance."""
    instance = DagsterInstance.from_config(str(home))
    try:
        queue = instance.get_concurrency_config().run_queue_config
        assert queue is not None
        slots = instance.event_log_storage.get_concurrency_info
        return (
            queue.max_concurrent_runs,
            {limit["key"]: limit["limit"] for limit in queue.tag_concurrency_limits},
            slots("mturk_api").slot_count,
            slots("warehouse").slot_count,
        )
    finally:
        instance.dispose()


SHIPPED = (4, {"qual_pipeline/api": 2, "qual_pipeline/warehouse": 1})


def test_a_new_folder_gets_the_shipped_run_limits_and_pools(tmp_path: Path) -> None:
    made = run("dh", "--api-concurrency", "3", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    home = tmp_path / "dh"
    assert made.stdout.splitlines() == [
        f"export DAGSTER_HOME={home}",
        "dagster dev -m qual_pipeline.definitions -h 127.0.0.1 -p 3000",
    ]
    assert f"wrote {home / 'dagster.yaml'}" in made.stderr
    assert limits(home) == (*SHIPPED, 3, 1)

    # DAGSTER_HOME instead of FOLDER; run again: the settings it wrote are kept, pools set again
    again = run(cwd=tmp_path, DAGSTER_HOME=str(home))
    assert again.returncode == 0, again.stderr
    assert f"kept {home / 'dagster.yaml'}" in again.stderr
    assert limits(home) == (*SHIPPED, 2, 1)


def test_a_users_dagster_yaml_is_kept_and_its_missing_run_queue_named(tmp_path: Path) -> None:
    home = tmp_path / "mine"
    home.mkdir()
    own = "telemetry:\n  enabled: false\n"
    (home / "dagster.yaml").write_text(own)
    kept = run(str(home), cwd=tmp_path)
    assert kept.returncode == 0, kept.stderr
    assert (home / "dagster.yaml").read_text() == own
    assert "sets no run queue" in kept.stderr and "dagster_instance.yaml" in kept.stderr


def test_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    for args, env, said in [
        ((), {}, "no FOLDER given and DAGSTER_HOME is not set"),
        (("file",), {}, "file is a file: give a folder"),
        ((), {"DAGSTER_HOME": "relative"}, "DAGSTER_HOME='relative' is not an absolute path"),
    ]:
        refused = run(*args, cwd=tmp_path, **env)
        assert refused.returncode == 2, refused.stderr
        lines = [line for line in refused.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and said in lines[0], lines
        assert refused.stdout == ""
