"""Installed like a library, as an image build does: `pip install .` (not editable) into a fresh
virtual environment, then `qual-pipeline demo` and `qual-pipeline sql` from an unrelated empty
folder. SQL files and every other resource must come from the installed package.

Offline: the package is built from a copy of the source tree without build isolation and without
an index (`--no-deps --no-build-isolation --no-index`); its dependencies are those already
installed in this interpreter's environment, seen by the fresh one through a .pth file (a path
entry only: the editable install's finder there is not activated)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "data",
    "build",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    "test-artifacts",
    "results",
)
OFFLINE = ("--no-deps", "--no-build-isolation", "--no-index")
COUNTS = "SELECT count(*) > 0, count(DISTINCT qualification_type_id) FROM worker_qualifications"


def _environ(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("QUAL_PIPELINE_", "MTURK_", "DAGSTER_", "PYTHON", "VIRTUAL_ENV"))
    }
    return {**env, "HOME": str(home), "COLUMNS": "200", "PIP_NO_INDEX": "1"}


@pytest.mark.timeout(240)
@pytest.mark.slow(65)
def test_pip_install_then_demo_and_sql_from_an_empty_folder(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site_packages = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site_packages / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    home = tmp_path / "home"
    home.mkdir()
    env = _environ(home)
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", *OFFLINE, "--quiet", str(source)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=180,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    package = site_packages / "qual_pipeline"
    assert (package / "sql" / "qualification_types.sql").is_file()
    assert not list(site_packages.glob("__editable__*"))

    empty = tmp_path / "somewhere" / "else"
    empty.mkdir(parents=True)
    imported = subprocess.run(
        [str(python), "-c", "import qual_pipeline; print(qual_pipeline.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=empty,
        check=True,
    )
    assert Path(imported.stdout.strip()).parent == package  # not the source tree

    command = str(venv / "bin" / "qual-pipeline")
    demo = subprocess.run(
        [command, "demo"], capture_output=True, text=True, env=env, cwd=empty, timeout=180
    )
    output = demo.stdout + demo.stderr
    assert demo.returncode == 0, output
    assert "demo done in" in output
    assert "Traceback" not in output
    # The query the demo suggests runs as printed from where the demo was run (the installed
    # program, not a checkout's .venv/bin/qual-pipeline).
    (suggested,) = re.findall(r"^Query it: (.+)$", demo.stdout, flags=re.M)
    assert ".venv/bin" not in suggested
    again = subprocess.run(
        ["bash", "-c", suggested], capture_output=True, text=True, env=env, cwd=empty, timeout=60
    )
    assert again.returncode == 0 and "worker" in again.stdout.lower(), again.stdout + again.stderr

    queried = subprocess.run(
        [command, "sql", "--data-dir", "data/demo", "--output", "csv", COUNTS],
        capture_output=True,
        text=True,
        env=env,
        cwd=empty,
        timeout=60,
    )
    assert queried.returncode == 0, queried.stdout + queried.stderr
    assert queried.stdout.strip().splitlines()[1] == "True,3"
    # The demo's state is in the folder it was run from; the source copy was not written to.
    assert sorted(p.name for p in empty.iterdir()) == ["data"]
    assert not (source / "data").exists()
