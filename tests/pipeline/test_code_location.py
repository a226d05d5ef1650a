"""The Dagster code location end to end: the same definitions the UI loads, run in-process against
a local MTurk over HTTP, with the lake, warehouse, checks and push assets."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    OTHER_REQUESTER,
    REQUESTER,
    make_data,
    qualification,
    qualification_type,
    type_id,
)
from dagster import DagsterInstance, Definitions, build_schedule_context, instance_for_test

from qual_pipeline.defs.partitions import qualification_type_partitions
from qual_pipeline.defs.sensors import partition_changes
from qual_pipeline.refresh import refresh
from qual_pipeline.warehouse.connection import open_warehouse_read_only

T1, T2, FOREIGN = type_id(11), type_id(12), type_id(13)


def data() -> dict[str, Any]:
    return make_data(
        types=[
            qualification_type(T1, "Accuracy"),
            qualification_type(T2, "Speed"),
            qualification_type(FOREIGN, "Someone else's", owner=OTHER_REQUESTER),
        ],
        qualifications=[
            *(qualification(i, 60 + i, qual_type_id=T1) for i in range(30)),
            *(qualification(i, 1, qual_type_id=T2) for i in range(0, 30, 3)),
            qualification(99, 10, qual_type_id=T1, status="Revoked"),
            qualification(5, 50, qual_type_id=FOREIGN),
        ],
    )


@pytest.fixture
def pipeline_env(
    local_mturk: Any, mturk_env: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> dict[str, Any]:
    server = local_mturk(data=data())
    mturk_env(server, REQUESTER)
    monkeypatch.setenv("QUAL_PIPELINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("QUAL_PIPELINE_INPUTS_DIR", str(tmp_path / "inputs"))
    monkeypatch.setenv("QUAL_PIPELINE_TYPES", "owned")
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return {"server": server, "data_dir": tmp_path / "data", "inputs": tmp_path / "inputs"}


def definitions() -> Definitions:
    from qual_pipeline.definitions import build_definitions

    return build_definitions()


def warehouse_rows(data_dir: Path, sql: str) -> list[tuple]:
    con = open_warehouse_read_only(data_dir)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_definitions_load_with_every_job_sensor_and_schedule() -> None:
    defs = definitions()
    Definitions.validate_loadable(defs)
    for job in (
        "refresh_qualification_types",
        "extract_qualification_type",
        "load_warehouse",
        "push_scores",
        "grant_requests",
    ):
        assert defs.resolve_job_def(job).name == job
    assert defs.resolve_sensor_def("qualification_type_discovery")
    assert defs.resolve_schedule_def("refresh_every_type").cron_schedule == "0 6 * * *"


def test_refresh_mirrors_owned_types_into_lake_and_warehouse(pipeline_env: dict) -> None:
    defs = definitions()
    instance = DagsterInstance.ephemeral()
    outcome = refresh(defs, instance)
    assert outcome.ok, outcome.failures
    assert outcome.type_ids == [T1, T2]  # the other requester's type is not ours
    assert sorted(instance.get_dynamic_partitions(qualification_type_partitions.name)) == [T1, T2]
    counts = warehouse_rows(
        pipeline_env["data_dir"],
        "SELECT qualification_type_id, status, count(*), sum(integer_value) "
        "FROM worker_qualifications GROUP BY ALL ORDER BY ALL",
    )
    assert counts == [
        (T1, "Granted", 30, sum(60 + i for i in range(30))),
        (T1, "Revoked", 1, 10),
        (T2, "Granted", 10, 10),
    ]
    names = warehouse_rows(
        pipeline_env["data_dir"], "SELECT name FROM qualification_types ORDER BY 1"
    )
    assert names == [("Accuracy",), ("Speed",)]
    # Asset metadata in the event log: row counts and the column schema.
    record = instance.get_latest_materialization_event(
        defs.resolve_assets_def(["lake", "worker_qualifications"]).key
    )
    assert record is not None
    metadata = record.asset_materialization.metadata
    assert metadata["dagster/row_count"].value in (31, 10)
    assert "worker_id" in [c.name for c in metadata["dagster/column_schema"].value.columns]

    # A second refresh with nothing changed on MTurk adds no history.
    history = warehouse_rows(
        pipeline_env["data_dir"], "SELECT count(*) FROM worker_qualification_history"
    )
    assert refresh(defs, instance).ok
    assert (
        warehouse_rows(
            pipeline_env["data_dir"], "SELECT count(*) FROM worker_qualification_history"
        )
        == history
    )


def test_refresh_names_a_type_it_cannot_mirror(
    pipeline_env: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUAL_PIPELINE_TYPES", f"{T1},{FOREIGN}")
    with pytest.raises(Exception, match=FOREIGN) as info:
        refresh(definitions(), DagsterInstance.ephemeral())
    assert "QUAL_PIPELINE_TYPES" in str(info.value)


def test_push_job_pushes_desired_scores_without_emails(pipeline_env: dict) -> None:
    defs = definitions()
    instance = DagsterInstance.ephemeral()
    assert refresh(defs, instance).ok
    inputs: Path = pipeline_env["inputs"]
    inputs.mkdir()
    (inputs / "desired_scores.csv").write_text(
        "qualification_type_id,worker_id,integer_value\n"
        f"{T1},AW000000000001,95\n{T1},AW000000000002,62\n"  # one change, one unchanged
    )
    (inputs / "grant_decisions.csv").write_text(
        "qualification_request_id,decision,integer_value,reason\n"
    )
    result = defs.resolve_job_def("push_scores").execute_in_process(instance=instance)
    assert result.success
    server = pipeline_env["server"]
    assert server.call_counts()["AssociateQualificationWithWorker"] == 1
    assert server.notifications() == []
    assert warehouse_rows(
        pipeline_env["data_dir"],
        f"SELECT integer_value FROM worker_qualifications "
        f"WHERE qualification_type_id = '{T1}' AND worker_id = 'AW000000000001'",
    ) == [(95,)]


def test_schedule_asks_for_one_run_per_type() -> None:
    defs = definitions()
    schedule = defs.resolve_schedule_def("refresh_every_type")
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(qualification_type_partitions.name, [T1, T2])
        tick = datetime(2026, 11, 23, 6, tzinfo=UTC)
        with build_schedule_context(
            instance=instance,
            scheduled_execution_time=tick,
            repository_def=defs.get_repository_def(),
        ) as context:
            requests = list(schedule.evaluate_tick(context).run_requests or [])
    assert sorted(r.partition_key for r in requests if r.partition_key) == [T1, T2]
    assert len(requests) == 3  # plus one for the type metadata
    assert len({r.run_key for r in requests}) == 3  # distinct per tick: no run is deduplicated away


def test_partition_changes_adds_new_and_drops_gone_types() -> None:
    assert partition_changes(["B", "C"], ["A", "B"]) == (["C"], ["A"])
    assert partition_changes(["A"], ["A"]) == ([], [])


def test_discovery_sensor_adds_partitions_and_asks_for_runs(pipeline_env: dict) -> None:
    from dagster import SensorResult, SkipReason, build_sensor_context

    defs = definitions()
    sensor = defs.resolve_sensor_def("qualification_type_discovery")
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(qualification_type_partitions.name, [T1, "3GONETYPE"])
        with build_sensor_context(instance=instance, resources=defs.resources) as context:
            result = sensor(context)
        assert isinstance(result, SensorResult)
        jobs = sorted((r.job_name, r.partition_key or "") for r in result.run_requests or [])
        assert jobs == [("extract_qualification_type", T2), ("refresh_qualification_types", "")]
        added, removed = result.dynamic_partitions_requests
        assert list(added.partition_keys) == [T2]
        assert list(removed.partition_keys) == ["3GONETYPE"]
        instance.add_dynamic_partitions(qualification_type_partitions.name, [T2])
        instance.delete_dynamic_partition(qualification_type_partitions.name, "3GONETYPE")
        with build_sensor_context(instance=instance, resources=defs.resources) as context:
            assert isinstance(sensor(context), SkipReason)
