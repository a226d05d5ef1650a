"""The refresh, one plain orchestration: what `qual-pipeline refresh` and the demo run.

Four steps over the same definitions the UI loads, executed in this process on the given instance
(so the runs show up in the UI when DAGSTER_HOME is the project's): discover the types (the
discovery sensor's own code), snapshot their metadata, extract every type, then load the warehouse
once and run its checks. A failing step is recorded and the refresh goes on, so one broken type
does not hold the others back; the outcome names each failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dagster import (
    AddDynamicPartitionsRequest,
    AssetCheckSeverity,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    SensorResult,
    build_sensor_context,
)

from qual_pipeline.defs.partitions import qualification_type_partitions

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


class RunFailed(RuntimeError):
    """A run of the refresh failed; the message says which and why."""


@dataclass
class RefreshOutcome:
    type_ids: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    """What failed (a type id, 'qualification_types' or 'warehouse') -> the error message."""
    check_failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def failure_message(result: ExecuteInProcessResult) -> str:
    messages = []
    for event in result.all_events:
        if event.event_type == DagsterEventType.STEP_FAILURE:
            error = event.step_failure_data.error
            cause = error.cause if error is not None and error.cause is not None else error
            messages.append(cause.message.strip() if cause is not None else "unknown error")
    return "; ".join(messages) or "the run failed"


def failed_checks(result: ExecuteInProcessResult) -> list[str]:
    """Checks that did not pass; blocking ones (severity ERROR) say that they stop the push."""
    return [
        f"{e.check_name}{' (blocks pushes)' if e.severity == AssetCheckSeverity.ERROR else ''}: "
        f"{e.description or 'failed'}"
        for e in result.get_asset_check_evaluations()
        if not e.passed
    ]


def discover_types(defs: Definitions, instance: DagsterInstance) -> tuple[list[str], list[str]]:
    """Evaluate the discovery sensor once and apply its partition changes; (added, removed)."""
    sensor = defs.resolve_sensor_def("qualification_type_discovery")
    with build_sensor_context(instance=instance, resources=defs.resources) as context:
        result = sensor(context)
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
    return added, removed


def refresh(
    defs: Definitions,
    instance: DagsterInstance,
    *,
    on_run: Callable[[str], None] | None = None,
) -> RefreshOutcome:
    """Discover, extract every type, load the warehouse; failures are collected, not raised.

    `on_run` is told the name of each run as it starts: 'qualification_types', a type id, then
    'warehouse'. Errors before any run starts (discovery, settings, credentials) are raised.
    """
    announce = on_run or (lambda _name: None)
    outcome = RefreshOutcome()
    outcome.added, outcome.removed = discover_types(defs, instance)
    outcome.type_ids = sorted(instance.get_dynamic_partitions(qualification_type_partitions.name))
    announce("qualification_types")
    _run(defs, instance, "refresh_qualification_types", outcome, "qualification_types")
    for type_id in outcome.type_ids:
        announce(type_id)
        _run(defs, instance, "extract_qualification_type", outcome, type_id, partition=type_id)
    announce("warehouse")
    result = _run(defs, instance, "load_warehouse", outcome, "warehouse")
    outcome.check_failures = failed_checks(result)
    return outcome


def _run(
    defs: Definitions,
    instance: DagsterInstance,
    job: str,
    outcome: RefreshOutcome,
    name: str,
    *,
    partition: str | None = None,
) -> ExecuteInProcessResult:
    """Run one job in this process; a failure is recorded in `outcome` under `name`."""
    result = defs.resolve_job_def(job).execute_in_process(
        instance=instance, partition_key=partition, run_config=QUIET, raise_on_error=False
    )
    if not result.success:
        outcome.failures[name] = failure_message(result)
    return result
