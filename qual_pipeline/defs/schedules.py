"""The refresh schedule: every mirrored type re-extracted on a cron (daily by default).

Each tick asks for one run: the type metadata and every type partition as one partition key range
(the instance's order of the dynamic partitions, first to last), extracted concurrently in that
run. With a type list (QUAL_PIPELINE_TYPES naming ids) only the listed types are extracted: the
other mirrored types keep their partitions (a refresh of some types deletes none) but are not
re-extracted, one run per contiguous stretch of listed types, the first also listing the types.
The warehouse then loads once, when `load_after_extract` sees the new snapshots and no extraction
left. A type that disappears from MTurk between the tick and the run's start loses its
partition; if it was the range's first or last key the run fails at start, naming it, and the next
tick (or a re-run) covers the others.
"""

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from qual_pipeline.defs.assets.lake import lake_qualification_types, lake_type_tables
from qual_pipeline.defs.jobs import API_TAG, contiguous_ranges, partition_range_tags
from qual_pipeline.defs.partitions import qualification_type_partitions
from qual_pipeline.defs.resources import PipelineConfig


def refresh_run_requests(
    type_ids: list[str], tick: str, listed: list[str] | None = None
) -> list[RunRequest]:
    """One run for the type metadata and every type, `type_ids` in the instance's order; with
    `listed` (QUAL_PIPELINE_TYPES' ids) one run per contiguous stretch of the listed types, the
    first with the type metadata."""
    if listed is None:
        return [
            RunRequest(
                run_key=f"{tick}-all-types",
                asset_selection=[lake_qualification_types.key, *lake_type_tables.keys],
                tags={API_TAG: "extract", **partition_range_tags(type_ids[0], type_ids[-1])},
            )
        ]
    chosen = set(listed)
    wanted = [t for t in type_ids if t in chosen]
    return [
        RunRequest(
            run_key=f"{tick}-listed-{first}",
            asset_selection=[
                *([lake_qualification_types.key] if i == 0 else []),
                *lake_type_tables.keys,
            ],
            tags={API_TAG: "extract", **partition_range_tags(first, last)},
        )
        for i, (first, last) in enumerate(contiguous_ranges(wanted, type_ids))
    ]


def build_refresh_schedule(cron: str, timezone: str = "UTC") -> ScheduleDefinition:
    @schedule(
        name="refresh_every_type",
        cron_schedule=cron,
        execution_timezone=timezone,
        target=AssetSelection.assets(lake_qualification_types, lake_type_tables),
        default_status=DefaultScheduleStatus.RUNNING,
        description="Re-extract every mirrored qualification type in one run; the warehouse "
        "loads after.",
    )
    def refresh_every_type(
        context: ScheduleEvaluationContext, pipeline: PipelineConfig
    ) -> list[RunRequest] | SkipReason:
        type_ids = context.instance.get_dynamic_partitions(qualification_type_partitions.name)
        if not type_ids:
            return SkipReason("no qualification types discovered yet: is the discovery sensor on?")
        requests = refresh_run_requests(
            list(type_ids), context.scheduled_execution_time.isoformat(), pipeline.type_ids()
        )
        return requests or SkipReason(
            "none of the types QUAL_PIPELINE_TYPES lists is discovered yet: is the discovery "
            "sensor on?"
        )

    return refresh_every_type
