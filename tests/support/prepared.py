"""Folders prepared once per test session and copied by each test that needs one: a refreshed data
folder costs a whole `qual-pipeline refresh` (~6-9 CPU-s, a child process importing Dagster and
running its jobs), and `make test` runs on 2 cores, CPU-bound.

A module-scoped fixture makes its folder once per pytest-xdist worker: with 4 workers and the
tests of a module spread over them, that was up to 4 refreshes for one folder. Here the first
worker to ask makes the folder, under an exclusive lock on a file in the session's base
temporary folder (the parent of every worker's own), and the others wait for it and find it
made. The folder is only ever read: each test gets a copy of its own (`copy_of`), so no worker
writes where another reads.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from qual_pipeline.local_mturk.server import LocalMTurk
from support.mturk import (
    OTHER_REQUESTER,
    REQUESTER,
    make_data,
    mturk_variables,
    qualification,
    qualification_type,
    type_id,
)

SCRIPT = Path(sys.executable).with_name("qual-pipeline")
CLI_TYPE, CLI_FOREIGN = type_id(21), type_id(22)


def cli_world_data() -> dict[str, Any]:
    """One type of ours (12 workers) and one of another requester: the world of the session's
    `cli_world` refreshed folder, which tests/cli/test_cli.py's refreshed tests and
    tests/cli/test_configuration.py's type-list test copy."""
    return make_data(
        types=[
            qualification_type(CLI_TYPE, "Accuracy"),
            qualification_type(CLI_FOREIGN, "Not ours", owner=OTHER_REQUESTER),
        ],
        qualifications=[qualification(i, 70 + i, qual_type_id=CLI_TYPE) for i in range(12)],
    )


def session_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder every worker of this test session shares: the parent of the worker's own base
    temporary folder under pytest-xdist (basetemp/popen-gwN), else the base temporary folder."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def prepared_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]
) -> Path:
    """The folder `name`, made by `make(folder)` by the first worker of the session to ask (the
    others wait on its lock). A `make` that raises leaves nothing: the next to ask tries again,
    and fails the same way, in its own test."""
    root = session_root(tmp_path_factory) / "prepared"
    root.mkdir(exist_ok=True)
    folder = root / name
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not folder.exists():
            making = root / f"{name}.making"
            shutil.rmtree(making, ignore_errors=True)
            making.mkdir()
            make(making)
            making.rename(folder)  # whole, or not there at all
    return folder


def copy_of(prepared: Path, to: Path) -> Path:
    """A copy of a prepared folder for one test to read and write as it likes."""
    shutil.copytree(prepared, to)
    return to


def refreshed_folder(
    tmp_path_factory: pytest.TempPathFactory, name: str, data: dict[str, Any], columns: int = 200
) -> dict[str, Any]:
    """The data folder of one `qual-pipeline refresh` (the installed console script, a throw-away
    Dagster instance) of a local MTurk holding `data`, made once per session (`prepared_once`):
    {"data_dir": the folder (read it, or copy it with copy_of), "returncode", "stdout", "stderr":
    the refresh's, run with COLUMNS=`columns`}. The local MTurk it read is stopped: a test that
    calls MTurk starts its own with the same data."""

    def make(folder: Path) -> None:
        with LocalMTurk(data=data) as server:
            env = {
                k: v
                for k, v in os.environ.items()
                if k not in ("DAGSTER_HOME", "AWS_PROFILE", "AWS_SESSION_TOKEN")
            }
            env |= mturk_variables(server.endpoint_url, REQUESTER, folder)
            env |= {"COLUMNS": str(columns)}
            done = subprocess.run(
                [str(SCRIPT), "refresh", "--data-dir", str(folder / "data")],
                capture_output=True,
                text=True,
                env=env,
                timeout=300,
            )
        result = {"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr}
        (folder / "refresh.json").write_text(json.dumps(result))

    folder = prepared_once(tmp_path_factory, name, make)
    result = json.loads((folder / "refresh.json").read_text())
    return {"data_dir": folder / "data", **result}
