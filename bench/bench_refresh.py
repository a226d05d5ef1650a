"""The cost of a refresh of many types, its pace under an unknown rate limit, and its peak memory.

In one run, against the local MTurk served from this process (127.0.0.1), each measurement in a
fresh subprocess:
- time of `qual-pipeline refresh` (discovery, one extraction run over every type, the warehouse
  load; a fresh Dagster instance on disk), and of its extraction alone (`extract_types` with the
  product's client and concurrency, no Dagster: the refresh's own work per type), against a bare
  boto3 loop making the same calls
  (ListQualificationTypes, then Granted and Revoked workers and pending requests of every type,
  one after the other), at 5, 300 and 2,000 types of about 50 workers each
  (target: refresh / bare at most 2 at 300 and 2,000 types), with where the refresh's time went by
  the instance's records (the extraction run's creation, which records one planned event for the
  run's range: `qual-pipeline refresh` sets DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS for it;
  and its run, the paging beside each type's materialization event; the
  load; the rest: process start, imports, discovery) and Dagster's own cost of recording such a
  run, measured alone: a ranged run over 300 dynamic partitions that only yields materializations
  (one or two assets per partition, the metadata of a lake snapshot), no API call, no file, on
  each kind of instance storage: the default SQLite one of dagster_home/dagster.yaml (a database
  per run and an index database), Dagster's consolidated SQLite event log (one database), the
  in-memory instance, and PostgreSQL (dagster-postgres, a local server, as deploy/dagster.yaml);
  the same refresh with DAGSTER_HOME unset (the CLI's throw-away in-memory instance); and that one
  with `--retry-mode standard` (no adaptive pace, so no slow start: the paging as fast as the bare
  loop's, the refresh's floor with Dagster recording in memory);
- a refresh of many types against `rate_limit` requests/s per requester with QUAL_PIPELINE_RATE
  unset (the limit is not told to the client): the achieved rate of answered requests as a share
  of the limit (the whole refresh, and its paging alone), and the share of requests throttled
  (targets: at least 0.9; under 0.05), also for the paging's first 10 s (the pace's slow start
  finding the limit) and the steady state after. 300 types (about 900 paging requests, 45 s at
  20/s) is a realistic run: a requester with hundreds of types; a run much shorter than the
  start weighs the start's dozen throttles more;
- peak RSS of a whole refresh (extraction and load) at about 400,000 and 4,000,000 rows over
  5 types (target: the larger at most 1.15x the smaller);
- the refresh on the shared profile's Dagster instance (deploy/dagster.yaml on a local
  PostgreSQL) with Dagster's event batching off and on (DAGSTER_EVENT_BATCH_SIZE), back to back,
  at 300 and 2,000 types: the extraction run's creation (its planned events), its run, the whole.

With `--base DIR` (a checkout's `qual_pipeline` in DIR), only the refresh on disk of that code and
of this tree, back to back `--pairs` times after one bare loop, at each `--types` count.

Run: .venv/bin/python bench/bench_refresh.py [--types 5,300,2000] [--rss-rows 400000,4000000]
     [--rate-types 300] [--pg-types 300,2000] [--skip types,floor,rate,rss,postgres]
     [--base DIR [--pairs N]]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from common import report  # noqa: E402

WORKERS_PER_TYPE = 80  # the first type is held by all, the others by 20-100%: ~50 on average
SPEED_TARGET = 2.0
RATE_TARGET = 0.9
THROTTLE_TARGET = 0.05
MEMORY_TARGET = 1.15
ROWS_PER_WORKER_5_TYPES = 3.4  # generate(types=5): 1 + 4 x ~0.6 qualifications per worker
PER_TYPE = ("ListWorkersWithQualificationType", "ListQualificationRequests")


def _env(home: Path | None = None) -> dict[str, str]:
    from qual_pipeline.local_mturk.generate import GENERATED_ACCESS_KEY_ID, GENERATED_SECRET

    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": GENERATED_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": GENERATED_SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    for name in ("QUAL_PIPELINE_RATE", "AWS_PROFILE", "DAGSTER_HOME"):
        env.pop(name, None)
    if home is not None:
        env["DAGSTER_HOME"] = str(home)
    return env


class Server:
    """The local MTurk in this process, recording when each request was answered and how."""

    def __init__(self, data: Path, rate_limit: float | None = None) -> None:
        from qual_pipeline.local_mturk.server import FaultConfig, LocalMTurk

        self.mturk = LocalMTurk(data=data, faults=FaultConfig(rate_limit=rate_limit))
        self.answers: list[tuple[float, int, str]] = []
        self._lock = threading.Lock()
        service = self.mturk._service  # the bench's own instrument: one answer, one record
        answer = service.answer

        def recorded(method: str, path: str, headers: Any, body: bytes) -> Any:
            result = answer(method, path, headers, body)
            status = result[0] if isinstance(result, tuple) else 0
            operation = (headers.get("x-amz-target") or "").rpartition(".")[2]
            with self._lock:
                self.answers.append((time.monotonic(), status, operation))
            return result

        service.answer = recorded  # type: ignore[method-assign]
        self.mturk.start()
        self.url = self.mturk.endpoint_url

    def clear(self) -> None:
        with self._lock:
            self.answers.clear()

    def counts(self) -> dict[str, Any]:
        """Requests answered since `clear`: ok, throttled (400), the span of the answered ones,
        and the same for the per-type paging alone (the extraction step, after discovery and
        the run's start)."""
        with self._lock:
            answers = list(self.answers)
        ok = [t for t, status, _ in answers if status == 200]
        paging = [t for t, status, op in answers if status == 200 and op in PER_TYPE]
        throttled = sum(1 for _, status, _ in answers if status == 400)
        return {
            "requests": len(answers),
            "ok": len(ok),
            "throttled": throttled,
            "span_s": (max(ok) - min(ok)) if len(ok) > 1 else 0.0,
            "paging_ok": len(paging),
            "paging_span_s": (max(paging) - min(paging)) if len(paging) > 1 else 0.0,
        }

    def stop(self) -> None:
        self.mturk.stop()


# The bare loop: the same calls, one after the other ---------------------------------------------


def bare_loop(url: str) -> dict[str, Any]:
    import boto3

    client = boto3.client("mturk", region_name="us-east-1", endpoint_url=url)
    start, cpu = time.perf_counter(), time.process_time()
    type_ids: list[str] = []
    for page in client.get_paginator("list_qualification_types").paginate(
        MustBeRequestable=False, MustBeOwnedByCaller=True, PaginationConfig={"PageSize": 100}
    ):
        type_ids += [t["QualificationTypeId"] for t in page["QualificationTypes"]]
    rows = 0
    workers = client.get_paginator("list_workers_with_qualification_type")
    requests = client.get_paginator("list_qualification_requests")
    for type_id in type_ids:
        for status in ("Granted", "Revoked"):
            for page in workers.paginate(
                QualificationTypeId=type_id, Status=status, PaginationConfig={"PageSize": 100}
            ):
                rows += len(page["Qualifications"])
        for page in requests.paginate(
            QualificationTypeId=type_id, PaginationConfig={"PageSize": 100}
        ):
            rows += len(page["QualificationRequests"])
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"types": len(type_ids), "rows": rows, "seconds": seconds, "cpu_s": cpu}


def extraction_alone(url: str) -> dict[str, Any]:
    """The refresh's extraction of every type without Dagster: `extract_types` with the
    product's client (adaptive pace) and default concurrency, into a fresh local lake, after one
    listing of the types (timed, as the bare loop's); its wall and CPU seconds."""
    from qual_pipeline import settings
    from qual_pipeline.extract.many import extract_types
    from qual_pipeline.mturk_api.client import make_client
    from qual_pipeline.stores.profile import local_stores

    concurrency = settings.EXTRACT_CONCURRENCY.default
    client = make_client(endpoint_url=url, pool_size=2 * concurrency + 2)
    start, cpu = time.perf_counter(), time.process_time()
    type_ids: list[str] = []
    for page in client.get_paginator("list_qualification_types").paginate(
        MustBeRequestable=False, MustBeOwnedByCaller=True, PaginationConfig={"PageSize": 100}
    ):
        type_ids += [t["QualificationTypeId"] for t in page["QualificationTypes"]]
    with tempfile.TemporaryDirectory(prefix="bench-extract-") as data:
        outcomes = list(
            extract_types(client, local_stores(data), type_ids, concurrency=concurrency)
        )
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    failed = [o.error for o in outcomes if not o.ok]
    if failed:
        raise RuntimeError(f"{len(failed)} type(s) failed: {failed[0]}")
    return {"types": len(outcomes), "seconds": seconds, "cpu_s": cpu}


# Measurements ------------------------------------------------------------------------------------


def _generate(scratch: Path, workers: int, types: int) -> Path:
    from qual_pipeline.local_mturk.generate import generate

    path = scratch / f"data-{workers}x{types}.json"
    generate(path, workers=workers, types=types, seed=16)
    return path


def _loop(server: Server, mode: str, what: str) -> dict[str, Any]:
    """Run this file with `mode` (`--bare`, `--extract`) against the server in a process of its
    own; its last stdout line (JSON) beside the server's request counts."""
    server.clear()
    done = subprocess.run(
        [sys.executable, __file__, mode, server.url],
        capture_output=True, text=True, env=_env(), timeout=3600,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{done.stderr[-3000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), **server.counts()}


def _bare(server: Server) -> dict[str, Any]:
    return _loop(server, "--bare", "bare loop")


def _extraction_alone(server: Server) -> dict[str, Any]:
    return _loop(server, "--extract", "extraction alone")


def _refresh(
    server: Server,
    scratch: Path,
    *extra: str,
    runs: bool = False,
    on_disk: bool = True,
    instance_yaml: Path = ROOT / "dagster_home" / "dagster.yaml",
    env: dict[str, str] | None = None,
    base: Path | None = None,
) -> dict[str, Any]:
    """`qual-pipeline refresh` in a fresh process, on a fresh data folder and Dagster instance
    (`instance_yaml` in DAGSTER_HOME, or with `on_disk=False` DAGSTER_HOME unset: the throw-away
    in-memory instance the CLI then uses), with `env` added to its environment; its wall time,
    peak RSS (of the refresh process) and what the server answered; with `runs`, also where its
    time went by the instance's own records (`run_breakdown`). With `base`, the refresh imports
    the `qual_pipeline` of that checkout (first on PYTHONPATH) instead of this tree's."""
    work = Path(tempfile.mkdtemp(dir=scratch, prefix="refresh-"))
    home: Path | None = None
    if on_disk:
        home = work / "dagster_home"
        home.mkdir()
        shutil.copy(instance_yaml, home / "dagster.yaml")
    server.clear()
    script = Path(sys.executable).with_name("qual-pipeline")
    command = [str(script), "refresh", "--data-dir", str(work / "data"), *extra]
    env = {**(env or {}), **({"PYTHONPATH": str(base)} if base is not None else {})}
    done = subprocess.run(
        [sys.executable, __file__, "--measure", json.dumps(command)],
        capture_output=True, text=True, timeout=7200, cwd="/",
        env={**_env(home), "MTURK_ENDPOINT_URL": server.url, **env},
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"refresh failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    if runs and home is not None:
        with _environ({k: v for k, v in env.items() if k != "PYTHONPATH"}):
            measured |= run_breakdown(home)
    shutil.rmtree(work, ignore_errors=True)
    return {**measured, **server.counts()}


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Any:
    """This process's environment with `values` set, as it was after the block."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_breakdown(home: Path) -> dict[str, Any]:
    """Where a refresh's runs spent their time, from the Dagster instance in `home`: for the
    extraction run, the seconds from its creation to its start (Dagster records the run and its
    ASSET_MATERIALIZATION_PLANNED events: one for the range since that run sets
    DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS, one per type before) and from its start to
    its end (the paging, which runs beside the recording of each type's materializations); the
    load run's seconds from creation to end; the events each run recorded."""
    from dagster import DagsterInstance

    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        instance = DagsterInstance.get()
        records = {r.dagster_run.job_name: r for r in instance.get_run_records()}
        figures: dict[str, Any] = {}
        for name, job in (("extract", "extract_qualification_types"), ("load", "load_warehouse")):
            record = records[job]
            created = record.create_timestamp.timestamp()
            started = record.start_time or created
            ended = record.end_time or started
            figures[f"{name}_events"] = len(instance.all_logs(record.dagster_run.run_id))
            figures[f"{name}_creation_s"] = started - created
            figures[f"{name}_run_s"] = ended - started
        instance.dispose()
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous
    return figures


def measure(command: list[str]) -> dict[str, Any]:
    """Run `command`, return its wall time, peak RSS and CPU seconds (its own, as the only
    child)."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        raise SystemExit(done.returncode)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = usage.ru_maxrss / 1024
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    cpu = usage.ru_utime + usage.ru_stime
    return {"seconds": seconds, "peak_rss_mb": peak, "last_line": last, "cpu_s": cpu}


def many_types(scratch: Path, sizes: list[int]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for types in sizes:
        server = Server(_generate(scratch, WORKERS_PER_TYPE, types))
        try:
            bare = _bare(server)
            alone = _extraction_alone(server)
            ours = _refresh(server, scratch, runs=True)
            in_memory = _refresh(server, scratch, on_disk=False)
            unpaced = _refresh(server, scratch, "--retry-mode", "standard", on_disk=False)
        finally:
            server.stop()
        print(f"{types} types: bare {bare}\n{types} types: refresh {ours}", flush=True)
        figures[f"types_{types}_rows"] = bare["rows"]
        figures[f"types_{types}_bare_s"] = round(bare["seconds"], 3)
        figures[f"types_{types}_refresh_s"] = round(ours["seconds"], 3)
        figures[f"types_{types}_refresh_over_bare"] = round(ours["seconds"] / bare["seconds"], 2)
        figures[f"types_{types}_calls_refresh_over_bare"] = round(ours["ok"] / bare["ok"], 3)
        # The extraction alone (no Dagster, no load): what the refresh's own work per type costs
        # beyond the API calls the bare loop makes, in wall and CPU time.
        figures[f"types_{types}_extraction_alone_s"] = round(alone["seconds"], 3)
        figures[f"types_{types}_extraction_alone_over_bare"] = round(
            alone["seconds"] / bare["seconds"], 2
        )
        figures[f"types_{types}_extraction_alone_cpu_s"] = round(alone["cpu_s"], 3)
        figures[f"types_{types}_extraction_alone_cpu_ms_per_type_over_bare"] = round(
            1000 * (alone["cpu_s"] - bare["cpu_s"]) / types, 2
        )
        # The same refresh with DAGSTER_HOME unset: Dagster's records kept in memory.
        figures[f"types_{types}_in_memory_refresh_s"] = round(in_memory["seconds"], 3)
        figures[f"types_{types}_in_memory_refresh_over_bare"] = round(
            in_memory["seconds"] / bare["seconds"], 2
        )
        figures[f"types_{types}_in_memory_paging_s"] = round(in_memory["paging_span_s"], 3)
        # And without the adaptive pace (`--retry-mode standard`): what its slow start (10
        # requests/s, +3/s per answer) costs the paging, beside Dagster's records.
        figures[f"types_{types}_unpaced_in_memory_refresh_s"] = round(unpaced["seconds"], 3)
        figures[f"types_{types}_unpaced_in_memory_refresh_over_bare"] = round(
            unpaced["seconds"] / bare["seconds"], 2
        )
        figures[f"types_{types}_unpaced_in_memory_paging_s"] = round(unpaced["paging_span_s"], 3)
        # CPU seconds (user + system) of each process: less swayed by other work on the machine
        # than wall time, though a loaded disk still slows SQLite's commits.
        figures[f"types_{types}_bare_cpu_s"] = round(bare["cpu_s"], 3)
        figures[f"types_{types}_refresh_cpu_s"] = round(ours["cpu_s"], 3)
        figures[f"types_{types}_cpu_refresh_over_bare"] = round(ours["cpu_s"] / bare["cpu_s"], 2)
        # Where the refresh's time went: the paging (first to last per-type answer), the
        # extraction run's creation (planned events) and run (paging beside materialization
        # events), the load run, and the rest (process start, imports, discovery, report).
        runs = ours["extract_creation_s"] + ours["extract_run_s"] + ours["load_run_s"]
        runs += ours["load_creation_s"]
        events = ours["extract_events"]
        figures[f"types_{types}_paging_s"] = round(ours["paging_span_s"], 3)
        figures[f"types_{types}_extract_events"] = events
        figures[f"types_{types}_extract_events_per_type"] = round(events / types, 2)
        figures[f"types_{types}_extract_creation_s"] = round(ours["extract_creation_s"], 3)
        figures[f"types_{types}_extract_run_s"] = round(ours["extract_run_s"], 3)
        figures[f"types_{types}_extract_ms_per_event"] = round(
            1000 * (ours["extract_creation_s"] + ours["extract_run_s"]) / events, 2
        )
        figures[f"types_{types}_load_s"] = round(ours["load_creation_s"] + ours["load_run_s"], 3)
        figures[f"types_{types}_outside_runs_s"] = round(ours["seconds"] - runs, 3)
    figures["speed_target"] = SPEED_TARGET
    return figures


def _imports_from(base: Path | None) -> None:
    """Check that a refresh run with `base` first on PYTHONPATH (None: this tree) imports that
    checkout's `qual_pipeline` (an A/B run that compared a tree with itself would say nothing)."""
    env = {**_env(), **({"PYTHONPATH": str(base)} if base is not None else {})}
    probe = "import qual_pipeline; print(qual_pipeline.__file__)"
    where = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd="/"
    ).stdout.strip()
    if not where.startswith(str((base or ROOT) / "qual_pipeline")):
        raise RuntimeError(f"the run would import {where}, not {(base or ROOT) / 'qual_pipeline'}")


def before_and_after(scratch: Path, sizes: list[int], base: Path, pairs: int) -> dict[str, Any]:
    """The refresh on disk of the checkout in `base` (e.g. `git archive <commit> qual_pipeline |
    tar -x -C DIR`) and of this tree, back to back `pairs` times after one bare loop, at each of
    `sizes` types: each one's wall time and ratio to the bare loop, where its time went
    (`run_breakdown`), and the load average (1 min) before it. This tree's code is imported from
    ROOT first on PYTHONPATH too, so a copy of this file and its tree (`git archive HEAD bench
    qual_pipeline`) measures that copy while the working tree changes."""
    for tree in (base, ROOT):
        _imports_from(tree)
    figures: dict[str, Any] = {}
    for types in sizes:
        server = Server(_generate(scratch, WORKERS_PER_TYPE, types))
        try:
            bare = _bare(server)
            figures[f"ab_{types}_bare_s"] = round(bare["seconds"], 3)
            for pair in range(pairs):
                for name, tree in (("before", base), ("after", ROOT)):
                    key = f"ab_{types}_{name}_{pair}"
                    figures[f"{key}_load_before"] = round(os.getloadavg()[0], 2)
                    ours = _refresh(server, scratch, runs=True, base=tree)
                    print(f"{types} types, {name} #{pair}: {ours}", flush=True)
                    figures[f"{key}_refresh_s"] = round(ours["seconds"], 3)
                    figures[f"{key}_over_bare"] = round(ours["seconds"] / bare["seconds"], 2)
                    figures[f"{key}_cpu_s"] = round(ours["cpu_s"], 3)
                    figures[f"{key}_paging_s"] = round(ours["paging_span_s"], 3)
                    figures[f"{key}_extract_events"] = ours["extract_events"]
                    figures[f"{key}_extract_creation_s"] = round(ours["extract_creation_s"], 3)
                    figures[f"{key}_extract_run_s"] = round(ours["extract_run_s"], 3)
                    load = ours["load_creation_s"] + ours["load_run_s"]
                    figures[f"{key}_load_s"] = round(load, 3)
                    runs = ours["extract_creation_s"] + ours["extract_run_s"] + load
                    figures[f"{key}_outside_runs_s"] = round(ours["seconds"] - runs, 3)
        finally:
            server.stop()
    return figures


START_S = 10.0
"""The start of a rate-limited run, reported apart from the steady state after it (seconds from
the first answer of the extraction's paging)."""


def _start_and_steady(answers: list[tuple[float, int, str]]) -> dict[str, Any]:
    """Answered and throttled requests in the first START_S seconds of the paging, and after."""
    paging = [t for t, status, op in answers if op in PER_TYPE]
    if not paging:
        return {}
    start = min(paging) + START_S
    figures: dict[str, Any] = {}
    for part, keep in (("start", lambda t: t < start), ("steady", lambda t: t >= start)):
        ok = [t for t, status, _ in answers if status == 200 and keep(t)]
        throttled = sum(1 for t, status, _ in answers if status == 400 and keep(t))
        figures[f"rate_{part}_ok"] = len(ok)
        figures[f"rate_{part}_throttled"] = throttled
        figures[f"rate_{part}_throttled_share"] = round(throttled / max(len(ok) + throttled, 1), 4)
    steady = sorted(t for t, status, op in answers if status == 200 and t >= start)
    if len(steady) > 1:
        rate = (len(steady) - 1) / (steady[-1] - steady[0])
        figures["rate_steady_achieved_per_s"] = round(rate, 2)
    return figures


FLOOR_PARTITIONS = 300
STORAGES = ("sqlite", "consolidated", "memory", "postgres")
"""Instance storages the recording floor is measured on (see `recording_floor`)."""
CONSOLIDATED_YAML = """
event_log_storage:
  module: dagster._core.storage.event_log
  class: ConsolidatedSqliteEventLogStorage
  config:
    base_dir:
      env: DAGSTER_HOME
"""
POSTGRES_YAML = """
storage:
  postgres:
    postgres_url:
      env: DAGSTER_POSTGRES_URL
"""


def recording_floor(partitions: int, assets: int, storage: str = "sqlite") -> dict[str, Any]:
    """In this (fresh) process: a ranged run over `partitions` dynamic partitions of a
    multi-asset of `assets` specs that only yields one materialization per asset and partition,
    on a fresh Dagster instance: `storage` 'sqlite' (dagster_home/dagster.yaml as shipped: the
    default SQLite storage, a database per run beside an index database), 'consolidated'
    (Dagster's ConsolidatedSqliteEventLogStorage: one event database), 'memory' (the ephemeral
    instance) or 'postgres' (DAGSTER_POSTGRES_URL, as deploy/dagster.yaml); the run's wall and
    CPU seconds and its events."""
    from dagster import (
        AssetMaterialization,
        AssetSpec,
        BackfillPolicy,
        DagsterInstance,
        Definitions,
        DynamicPartitionsDefinition,
        MetadataValue,
        define_asset_job,
        multi_asset,
    )

    home = Path(tempfile.mkdtemp(prefix="bench-floor-"))
    extra = {"consolidated": CONSOLIDATED_YAML, "postgres": POSTGRES_YAML}.get(storage, "")
    yaml = (ROOT / "dagster_home" / "dagster.yaml").read_text()
    (home / "dagster.yaml").write_text(yaml + extra)
    os.environ["DAGSTER_HOME"] = str(home)
    keys_def = DynamicPartitionsDefinition(name="types")
    specs = [AssetSpec(["lake", f"table_{n}"], skippable=True) for n in range(assets)]

    @multi_asset(
        specs=specs,
        partitions_def=keys_def,
        backfill_policy=BackfillPolicy.single_run(),
        can_subset=False,
    )
    def tables(context):  # type: ignore[no-untyped-def]  # a string annotation would not resolve
        for key in context.partition_keys:
            for spec in specs:
                yield AssetMaterialization(
                    asset_key=spec.key,
                    partition=key,
                    metadata={  # what a lake snapshot's materialization records
                        "dagster/row_count": 50,
                        "snapshot": MetadataValue.path(f"/lake/{key}/snapshot.parquet"),
                        **dict.fromkeys(("pages", "records_seen", "duplicates", "retries"), 1),
                        **dict.fromkeys(("throttles", "granted", "revoked"), 1),
                        **dict.fromkeys(("invalid_locales", "missing_locales", "null_scores"), 0),
                        "duration_s": 0.01,
                    },
                )

    job = define_asset_job("floor", selection=[tables])
    defs = Definitions(assets=[tables], jobs=[job])
    instance = DagsterInstance.ephemeral() if storage == "memory" else DagsterInstance.get()
    keys = [f"3FLOOR{n:024d}" for n in range(partitions)]
    instance.add_dynamic_partitions("types", keys)
    start, cpu = time.perf_counter(), time.process_time()
    result = defs.resolve_job_def("floor").execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
        },
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
    )
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    events = len(instance.all_logs(result.run_id))
    instance.dispose()
    shutil.rmtree(home, ignore_errors=True)
    return {"seconds": seconds, "cpu_s": cpu, "events": events, "success": result.success}


def _floor(partitions: int, assets: int, storage: str, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--floor", f"{partitions},{assets},{storage}"],
        capture_output=True, text=True, env=env, timeout=3600,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"recording floor failed:\n{done.stderr[-3000:]}")
    floor = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"recording {partitions} partitions x {assets} asset(s), {storage}: {floor}", flush=True)
    return floor


def _postgres_server(stack: contextlib.ExitStack) -> Any:
    """A PostgreSQL server on 127.0.0.1 (the tests' server helper: initdb and postgres from
    Debian's package), stopped with `stack`; None when PostgreSQL is not installed."""
    sys.path.insert(0, str(ROOT / "tests"))
    from support.services import ServiceStartError, postgres_bin_dir, running_postgres

    try:
        postgres_bin_dir()
    except ServiceStartError:
        return None
    return stack.enter_context(running_postgres())


def _dagster_url(postgres: Any) -> str:
    """A fresh database of `postgres`, as the URL dagster-postgres takes."""
    return postgres.create_database().replace("postgresql://", "postgresql+psycopg2://")


def _postgres_url(stack: contextlib.ExitStack) -> str | None:
    """A fresh PostgreSQL database on a new local server (see `_postgres_server`) as the URL
    dagster-postgres takes; None when PostgreSQL is not installed."""
    postgres = _postgres_server(stack)
    return None if postgres is None else _dagster_url(postgres)


BATCH_SIZE = "1000"
"""DAGSTER_EVENT_BATCH_SIZE in the batched runs of `postgres_batching` (more than any batch)."""


def postgres_batching(scratch: Path, sizes: list[int]) -> dict[str, Any]:
    """The refresh on the shared profile's Dagster instance (deploy/dagster.yaml, on a local
    PostgreSQL server, a fresh database per run) with Dagster's event batching off
    (DAGSTER_EVENT_BATCH_SIZE=0, the default) and on (BATCH_SIZE), back to back beside a bare
    loop, at each of `sizes` types: the whole refresh, the extraction run's creation (its planned
    events), its run, the paging; the load average before each."""
    figures: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        postgres = _postgres_server(stack)
        if postgres is None:
            print("refresh on PostgreSQL: not installed here", flush=True)
            return figures
        for types in sizes:
            server = Server(_generate(scratch, WORKERS_PER_TYPE, types))
            try:
                figures[f"pg_{types}_load_before_bare"] = round(os.getloadavg()[0], 2)
                bare = _bare(server)
                figures[f"pg_{types}_bare_s"] = round(bare["seconds"], 3)
                for name, size in (("unbatched", "0"), ("batched", BATCH_SIZE)):
                    key = f"pg_{types}_{name}"
                    figures[f"{key}_load_before"] = round(os.getloadavg()[0], 2)
                    env = {"DAGSTER_POSTGRES_URL": _dagster_url(postgres)}
                    env["DAGSTER_EVENT_BATCH_SIZE"] = size
                    ours = _refresh(
                        server,
                        scratch,
                        runs=True,
                        instance_yaml=ROOT / "deploy" / "dagster.yaml",
                        env=env,
                    )
                    print(f"{types} types on PostgreSQL, {name}: {ours}", flush=True)
                    figures[f"{key}_refresh_s"] = round(ours["seconds"], 3)
                    figures[f"{key}_over_bare"] = round(ours["seconds"] / bare["seconds"], 2)
                    figures[f"{key}_extract_creation_s"] = round(ours["extract_creation_s"], 3)
                    figures[f"{key}_extract_run_s"] = round(ours["extract_run_s"], 3)
                    figures[f"{key}_extract_events"] = ours["extract_events"]
                    figures[f"{key}_paging_s"] = round(ours["paging_span_s"], 3)
            finally:
                server.stop()
    return figures


def recording_floors(partitions: int = FLOOR_PARTITIONS) -> dict[str, Any]:
    """Dagster's cost of recording a ranged run of `partitions` types, alone: with two assets
    per partition and one on the shipped instance, then two on each other storage."""
    figures: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        for assets, storage in [(2, "sqlite"), (1, "sqlite")] + [(2, s) for s in STORAGES[1:]]:
            env = _env()
            if storage == "postgres":
                url = _postgres_url(stack)
                if url is None:
                    print("recording floor on PostgreSQL: not installed here", flush=True)
                    continue
                env["DAGSTER_POSTGRES_URL"] = url
            floor = _floor(partitions, assets, storage, env)
            name = f"floor_{partitions}_types_{assets}_asset{'s' if assets > 1 else ''}"
            name += "" if storage == "sqlite" else f"_{storage}"
            figures[f"{name}_s"] = round(floor["seconds"], 3)
            figures[f"{name}_events"] = floor["events"]
            figures[f"{name}_ms_per_type"] = round(1000 * floor["seconds"] / partitions, 2)
            figures[f"{name}_ms_per_event"] = round(1000 * floor["seconds"] / floor["events"], 2)
            figures[f"{name}_cpu_ms_per_event"] = round(1000 * floor["cpu_s"] / floor["events"], 2)
    return figures


def rate_limited(scratch: Path, types: int, limit: float) -> dict[str, Any]:
    """A refresh of `types` types against a limit of `limit` requests/s it is not told: what the
    server answered, for the whole refresh, its paging alone, its first START_S seconds and the
    steady state after."""
    server = Server(_generate(scratch, WORKERS_PER_TYPE, types), rate_limit=limit)
    try:
        ours = _refresh(server, scratch)
        with server._lock:
            answers = list(server.answers)
    finally:
        server.stop()
    print(f"rate limit {limit}/s, {types} types: refresh {ours}", flush=True)
    achieved = (ours["ok"] - 1) / ours["span_s"] if ours["span_s"] else 0.0
    paging = (ours["paging_ok"] - 1) / ours["paging_span_s"] if ours["paging_span_s"] else 0.0
    split = _start_and_steady(answers)
    steady = split.get("rate_steady_achieved_per_s", 0.0)
    return {
        "rate_paging_achieved_per_s": round(paging, 2),
        "rate_paging_share_of_limit": round(paging / limit, 3),
        "rate_limit_per_s": limit,
        "rate_types": types,
        "rate_requests_ok": ours["ok"],
        "rate_requests_throttled": ours["throttled"],
        "rate_achieved_per_s": round(achieved, 2),
        "rate_share_of_limit": round(achieved / limit, 3),
        "rate_throttled_share": round(ours["throttled"] / max(ours["requests"], 1), 4),
        **split,
        "rate_steady_share_of_limit": round(steady / limit, 3),
        "rate_refresh_s": round(ours["seconds"], 2),
        "rate_target": RATE_TARGET,
        "throttle_target": THROTTLE_TARGET,
    }


def peak_memory(scratch: Path, sizes: list[int]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    peaks: list[float] = []
    for rows in sizes:
        workers = max(1, round(rows / ROWS_PER_WORKER_5_TYPES))
        data = _generate(scratch, workers, 5)
        server = Server(data)
        data.unlink()
        try:
            ours = _refresh(server, scratch)
        finally:
            server.stop()
        print(f"~{rows:,} rows: refresh {ours}", flush=True)
        figures[f"rss_rows_{rows}_refresh_s"] = round(ours["seconds"], 2)
        figures[f"rss_rows_{rows}_peak_rss_mb"] = round(ours["peak_rss_mb"], 1)
        figures[f"rss_rows_{rows}_summary"] = ours["last_line"]
        peaks.append(ours["peak_rss_mb"])
    figures["rss_largest_over_smallest"] = round(peaks[-1] / peaks[0], 3)
    figures["rss_target"] = MEMORY_TARGET
    return figures


def _sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--types", default="5,300,2000", help="type counts, comma-separated")
    parser.add_argument("--rate-types", type=int, default=300, help="types of the rate run")
    parser.add_argument("--rate-limit", type=float, default=20.0, help="requests/s per requester")
    parser.add_argument("--rss-rows", default="400000,4000000", help="row counts of the RSS runs")
    parser.add_argument(
        "--skip", default="", help="parts to skip: types, floor, rate, rss, postgres"
    )
    parser.add_argument("--pg-types", default="300,2000", help="type counts of the postgres part")
    parser.add_argument(
        "--base",
        type=Path,
        help="a checkout's folder: only its refresh and this tree's, back to back (--types)",
    )
    parser.add_argument("--pairs", type=int, default=1, help="before/after pairs with --base")
    parser.add_argument("--bare", help=argparse.SUPPRESS)
    parser.add_argument("--extract", help=argparse.SUPPRESS)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--floor", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        print(json.dumps(bare_loop(args.bare)))
        return
    if args.extract:
        print(json.dumps(extraction_alone(args.extract)))
        return
    if args.measure:
        print(json.dumps(measure(json.loads(args.measure))))
        return
    if args.floor:
        partitions, assets, storage = args.floor.split(",")
        print(json.dumps(recording_floor(int(partitions), int(assets), storage)))
        return
    skip = set(args.skip.split(","))
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-refresh-") as tmp:
        scratch = Path(tmp)
        if args.base is not None:
            figures |= before_and_after(scratch, _sizes(args.types), args.base, args.pairs)
            skip |= {"types", "floor", "rate", "rss", "postgres"}
        if "types" not in skip:
            figures |= many_types(scratch, _sizes(args.types))
        if "floor" not in skip:
            figures |= recording_floors()
        if "rate" not in skip:
            figures |= rate_limited(scratch, args.rate_types, args.rate_limit)
        if "rss" not in skip:
            figures |= peak_memory(scratch, _sizes(args.rss_rows))
        if "postgres" not in skip:
            figures |= postgres_batching(scratch, _sizes(args.pg_types))
    report("refresh_ab" if args.base is not None else "refresh", figures)


if __name__ == "__main__":
    main()
