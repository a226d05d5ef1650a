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
from typing import Any

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
    """Blocking checks the load failed: `plan` and `push` refuse the types they name."""
    check_warnings: list[str] = field(default_factory=list)
    """Warning checks the load failed: unusual but legal data, shown, blocking nothing."""

    @property
    def ok(self) -> bool:
        """No run failed and no blocking check failed (warnings allowed)."""
        return not self.failures and not self.check_failures


Materialized = Callable[[list[str], str | None, dict[str, Any]], None]
"""Called per asset materialization of a finished run: (asset key path, partition, metadata)."""


def failure_message(result: ExecuteInProcessResult) -> str:
    messages = []
    for event in result.all_events:
        if event.event_type == DagsterEventType.STEP_FAILURE:
            error = event.step_failure_data.error
            cause = error.cause if error is not None and error.cause is not None else error
            messages.append(cause.message.strip() if cause is not None else "unknown error")
    return "; ".join(messages) or "the run failed"


def check_outcomes(result: ExecuteInProcessResult) -> tuple[list[str], list[str]]:
    """(blocking failures, warnings) of a run's checks, each as 'name: description Types: ...'."""
    blocking: list[str] = []
    warnings: list[str] = []
    for e in result.get_asset_check_evaluations():
        if e.passed:
            continue
        entry = e.metadata.get("failing_types")
        types = entry.value if entry is not None and isinstance(entry.value, dict) else {}
        listed = ", ".join(f"{t} ({n})" for t, n in sorted(types.items()))
        where = f" Types: {listed}." if types else ""
        if e.severity == AssetCheckSeverity.ERROR:
            blocking.append(
                f"{e.check_name} (blocks plan and push of these types): "
                f"{e.description or 'failed.'}{where}"
            )
        else:
            warnings.append(f"{e.check_name}: {e.description or 'failed.'}{where}")
    return blocking, warnings


def _report_materializations(result: ExecuteInProcessResult, on_done: Materialized) -> None:
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        metadata = {k: v.value for k, v in materialization.metadata.items()}
        on_done(list(materialization.asset_key.path), materialization.partition, metadata)


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
    on_materialized: Materialized | None = None,
) -> RefreshOutcome:
    """Discover, extract every type, load the warehouse; failures are collected, not raised.

    `on_run` is told the name of each run as it starts: 'qualification_types', a type id, then
    'warehouse'; `on_materialized` is told each asset materialization (key path, partition,
    metadata values) once its run has finished. Errors before any run starts (discovery,
    settings, credentials) are raised.
    """
    announce = on_run or (lambda _name: None)
    done = on_materialized or (lambda _key, _partition, _metadata: None)
    outcome = RefreshOutcome()
    outcome.added, outcome.removed = discover_types(defs, instance)
    outcome.type_ids = sorted(instance.get_dynamic_partitions(qualification_type_partitions.name))
    announce("qualification_types")
    result = _run(defs, instance, "refresh_qualification_types", done)
    _record(outcome, "qualification_types", result)
    for type_id in outcome.type_ids:
        announce(type_id)
        result = _run(defs, instance, "extract_qualification_type", done, partition=type_id)
        _record(outcome, type_id, result)
    announce("warehouse")
    result = _run(defs, instance, "load_warehouse", done)
    outcome.check_failures, outcome.check_warnings = check_outcomes(result)
    loaded = bool(result.get_asset_materialization_events())
    # A failed blocking check fails the run after the load committed: that is a check failure
    # (reported as such), not a failed load.
    if not (loaded and outcome.check_failures):
        _record(outcome, "warehouse", result)
    return outcome


def _run(
    defs: Definitions,
    instance: DagsterInstance,
    job: str,
    on_done: Materialized,
    *,
    partition: str | None = None,
) -> ExecuteInProcessResult:
    """Run one job in this process and report its materializations to `on_done`."""
    result = defs.resolve_job_def(job).execute_in_process(
        instance=instance, partition_key=partition, run_config=QUIET, raise_on_error=False
    )
    _report_materializations(result, on_done)
    return result


def _record(outcome: RefreshOutcome, name: str, result: ExecuteInProcessResult) -> None:
    """A failed run is recorded in `outcome` under `name`."""
    if not result.success:
        outcome.failures[name] = failure_message(result)
