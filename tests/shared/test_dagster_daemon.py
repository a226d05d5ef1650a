"""The shipped deploy/dagster.yaml on PostgreSQL, run by the Dagster daemon with the
QueuedRunCoordinator and the DefaultRunLauncher: the discovery sensor finds the local MTurk's types
and requests the type metadata and one extraction per type, the automation sensor then requests
the warehouse load, and every run executes in a process of its own (its pid in the instance's event
log) and in a working folder of its own (new under TMPDIR, removed at its end), with the lake and
the warehouse's data files on moto's S3 and the catalog in PostgreSQL. The daemon's machine
(working folder, DAGSTER_HOME, HOME, TMPDIR) holds nothing afterwards but the dagster.yaml put
there, and a `sql` on another machine reads exactly the local MTurk's rows."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus
from support.dagster_ui import stop_group
from support.mturk import make_data, qualification, qualification_type, type_id
from support.services import S3Server
from support.shared import Machine, operator_instance, shared_settings

TYPES = [type_id(81), type_id(82)]
RUNS_TIMEOUT_S = 240
STARTED = re.compile(r"Started process for run \(pid: (\d+)\)")
WORKING = re.compile(r"Working folder (\S+), temporary files in (\S+):")


def _finished_runs(instance: DagsterInstance) -> dict[str, list]:
    """Finished runs by job name."""
    runs: dict[str, list] = {}
    for run in instance.get_runs():
        runs.setdefault(run.job_name, []).append(run)
    return runs


def _run_pid(instance: DagsterInstance, run_id: str) -> int | None:
    """The pid the run's process reported when it started."""
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        found = STARTED.search(entry.message or "")
        if found:
            return int(found.group(1))
    return None


def _run_folders(instance: DagsterInstance, run_id: str) -> list[tuple[str, str]]:
    """(working folder, temporary folder) each process of the run reported when it set up."""
    return [
        (found.group(1), found.group(2))
        for entry in instance.all_logs(run_id)
        if (found := WORKING.search(entry.user_message or ""))
    ]


def _run_pids(instance: DagsterInstance) -> list[int]:
    return [pid for run in instance.get_runs() if (pid := _run_pid(instance, run.run_id))]


def _alive(pids: list[int]) -> list[int]:
    """The pids that still name a running (not zombie) process."""
    alive = []
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "Z":
                alive.append(pid)
    return alive


@pytest.mark.timeout(RUNS_TIMEOUT_S + 120)
@pytest.mark.slow(77)
def test_daemon_runs_discovery_extraction_and_load_on_the_postgres_instance(
    tmp_path: Path,
    local_mturk,
    s3_server: S3Server,
    s3_bucket,
    postgres_server,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = make_data(
        types=[qualification_type(t) for t in TYPES],
        qualifications=[
            qualification(i, (i * 7) % 100, qual_type_id=t)
            for n, t in enumerate(TYPES)
            for i in range(10 * (n + 1))
        ],
    )
    mturk = local_mturk(data=data)
    shared = shared_settings(
        postgres_server, s3_server, s3_bucket, prefix="deploy", mturk_url=mturk.endpoint_url
    )
    daemon_machine = Machine.new(tmp_path / "daemon")
    reader = Machine.new(tmp_path / "reader")
    log_path = tmp_path / "daemon.log"
    instance = operator_instance(daemon_machine, shared, monkeypatch, api_concurrency=2)
    daemon_bin = Path(sys.executable).with_name("dagster-daemon")
    with log_path.open("wb") as log:
        daemon = subprocess.Popen(
            [str(daemon_bin), "run", "-m", "qual_pipeline.definitions"],
            cwd=daemon_machine.work,
            env=daemon_machine.env(shared),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + RUNS_TIMEOUT_S
        while True:
            runs = _finished_runs(instance)
            loads = [
                r
                for r in runs.get("__ASSET_JOB", [])
                if r.status == DagsterRunStatus.SUCCESS
                and any(k.path[0] == "warehouse" for k in (r.asset_selection or ()))
            ]
            failed = [r for rs in runs.values() for r in rs if r.status == DagsterRunStatus.FAILURE]
            assert not failed, [(r.job_name, r.run_id) for r in failed]
            if loads:
                break
            assert daemon.poll() is None, log_path.read_text()[-4000:]
            assert time.monotonic() < deadline, (
                {job: [r.status.value for r in rs] for job, rs in runs.items()},
                log_path.read_text()[-4000:],
            )
            time.sleep(0.5)
        # A run's process outlives its RUN_SUCCESS event a little: let every one end by itself.
        deadline = time.monotonic() + 30
        while _alive(_run_pids(instance)):
            assert time.monotonic() < deadline, _alive(_run_pids(instance))
            time.sleep(0.5)
    finally:
        stop_group(daemon)

    runs = _finished_runs(instance)
    # Discovery asks for one run over the new types' partition key range (types and metadata).
    extractions = runs["extract_qualification_types"]
    assert len(extractions) == 1
    ranged = extractions[0].tags
    ends = {
        ranged["dagster/asset_partition_range_start"],
        ranged["dagster/asset_partition_range_end"],
    }
    assert ends == set(TYPES)
    assert all(r.status == DagsterRunStatus.SUCCESS for r in extractions)
    # Each run in a process of its own (the extraction, the load), none the daemon or the test.
    finished = [r for rs in runs.values() for r in rs if r.status == DagsterRunStatus.SUCCESS]
    run_pids = [_run_pid(instance, r.run_id) for r in finished]
    assert None not in run_pids
    assert len(set(run_pids)) == len(run_pids) >= 2
    assert not {daemon.pid, os.getpid()} & set(run_pids)
    # ... and in a folder of its own (each step's process of the multiprocess executor too): its
    # working directory and temporary folder, new (so empty) under the machine's TMPDIR, never
    # another run's, and gone once the run is done.
    folders = {r.run_id: _run_folders(instance, r.run_id) for r in finished}
    assert all(folders.values()), folders
    working = [cwd for found in folders.values() for cwd, _ in found]
    assert all(cwd == tmp for found in folders.values() for cwd, tmp in found), folders
    assert len(set(working)) == len(working) >= len(finished)
    tmp = (daemon_machine.root / "tmp").resolve()
    assert all(Path(w).parent == tmp and not Path(w).exists() for w in working), working
    instance.dispose()

    queried = reader.run(
        shared,
        "sql",
        "--output",
        "csv",
        "SELECT qualification_type_id, count(*), sum(integer_value) FROM worker_qualifications "
        "GROUP BY ALL ORDER BY ALL",
    )
    assert queried.returncode == 0, queried.stdout + queried.stderr
    expected = [
        f"{t},{10 * (n + 1)},{sum((i * 7) % 100 for i in range(10 * (n + 1)))}"
        for n, t in enumerate(TYPES)
    ]
    assert queried.stdout.strip().splitlines()[1:] == expected

    # The daemon's telemetry thread makes two empty folders in DAGSTER_HOME (even with telemetry
    # off): Dagster's, empty, and nothing of a run.
    telemetry = ["dagster_home/.logs_queue", "dagster_home/logs"]
    for folder in telemetry:
        assert not (daemon_machine.root / folder).is_dir() or not any(
            (daemon_machine.root / folder).iterdir()
        ), folder
    # A code server the daemon was starting when it was stopped leaves its gRPC socket in TMPDIR
    # (seen once on a loaded machine: interrupted while importing the definitions): Dagster's,
    # a socket, not a file or folder of a run.
    sockets = [p for p in daemon_machine.left_behind() if (daemon_machine.root / p).is_socket()]
    assert all(p.startswith("tmp/") for p in sockets), sockets
    assert [p for p in daemon_machine.left_behind() if p not in telemetry + sockets] == []
    assert reader.left_behind() == []
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert {k.split("/")[1] for k in keys} == {"lake", "warehouse", "charts"}
