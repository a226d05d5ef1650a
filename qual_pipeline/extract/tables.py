"""Extract the three lake tables from MTurk into published snapshots, in constant memory.

Each function pages one MTurk list operation with botocore's paginator (retries come from the
client's retry mode), normalises every page into the lake schema, stages it, keeps the last
observation per key (a worker can repeat or change between pages), and publishes one snapshot
atomically with its stats in the Parquet footer. Memory is bounded by one page, one row group and
the staging memory limit, whatever the number of rows. A request that still fails after the retries
raises ExtractionError and leaves the previous snapshot as it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from botocore.exceptions import BotoCoreError, ClientError

from qual_pipeline.extract.errors import ExtractionError, describe_aws_error
from qual_pipeline.extract.normalise import (
    MalformedRecordError,
    NormaliseCounts,
    normalise_qualification_requests,
    normalise_qualification_types,
    normalise_qualifications,
)
from qual_pipeline.extract.prefetch import prefetched
from qual_pipeline.extract.result import ExtractResult
from qual_pipeline.extract.staging import DEFAULT_MEMORY_LIMIT, Staging
from qual_pipeline.extract.type_selection import validate_type_id
from qual_pipeline.lake.layout import partition_dir, table_dir
from qual_pipeline.lake.writer import SnapshotWriter
from qual_pipeline.mturk_api.client import ApiStats
from qual_pipeline.schema import QUALIFICATION_REQUESTS, QUALIFICATION_TYPES, WORKER_QUALIFICATIONS

OnPage = Callable[[int, int], None]
"""Progress callback: on_page(pages_so_far, records_so_far), called after each page is staged."""

MAX_PAGE_SIZE = 100  # MTurk's ResultSize maximum
STATUSES = ("Granted", "Revoked")


@dataclass(frozen=True)
class _Plan:
    """What differs between the tables; the extraction loop is shared."""

    table: str
    schema: pa.Schema
    key: str
    directory: Path
    qualification_type_id: str | None
    operation: str


def extract_worker_qualifications(
    client: Any,
    qualification_type_id: str,
    data_dir: Path,
    *,
    extracted_at: datetime | None = None,
    page_size: int = MAX_PAGE_SIZE,
    on_page: OnPage | None = None,
    run_id: str | None = None,
    stats: ApiStats | None = None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
) -> ExtractResult:
    """Mirror every Granted and Revoked qualification of one type into its lake partition.

    `stats` is the ApiStats the client was built with (make_client(stats=...)); when given, the
    retries and throttles of this extraction are recorded. One row per worker: when the API repeats
    a worker, the last observation wins (Revoked pages come after Granted ones).
    """
    validate_type_id(qualification_type_id, source="qualification_type_id")
    _check_page_size(page_size)
    plan = _Plan(
        table="worker_qualifications",
        schema=WORKER_QUALIFICATIONS,
        key="worker_id",
        directory=partition_dir(Path(data_dir), "worker_qualifications", qualification_type_id),
        qualification_type_id=qualification_type_id,
        operation="ListWorkersWithQualificationType",
    )
    at = _utc(extracted_at)

    def api_pages() -> Iterator[tuple[str, dict[str, Any]]]:
        paginator = client.get_paginator("list_workers_with_qualification_type")
        for status in STATUSES:
            for page in paginator.paginate(
                QualificationTypeId=qualification_type_id,
                Status=status,
                PaginationConfig={"PageSize": page_size},
            ):
                yield status, page

    def pages() -> Iterator[pa.RecordBatch]:
        for status, page in prefetched(api_pages()):
            batch, _ = normalise_qualifications(
                page.get("Qualifications", []),
                extracted_at=at,
                qualification_type_id=qualification_type_id,
                status=status,
            )
            yield batch

    return _extract(plan, pages(), at, on_page, run_id, stats, Path(data_dir), memory_limit)


def extract_qualification_requests(
    client: Any,
    qualification_type_id: str,
    data_dir: Path,
    *,
    extracted_at: datetime | None = None,
    page_size: int = MAX_PAGE_SIZE,
    on_page: OnPage | None = None,
    run_id: str | None = None,
    stats: ApiStats | None = None,
) -> ExtractResult:
    """Mirror the pending qualification requests of one type into its lake partition."""
    validate_type_id(qualification_type_id, source="qualification_type_id")
    _check_page_size(page_size)
    plan = _Plan(
        table="qualification_requests",
        schema=QUALIFICATION_REQUESTS,
        key="qualification_request_id",
        directory=partition_dir(Path(data_dir), "qualification_requests", qualification_type_id),
        qualification_type_id=qualification_type_id,
        operation="ListQualificationRequests",
    )
    at = _utc(extracted_at)

    def pages() -> Iterator[pa.RecordBatch]:
        paginator = client.get_paginator("list_qualification_requests")
        for page in paginator.paginate(
            QualificationTypeId=qualification_type_id, PaginationConfig={"PageSize": page_size}
        ):
            requests = page.get("QualificationRequests", [])
            yield normalise_qualification_requests(
                requests, extracted_at=at, qualification_type_id=qualification_type_id
            )

    return _extract(plan, pages(), at, on_page, run_id, stats, Path(data_dir))


def extract_qualification_types(
    client: Any,
    data_dir: Path,
    type_ids: Sequence[str] | None = None,
    *,
    extracted_at: datetime | None = None,
    on_page: OnPage | None = None,
    run_id: str | None = None,
    stats: ApiStats | None = None,
) -> ExtractResult:
    """Snapshot the metadata of `type_ids`, or of every type the caller owns when None."""
    ids = (
        [validate_type_id(t, source="type_ids") for t in type_ids] if type_ids is not None else None
    )
    plan = _Plan(
        table="qualification_types",
        schema=QUALIFICATION_TYPES,
        key="qualification_type_id",
        directory=table_dir(Path(data_dir), "qualification_types"),
        qualification_type_id=None,
        operation="ListQualificationTypes" if ids is None else "GetQualificationType",
    )
    at = _utc(extracted_at)

    def pages() -> Iterator[pa.RecordBatch]:
        if ids is None:
            paginator = client.get_paginator("list_qualification_types")
            for page in paginator.paginate(
                MustBeOwnedByCaller=True,
                MustBeRequestable=False,
                PaginationConfig={"PageSize": MAX_PAGE_SIZE},
            ):
                yield normalise_qualification_types(
                    page.get("QualificationTypes", []), extracted_at=at
                )
            return
        for type_id in ids:
            found = client.get_qualification_type(QualificationTypeId=type_id)
            yield normalise_qualification_types([found["QualificationType"]], extracted_at=at)

    return _extract(plan, pages(), at, on_page, run_id, stats, Path(data_dir))


def _extract(
    plan: _Plan,
    pages: Iterable[pa.RecordBatch],
    extracted_at: datetime,
    on_page: OnPage | None,
    run_id: str | None,
    stats: ApiStats | None,
    data_dir: Path,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
) -> ExtractResult:
    started_at = datetime.now(UTC)
    clock = time.perf_counter()
    retries0, throttles0 = (stats.retries, stats.throttles) if stats is not None else (0, 0)
    page_count = 0
    with Staging(data_dir, plan.schema, plan.key, memory_limit=memory_limit) as staging:
        try:
            for batch in pages:
                staging.write(batch)
                page_count += 1
                if on_page is not None:
                    on_page(page_count, staging.rows)
        except (ClientError, BotoCoreError) as exc:
            code, text = describe_aws_error(exc)
            where = f" for qualification type {plan.qualification_type_id}"
            raise ExtractionError(
                f"extracting {plan.table}{where if plan.qualification_type_id else ''}: "
                f"{plan.operation} failed: {text}. The previous snapshot is unchanged; "
                "re-run the partition once the cause is fixed.",
                table=plan.table,
                qualification_type_id=plan.qualification_type_id,
                operation=plan.operation,
                error_code=code,
            ) from exc
        except MalformedRecordError as exc:
            raise ExtractionError(
                f"extracting {plan.table}: {plan.operation} returned a record the lake cannot "
                f"hold: {exc}. The previous snapshot is unchanged.",
                table=plan.table,
                qualification_type_id=plan.qualification_type_id,
                operation=plan.operation,
                error_code=None,
            ) from exc
        counts = NormaliseCounts()
        with SnapshotWriter(plan.directory, plan.schema, snapshot_at=extracted_at) as writer:
            for batch in staging.last_per_key():
                writer.write(batch)
                counts += _count(batch)
            finished_at = datetime.now(UTC)
            result = ExtractResult(
                table=plan.table,
                qualification_type_id=plan.qualification_type_id,
                path=writer.path,
                rows=writer.rows,
                records_seen=staging.rows,
                pages=page_count,
                duplicates=staging.rows - writer.rows,
                granted=counts.granted,
                revoked=counts.revoked,
                invalid_locales=counts.invalid_locales,
                missing_locales=counts.missing_locales,
                null_scores=counts.null_scores,
                retries=(stats.retries - retries0) if stats is not None else 0,
                throttles=(stats.throttles - throttles0) if stats is not None else 0,
                started_at=started_at,
                finished_at=finished_at,
                extracted_at=extracted_at,
                duration_s=time.perf_counter() - clock,
                run_id=run_id,
            )
            writer.set_extract_metadata(result.as_metadata())
    return result


def _count(batch: pa.RecordBatch) -> NormaliseCounts:
    """Counts of the rows actually published (after de-duplication), from the typed columns."""
    counts = NormaliseCounts(rows=batch.num_rows)
    names = batch.schema.names
    if "status" in names:
        counts.granted = pc.sum(pc.equal(batch.column("status"), "Granted")).as_py() or 0
        counts.revoked = batch.num_rows - counts.granted
    if "integer_value" in names:
        counts.null_scores = batch.column("integer_value").null_count
    if "country" in names:
        country, subdivision = batch.column("country"), batch.column("subdivision")
        bad_country = pc.and_(pc.is_valid(country), pc.is_null(batch.column("country_name")))
        bad_sub = pc.and_(pc.is_valid(subdivision), pc.is_null(batch.column("subdivision_name")))
        counts.invalid_locales = pc.sum(pc.or_(bad_country, bad_sub)).as_py() or 0
        missing = pc.and_(pc.is_null(country), pc.is_null(subdivision))
        counts.missing_locales = pc.sum(missing).as_py() or 0
    return counts


def _check_page_size(page_size: int) -> None:
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE} (MTurk's limit), got {page_size}")


def _utc(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    if at.tzinfo is None:
        raise ValueError(f"extracted_at {at!r} has no time zone; pass an aware datetime")
    return at.astimezone(UTC)
