"""README, The Dagster UI, for a pip install: from a folder holding nothing of the project, the
documented `dagster dev -m qual_pipeline.definitions` target loads the installed code location,
and `qual-pipeline dagster-home FOLDER` gives that DAGSTER_HOME the shipped run queue (at most 4
runs, 2 extraction runs, 1 warehouse load) and pools. A bare `dagster dev` there exits 2, which is
why the README names `-m`.

Installed as test_installed_package.py installs it (`pip install .`, offline, not editable, into
a fresh virtual environment seeing this environment's dependencies through a .pth path entry),
but without its demo: this test only loads definitions and reads the instance (no run).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "data", "build", "*.egg-info", "__pycache__", ".pytest_cache",
    ".ruff_cache", "test-artifacts", "results", "dagster_home",
)  # fmt: skip
OFFLINE = ("--no-deps", "--no-build-isolation", "--no-index")
README = (REPO / "README.md").read_text(encoding="utf-8")
PROBE = """
import json
from dagster import DagsterInstance
import qual_pipeline
instance = DagsterInstance.get()
queue = instance.get_concurrency_config().run_queue_config
slots = instance.event_log_storage.get_concurrency_info
print(json.dumps({
    "package": qual_pipeline.__file__,
    "max_concurrent_runs": queue.max_concurrent_runs,
    "tags": {limit["key"]: limit["limit"] for limit in queue.tag_concurrency_limits},
    "pools": {pool: slots(pool).slot_count for pool in ("mturk_api", "warehouse")},
}))
"""


@pytest.mark.timeout(420)
@pytest.mark.slow(60)
def test_the_readmes_dagster_dev_setup_works_from_a_pip_install(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    user = tmp_path / "user"  # nothing of the project: no workspace.yaml, no pyproject.toml
    user.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("QUAL_PIPELINE_", "MTURK_", "AWS_", "DAGSTER_", "PYTHON", "VIRTUAL_"))
    } | {"HOME": str(tmp_path), "PIP_NO_INDEX": "1", "COLUMNS": "200"}
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", *OFFLINE, "--quiet", str(source)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=240,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr

    def run(*cmd: str, **more: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(cmd), capture_output=True, text=True, env=env | more, cwd=user, timeout=180
        )

    # The README's commands, as it gives them.
    assert "qual-pipeline dagster-home ~/qual_pipeline_dagster" in README
    made = run(str(venv / "bin" / "qual-pipeline"), "dagster-home", str(user / "dh"))
    assert made.returncode == 0, made.stderr
    export, dev = made.stdout.splitlines()
    assert export == f"export DAGSTER_HOME={user / 'dh'}"
    assert dev == "dagster dev -m qual_pipeline.definitions -h 127.0.0.1 -p 3000" and dev in README
    home = export.split("=", 1)[1]

    # `dagster dev`'s code location target (`-m qual_pipeline.definitions`) loads there...
    target = dev.split()[2:4]
    dagster = [str(python), "-m", "dagster"]
    loaded = run(*dagster, "definitions", "validate", *target, DAGSTER_HOME=home)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    # ... where a bare `dagster dev` finds nothing to load (what the README warns of)
    bare = run(*dagster, "dev", "-p", "1", "-h", "127.0.0.1", DAGSTER_HOME=home)
    assert bare.returncode == 2 and "No arguments given" in bare.stderr, bare.stderr

    # The instance of that DAGSTER_HOME: the shipped run queue and pools, as the README says.
    probe = run(str(python), "-c", PROBE, DAGSTER_HOME=home)
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    assert found.pop("package").startswith(purelib)  # the installed package, not this checkout
    assert found == {
        "max_concurrent_runs": 4,
        "tags": {"qual_pipeline/api": 2, "qual_pipeline/warehouse": 1},
        "pools": {"mturk_api": 2, "warehouse": 1},
    }
