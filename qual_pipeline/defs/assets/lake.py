"""Lake assets: MTurk pages landed as Parquet snapshots, one partition per qualification type.

Each asset is a thin call into `qual_pipeline.extract`. The partitioned asset `lake/
worker_qualifications` (step `lake_type_tables`) lands both lake tables of a type: its workers
(`worker_qualifications`) and its pending requests (`qualification_requests`), two snapshots
recorded as ONE materialization of the type's partition (the requests' counts under
`qualification_requests/...` in its metadata). One asset rather than one per table halves the
events Dagster records per type (a planned event when the run is created, a materialization when
the type lands), which is most of a refresh's cost with thousands of types. The step extracts
every partition of its run at once: a run may cover a range of type partitions (a UI backfill,
the schedule, `qual-pipeline refresh`: `BackfillPolicy.single_run()`), and the step pages
`QUAL_PIPELINE_EXTRACT_CONCURRENCY` types at a time through one shared client. A type is recorded
when both its snapshots are published; a type that fails fails alone: the step goes on with the
others and fails at the end, naming every failed type, so Dagster marks exactly those partitions
failed ("failed and missing" in the launchpad re-runs only them). The API steps share the
`mturk_api` pool.
"""

import threading
import time
from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetSpec,
    BackfillPolicy,
    Config,
    DagsterEventType,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)
from pydantic import Field

from qual_pipeline import settings
from qual_pipeline.defs.metadata import lake_column_schema
from qual_pipeline.defs.partitions import qualification_type_partitions
from qual_pipeline.defs.pools import API_POOL
from qual_pipeline.defs.resources import MTurkResource, PipelineConfig
from qual_pipeline.extract.many import ExtractionProgress, extract_types
from qual_pipeline.extract.result import ExtractResult
from qual_pipeline.extract.tables import (
    QUALIFICATION_REQUESTS_SPEC,
    WORKER_QUALIFICATIONS_SPEC,
    extract_qualification_types,
)
from qual_pipeline.mturk_api.client import ApiStats
from qual_pipeline.progress import Progress, report
from qual_pipeline.schema import QUALIFICATION_TYPES
from qual_pipeline.stores.lake import LakeStore

LOG_EVERY_S = 10.0  # one progress line in the run's log at most this often
REPORT_EVERY_S = 0.5  # the extraction's count to the CLI (progress.report) this often
FAILURES_NAMED = 20  # failed types named one by one in the step's failure; the rest counted
MESSAGE_CHARS = 500  # of each failed type's message in the step's failure metadata

WORKER_QUALIFICATIONS_KEY = AssetKey(["lake", WORKER_QUALIFICATIONS_SPEC.table])
"""The one partitioned lake asset: both tables of a type (see the module)."""
REQUESTS_PREFIX = f"{QUALIFICATION_REQUESTS_SPEC.table}/"
"""Prefix of the requests snapshot's entries in a type's materialization metadata."""
FAILED_IN_RUN_TAG = "qual_pipeline/failed_in_run"
"""On a run of `lake_type_tables` over some type partitions: those types failed in the run this
tag names. The run extracts nothing (no MTurk request) and fails at once, naming them with that
run's messages, so that Dagster marks their partitions failed: `qual-pipeline refresh` records one
planned event for its whole range (see `qual_pipeline.refresh`), and Dagster marks a partition
failed only from a planned event of its own."""
STEP = "lake_type_tables"
"""The step (op) that extracts the type partitions: its run config takes `TypeTablesConfig`."""


class TypeTablesConfig(Config):
    """Run config of `lake_type_tables`: which types of the run's partition range to extract."""

    only_types: list[str] = Field(default_factory=list)
    """When not empty, extract only these types of the run's range (qualification type ids;
    ids outside the range are ignored) and leave the others as they are: not extracted, not
    recorded, their previous materialization and status kept. `qual-pipeline refresh
    --retry-failed` sets it so that failed types lying apart take one run over the range from the
    first to the last of them, instead of one run per stretch of them. Empty (the default, as
    the UI, a backfill and the schedule launch it): every type of the range."""

    @staticmethod
    def run_config(type_ids: list[str]) -> dict[str, Any]:
        """The run config (its `ops` entry) that makes a run extract only `type_ids`."""
        return {"ops": {STEP: {"config": {"only_types": list(type_ids)}}}}

    @staticmethod
    def of_run(run_config: dict[str, Any]) -> list[str] | None:
        """The types a run with this run config was told to extract (`only_types`), or None
        for every type of its range."""
        only = run_config.get("ops", {}).get(STEP, {}).get("config", {}).get("only_types")
        return list(only) if only else None


def snapshot_metadata(result: ExtractResult) -> dict[str, Any]:
    """What a lake materialization records about its snapshot (the column schema is on the
    asset's definition, not repeated on each of thousands of partitions)."""
    metadata: dict[str, Any] = {
        "dagster/row_count": result.rows,
        "snapshot": MetadataValue.path(result.location),
        "pages": result.pages,
        "records_seen": result.records_seen,
        "duplicates": result.duplicates,
        "retries": result.retries,
        "throttles": result.throttles,
        "duration_s": round(result.duration_s, 3),
    }
    if result.table == WORKER_QUALIFICATIONS_SPEC.table:
        metadata |= {
            "granted": result.granted,
            "revoked": result.revoked,
            "invalid_locales": result.invalid_locales,
            "missing_locales": result.missing_locales,
            "null_scores": result.null_scores,
        }
    return metadata


def type_metadata(results: tuple[ExtractResult, ...]) -> dict[str, Any]:
    """One type's materialization metadata: its workers snapshot's (`snapshot_metadata`), then
    its requests snapshot's under REQUESTS_PREFIX (`dagster/row_count` as `.../rows`)."""
    metadata: dict[str, Any] = {}
    for result in results:
        if result.table == WORKER_QUALIFICATIONS_SPEC.table:
            metadata |= snapshot_metadata(result)
        else:
            metadata |= {
                REQUESTS_PREFIX + ("rows" if name == "dagster/row_count" else name): value
                for name, value in snapshot_metadata(result).items()
            }
    return metadata


def table_metadata(metadata: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A type's materialization metadata (`type_metadata`, values unwrapped) split back into
    {lake table: its snapshot's metadata, as `snapshot_metadata` gives it}."""
    workers = {k: v for k, v in metadata.items() if not k.startswith(REQUESTS_PREFIX)}
    requests = {
        ("dagster/row_count" if k == REQUESTS_PREFIX + "rows" else k[len(REQUESTS_PREFIX) :]): v
        for k, v in metadata.items()
        if k.startswith(REQUESTS_PREFIX)
    }
    return {
        WORKER_QUALIFICATIONS_SPEC.table: workers,
        QUALIFICATION_REQUESTS_SPEC.table: requests,
    }


@asset(
    key=["lake", "qualification_types"],
    group_name="lake",
    pool=API_POOL,
    kinds={"parquet", "mturk"},
    metadata={
        "dagster/column_schema": lake_column_schema(QUALIFICATION_TYPES, "qualification_types")
    },
    description="Metadata of every mirrored qualification type (names, status, auto-grant value): "
    "with QUAL_PIPELINE_TYPES listing some types, those and every owned type extracted before.",
)
def lake_qualification_types(
    context: AssetExecutionContext, mturk: MTurkResource, pipeline: PipelineConfig
) -> MaterializeResult:
    stats = ApiStats()
    client = mturk.client(stats)

    def on_page(pages: int, rows: int) -> None:
        report(Progress(task="qualification_types", done=pages, rows=rows))

    stores = pipeline.stores(mturk)
    type_ids = pipeline.type_ids()
    result = extract_qualification_types(
        client,
        stores,
        type_ids,
        keep=mirrored_before(stores.lake) if type_ids is not None else (),
        on_page=on_page,
        run_id=context.run.run_id,
        stats=stats,
    )
    return MaterializeResult(metadata={**snapshot_metadata(result), **stats.as_metadata()})


def mirrored_before(lake: LakeStore) -> set[str]:
    """The types with a published worker_qualifications snapshot in `lake`: their rows stay in
    the warehouse, so a refresh of some types keeps their metadata (names) too."""
    return set(lake.current_snapshots(WORKER_QUALIFICATIONS_SPEC.table))


@multi_asset(
    specs=[
        AssetSpec(
            WORKER_QUALIFICATIONS_KEY,
            group_name="lake",
            kinds={"parquet", "mturk"},
            skippable=True,
            metadata={
                "dagster/column_schema": lake_column_schema(
                    WORKER_QUALIFICATIONS_SPEC.schema, WORKER_QUALIFICATIONS_SPEC.table
                ),
                "qualification_requests/column_schema": lake_column_schema(
                    QUALIFICATION_REQUESTS_SPEC.schema, QUALIFICATION_REQUESTS_SPEC.table
                ),
            },
            description="Both lake tables of one type, each a Parquet snapshot: "
            "`worker_qualifications`, every Granted and Revoked qualification, one row per "
            "worker, normalised (ISO 3166 locales, UTC grant times); and "
            "`qualification_requests`, its pending qualification requests, for the grant path "
            "(its counts under `qualification_requests/` in each materialization).",
        )
    ],
    name=STEP,
    partitions_def=qualification_type_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    pool=API_POOL,
    can_subset=False,
)
def lake_type_tables(
    context: AssetExecutionContext,
    mturk: MTurkResource,
    pipeline: PipelineConfig,
    config: TypeTablesConfig,
) -> Iterator[AssetMaterialization]:
    """Extract every type partition of this run (or those of `config.only_types`),
    concurrently; one materialization per type once both its tables landed; fails at the end,
    naming them, when any type failed. With the tag FAILED_IN_RUN_TAG, fails at once instead
    (see there)."""
    type_ids = list(context.partition_keys)
    failed_in = context.run.tags.get(FAILED_IN_RUN_TAG)
    if failed_in is not None:
        raise _recorded_failure(context, failed_in, type_ids)
    if config.only_types:
        only = set(config.only_types)
        type_ids = [t for t in type_ids if t in only]
    concurrency = pipeline.get(settings.EXTRACT_CONCURRENCY)
    client = mturk.client(threads=concurrency)
    progress = ExtractionProgress(types_total=len(type_ids))
    failures: dict[str, str] = {}
    stopped: list[str] = []
    recorded = [0]  # outcomes whose materializations Dagster has recorded (the loop below)
    last_log = time.monotonic()
    context.log.info(f"extracting {len(type_ids)} type(s), {concurrency} at a time")
    outcomes = extract_types(
        client,
        pipeline.stores(mturk),
        type_ids,
        concurrency=concurrency,
        progress=progress,
        run_id=context.run.run_id,
    )
    # The extraction's threads run ahead of this loop (Dagster records each materialization in
    # it): the count is reported from their own progress, on a clock, not from here.
    reporting = threading.Event()
    reporter = threading.Thread(
        target=_keep_reporting, args=(progress, recorded, reporting), daemon=True
    )
    reporter.start()
    try:
        for outcome in outcomes:
            if outcome.ok:  # both snapshots published: the type's partition is materialized
                yield AssetMaterialization(
                    asset_key=WORKER_QUALIFICATIONS_KEY,
                    partition=outcome.qualification_type_id,
                    metadata=type_metadata(outcome.results),
                )
            if outcome.stopped:
                stopped.append(outcome.qualification_type_id)
            elif outcome.error is not None:
                failures[outcome.qualification_type_id] = outcome.error
                context.log.error(outcome.error)
            else:
                recorded[0] += 1  # an extracted type's materializations are recorded
            if time.monotonic() - last_log >= LOG_EVERY_S:
                last_log = time.monotonic()
                context.log.info(progress_line(progress, recorded[0]))
    finally:
        reporting.set()
        reporter.join()
    report(_progress(progress, recorded[0]))
    context.log.info(progress_line(progress, recorded[0]))
    if stopped or failures:
        raise Failure(
            description=_failure_text(failures, stopped, len(type_ids)),
            metadata={
                "failed_types": MetadataValue.json(
                    {t: failures[t][:MESSAGE_CHARS] for t in sorted(failures)}
                ),
                "stopped_types": len(stopped),
            },
        )


def _recorded_failure(context: AssetExecutionContext, run_id: str, type_ids: list[str]) -> Failure:
    """The failure of a run that records `type_ids` as failed in run `run_id`: that run's
    messages for them (from its step failure's `failed_types`), else a pointer to it."""
    messages: dict[str, str] = {}
    for entry in context.instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        event = entry.dagster_event
        user = event.step_failure_data.user_failure_data if event is not None else None
        failed = user.metadata.get("failed_types") if user is not None else None
        if failed is not None and isinstance(failed.value, dict):
            messages |= {str(t): str(m) for t, m in failed.value.items() if t in type_ids}
    found = {t: messages.get(t, f"failed in run {run_id}") for t in type_ids}
    return Failure(
        description=f"recorded as failed (nothing extracted in this run): "
        f"{_failure_text(found, [], len(type_ids))}; they failed in run {run_id}",
        metadata={
            "failed_types": MetadataValue.json(found),
            "failed_in_run": MetadataValue.dagster_run(run_id),
        },
    )


def _keep_reporting(
    progress: ExtractionProgress, recorded: list[int], finished: threading.Event
) -> None:
    """Report the extraction's progress every REPORT_EVERY_S until `finished` is set."""
    report(_progress(progress, recorded[0]))
    while not finished.wait(REPORT_EVERY_S):
        report(_progress(progress, recorded[0]))


def _progress(progress: ExtractionProgress, recorded: int) -> Progress:
    return Progress(
        task="extract",
        done=progress.types_done,
        rows=progress.records,
        unit="types",
        total=progress.types_total,
        failed=progress.types_failed,
        stopped=progress.types_stopped,
        recorded=min(recorded, progress.types_extracted),
        seconds=progress.seconds,
    )


def progress_line(progress: ExtractionProgress, recorded: int) -> str:
    """`extract: 120/2,000 types extracted, 2 failed, 3 stopped, 100 recorded, 5,900 rows,
    14.2 types/s` (for logs; the rate over the extraction's own time, until its last type)."""
    seconds = max(progress.seconds, 1e-6)
    extracted = progress.types_extracted
    failed = f", {progress.types_failed:,} failed" if progress.types_failed else ""
    stopped = f", {progress.types_stopped:,} stopped" if progress.types_stopped else ""
    behind = f", {recorded:,} recorded" if recorded < extracted else ""
    return (
        f"extract: {extracted:,}/{progress.types_total:,} types extracted{failed}{stopped}"
        f"{behind}, {progress.records:,} rows, {extracted / seconds:,.1f} types/s"
    )


def _failure_text(failures: dict[str, str], stopped: list[str], total: int) -> str:
    parts = []
    if failures:
        named = sorted(failures)[:FAILURES_NAMED]
        more = len(failures) - len(named)
        parts.append(
            f"{len(failures)} of {total} qualification type(s) failed (their previous snapshots "
            "are unchanged; the others landed): "
            + "; ".join(failures[t] for t in named)
            + (f"; and {more} more" if more else "")
        )
    if stopped:
        parts.append(f"{len(stopped)} type(s) not extracted: the run was stopped")
    return ". ".join(parts)


lake_assets = [lake_qualification_types, lake_type_tables]
