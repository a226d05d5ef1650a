"""The refresh, one plain orchestration: what `qual-pipeline refresh` and the demo run.

Three steps over the same definitions the UI loads, executed in this process on the given instance
(so the runs show up in the UI when DAGSTER_HOME is the project's): discover the types (the
discovery sensor's own code), then ONE run of `extract_qualification_types` over every type
partition as a partition key range (the types' metadata and every type's tables, many types at
once under one shared client and pace), then one `load_warehouse` run. A type that fails fails
alone: the others land (snapshots published, materializations recorded), the outcome names it,
Dagster marks its partition failed (the extraction run records one planned event for its whole
range, so a short run over the failed types alone records them failed: PLANNED_SUBSET_ENV), and
`retry_failed=True` extracts only the partitions the instance records as failed or never
materialized, in one run however far apart they lie. Types a stop left unextracted are not
marked failed (no run starts after a stop): a type never extracted before is missing, one
extracted before keeps its previous snapshot and its status.

Runs execute in a worker thread, so this process's main thread keeps its signal handlers (Dagster
installs its own only on the main thread): a caller that calls `qual_pipeline.interrupt.stop()`
from a SIGINT or SIGTERM handler gets no further MTurk request (every client refuses), no
warehouse load after the interrupted extraction, and an outcome with `interrupted` set, within
seconds. Snapshots are published atomically and the load is one transaction, so nothing is ever
half-published.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AddDynamicPartitionsRequest,
    AssetCheckSeverity,
    AssetPartitionStatus,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    ExecuteInProcessResult,
    RunsFilter,
    SensorResult,
    build_sensor_context,
)

from qual_pipeline import interrupt
from qual_pipeline.defs.assets.lake import (
    FAILED_IN_RUN_TAG,
    WORKER_QUALIFICATIONS_KEY,
    TypeTablesConfig,
    lake_type_tables,
    table_metadata,
)
from qual_pipeline.defs.assets.warehouse import prepare_charts
from qual_pipeline.defs.jobs import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    contiguous_ranges,
    partition_range_tags,
)
from qual_pipeline.defs.partitions import qualification_type_partitions
from qual_pipeline.lake.presence import unpublished_types
from qual_pipeline.progress import Progress, report
from qual_pipeline.stores.lake import LakeStore

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
SILENT = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
"""The CLI reports failures itself, once, without Dagster's step-failure log and its trace."""
EXTRACT_JOB = "extract_qualification_types"
TYPES_JOB = "refresh_qualification_types"
LOAD_JOB = "load_warehouse"
CHECK_TYPES_SHOWN = 10
"""Types a failed check names one by one (with their counts); the rest are counted, so that a
refresh of thousands of types stays readable (the asset check's metadata keeps them all)."""
NOT_TYPES = ("qualification_types", "extract", "warehouse")
"""`RefreshOutcome.failures` keys that name a run's step rather than a type."""
PLANNED_SUBSET_ENV = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"
"""Dagster's setting (read when a run is created) for one planned event per asset for a run's
whole partition range instead of one per partition. A refresh's extraction run sets it: with
thousands of types the per-partition events were half of the run's records (a planned event
and a materialization per type, each two SQLite transactions). Dagster marks a partition failed
only from a planned event of its own, so the types that fail are then recorded failed by a run
over them alone (FAILED_IN_RUN_TAG), created with it unset."""
UNFINISHED = (
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
)
"""Runs still going (or the UI's queue): what they leave unextracted is not known yet."""
STOP_GRACE_S = 10.0
"""After a stop, how long to wait for the run in flight to record its end before returning."""


class RunFailed(RuntimeError):
    """A run of the refresh failed; the message says which and why."""


@dataclass
class RefreshOutcome:
    type_ids: list[str] = field(default_factory=list)
    """Every mirrored type (the dynamic partitions after discovery)."""
    extracted: list[str] = field(default_factory=list)
    """The types this refresh extracted and published."""
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    """What failed (a type id, 'qualification_types' or 'warehouse') -> the error message."""
    check_failures: list[str] = field(default_factory=list)
    """Blocking checks the load failed: `plan` and `push` refuse the types they name."""
    check_warnings: list[str] = field(default_factory=list)
    """Warning checks the load failed: unusual but legal data, shown, blocking nothing."""
    interrupted: str | None = None
    """Why the refresh stopped early (the reason given to `interrupt.stop`), or None."""
    rows: int = 0
    """Rows in the snapshots this refresh published."""
    requested: int = 0
    """Types this refresh set out to extract."""
    loaded: bool = False
    """Whether the warehouse load ran and committed."""

    @property
    def ok(self) -> bool:
        """No run failed, no blocking check failed (warnings allowed), not interrupted."""
        return not self.failures and not self.check_failures and self.interrupted is None


Materialized = Callable[[list[str], str | None, dict[str, Any]], None]
"""Called per asset materialization of a finished run: (asset key path, partition, metadata)."""


def failure_message(result: ExecuteInProcessResult) -> str:
    """Every failed step's `step_failure_text`, joined with '; ' ('the run failed': none)."""
    messages = [
        step_failure_text(event)
        for event in result.all_events
        if event.event_type == DagsterEventType.STEP_FAILURE
    ]
    return "; ".join(messages) or "the run failed"


def step_failure_text(event: Any) -> str:
    """One STEP_FAILURE event's own message: its Failure's description, else its error's message
    without the exception's class path (`qual_pipeline.extract.errors.ExtractionError: `)."""
    error = event.step_failure_data.error
    cause = error.cause if error is not None and error.cause is not None else error
    user = event.step_failure_data.user_failure_data
    if user is not None and user.description:
        return user.description
    if cause is None:
        return "unknown error"
    text = cause.message.strip()
    if cause.cls_name:
        text = re.sub(rf"^(?:[\w.]+\.)?{re.escape(cause.cls_name)}: ", "", text, count=1)
    return text


def check_outcomes(result: ExecuteInProcessResult) -> tuple[list[str], list[str]]:
    """(blocking failures, warnings) of a run's checks, each as 'name: description Types: ...'."""
    blocking: list[str] = []
    warnings: list[str] = []
    for e in result.get_asset_check_evaluations():
        if e.passed:
            continue
        entry = e.metadata.get("failing_types")
        types = entry.value if entry is not None and isinstance(entry.value, dict) else {}
        shown = sorted(types.items())[:CHECK_TYPES_SHOWN]
        listed = ", ".join(f"{t} ({n})" for t, n in shown)
        more = len(types) - len(shown)
        listed += f" and {more:,} more" if more > 0 else ""
        where = f" Types: {listed}." if types else ""
        if e.severity == AssetCheckSeverity.ERROR:
            # A whole-warehouse failure (offending rows beyond the named types' own, e.g. no
            # types listing loaded) blocks every type's plan, named types or not.
            offending = e.metadata.get("offending")
            whole = not types or (
                offending is not None
                and isinstance(offending.value, int)
                and offending.value > sum(types.values())
            )
            scope = "of every type" if whole else "of these types"
            blocking.append(
                f"{e.check_name} (blocks plan and push {scope}): "
                f"{e.description or 'failed.'}{where}"
            )
        else:
            warnings.append(f"{e.check_name}: {e.description or 'failed.'}{where}")
    return blocking, warnings


def discover_types(
    defs: Definitions, instance: DagsterInstance
) -> tuple[list[str], list[str], list[str] | None]:
    """Evaluate the discovery sensor once and apply its partition changes; (added, removed,
    the ids QUAL_PIPELINE_TYPES lists or None for 'owned', as the sensor's resource read it)."""
    sensor = defs.resolve_sensor_def("qualification_type_discovery")
    # The sensor logs its counts at INFO on a console logger of its own (a raw "dagster - INFO"
    # line mid-output); the refresh reports what changed itself, so that line is held back, as
    # the runs' INFO lines are (QUIET / SILENT). Warnings and errors still show.
    held = logging.root.manager.disable
    logging.disable(max(held, logging.INFO))
    try:
        with build_sensor_context(instance=instance, resources=defs.resources) as context:
            result = sensor(context)
            listed = context.resources.pipeline.type_ids()
    finally:
        logging.disable(held)
    added: list[str] = []
    removed: list[str] = []
    if isinstance(result, SensorResult):
        for request in result.dynamic_partitions_requests or []:
            keys = list(request.partition_keys)
            if isinstance(request, AddDynamicPartitionsRequest):
                instance.add_dynamic_partitions(qualification_type_partitions.name, keys)
                added += keys
            else:
                for key in keys:
                    instance.delete_dynamic_partition(qualification_type_partitions.name, key)
                removed += keys
    return added, removed, listed


def selected_types(listed: Sequence[str] | None, order: Sequence[str]) -> list[str]:
    """The partitions of `order` (in its order) that QUAL_PIPELINE_TYPES selects: all of them for
    'owned' (`listed` None), else the `listed` ones (a subset refresh keeps the other types'
    partitions and extracts only its own)."""
    if listed is None:
        return list(order)
    chosen = set(listed)
    return [t for t in order if t in chosen]


def failed_or_missing_types(
    instance: DagsterInstance,
    type_ids: Sequence[str],
    order: Sequence[str] | None = None,
    *,
    defs: Definitions | None = None,
) -> list[str]:
    """The types whose lake partitions the instance records as failed or never materialized,
    those the last extraction run left unextracted when it did not succeed (a stop: see
    `unextracted_types`), and (with `defs`) those the data folder's lake holds no snapshot of,
    in `type_ids` order (what `retry_failed` extracts). The instance's records alone are not
    the data folder's: another data folder refreshed with the same DAGSTER_HOME records its
    types materialized, and a lake that lost a type's files still shows its materialization.
    `order`: the partitions in the instance's order (default `type_ids`)."""
    wanted = unextracted_types(instance, list(order if order is not None else type_ids))
    if defs is not None:
        wanted |= unpublished_types(_lake(defs, instance), type_ids)
    for key in lake_type_tables.keys:
        status = instance.get_status_by_partition(
            key, list(type_ids), qualification_type_partitions
        )
        for type_id in type_ids:
            found = (status or {}).get(type_id)
            if found != AssetPartitionStatus.MATERIALIZED:
                wanted.add(type_id)
    return [t for t in type_ids if t in wanted]


def _lake(defs: Definitions, instance: DagsterInstance) -> LakeStore:
    """The lake of the data folder (or shared storage) the definitions' resources name."""
    with build_sensor_context(instance=instance, resources=defs.resources) as context:
        return context.resources.pipeline.stores(context.resources.mturk).lake


def unextracted_types(instance: DagsterInstance, order: Sequence[str]) -> set[str]:
    """The types of the last extraction run's range (`order`: the partitions in the instance's
    order) that it did not materialize, when that run did not succeed; else none. The run
    records one planned event for its range (PLANNED_SUBSET_ENV), so Dagster does not mark the
    types a stop left behind failed, and one extracted before still shows its previous
    materialization: this is how `retry_failed` still finds them."""
    runs = instance.get_runs(filters=RunsFilter(job_name=EXTRACT_JOB), limit=10)
    last = next((r for r in runs if FAILED_IN_RUN_TAG not in r.tags), None)
    if last is None or last.status in (DagsterRunStatus.SUCCESS, *UNFINISHED):
        return set()
    first, end = last.tags.get(RANGE_START_TAG), last.tags.get(RANGE_END_TAG)
    if first not in order or end not in order:
        return set()
    covered = order[order.index(first) : order.index(end) + 1]
    only = TypeTablesConfig.of_run(last.run_config)
    if only is not None:  # the run extracted only these types of its range
        chosen = set(only)
        covered = [t for t in covered if t in chosen]
    records = instance.get_records_for_run(
        last.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
    ).records
    landed = {r.partition_key for r in records if r.asset_key == WORKER_QUALIFICATIONS_KEY}
    return {t for t in covered if t not in landed}


def refresh(
    defs: Definitions,
    instance: DagsterInstance,
    *,
    retry_failed: bool = False,
    on_run: Callable[[str], None] | None = None,
    on_materialized: Materialized | None = None,
    run_config: dict[str, Any] | None = None,
) -> RefreshOutcome:
    """Discover, extract the types QUAL_PIPELINE_TYPES selects (with `retry_failed` only the
    failed and missing ones among them) in one run, load the warehouse; failures are collected,
    not raised.

    `on_run` is told the name of each run as it starts ('extract', then 'warehouse');
    `on_materialized` is told each asset materialization (key path, partition, metadata values)
    once its run has finished. Errors before any run starts (discovery, settings, credentials)
    are raised. A stop (`qual_pipeline.interrupt.stop`) ends the refresh early: see the module.
    With `retry_failed` (or QUAL_PIPELINE_TYPES listing types apart), the types still take one
    run: over the partition range from the first to the last of them, told to extract only them
    (`TypeTablesConfig`); the types between them are neither extracted nor recorded.
    """
    announce = on_run or (lambda _name: None)
    done = on_materialized or (lambda _key, _partition, _metadata: None)
    config = run_config or QUIET
    outcome = RefreshOutcome()
    prepare_charts()  # the load's charts import matplotlib while the types are extracted
    outcome.added, outcome.removed, listed = discover_types(defs, instance)
    order = list(instance.get_dynamic_partitions(qualification_type_partitions.name))
    outcome.type_ids = sorted(order)
    chosen = selected_types(listed, order)
    wanted = failed_or_missing_types(instance, chosen, order, defs=defs) if retry_failed else chosen
    outcome.requested = len(wanted)
    if wanted or not retry_failed:  # a retry with nothing failed: no extraction to announce
        announce("extract")
        _extract(defs, instance, outcome, wanted, order, config, done)
    outcome.interrupted = interrupt.stopped()
    if outcome.interrupted is not None:
        return outcome  # no load after an interrupted extraction
    announce("warehouse")
    result = _run_in_thread(
        lambda: defs.resolve_job_def(LOAD_JOB).execute_in_process(
            instance=instance, run_config=config, raise_on_error=False
        )
    )
    outcome.interrupted = interrupt.stopped()
    if result is None:
        return outcome
    _report_materializations(result, done)
    outcome.check_failures, outcome.check_warnings = check_outcomes(result)
    outcome.loaded = bool(result.get_asset_materialization_events())
    # A failed blocking check fails the run after the load committed: that is a check failure
    # (reported as such), not a failed load.
    failed_load = not result.success and not (outcome.loaded and outcome.check_failures)
    if failed_load and outcome.interrupted is None:
        outcome.failures["warehouse"] = failure_message(result)
    return outcome


def _extract(
    defs: Definitions,
    instance: DagsterInstance,
    outcome: RefreshOutcome,
    wanted: Sequence[str],
    order: Sequence[str],
    config: dict[str, Any],
    done: Materialized,
) -> None:
    """One extraction run over the partition range from the first to the last of `wanted` (in
    `order`), extracting only `wanted` when the range holds other types (`TypeTablesConfig`:
    failed types lying apart take one run, not one per stretch); the types' metadata alone when
    there is no type partition at all. Collects its outcome into `outcome`; then has Dagster
    mark the types that failed failed (`_record_failed`)."""
    tags: dict[str, str] | None = None
    run_config = config
    if wanted:
        position = {t: n for n, t in enumerate(order)}
        first, last = min(wanted, key=position.__getitem__), max(wanted, key=position.__getitem__)
        tags = partition_range_tags(first, last)
        if position[last] - position[first] + 1 > len(wanted):
            run_config = {**config, **TypeTablesConfig.run_config(list(wanted))}
        # Dagster takes a while to create a run of thousands of partitions.
        report(Progress(task="extract", done=0, rows=0, unit=f"creating the run of "
                        f"{len(wanted):,} type(s)", total=len(wanted)))  # fmt: skip
    job = defs.resolve_job_def(EXTRACT_JOB if tags else TYPES_JOB)
    with _planned_events(one_per_run=True):
        result = _run_in_thread(
            lambda: job.execute_in_process(
                instance=instance, tags=tags, run_config=run_config, raise_on_error=False
            )
        )
    if result is None:  # stopped, and the run did not end within the grace period
        return
    _record_extraction(outcome, result, done)
    if interrupt.stopped() is not None:
        return
    failed = [t for t in outcome.failures if t not in NOT_TYPES]
    if tags and failed and not instance.is_ephemeral:  # a throw-away instance: no UI
        _record_failed(defs, instance, result.run_id, failed, order, config)


def _record_failed(
    defs: Definitions,
    instance: DagsterInstance,
    run_id: str,
    failed: Sequence[str],
    order: Sequence[str],
    config: dict[str, Any],
) -> None:
    """Have Dagster mark the partitions of `failed` (types that failed in run `run_id`) failed:
    one run per contiguous stretch of them that extracts nothing and fails at once naming them
    (FAILED_IN_RUN_TAG), with a planned event per partition. Its outcome adds nothing: the
    types' failures are already those of `run_id`."""
    job = defs.resolve_job_def(EXTRACT_JOB)
    for first, last in contiguous_ranges(list(failed), list(order)):
        tags = {**partition_range_tags(first, last), FAILED_IN_RUN_TAG: run_id}
        with _planned_events(one_per_run=False):
            _run_in_thread(
                lambda tags=tags: job.execute_in_process(
                    instance=instance,
                    tags=tags,
                    run_config=config,
                    raise_on_error=False,
                    asset_selection=list(lake_type_tables.keys),
                )
            )


@contextlib.contextmanager
def _planned_events(*, one_per_run: bool) -> Iterator[None]:
    """Within the block, runs created in this process record one ASSET_MATERIALIZATION_PLANNED
    event per asset for their whole partition range (`one_per_run`) or one per partition
    (Dagster's default), through Dagster's setting PLANNED_SUBSET_ENV; as it was after."""
    before = os.environ.get(PLANNED_SUBSET_ENV)
    os.environ[PLANNED_SUBSET_ENV] = "true" if one_per_run else "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(PLANNED_SUBSET_ENV, None)
        else:
            os.environ[PLANNED_SUBSET_ENV] = before


def _record_extraction(
    outcome: RefreshOutcome, result: ExecuteInProcessResult, done: Materialized
) -> None:
    """Per type: extracted when recorded (its one materialization: both tables landed), told to
    `done` per lake table; failed types with their own message."""
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        metadata = {k: v.value for k, v in materialization.metadata.items()}
        key = list(materialization.asset_key.path)
        partition = materialization.partition
        if materialization.asset_key != WORKER_QUALIFICATIONS_KEY or partition is None:
            done(key, partition, metadata)
            continue
        for table, values in table_metadata(metadata).items():
            done([key[0], table], partition, values)
            outcome.rows += int(values.get("dagster/row_count") or 0)
        outcome.extracted.append(partition)
    outcome.extracted.sort()
    if result.success:
        return
    for event in result.all_events:
        if event.event_type != DagsterEventType.STEP_FAILURE:
            continue
        user = event.step_failure_data.user_failure_data
        failed = user.metadata.get("failed_types") if user is not None else None
        if failed is not None and isinstance(failed.value, dict):
            outcome.failures.update({str(t): str(m) for t, m in failed.value.items()})
        elif interrupt.stopped() is None:
            name = "qualification_types" if "qualification_types" in str(event.step_key) else ""
            outcome.failures[name or "extract"] = step_failure_text(event)  # its own only


def _report_materializations(result: ExecuteInProcessResult, on_done: Materialized) -> None:
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        metadata = {k: v.value for k, v in materialization.metadata.items()}
        on_done(list(materialization.asset_key.path), materialization.partition, metadata)


def _run_in_thread(
    run: Callable[[], ExecuteInProcessResult],
) -> ExecuteInProcessResult | None:
    """`run()` in a worker thread, waiting in short steps so this thread's signal handlers run
    at once; after a stop, waits up to STOP_GRACE_S for the run to end (None if it did not)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = run()
        except BaseException as exc:  # raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="dagster-run", daemon=True)
    thread.start()
    stopped_at: float | None = None
    while thread.is_alive():
        thread.join(0.1)
        if interrupt.stopped() is not None:
            if stopped_at is None:
                stopped_at = time.monotonic()
            elif time.monotonic() - stopped_at > STOP_GRACE_S:
                return None
    if "error" in box:
        raise box["error"]
    return box["result"]
