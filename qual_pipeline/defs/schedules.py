"""The refresh schedule: every mirrored type re-extracted on a cron (daily by default).

Each tick asks for one run: the type metadata and every type partition as one partition key range
(the instance's order of the dynamic partitions, first to last), extracted concurrently in that
run. The warehouse then loads once, when `load_after_extract` sees the new snapshots and no
extraction left. A type that disappears from MTurk between the tick and the run's start loses its
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
from qual_pipeline.defs.jobs import API_TAG, partition_range_tags
from qual_pipeline.defs.partitions import qualification_type_partitions


def refresh_run_requests(type_ids: list[str], tick: str) -> list[RunRequest]:
    """One run for the type metadata and every type, `type_ids` in the instance's order."""
    return [
        RunRequest(
            run_key=f"{tick}-all-types",
            asset_selection=[lake_qualification_types.key, *lake_type_tables.keys],
            tags={API_TAG: "extract", **partition_range_tags(type_ids[0], type_ids[-1])},
        )
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
    def refresh_every_type(context: ScheduleEvaluationContext) -> list[RunRequest] | SkipReason:
        type_ids = context.instance.get_dynamic_partitions(qualification_type_partitions.name)
        if not type_ids:
            return SkipReason("no qualification types discovered yet: is the discovery sensor on?")
        return refresh_run_requests(list(type_ids), context.scheduled_execution_time.isoformat())

    return refresh_every_type
