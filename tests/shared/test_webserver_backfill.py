"""A backfill of many qualification types (ten) launched the way the UI launches one (the
webserver's GraphQL `launchPartitionBackfill`), with the webserver and the daemon (what `dagster
dev` runs, here as two processes, as deploy/ runs them in two containers) on the PostgreSQL Dagster
instance of deploy/dagster.yaml, and the shared profile (lake on moto's S3, DuckLake catalog in
PostgreSQL).

A first `qual-pipeline refresh` on another machine, on the same instance, extracts and loads every
type before the daemon starts, so the discovery sensor launches nothing (the webserver, which runs
no sensor, starts while the refresh runs, not after it). Then every type's
scores change on the local MTurk, and one backfill of all the types is launched over HTTP: the
backfill policy makes it ONE run over the partition key range (not one run per type), every type's
partition is materialized by that run, the load_after_extract sensor loads the warehouse after it,
and a `sql` on a third machine reads the new scores of every type.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from support.dagster_ui import free_port, stop_groups, wait_for_ui
from support.mturk import (
    make_data,
    mturk_client,
    qualification,
    qualification_type,
    type_id,
    worker_id,
)
from support.services import S3Server
from support.shared import Machine, operator_instance, shared_settings

# Ten types: enough to tell one run over the partition key range from one run per type. Each
# type costs the first refresh and the backfill's run ~2 s on moto's S3 under load (30 types took
# 175 s in `make test`, the longest test of the suite).
TYPES = [type_id(300 + n) for n in range(10)]
WORKERS = 6
UI_START_TIMEOUT_S = 120
BACKFILL_TIMEOUT_S = 240  # the backfill daemon wakes every 30 s
LOAD_TIMEOUT_S = 150  # the load_after_extract sensor ticks every 30 s
LAKE_TABLES = [AssetKey(["lake", "worker_qualifications"])]  # both lake tables of a type
WAREHOUSE_TABLE = AssetKey(["warehouse", "worker_qualifications"])
LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
    ... on PartitionSetNotFoundError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { invalidOutputName }
    ... on RunConflict { message }
    ... on PresetNotFoundError { message }
    ... on ConflictingExecutionParamsError { message }
    ... on NoModeProvidedError { message }
    ... on InvalidSubsetError { message }
  }
}
"""


def _graphql(url: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        body = json.loads(answer.read())
    assert "errors" not in body, body
    return body["data"]


def _scores(reader: Machine, shared: dict[str, str]) -> list[str]:
    done = reader.run(
        shared,
        "sql",
        "--output",
        "csv",
        "SELECT qualification_type_id, sum(integer_value) FROM worker_qualifications "
        "GROUP BY ALL ORDER BY ALL",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip().splitlines()[1:]


@pytest.mark.timeout(UI_START_TIMEOUT_S + BACKFILL_TIMEOUT_S + LOAD_TIMEOUT_S + 240)
@pytest.mark.slow(140)
def test_a_ui_backfill_of_ten_types_on_the_postgres_instance_is_one_run(
    tmp_path: Path,
    local_mturk,
    s3_server: S3Server,
    s3_bucket,
    postgres_server,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = {(t, w): (w * 7 + n) % 100 for n, t in enumerate(TYPES) for w in range(WORKERS)}
    data = make_data(
        types=[qualification_type(t) for t in TYPES],
        qualifications=[qualification(w, s, qual_type_id=t) for (t, w), s in first.items()],
    )
    mturk = local_mturk(data=data)
    shared = shared_settings(
        postgres_server, s3_server, s3_bucket, prefix="ui", mturk_url=mturk.endpoint_url
    )
    refresher = Machine.new(tmp_path / "refresher")
    server = Machine.new(tmp_path / "server")
    reader = Machine.new(tmp_path / "reader")
    # The instance's tables, made once before two processes open it at the same time.
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", shared["DAGSTER_POSTGRES_URL"])
    DagsterInstance.from_config(str(server.root / "dagster_home")).dispose()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "dagster.log"
    bin_dir = Path(sys.executable).parent
    code = ["-m", "qual_pipeline.definitions"]
    processes: list[subprocess.Popen[bytes]] = []

    def start(*command: str) -> subprocess.Popen[bytes]:
        with log_path.open("ab") as log:
            processes.append(
                subprocess.Popen(
                    command,
                    cwd=server.work,
                    env=server.env(shared),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        return processes[-1]

    instance = None
    try:
        webserver = start(
            str(bin_dir / "dagster-webserver"), *code, "-h", "127.0.0.1", "-p", str(port)
        )
        refreshed = refresher.run(shared, "refresh", timeout=240)
        assert refreshed.returncode == 0, refreshed.stdout + refreshed.stderr
        assert len(_scores(reader, shared)) == len(TYPES)

        # New scores for every type; only a new extraction brings them in.
        client = mturk_client(mturk.endpoint_url)
        changed = {key: (score + 11) % 100 for key, score in first.items()}
        for (qual_type, worker), score in changed.items():
            client.associate_qualification_with_worker(
                QualificationTypeId=qual_type,
                WorkerId=worker_id(worker),
                IntegerValue=score,
                SendNotification=False,
            )

        instance = operator_instance(server, shared, monkeypatch, api_concurrency=2)
        wait_for_ui(url, webserver, log_path, UI_START_TIMEOUT_S)
        launched = _graphql(
            url,
            LAUNCH,
            {
                "params": {
                    "partitionNames": TYPES,
                    "assetSelection": [{"path": list(key.path)} for key in LAKE_TABLES],
                    "fromFailure": False,
                }
            },
        )["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["backfillId"]
        # The daemon starts after the launch: its backfill loop's first pass (at its start) takes
        # the backfill up at once; started before, the backfill waited for its next pass, up to
        # 30 s, with the daemon, the webserver and their code servers polling all along.
        start(str(bin_dir / "dagster-daemon"), "run", *code)
        deadline = time.monotonic() + BACKFILL_TIMEOUT_S
        while True:
            backfill = instance.get_backfill(backfill_id)
            assert backfill is not None
            if backfill.status.value == "COMPLETED_SUCCESS":
                break
            assert backfill.status.value in {"REQUESTED"}, (
                backfill.status,
                log_path.read_text()[-3000:],
            )
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(1)
        # One run for the ten types: the backfill policy runs the partition key range at once.
        runs = instance.get_runs(filters=RunsFilter(tags={"dagster/backfill": backfill_id}))
        assert len(runs) == 1, [r.tags for r in runs]
        run = runs[0]
        assert run.status == DagsterRunStatus.SUCCESS
        assert run.tags["dagster/asset_partition_range_start"] == TYPES[0]
        assert run.tags["dagster/asset_partition_range_end"] == TYPES[-1]
        materialized: dict[tuple[str, ...], set[str]] = {}
        for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
            materialization = entry.asset_materialization
            assert materialization is not None
            materialized.setdefault(tuple(materialization.asset_key.path), set()).add(
                str(materialization.partition)
            )
        assert materialized == {tuple(key.path): set(TYPES) for key in LAKE_TABLES}

        # The load_after_extract sensor loads the warehouse after the run.
        deadline = time.monotonic() + LOAD_TIMEOUT_S
        while True:
            loaded = instance.get_latest_materialization_event(WAREHOUSE_TABLE)
            record = instance.get_run_record_by_id(loaded.run_id) if loaded else None
            if (
                record is not None
                and record.start_time is not None
                and record.end_time is not None
                and record.start_time >= (instance.get_run_record_by_id(run.run_id).end_time or 0)
                and record.dagster_run.status == DagsterRunStatus.SUCCESS
            ):
                break
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(1)
    finally:
        stop_groups(processes)
        if instance is not None:
            instance.dispose()

    expected = sorted(f"{t},{sum(changed[(t, w)] for w in range(WORKERS))}" for t in TYPES)
    assert _scores(reader, shared) == expected
    for machine in (refresher, reader):
        assert machine.left_behind() == []
