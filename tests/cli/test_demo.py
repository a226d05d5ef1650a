"""`qual-pipeline demo` as a user runs it, then the project's own refresh on the same machine.

The demo keeps its Dagster state to itself (nothing in DAGSTER_HOME), keeps its example scores on
each type's scale, draws its charts after its push, and suggests a first query whose rows are
sorted with every id whole. A refresh of the project's data on the project's instance afterwards
sees every type of its own data, and discovery has nothing left to extract.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
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
GENERATED = Requester(GENERATED_ACCESS_KEY_ID, GENERATED_SECRET)
SCALES = {"binary": range(0, 2), "percent": range(0, 101)}  # by the word in a generated name


def qual_pipeline(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("qual-pipeline")
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, env=env, timeout=300
    )


def query(data_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    con = read_warehouse(data_dir)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.timeout(600)
@pytest.mark.slow(95)
def test_demo_then_a_ui_style_refresh_sees_every_type_of_its_own_data(
    tmp_path: Path, local_mturk: Any, mturk_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MTURK_"))}
    base |= {"DAGSTER_HOME": str(home), "COLUMNS": "80"}
    demo_dir = tmp_path / "demo"
    demo = qual_pipeline(
        "demo", "--data-dir", str(demo_dir), "--workers", "200", "--types", "3", env=base
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr

    # Nothing of the demo in the project's instance.
    instance = DagsterInstance.from_config(str(home))
    try:
        assert instance.get_runs_count() == 0
        assert instance.get_dynamic_partitions(qualification_type_partitions.name) == []
        assert instance.get_asset_keys() == []
    finally:
        instance.dispose()

    # Every example score the demo pushed lies on its type's scale.
    pushed = query(
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
    (pushed_until,) = query(demo_dir, "SELECT max(finished_at) FROM push_audit")[0]
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

    # The first query it suggests prints sorted rows with every id whole, at 80 columns.
    (suggested,) = re.findall(r'Query it: \S+ sql --data-dir \S+ "(.+)"', demo.stdout)
    table = qual_pipeline("sql", suggested, "--data-dir", str(demo_dir), env=base)
    assert table.returncode == 0, table.stderr
    shown = re.findall(r"^│ (3[A-Z0-9]{29}) │.*│ (\d+) +│ \d+ +│$", table.stdout, re.M)
    assert len(shown) == 20, table.stdout
    assert shown == sorted(shown, key=lambda row: (row[0], int(row[1])))
    assert {t for t, _ in shown} <= set(type_ids)

    # The project's own data (the UI's default: 4 types, the same generator seed, so 3 of its
    # type ids are the demo's) refreshed on the project's instance: every type is extracted.
    dataset = tmp_path / "local_mturk.json"
    generate(dataset, workers=150, types=4, seed=2026)
    env = {**base, **mturk_env(local_mturk(data=dataset), GENERATED)}
    data_dir = tmp_path / "data"
    first = qual_pipeline("refresh", "--data-dir", str(data_dir), env=env)
    assert first.returncode == 0, first.stderr
    assert "discovered 4 new type(s)" in first.stderr
    types = query(data_dir, "SELECT qualification_type_id FROM qualification_types ORDER BY 1")
    loaded = query(
        data_dir, "SELECT DISTINCT qualification_type_id FROM worker_qualifications ORDER BY 1"
    )
    assert len(types) == 4 and loaded == types
    assert set(type_ids) < {t for (t,) in types}

    again = qual_pipeline("refresh", "--data-dir", str(data_dir), env=env)
    assert again.returncode == 0, again.stderr
    assert "discovered" not in again.stderr  # the instance remembers the types

    # Discovery, as the UI's daemon runs it, finds each type with its lake snapshots.
    monkeypatch.setenv("QUAL_PIPELINE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("QUAL_PIPELINE_TYPES", "owned")
    from qual_pipeline.definitions import build_definitions

    defs = build_definitions()
    sensor = defs.resolve_sensor_def("qualification_type_discovery")
    instance = DagsterInstance.from_config(str(home))
    try:
        assert sorted(instance.get_dynamic_partitions(qualification_type_partitions.name)) == [
            t for (t,) in types
        ]
        with build_sensor_context(instance=instance, resources=defs.resources) as context:
            assert isinstance(sensor(context), SkipReason)
    finally:
        instance.dispose()
