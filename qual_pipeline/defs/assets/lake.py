"""Lake assets: MTurk pages landed as Parquet snapshots, one partition per qualification type.

Each asset is a thin call into `qual_pipeline.extract`; the API steps share the `mturk_api` pool so
a UI backfill of many types never runs more extractions at once than the pool allows.
"""

from collections.abc import Callable

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from qual_pipeline.defs.metadata import lake_column_schema
from qual_pipeline.defs.partitions import qualification_type_partitions
from qual_pipeline.defs.pools import API_POOL
from qual_pipeline.defs.resources import MTurkResource, PipelineConfig
from qual_pipeline.extract.result import ExtractResult
from qual_pipeline.extract.tables import (
    QUALIFICATION_REQUESTS_SPEC,
    WORKER_QUALIFICATIONS_SPEC,
    TableSpec,
    extract_qualification_types,
    extract_table,
)
from qual_pipeline.mturk_api.client import ApiStats
from qual_pipeline.progress import Progress, report
from qual_pipeline.schema import QUALIFICATION_TYPES

LOG_EVERY_PAGES = 50


def _on_page(context: AssetExecutionContext, task: str) -> Callable[[int, int], None]:
    def on_page(pages: int, rows: int) -> None:
        report(Progress(task=task, done=pages, rows=rows))
        if pages % LOG_EVERY_PAGES == 0:
            context.log.info(f"{task}: {pages} pages, {rows} rows so far")

    return on_page


def _result(result: ExtractResult, stats: ApiStats, schema_fields: object) -> MaterializeResult:
    metadata = {
        "dagster/row_count": result.rows,
        "dagster/column_schema": schema_fields,
        "snapshot": MetadataValue.path(result.location),
        "pages": result.pages,
        "records_seen": result.records_seen,
        "duplicates": result.duplicates,
        "granted": result.granted,
        "revoked": result.revoked,
        "invalid_locales": result.invalid_locales,
        "missing_locales": result.missing_locales,
        "null_scores": result.null_scores,
        "duration_s": round(result.duration_s, 3),
        "rows_per_second": round(result.rows_per_second, 1),
        **stats.as_metadata(),
    }
    return MaterializeResult(metadata=metadata)


@asset(
    key=["lake", "qualification_types"],
    group_name="lake",
    pool=API_POOL,
    kinds={"parquet", "mturk"},
    description="Metadata of every mirrored qualification type (names, status, auto-grant value).",
)
def lake_qualification_types(
    context: AssetExecutionContext, mturk: MTurkResource, pipeline: PipelineConfig
) -> MaterializeResult:
    stats = ApiStats()
    client = mturk.client(stats)
    type_ids = pipeline.type_ids()
    result = extract_qualification_types(
        client,
        pipeline.stores(mturk),
        type_ids,
        on_page=_on_page(context, "qualification_types"),
        run_id=context.run.run_id,
        stats=stats,
    )
    return _result(result, stats, lake_column_schema(QUALIFICATION_TYPES, "qualification_types"))


def partitioned_lake_asset(spec: TableSpec, description: str) -> AssetsDefinition:
    """A lake asset with one partition per qualification type, extracted as `spec` says."""

    @asset(
        key=["lake", spec.table],
        group_name="lake",
        partitions_def=qualification_type_partitions,
        pool=API_POOL,
        kinds={"parquet", "mturk"},
        description=description,
    )
    def lake_table(
        context: AssetExecutionContext, mturk: MTurkResource, pipeline: PipelineConfig
    ) -> MaterializeResult:
        type_id = context.partition_key
        stats = ApiStats()
        result = extract_table(
            spec,
            mturk.client(stats),
            pipeline.stores(mturk),
            type_id,
            on_page=_on_page(context, f"{spec.table} {type_id}"),
            run_id=context.run.run_id,
            stats=stats,
        )
        context.log.info(
            f"{spec.table} {type_id}: {result.rows} rows in {result.pages} pages, "
            f"{result.duplicates} duplicates, {stats.retries} retries"
        )
        return _result(result, stats, lake_column_schema(spec.schema, spec.table))

    return lake_table


lake_worker_qualifications = partitioned_lake_asset(
    WORKER_QUALIFICATIONS_SPEC,
    "Every Granted and Revoked qualification of one type, one row per worker, normalised "
    "(ISO 3166 locales, UTC grant times), as a Parquet snapshot in the lake.",
)
lake_qualification_requests = partitioned_lake_asset(
    QUALIFICATION_REQUESTS_SPEC,
    "Pending qualification requests of one type, for the grant path.",
)

lake_assets = [lake_qualification_types, lake_worker_qualifications, lake_qualification_requests]
