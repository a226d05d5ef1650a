"""Discovery: keep one dynamic partition per qualification type, so a new type appears by itself.

With QUAL_PIPELINE_TYPES=owned (the default) the sensor lists the caller's own types; with a
comma-separated list it validates each id (malformed, unknown or not owned: an error naming it).
New types get one extraction run straight away (their partitions, added together, form one
partition key range; the run refreshes the type metadata too); types that disappeared lose their
partition.
"""

import hashlib
from collections.abc import Sequence

from dagster import (
    AddDynamicPartitionsRequest,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    DeleteDynamicPartitionsRequest,
    RunRequest,
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


def partition_changes(
    wanted: Sequence[str], existing: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Which partitions to add and which to delete so that `existing` becomes `wanted`."""
    have = set(existing)
    want = set(wanted)
    return sorted(want - have), sorted(have - want)


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
    added, removed = partition_changes(type_ids, existing)
    if not added and not removed:
        return SkipReason(f"{len(type_ids)} qualification types, none new or gone")
    requests: list[AddDynamicPartitionsRequest | DeleteDynamicPartitionsRequest] = []
    if added:
        requests.append(qualification_type_partitions.build_add_request(added))
    if removed:
        requests.append(qualification_type_partitions.build_delete_request(removed))
    context.log.info(f"qualification types: {len(added)} new, {len(removed)} gone")
    # The type metadata changes with the set of types: refresh it, with the new types (added in
    # this order, so they are one range) in the same run, or alone when types only went away.
    key = hashlib.sha256(",".join(sorted(type_ids)).encode()).hexdigest()[:16]
    if added:
        run = RunRequest(
            job_name=extract_types_job.name,
            run_key=f"discovered-{key}",
            tags=partition_range_tags(added[0], added[-1]),
        )
    else:
        run = RunRequest(job_name=refresh_types_job.name, run_key=f"types-{key}")
    return SensorResult(run_requests=[run], dynamic_partitions_requests=requests)


load_after_extract = AutomationConditionSensorDefinition(
    "load_after_extract",
    target=[*warehouse.keys],
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Loads the warehouse once new lake snapshots have landed and no extraction runs.",
)
