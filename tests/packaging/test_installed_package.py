"""Installed like a library, as an image build does: `pip install .` (not editable) into a fresh
virtual environment, then `qual-pipeline demo` and `qual-pipeline sql` from an unrelated empty
folder. SQL files and every other resource must come from the installed package.

Offline: the package is built from a copy of the source tree without build isolation and without
an index (`--no-deps --no-build-isolation --no-index`); its dependencies are those already
installed in this interpreter's environment, seen by the fresh one through a .pth file (a path
entry only: the editable install's finder there is not activated).

The same demo run, as a user runs it, shows what the demo promises: it keeps its Dagster state to
itself (nothing in the DAGSTER_HOME it was given), keeps its example scores on each type's scale,
draws its charts after its push, and suggests a first query whose rows are sorted with every id
whole at 80 columns. A refresh of the project's data on that DAGSTER_HOME's instance afterwards
sees every type of its own data, and discovery has nothing left to extract. (These were two tests,
each running the demo: 90 s and 103 s in `make test`; one demo run serves both.)

README, The Dagster UI, for a pip install, on the same install (it was a test of its own with a
second install): from a folder holding nothing of the project, the documented
`dagster dev -m qual_pipeline.definitions` target loads the installed code location, and
`qual-pipeline dagster-home FOLDER` gives that DAGSTER_HOME the shipped run queue (at most 4 runs,
2 extraction runs, 1 warehouse load) and pools. A bare `dagster dev` there exits 2, which is why
the README names `-m`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance, SkipReason, build_sensor_context
from support.mturk import Requester
from support.stores import read_warehouse

from qual_pipeline.defs.partitions import qualification_type_partitions
from qual_pipeline.local_mturk.generate import GENERATED_ACCESS_KEY_ID, GENERATED_SECRET, generate
from qual_pipeline.warehouse.charts import over_time

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
GENERATED = Requester(GENERATED_ACCESS_KEY_ID, GENERATED_SECRET)
SCALES = {"binary": range(0, 2), "percent": range(0, 101)}  # by the word in a generated name
README = (REPO / "README.md").read_text(encoding="utf-8")
INSTANCE_PROBE = """
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


def _environ(home: Path, dagster_home: Path) -> dict[str, str]:
    """This environment without anything pointing elsewhere (settings, credentials, MTurk, the
    editable install's virtual environment), with its own HOME and a project's DAGSTER_HOME."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("QUAL_PIPELINE_", "MTURK_", "AWS_", "DAGSTER_", "PYTHON", "VIRTUAL_ENV", "COLUMNS")
        )
    }
    return {
        **env,
        "HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "COLUMNS": "80",
        "PIP_NO_INDEX": "1",
    }


def _check_the_readmes_dagster_dev_setup(
    venv: Path, site_packages: Path, env: dict[str, str], user: Path
) -> None:
    """README's `qual-pipeline dagster-home` then `dagster dev -m qual_pipeline.definitions`,
    run from `user` (nothing of the project) with the package installed in `venv`."""
    python = str(venv / "bin" / "python")

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
    dagster = [python, "-m", "dagster"]
    loaded = run(*dagster, "definitions", "validate", *target, DAGSTER_HOME=home)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    # ... where a bare `dagster dev` finds nothing to load (what the README warns of)
    bare = run(*dagster, "dev", "-p", "1", "-h", "127.0.0.1", DAGSTER_HOME=home)
    assert bare.returncode == 2 and "No arguments given" in bare.stderr, bare.stderr

    # The instance of that DAGSTER_HOME: the shipped run queue and pools, as the README says.
    probe = run(python, "-c", INSTANCE_PROBE, DAGSTER_HOME=home)
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    assert Path(found.pop("package")).is_relative_to(site_packages)  # installed, not a checkout
    assert found == {
        "max_concurrent_runs": 4,
        "tags": {"qual_pipeline/api": 2, "qual_pipeline/warehouse": 1},
        "pools": {"mturk_api": 2, "warehouse": 1},
    }


def _query(data_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    con = read_warehouse(data_dir)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.timeout(600)
@pytest.mark.slow(110)
def test_pip_install_then_demo_and_sql_from_an_empty_folder_then_the_projects_refresh(
    tmp_path: Path, local_mturk: Any, mturk_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
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
    # The project's instance, as `make` sets it up: the demo must leave it alone.
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", dagster_home / "dagster.yaml")
    env = _environ(home, dagster_home)
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
    user = tmp_path / "user"  # nothing of the project: no workspace.yaml, no pyproject.toml
    user.mkdir()
    _check_the_readmes_dagster_dev_setup(venv, site_packages, env, user)

    command = str(venv / "bin" / "qual-pipeline")
    demo = subprocess.run(
        [command, "demo"], capture_output=True, text=True, env=env, cwd=empty, timeout=300
    )
    output = demo.stdout + demo.stderr
    assert demo.returncode == 0, output
    assert "demo done in" in output
    assert "Traceback" not in output
    demo_dir = empty / "data" / "demo"

    # Nothing of the demo in the project's instance.
    instance = DagsterInstance.from_config(str(dagster_home))
    try:
        assert instance.get_runs_count() == 0
        assert instance.get_dynamic_partitions(qualification_type_partitions.name) == []
        assert instance.get_asset_keys() == []
    finally:
        instance.dispose()

    # The query the demo suggests runs as printed from where the demo was run (the installed
    # program, not a checkout's .venv/bin/qual-pipeline), and prints sorted rows with every id
    # whole, at 80 columns.
    (suggested,) = re.findall(r"^Query it: (.+)$", demo.stdout, flags=re.M)
    assert ".venv/bin" not in suggested
    assert re.fullmatch(r'\S+ sql --data-dir \S+ ".+"', suggested), suggested
    again = subprocess.run(
        ["bash", "-c", suggested], capture_output=True, text=True, env=env, cwd=empty, timeout=120
    )
    assert again.returncode == 0 and "worker" in again.stdout.lower(), again.stdout + again.stderr
    shown = re.findall(r"^│ (3[A-Z0-9]{29}) │.*│ (\d+) +│ \d+ +│$", again.stdout, re.M)
    assert len(shown) == 20, again.stdout
    assert shown == sorted(shown, key=lambda row: (row[0], int(row[1])))

    queried = subprocess.run(
        [command, "sql", "--data-dir", "data/demo", "--output", "csv", COUNTS],
        capture_output=True,
        text=True,
        env=env,
        cwd=empty,
        timeout=120,
    )
    assert queried.returncode == 0, queried.stdout + queried.stderr
    # sql writes DuckDB's text of each value: a BOOLEAN is true (README: the sql section).
    assert queried.stdout.strip().splitlines()[1] == "true,3"
    # The demo's state is in the folder it was run from; the source copy was not written to.
    assert sorted(p.name for p in empty.iterdir()) == ["data"]
    assert not (source / "data").exists()

    # Every example score the demo pushed lies on its type's scale.
    pushed = _query(
        demo_dir,
        "SELECT t.name, a.action, a.new_value FROM push_audit AS a "
        "JOIN qualification_types AS t USING (qualification_type_id) "
        "WHERE a.status = 'verified' AND a.new_value IS NOT NULL",
    )
    assert {action for _, action, _ in pushed} >= {"accept", "update"}
    for name, action, value in pushed:
        for word, scale in SCALES.items():
            if word in name:
                assert value in scale, f"{action} of {value} on {name!r}, a {word} type"

    # The charts were drawn after the push, and show it.
    (pushed_until,) = _query(demo_dir, "SELECT max(finished_at) FROM push_audit")[0]
    for chart in ("score_distribution.png", "over_time.png"):
        assert (demo_dir / "charts" / chart).stat().st_mtime >= pushed_until.timestamp()
    con = read_warehouse(demo_dir)
    try:
        type_ids = [
            t
            for (t,) in con.execute(
                "SELECT qualification_type_id FROM qualification_types"
            ).fetchall()
        ]
        chart = over_time(con, type_ids)
    finally:
        con.close()
    assert chart.shows == "changes_per_day"
    assert any("score" in panel.series for panel in chart.panels)
    assert {t for t, _ in shown} <= set(type_ids)

    # The project's own data (the UI's default: 4 types, the same generator seed, so 3 of its
    # type ids are the demo's) refreshed on the project's instance: every type is extracted.
    dataset = tmp_path / "local_mturk.json"
    generate(dataset, workers=150, types=4, seed=2026)
    project = {**env, **mturk_env(local_mturk(data=dataset), GENERATED)}
    data_dir = tmp_path / "data"

    def refresh() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [command, "refresh", "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            env=project,
            cwd=tmp_path,
            timeout=300,
        )

    first = refresh()
    assert first.returncode == 0, first.stderr
    assert "discovered 4 new type(s)" in first.stderr
    types = _query(data_dir, "SELECT qualification_type_id FROM qualification_types ORDER BY 1")
    loaded = _query(
        data_dir, "SELECT DISTINCT qualification_type_id FROM worker_qualifications ORDER BY 1"
    )
    assert len(types) == 4 and loaded == types
    assert set(type_ids) < {t for (t,) in types}

    second = refresh()
    assert second.returncode == 0, second.stderr
    assert "discovered" not in second.stderr  # the instance remembers the types

    # Discovery, as the UI's daemon runs it, finds each type with its lake snapshots.
    monkeypatch.setenv("QUAL_PIPELINE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("QUAL_PIPELINE_TYPES", "owned")
    from qual_pipeline.definitions import build_definitions

    defs = build_definitions()
    sensor = defs.resolve_sensor_def("qualification_type_discovery")
    instance = DagsterInstance.from_config(str(dagster_home))
    try:
        assert sorted(instance.get_dynamic_partitions(qualification_type_partitions.name)) == [
            t for (t,) in types
        ]
        with build_sensor_context(instance=instance, resources=defs.resources) as context:
            assert isinstance(sensor(context), SkipReason)
    finally:
        instance.dispose()
