"""`plan --warehouse-memory` (QUAL_PIPELINE_WAREHOUSE_MEMORY) holds the plan's DuckDB to a memory
limit: a value DuckDB reads plans as without it, one it does not is a usage error naming it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from push_helpers import World, push_cli, start_world
from support.mturk import type_id, worker_id

T1 = type_id(82)
W = [worker_id(i) for i in range(4)]
SCRIPT = Path(sys.executable).with_name("qual-pipeline")


@pytest.fixture
def common(local_mturk, mturk_env, tmp_path: Path) -> list[str]:
    world = World(types=[T1], qualifications=[(T1, w, "Granted", 10) for w in W])
    _, common = start_world(local_mturk, mturk_env, tmp_path, world)
    (tmp_path / "inputs").mkdir()
    (tmp_path / "inputs" / "desired_scores.csv").write_text(
        f"qualification_type_id,worker_id,integer_value\n{T1},{W[1]},11\n{T1},{W[2]},10\n"
    )
    return common


def test_a_plan_within_a_memory_limit_is_the_same_plan(common: list[str]) -> None:
    plans = []
    for memory in ("64MB", "2GB"):
        result = push_cli(
            "plan", *common, "--warehouse-memory", memory, "--max-share", "1", "--output", "json"
        )
        assert result.exit_code == 0, result.output
        plans.append(json.loads(result.output))
    assert plans[0]["counts"] == plans[1]["counts"] == {
        "update": 1, "grant": 0, "revoke": 0, "unchanged": 1, "rejected": 0
    }  # fmt: skip
    assert plans[0]["rows"] == plans[1]["rows"]


COMMANDS = {"plan": ["plan"], "push --replan": ["push", "--replan"], "refresh": ["refresh"]}


@pytest.mark.parametrize("given", ["option", "variable"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_memory_size_duckdb_cannot_read_is_named_as_given(
    common: list[str], command: str, given: str
) -> None:
    # Through the console script. The message named QUAL_PIPELINE_WAREHOUSE_MEMORY when the user
    # had typed --warehouse-memory; refresh said so only after extracting from MTurk.
    args = [*COMMANDS[command], "--data-dir", common[common.index("--data-dir") + 1]]
    if command != "refresh":
        args += ["--inputs-dir", common[common.index("--inputs-dir") + 1], "--max-share", "1"]
    env = {**os.environ, "COLUMNS": "200"}
    if given == "option":
        args += ["--warehouse-memory", "lots"]
    else:
        env["QUAL_PIPELINE_WAREHOUSE_MEMORY"] = "lots"
    result = subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    named = (
        "--warehouse-memory lots" if given == "option" else "QUAL_PIPELINE_WAREHOUSE_MEMORY='lots'"
    )
    assert lines == [
        f"error: {named} is not a memory size DuckDB reads; write it as e.g. 256MB or 2GB"
    ], result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_plan_out_of_memory_names_the_setting(common: list[str], tmp_path: Path) -> None:
    rows = "".join(f"{T1},A{i:013d},{i % 100}\n" for i in range(200_000))
    (tmp_path / "inputs" / "desired_scores.csv").write_text(
        f"qualification_type_id,worker_id,integer_value\n{rows}"
    )
    result = push_cli("plan", *common, "--warehouse-memory", "2MB")
    import traceback

    traceback.print_exception(result.exception)
    assert result.exit_code == 1
    assert "ran out of its memory limit" in result.output
    assert "QUAL_PIPELINE_WAREHOUSE_MEMORY" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("memory", ["16MB", "32MB"])
def test_a_small_file_plans_within_a_small_limit(common: list[str], memory: str) -> None:
    # DuckDB's CSV reader allocates a 32MB buffer by default, whatever the file's size: a plan
    # of two rows ran out of a 32MB limit that the csv module's reader fits.
    result = push_cli(
        "plan", *common, "--warehouse-memory", memory, "--max-share", "1", "--output", "json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["counts"] == {
        "update": 1, "grant": 0, "revoke": 0, "unchanged": 1, "rejected": 0
    }  # fmt: skip


@pytest.mark.parametrize("memory", ["10KB", "0MB"])
def test_a_limit_too_small_for_any_query_is_a_refusal(common: list[str], memory: str) -> None:
    # The message about running out of memory asked DuckDB for its limit, within that limit.
    result = push_cli("plan", *common, "--warehouse-memory", memory)
    assert result.exit_code == 1, result.output
    assert f"ran out of its memory limit ({memory})" in result.output
    assert "QUAL_PIPELINE_WAREHOUSE_MEMORY" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_push_refuses_a_memory_limit_without_replan(common: list[str]) -> None:
    # The push re-reads its inputs within the limit the plan was saved with: a --warehouse-memory
    # typed on `push` alone changed nothing, silently.
    assert push_cli("plan", *common, "--max-share", "1").exit_code == 0
    result = push_cli("push", *common, "--warehouse-memory", "1GB")
    assert result.exit_code == 2, result.output
    assert "--warehouse-memory" in result.output
    assert "--replan" in result.output


def test_an_empty_limit_is_the_default_not_none(common: list[str], tmp_path: Path) -> None:
    # An empty value means the setting's default, as an empty QUAL_PIPELINE_WAREHOUSE_MEMORY does;
    # `--warehouse-memory ""` planned with no limit at all, silently.
    result = push_cli("plan", *common, "--warehouse-memory", "", "--max-share", "1")
    assert result.exit_code == 0, result.output
    data_dir = Path(common[common.index("--data-dir") + 1])
    with sqlite3.connect(data_dir / "push_journal.sqlite") as journal:
        (saved,) = journal.execute("SELECT settings FROM plans").fetchone()
    assert json.loads(saved)["memory_limit"] == "256MB"
