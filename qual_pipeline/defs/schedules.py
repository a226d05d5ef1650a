"""The refresh schedule: every mirrored type re-extracted on a cron (daily by default).

Each tick asks for one run of the type metadata and one extraction run per type partition; the
warehouse then loads once, when `load_after_extract` sees the new snapshots and no extraction left.
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

from qual_pipeline.defs.assets.lake import (
    lake_qualification_requests,
    lake_qualification_types,
    lake_worker_qualifications,
)
from qual_pipeline.defs.jobs import API_TAG
from qual_pipeline.defs.partitions import qualification_type_partitions


def refresh_run_requests(type_ids: list[str], tick: str) -> list[RunRequest]:
    """One run for the type metadata, then one extraction run per type."""
    tags = {API_TAG: "extract"}
    requests = [
        RunRequest(
            run_key=f"{tick}-types",
            asset_selection=[lake_qualification_types.key],
            tags=tags,
        )
    ]
    requests += [
        RunRequest(
            run_key=f"{tick}-{type_id}",
            partition_key=type_id,
            asset_selection=[lake_worker_qualifications.key, lake_qualification_requests.key],
            tags=tags,
        )
        for type_id in sorted(type_ids)
    ]
    return requests


def build_refresh_schedule(cron: str, timezone: str = "UTC") -> ScheduleDefinition:
    @schedule(
        name="refresh_every_type",
        cron_schedule=cron,
        execution_timezone=timezone,
        target=AssetSelection.assets(
            lake_qualification_types, lake_worker_qualifications, lake_qualification_requests
        ),
        default_status=DefaultScheduleStatus.RUNNING,
        description="Re-extract every mirrored qualification type; the warehouse loads after.",
    )
    def refresh_every_type(context: ScheduleEvaluationContext) -> list[RunRequest] | SkipReason:
        type_ids = context.instance.get_dynamic_partitions(qualification_type_partitions.name)
        if not type_ids:
            return SkipReason("no qualification types discovered yet: is the discovery sensor on?")
        return refresh_run_requests(list(type_ids), context.scheduled_execution_time.isoformat())

    return refresh_every_type
