"""The Dagster code location end to end: the same definitions the UI loads, run in-process against
a local MTurk over HTTP, with the lake, warehouse, checks and push assets."""

from __future__ import annotations

import base64
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import (
    AssetCheckSeverity,
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    Definitions,
    build_schedule_context,
    instance_for_test,
)
from rich.console import Console
from support.mturk import (
    OTHER_REQUESTER,
    REQUESTER,
    make_data,
    qualification,
    qualification_type,
    type_id,
    worker_id,
)
from support.stores import read_warehouse, stores_of
from typer.testing import CliRunner

from qual_pipeline.cli import app
from qual_pipeline.cli.refresh import report
from qual_pipeline.defs.assets.warehouse import TABLES as WAREHOUSE_TABLES
from qual_pipeline.defs.partitions import qualification_type_partitions
from qual_pipeline.defs.sensors import partition_changes
from qual_pipeline.lake import layout
from qual_pipeline.push.journal import Journal
from qual_pipeline.refresh import (
    QUIET,
    RefreshOutcome,
    check_outcomes,
    refresh,
)
from qual_pipeline.schema import WORKER_QUALIFICATIONS
from qual_pipeline.warehouse.sql_files import SQL_DIR

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
    con = read_warehouse(data_dir)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_definitions_load_with_every_job_sensor_and_schedule() -> None:
    defs = definitions()
    Definitions.validate_loadable(defs)
    for job in (
        "refresh_qualification_types",
        "extract_qualification_types",
        "load_warehouse",
        "push_scores",
        "grant_requests",
    ):
        assert defs.resolve_job_def(job).name == job
    assert defs.resolve_sensor_def("qualification_type_discovery")
    assert defs.resolve_schedule_def("refresh_every_type").cron_schedule == "0 6 * * *"


@pytest.mark.slow(15)
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
    # Asset metadata in the event log: one materialization per type partition (both lake tables)
    # with its row count and its requests snapshot's; the column schema on the asset's definition.
    key = AssetKey(["lake", "worker_qualifications"])
    counts = {}
    for t in (T1, T2):
        found = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key, asset_partitions=[t]), limit=1
        ).records
        assert len(found) == 1
        metadata = found[0].asset_materialization.metadata
        counts[t] = metadata["dagster/row_count"].value
        assert metadata["qualification_requests/rows"].value == 0
        requests = metadata["qualification_requests/snapshot"].value
        assert f"qualification_requests/qualification_type_id={t}/" in requests
    assert counts == {T1: 31, T2: 10}
    spec = defs.resolve_assets_def(key).specs_by_key[key]
    assert "worker_id" in [c.name for c in spec.metadata["dagster/column_schema"].columns]
    assert outcome.extracted == [T1, T2] and outcome.rows == 41

    lake_columns = spec.metadata["dagster/column_schema"].columns
    assert all(c.description for c in lake_columns)  # described as the warehouse's columns
    assert {c.name: c.constraints.nullable for c in lake_columns}["worker_id"] is False

    # Every warehouse asset: its row count and a described column schema, from the DDL.
    data_dir = pipeline_env["data_dir"]
    assert warehouse_asset_metadata(instance, data_dir)["worker_qualification_history"] == {
        "versions_added": 41,
        "changes_by_kind": {"new": 41},
    }
    charts = warehouse_metadata(instance, "worker_qualifications")
    for chart in ("score_distribution", "over_time"):
        markdown = charts[chart].value
        assert markdown.startswith("![") and "](data:image/png;base64," in markdown
        png = base64.b64decode(markdown.split("base64,", 1)[1].rstrip(")"))
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000

    # A second refresh with nothing changed on MTurk adds no history.
    history = warehouse_rows(data_dir, "SELECT count(*) FROM worker_qualification_history")
    assert refresh(defs, instance).ok
    assert warehouse_rows(data_dir, "SELECT count(*) FROM worker_qualification_history") == history
    assert warehouse_asset_metadata(instance, data_dir)["worker_qualification_history"] == {
        "versions_added": 0,
        "changes_by_kind": {},
    }

    # One worker rescored and revoked, one gone: the history's metadata counts each kind.
    server = pipeline_env["server"]
    server.admin.put_qualification(qualification(3, 99, qual_type_id=T1, status="Revoked"))
    server.admin.remove_qualification(T1, worker_id(4))
    assert refresh(defs, instance).ok
    assert warehouse_asset_metadata(instance, data_dir)["worker_qualification_history"] == {
        "versions_added": 1,
        "changes_by_kind": {"gone": 1, "score": 1, "status": 1},
    }


def warehouse_metadata(instance: DagsterInstance, table: str) -> dict[str, Any]:
    record = instance.get_latest_materialization_event(AssetKey(["warehouse", table]))
    assert record is not None and record.asset_materialization is not None
    return dict(record.asset_materialization.metadata)


def warehouse_asset_metadata(instance: DagsterInstance, data_dir: Path) -> dict[str, dict]:
    """Check what every warehouse asset's last materialization says about its table (row count,
    column schema as DuckDB sees the table, each column described as in its DDL file); return
    the metadata beyond that, by table."""
    others: dict[str, dict] = {}
    for table in WAREHOUSE_TABLES:
        metadata = warehouse_metadata(instance, table)
        assert (
            metadata.pop("dagster/row_count").value
            == warehouse_rows(data_dir, f"SELECT count(*) FROM {table}")[0][0]
        )
        schema = metadata.pop("dagster/column_schema").value
        described = warehouse_rows(data_dir, f"DESCRIBE {table}")
        assert [(c.name, c.type) for c in schema.columns] == [(r[0], r[1]) for r in described]
        ddl = (SQL_DIR / f"{table}.sql").read_text()
        for column in schema.columns:
            assert column.description, f"{table}.{column.name} has no description"
            assert column.description.split()[0] in ddl  # the text of its DDL comment
        assert metadata.pop("load_id").value
        others[table] = {
            k: v.value for k, v in metadata.items() if table == "worker_qualification_history"
        }
    return others


def test_refresh_names_a_type_it_cannot_mirror(
    pipeline_env: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUAL_PIPELINE_TYPES", f"{T1},{FOREIGN}")
    with pytest.raises(Exception, match=FOREIGN) as info:
        refresh(definitions(), DagsterInstance.ephemeral())
    assert "QUAL_PIPELINE_TYPES" in str(info.value)


def latest_metadata(instance: DagsterInstance, key: str) -> dict[str, Any]:
    event = instance.get_latest_materialization_event(AssetKey(key))
    assert event is not None and event.asset_materialization is not None
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


@pytest.mark.slow(10)
def test_push_job_applies_the_plan_its_plan_asset_saved(pipeline_env: dict) -> None:
    defs = definitions()
    instance = DagsterInstance.ephemeral()
    assert refresh(defs, instance).ok
    inputs: Path = pipeline_env["inputs"]
    inputs.mkdir()
    desired = inputs / "desired_scores.csv"
    desired.write_text(
        "qualification_type_id,worker_id,integer_value\n"
        f"{T1},AW000000000001,95\n{T1},AW000000000002,62\n"  # one change, one unchanged
    )
    (inputs / "grant_decisions.csv").write_text(
        "qualification_request_id,decision,integer_value,reason\n"
    )
    server = pipeline_env["server"]
    result = defs.resolve_job_def("push_scores").execute_in_process(instance=instance)
    assert result.success
    planned = latest_metadata(instance, "push_plan")
    pushed = latest_metadata(instance, "push")
    assert pushed["plan_id"] == planned["plan_id"]
    assert (planned["verdict"], planned["update"], planned["unchanged"]) == ("may be pushed", 1, 1)
    with Journal(stores_of(pipeline_env["data_dir"]).journal.connect()) as journal:
        applied = journal.plan(str(planned["plan_id"]))
        assert applied is not None and applied.state == "done"
    assert server.call_counts()["AssociateQualificationWithWorker"] == 1
    assert server.notifications() == []
    assert warehouse_rows(
        pipeline_env["data_dir"],
        f"SELECT integer_value FROM worker_qualifications "
        f"WHERE qualification_type_id = '{T1}' AND worker_id = 'AW000000000001'",
    ) == [(95,)]

    # The push asset applies the id its plan asset recorded, not whatever is newest: a plan
    # saved since (from the CLI) supersedes the recorded one, and the push refuses to guess.
    desired.write_text(f"qualification_type_id,worker_id,integer_value\n{T1},AW000000000003,7\n")
    job = defs.resolve_job_def("push_scores")
    assert job.execute_in_process(
        instance=instance, asset_selection=[AssetKey("push_plan")], run_config=QUIET
    ).success
    recorded = latest_metadata(instance, "push_plan")["plan_id"]

    newer = CliRunner().invoke(
        app, ["plan", "--data-dir", str(pipeline_env["data_dir"]), "--max-share", "1"]
    )
    assert newer.exit_code == 0, newer.output
    alone = job.execute_in_process(
        instance=instance, asset_selection=[AssetKey("push")], raise_on_error=False
    )
    assert not alone.success
    assert f"plan {recorded} was superseded" in str(
        alone.get_step_failure_events()[0].event_specific_data.error.cause
    )
    assert server.call_counts()["AssociateQualificationWithWorker"] == 1
    assert job.execute_in_process(instance=instance).success
    assert (
        latest_metadata(instance, "push")["plan_id"]
        == latest_metadata(instance, "push_plan")["plan_id"]
    )
    assert server.call_counts()["AssociateQualificationWithWorker"] == 2


@pytest.mark.slow(10)  # two refreshes in this process
def test_warnings_are_shown_and_blocking_checks_fail_the_load_run(pipeline_env: dict) -> None:
    """Legal but unusual data is a warning (severity WARN, the run succeeds, exit 0); a
    duplicate key written by a broken extraction fails the blocking check (severity ERROR)."""
    defs = definitions()
    instance = DagsterInstance.ephemeral()
    server = pipeline_env["server"]
    for i in range(3):  # T1: 3 of 33 granted workers hold no score (presence-only grants)
        server.admin.put_qualification(
            {"QualificationTypeId": T1, "WorkerId": f"AWNOSCORE{i:05d}", "Status": "Granted"}
        )
    outcome = refresh(defs, instance)
    assert outcome.ok and outcome.check_failures == []
    assert [w.split(":")[0] for w in outcome.check_warnings] == ["scores_present"]
    assert f"Types: {T1} (3)." in outcome.check_warnings[0]
    assert report(outcome, Console(stderr=True), 1.0) == 0

    # A broken extraction of T2: its snapshot again, newer, with one worker twice.
    data_dir = pipeline_env["data_dir"]
    lake = stores_of(data_dir).lake
    current = lake.current_snapshots("worker_qualifications")[T2]
    rows = pq.read_table(current.location).to_pylist()
    rows.append(dict(rows[0], integer_value=99))
    now = datetime.now(UTC)
    for r in rows:
        r["extracted_at"] = now
    with lake.writer("worker_qualifications", WORKER_QUALIFICATIONS, T2, snapshot_at=now) as writer:
        writer.write(pa.Table.from_pylist(rows, schema=WORKER_QUALIFICATIONS))
    result = defs.resolve_job_def("load_warehouse").execute_in_process(
        instance=instance, run_config=QUIET, raise_on_error=False
    )
    assert not result.success  # the blocking check fails the run, after the load committed
    assert result.get_asset_materialization_events()
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    unique = evaluations["unique_worker_qualifications"]
    assert (unique.passed, unique.severity) == (False, AssetCheckSeverity.ERROR)
    assert evaluations["scores_present"].severity == AssetCheckSeverity.WARN
    blocking, _warnings = check_outcomes(result)
    assert blocking[0].startswith("unique_worker_qualifications (blocks plan and push")
    assert f"Types: {T2} (1)." in blocking[0]
    assert report(RefreshOutcome(check_failures=blocking), Console(stderr=True), 1.0) == 1

    # The types' listing gone from the lake (as when it failed on a fresh instance): the check
    # fails for the whole warehouse, and the message says it blocks every type, not "these".
    shutil.rmtree(lake.root / "qualification_types")
    for warehouse_file in data_dir.rglob("*.duckdb*"):  # a fresh warehouse, as on t4's machine
        warehouse_file.unlink()
    result = defs.resolve_job_def("load_warehouse").execute_in_process(
        instance=instance, run_config=QUIET, raise_on_error=False
    )
    blocking, _warnings = check_outcomes(result)
    (complete,) = [b for b in blocking if b.startswith("extraction_complete")]
    assert complete.startswith("extraction_complete (blocks plan and push of every type): No ")


TICK = datetime(2026, 11, 23, 6, tzinfo=UTC)


def schedule_tick(types: list[str], tick: datetime) -> list[Any]:
    """The run requests of the refresh_every_type schedule's tick at `tick`, on an instance whose
    partitions are `types` (in this order), with the settings of this process's environment."""
    defs = definitions()
    schedule = defs.resolve_schedule_def("refresh_every_type")
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(qualification_type_partitions.name, types)
        with build_schedule_context(
            instance=instance,
            scheduled_execution_time=tick,
            repository_def=defs.get_repository_def(),
            resources=defs.resources,
        ) as context:
            return list(schedule.evaluate_tick(context).run_requests or [])


def test_schedule_asks_for_one_run_of_every_type() -> None:
    types = [type_id(100 + i) for i in range(50)]
    (request,) = schedule_tick(types, TICK)  # one run, not one per type
    assert request.partition_key_range is not None
    assert (request.partition_key_range.start, request.partition_key_range.end) == (
        types[0],
        types[-1],
    )
    assert {k.to_user_string() for k in request.asset_selection or []} == {
        "lake/qualification_types",
        "lake/worker_qualifications",
    }
    assert request.run_key and TICK.isoformat() in request.run_key  # distinct per tick


def test_schedule_with_a_type_list_extracts_only_the_listed_types(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before: every partition (types mirrored before the list was set included) in one range.
    types = [type_id(200 + i) for i in range(6)]
    listed = [types[1], types[2], types[4]]
    monkeypatch.setenv("QUAL_PIPELINE_TYPES", ",".join(listed))
    requests = schedule_tick(types, TICK)
    ranges = [
        (r.partition_key_range.start, r.partition_key_range.end)
        for r in requests
        if r.partition_key_range is not None
    ]
    assert ranges == [(types[1], types[2]), (types[4], types[4])]
    selections = [{k.to_user_string() for k in r.asset_selection or []} for r in requests]
    assert "lake/qualification_types" in selections[0]
    assert "lake/qualification_types" not in selections[1]
    assert len({r.run_key for r in requests}) == 2


def test_partition_changes_adds_new_and_drops_gone_types() -> None:
    assert partition_changes(["B", "C"], ["A", "B"]) == (["C"], ["A"])
    assert partition_changes(["A"], ["A"]) == ([], [])
    # A listed subset (QUAL_PIPELINE_TYPES=ids) adds its new types and deletes nothing.
    assert partition_changes(["B", "C"], ["A", "B"], every_type=False) == (["C"], [])


@pytest.mark.slow(13)
def test_discovery_sensor_adds_partitions_and_asks_for_runs(pipeline_env: dict) -> None:
    """New types get a partition and an extraction; a partition the instance knows whose lake
    snapshots are not in the data folder (the instance was used with another folder) is
    extracted again, once: not while an extraction of it is queued or running."""
    from dagster import DagsterRunStatus, SensorResult, SkipReason, build_sensor_context

    defs = definitions()
    sensor = defs.resolve_sensor_def("qualification_type_discovery")

    def tick(instance: DagsterInstance) -> SensorResult | SkipReason:
        with build_sensor_context(instance=instance, resources=defs.resources) as context:
            return sensor(context)

    def jobs(result: SensorResult) -> list[tuple[str, str]]:
        return sorted((r.job_name, r.partition_key or "") for r in result.run_requests or [])

    with instance_for_test() as instance:
        instance.add_dynamic_partitions(qualification_type_partitions.name, [T1, "3GONETYPE"])
        result = tick(instance)
        assert isinstance(result, SensorResult)
        # T2 is new: one run over its partition range, which refreshes the types' metadata too;
        # T1 is known to the instance but has no snapshot in this data folder: extracted again.
        assert jobs(result) == [
            ("extract_qualification_types", ""),
            ("extract_qualification_types", T1),
        ]
        ranged = [r for r in result.run_requests or [] if r.partition_key is None]
        assert ranged[0].partition_key_range is not None
        assert (ranged[0].partition_key_range.start, ranged[0].partition_key_range.end) == (T2, T2)
        added, removed = result.dynamic_partitions_requests
        assert list(added.partition_keys) == [T2]
        assert list(removed.partition_keys) == ["3GONETYPE"]
        instance.add_dynamic_partitions(qualification_type_partitions.name, [T2])
        instance.delete_dynamic_partition(qualification_type_partitions.name, "3GONETYPE")

        # Run what the sensor asked for: every type's snapshots land, nothing more to do.
        for request in result.run_requests or []:
            run = defs.resolve_job_def(request.job_name).execute_in_process(
                instance=instance,
                partition_key=request.partition_key,
                tags=request.tags,
                run_config=QUIET,
            )
            assert run.success
        assert isinstance(tick(instance), SkipReason)

        # The data folder is emptied (or another one is used): the instance still lists both
        # types as materialized, but discovery extracts them again, with the type metadata.
        layout.lake_dir(pipeline_env["data_dir"]).rename(pipeline_env["data_dir"] / "old-lake")
        result = tick(instance)
        assert isinstance(result, SensorResult)
        assert jobs(result) == [
            ("extract_qualification_types", T1),
            ("extract_qualification_types", T2),
            ("refresh_qualification_types", ""),
        ]
        assert not result.dynamic_partitions_requests
        assert all(r.run_key is None for r in result.run_requests or [])

        # An extraction of T1 already running: only T2 (and the metadata) are asked for.
        instance.create_run_for_job(
            defs.resolve_job_def("extract_qualification_types"),
            tags={"dagster/partition": T1},
            status=DagsterRunStatus.STARTED,
        )
        result = tick(instance)
        assert isinstance(result, SensorResult)
        assert jobs(result) == [
            ("extract_qualification_types", T2),
            ("refresh_qualification_types", ""),
        ]
