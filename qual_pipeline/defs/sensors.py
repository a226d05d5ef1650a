"""Discovery: keep one dynamic partition per qualification type, so a new type appears by itself.

With QUAL_PIPELINE_TYPES=owned (the default) the sensor lists the caller's own types; with a
comma-separated list it validates each id (malformed, unknown or not owned: an error naming it).
New types get one extraction run straight away (their partitions, added together, form one
partition key range; the run refreshes the type metadata too); types that disappeared lose their
partition. A listed subset only adds: the partitions of the owned types outside it stay.

A partition the instance knows is not taken for extracted: a type whose lake snapshots are not in
the data folder (the instance was used with another folder, or the folder was emptied) gets an
extraction run too, and missing type metadata a refresh, unless such a run is queued or running.
"""

import hashlib
from collections.abc import Sequence

from dagster import (
    AddDynamicPartitionsRequest,
    AutomationConditionSensorDefinition,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    DeleteDynamicPartitionsRequest,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from qual_pipeline import settings
from qual_pipeline.defs.assets.warehouse import warehouse
from qual_pipeline.defs.jobs import extract_types_job, partition_range_tags, refresh_types_job
from qual_pipeline.defs.partitions import qualification_type_partitions
from qual_pipeline.defs.resources import MTurkResource, PipelineConfig
from qual_pipeline.extract.type_selection import resolve_type_ids
from qual_pipeline.lake.layout import PARTITIONED_TABLES
from qual_pipeline.stores.lake import LakeStore

# A run in one of these states will publish its snapshots by itself.
RUN_PENDING = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]

MISSING_TAG = {"qual_pipeline/reason": "lake snapshot missing"}


def partition_changes(
    wanted: Sequence[str], existing: Sequence[str], *, every_type: bool = True
) -> tuple[list[str], list[str]]:
    """(to add, to delete): the partitions that make `existing` hold `wanted`.

    With `every_type` (`wanted` is every type the caller owns) a partition outside `wanted` is a
    type gone from MTurk and is deleted; without it (`wanted` is the subset QUAL_PIPELINE_TYPES
    lists) nothing is deleted: the types outside the subset are still mirrored."""
    have = set(existing)
    want = set(wanted)
    return sorted(want - have), sorted(have - want) if every_type else []


def unextracted(type_ids: Sequence[str], lake: LakeStore) -> list[str]:
    """The types among `type_ids` lacking a published snapshot of a partitioned lake table."""
    present = [set(lake.current_snapshots(table)) for table in PARTITIONED_TABLES]
    return sorted(t for t in type_ids if not all(t in tables for tables in present))


def run_pending(instance: DagsterInstance, job_name: str, partition: str | None = None) -> bool:
    """Whether a run of `job_name` (for `partition`, when given) is queued or running."""
    tags = {"dagster/partition": partition} if partition is not None else {}
    runs = RunsFilter(job_name=job_name, statuses=RUN_PENDING, tags=tags)
    return instance.get_runs_count(runs) > 0


@sensor(
    jobs=[extract_types_job, refresh_types_job],
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING,
    description="Discovers the qualification types to mirror and keeps one partition per type.",
)
def qualification_type_discovery(
    context: SensorEvaluationContext, mturk: MTurkResource, pipeline: PipelineConfig
) -> SensorResult | SkipReason:
    type_ids = resolve_type_ids(mturk.client(), pipeline.get(settings.TYPES))
    existing = context.instance.get_dynamic_partitions(qualification_type_partitions.name)
    added, removed = partition_changes(type_ids, existing, every_type=pipeline.type_ids() is None)
    known = [t for t in type_ids if t in set(existing)]
    lake = pipeline.stores(mturk).lake
    missing = [
        t
        for t in unextracted(known, lake)
        if not run_pending(context.instance, extract_types_job.name, t)
    ]
    types_missing = (
        bool(type_ids)
        and lake.current_snapshot("qualification_types") is None
        and not run_pending(context.instance, refresh_types_job.name)
    )
    if not added and not removed and not missing and not types_missing:
        return SkipReason(
            f"{len(type_ids)} qualification types, none new or gone, each with its lake snapshots"
        )
    requests: list[AddDynamicPartitionsRequest | DeleteDynamicPartitionsRequest] = []
    if added:
        requests.append(qualification_type_partitions.build_add_request(added))
    if removed:
        requests.append(qualification_type_partitions.build_delete_request(removed))
    context.log.info(
        f"qualification types: {len(added)} new, {len(removed)} gone, {len(missing)} known but "
        f"without lake snapshots in {lake.describe()}"
        + (f" ({', '.join(missing)}): extracting them again" if missing else "")
    )
    run_requests = []
    digest = hashlib.sha256(",".join(sorted(type_ids)).encode()).hexdigest()[:16]
    if added:
        # New types, added in this order, are one partition key range: one run extracts them all
        # and refreshes the type metadata (which changes with the set of types).
        run_requests.append(
            RunRequest(
                job_name=extract_types_job.name,
                run_key=f"discovered-{digest}",
                tags=partition_range_tags(added[0], added[-1]),
            )
        )
    elif removed:
        run_requests.append(RunRequest(job_name=refresh_types_job.name, run_key=f"types-{digest}"))
    elif types_missing:
        run_requests.append(RunRequest(job_name=refresh_types_job.name, tags=MISSING_TAG))
    # No run key: a snapshot that goes missing again later is extracted again.
    run_requests += [
        RunRequest(job_name=extract_types_job.name, partition_key=t, tags=MISSING_TAG)
        for t in missing
    ]
    return SensorResult(run_requests=run_requests, dynamic_partitions_requests=requests or None)


load_after_extract = AutomationConditionSensorDefinition(
    "load_after_extract",
    target=[*warehouse.keys],
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Loads the warehouse once new lake snapshots have landed and no extraction runs.",
)
