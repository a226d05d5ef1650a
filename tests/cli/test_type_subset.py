"""A refresh of some types (`--types` / QUAL_PIPELINE_TYPES) through the installed console script
against a real local MTurk: the types mirrored before keep their names in qualification_types and
in every model that joins it, and a plan of such a type is not rejected as not owned."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.mturk import make_data, qualification, qualification_type, type_id, worker_id
from support.stores import warehouse_rows

SCRIPT = Path(sys.executable).with_name("qual-pipeline")
T1, T2, T3 = type_id(31), type_id(32), type_id(33)
NAMES = {T1: "Accuracy", T2: "Speed", T3: "Recall"}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "COLUMNS": "200"},
        timeout=180,
    )


def rows(data_dir: Path, query: str) -> list[tuple[str, ...]]:
    """The rows of QUERY, read from the warehouse file (a `qual-pipeline sql` child process each
    was ~1.2 CPU-s; `sql` has tests of its own)."""
    return warehouse_rows(data_dir, query)


def partitions(home: Path) -> list[str]:
    """The `qualification_type` dynamic partitions the instance in `home` holds (public API)."""
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        return sorted(instance.get_dynamic_partitions("qualification_type"))


@pytest.mark.timeout(600)  # five refreshes: at load 15 they took 281 s (the default is 300)
@pytest.mark.slow(80)
def test_a_refresh_of_some_types_keeps_the_other_types_names_and_partitions(
    local_mturk: Any, mturk_env: Any, tmp_path: Path
) -> None:
    """One sequence of refreshes on one Dagster instance (the names in the warehouse and the
    partitions in the instance were two tests, each refreshing its own T1, every type, T2)."""
    types = [qualification_type(t, n) for t, n in NAMES.items()]
    quals = [qualification(i, 10 + i, qual_type_id=t) for t in NAMES for i in range(3)]
    env = mturk_env(local_mturk(data=make_data(types=types, qualifications=quals)))
    home = tmp_path / "dagster_home"
    home.mkdir()
    env["DAGSTER_HOME"] = str(home)
    data = tmp_path / "data"
    names = "SELECT qualification_type_id, name FROM qualification_types ORDER BY 1"
    joined = (
        "SELECT DISTINCT qualification_type_id, qualification_type_name "
        "FROM score_distribution ORDER BY 1"
    )

    def refresh(*args: str) -> str:
        done = run(env, "refresh", "--data-dir", str(data), *args)
        assert done.returncode == 0, done.stdout + done.stderr
        # Before the fix the discovery sensor's "dagster - INFO" line was printed mid-output.
        assert "dagster - INFO" not in done.stdout + done.stderr
        return done.stdout + done.stderr

    first = refresh("--types", T1)
    assert f"discovered 1 new type(s): {T1}" in first
    assert partitions(home) == [T1]
    # Only ever one type: only its name (the types never mirrored stay out, no check fails).
    assert rows(data, names) == [(T1, "Accuracy")]

    # A subset adds its new type and keeps T1: before the fix T1's partition was deleted
    # ("0 new, 1 gone") and the output said "no longer mirrored".
    second = refresh("--types", T2)
    assert f"discovered 1 new type(s): {T2}" in second
    assert "no longer mirrored" not in second
    assert partitions(home) == sorted([T1, T2])

    every = refresh()
    assert f"discovered 1 new type(s): {T3}" in every
    assert "refresh done: 3 type(s), 3 extracted" in every
    assert partitions(home) == sorted(NAMES)
    assert rows(data, names) == sorted(NAMES.items())

    # A subset after every type: before the fix qualification_types held only T2 and the others'
    # names were gone.
    subset = refresh("--types", T2)
    assert "discovered" not in subset and "no longer mirrored" not in subset
    assert "refresh done: 3 type(s), 1 extracted" in subset
    assert partitions(home) == sorted(NAMES)
    assert rows(data, names) == sorted(NAMES.items())
    assert rows(data, joined) == sorted(NAMES.items())

    # A type outside the subset is still one of yours for `plan`.
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "desired_scores.csv").write_text(
        f"qualification_type_id,worker_id,integer_value\n{T3},{worker_id(0)},99\n"
    )
    plan = run(
        env, "plan", "--data-dir", str(data), "--inputs-dir", str(inputs), "--max-share", "1"
    )
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "not one of your qualification types" not in plan.stdout + plan.stderr

    # Every type was extracted before: nothing is new and nothing is left to retry.
    retry = refresh("--retry-failed")
    assert "discovered" not in retry and "no longer mirrored" not in retry
    assert partitions(home) == sorted(NAMES)
