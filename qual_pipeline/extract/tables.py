"""Extract the three lake tables from MTurk into published snapshots, in constant memory.

Each table is one `TableSpec`: the MTurk operation it pages, the parameters of each paged call for
a partition, the normaliser that turns a page into the lake schema, and the counter of what a batch
holds. One code path serves all three (`extract_table`): botocore's paginator (retries come from the
client's retry mode) runs a few pages ahead in a background thread, every page is normalised and
staged, the last observation per key is kept (a worker can repeat or change between pages), and one
snapshot is published atomically through the lake store (a folder or object storage) with its
counts in the Parquet footer; then the partition's snapshots superseded longer than the grace
period ago, and what writers that died left behind, are removed. Memory is bounded by one
page, one row group and the staging memory limit, whatever the number of rows. A request that
still fails after the retries raises ExtractionError and leaves the previous snapshot as it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict, Unpack

import pyarrow as pa
from botocore import xform_name
from botocore.exceptions import BotoCoreError, ClientError

from qual_pipeline.extract.errors import ExtractionError
from qual_pipeline.extract.normalise import (
    MalformedRecordError,
    NormaliseCounts,
    count_qualifications,
    count_rows,
    normalise_qualification_requests,
    normalise_qualification_types,
    qualifications_batch,
)
from qual_pipeline.extract.prefetch import prefetched
from qual_pipeline.extract.result import ExtractResult
from qual_pipeline.extract.staging import DEFAULT_MEMORY_LIMIT, Staging
from qual_pipeline.extract.type_selection import validate_type_id
from qual_pipeline.lake.footer import ExtractFooter, footer_metadata
from qual_pipeline.mturk_api.client import ApiStats, counting_into
from qual_pipeline.mturk_api.errors import describe_aws_error
from qual_pipeline.mturk_api.model import MAX_PAGE_SIZE, QUALIFICATION_STATUSES, records_member
from qual_pipeline.schema import QUALIFICATION_REQUESTS, QUALIFICATION_TYPES, WORKER_QUALIFICATIONS
from qual_pipeline.stores.lake import LakeStoreError, SnapshotWriter
from qual_pipeline.stores.profile import Stores

OnPage = Callable[[int, int], None]
"""Progress callback: on_page(pages_so_far, records_so_far), called after each page is staged."""

PAGES_BEFORE_PREFETCH = 2
"""Pages read in the caller's thread before the prefetch thread starts (most partitions of a
requester with many types hold one page of Granted and one of Revoked workers)."""
SMALL_SNAPSHOT_ROWS = 10_000
"""A snapshot of at most this many rows (after de-duplication) is compressed with Snappy, a larger
one, or one whose pages outgrew memory (`STAGING_ROW_GROUP_ROWS` records), with Zstandard:
zstd's set-up per column chunk cost a small snapshot more than writing the rest of it (0.58-0.80
ms against 0.35-0.48 ms with Snappy for a type of 37 workers, about a quarter of the extraction's
own CPU per type), while the few kilobytes it saves there do not matter. Such a snapshot is also
written without Parquet's dictionary encoding: for 50 rows its Parquet bytes took 0.25 ms of CPU
against 0.59 to 0.62 ms with it (`bench/extract_ab.py --publish 300`, two runs, load 8.6), the
largest CPU step of a small snapshot's publish."""

Params = Mapping[str, Any]
Normaliser = Callable[[Sequence[Mapping[str, Any]], datetime, Params], pa.RecordBatch]
"""(a page's records, extracted_at, the call's parameters) -> a batch of the table's schema."""


class ExtractOptions(TypedDict, total=False):
    """The keyword arguments of `extract_table`, also taken by the three per-table functions."""

    extracted_at: datetime | None
    page_size: int
    on_page: OnPage | None
    run_id: str | None
    stats: ApiStats | None
    memory_limit: str


@dataclass(frozen=True)
class TableSpec:
    """One lake table: where its rows come from on MTurk and how they become the lake schema."""

    table: str
    schema: pa.Schema
    key: str
    """The de-duplication key: one row per value, the last observed."""
    operation: str
    """The MTurk operation called; paged with its paginator when it has one."""
    calls: Callable[[str | None], list[Params]]
    """The operation's parameters for a partition (a type id, or None), one dict per call."""
    normalise: Normaliser
    count: Callable[[pa.RecordBatch], NormaliseCounts]
    partitioned: bool
    pages: Callable[[Any, int], Iterator[tuple[Params, list[Mapping[str, Any]]]]] | None = None
    """(client, page size) -> (the call's parameters, the page's records) for every page, when
    the pages do not come from `operation` and `calls` alone."""


WORKER_QUALIFICATIONS_SPEC = TableSpec(
    table="worker_qualifications",
    schema=WORKER_QUALIFICATIONS,
    key="worker_id",
    operation="ListWorkersWithQualificationType",
    # The model lists Granted before Revoked: Revoked pages come last, so a worker revoked while
    # the Granted pages were read ends up Revoked.
    calls=lambda type_id: [
        {"QualificationTypeId": type_id, "Status": status} for status in QUALIFICATION_STATUSES
    ],
    normalise=lambda records, at, params: qualifications_batch(
        records,
        extracted_at=at,
        qualification_type_id=params["QualificationTypeId"],
        status=params["Status"],
    ),
    count=count_qualifications,
    partitioned=True,
)
QUALIFICATION_REQUESTS_SPEC = TableSpec(
    table="qualification_requests",
    schema=QUALIFICATION_REQUESTS,
    key="qualification_request_id",
    operation="ListQualificationRequests",
    calls=lambda type_id: [{"QualificationTypeId": type_id}],
    normalise=lambda records, at, params: normalise_qualification_requests(
        records, extracted_at=at, qualification_type_id=params["QualificationTypeId"]
    ),
    count=count_rows,
    partitioned=True,
)
QUALIFICATION_TYPES_SPEC = TableSpec(
    table="qualification_types",
    schema=QUALIFICATION_TYPES,
    key="qualification_type_id",
    operation="ListQualificationTypes",
    calls=lambda _: [{"MustBeOwnedByCaller": True, "MustBeRequestable": False}],
    normalise=lambda records, at, _: normalise_qualification_types(records, extracted_at=at),
    count=count_rows,
    partitioned=False,
)
TABLE_SPECS: dict[str, TableSpec] = {
    spec.table: spec
    for spec in (WORKER_QUALIFICATIONS_SPEC, QUALIFICATION_REQUESTS_SPEC, QUALIFICATION_TYPES_SPEC)
}


def extract_worker_qualifications(
    client: Any,
    qualification_type_id: str,
    stores: Stores,
    **options: Unpack[ExtractOptions],
) -> ExtractResult:
    """Mirror every Granted and Revoked qualification of one type into its lake partition.

    One row per worker: when the API repeats a worker, the last observation wins (Revoked pages
    come after Granted ones). `options` are extract_table's keyword arguments.
    """
    return extract_table(
        WORKER_QUALIFICATIONS_SPEC, client, stores, qualification_type_id, **options
    )


def extract_qualification_requests(
    client: Any,
    qualification_type_id: str,
    stores: Stores,
    **options: Unpack[ExtractOptions],
) -> ExtractResult:
    """Mirror the pending qualification requests of one type into its lake partition."""
    return extract_table(
        QUALIFICATION_REQUESTS_SPEC, client, stores, qualification_type_id, **options
    )


def extract_qualification_types(
    client: Any,
    stores: Stores,
    type_ids: Sequence[str] | None = None,
    *,
    keep: Collection[str] = (),
    **options: Unpack[ExtractOptions],
) -> ExtractResult:
    """Snapshot the metadata of every type the caller owns (one ListQualificationTypes listing),
    or of `type_ids` and `keep` only: the same listing, kept to those ids, and
    GetQualificationType for an id of `type_ids` the listing does not show (it lags just after a
    type is created). `keep`: ids mirrored earlier (a refresh of some types keeps the others'
    names); an id of `keep` the listing lacks (no longer owned) is left out."""
    spec = QUALIFICATION_TYPES_SPEC
    if type_ids is not None:
        ids = [validate_type_id(t, source="type_ids") for t in type_ids]
        wanted = set(ids) | set(keep)
        spec = dataclasses.replace(
            spec,
            normalise=lambda records, at, _: normalise_qualification_types(
                [r for r in records if r.get("QualificationTypeId") in wanted], extracted_at=at
            ),
            pages=lambda client, size: _listed_types_pages(client, ids, size),
        )
    return extract_table(spec, client, stores, None, **options)


def _listed_types_pages(
    client: Any, type_ids: list[str], page_size: int
) -> Iterator[tuple[Params, list[Mapping[str, Any]]]]:
    """The owned-types listing, then GetQualificationType for each of `type_ids` it lacked."""
    spec = QUALIFICATION_TYPES_SPEC
    seen: set[str] = set()
    for params, records in _pages(client, spec.operation, spec.calls(None), page_size):
        seen.update(str(r.get("QualificationTypeId")) for r in records)
        yield params, records
    missing = [{"QualificationTypeId": t} for t in type_ids if t not in seen]
    yield from _pages(client, "GetQualificationType", missing, page_size)


def extract_table(
    spec: TableSpec,
    client: Any,
    stores: Stores,
    qualification_type_id: str | None = None,
    **options: Unpack[ExtractOptions],
) -> ExtractResult:
    """Page `spec.operation` for one partition (a qualification type id, or None for an
    unpartitioned table) and publish the result as one snapshot in the lake of `stores` (staging
    in its scratch folder): `stage_table`, then `publish_together` of that one table.
    Raises what `stage_table` and `publish_together` raise."""
    staged = stage_table(spec, client, stores, qualification_type_id, **options)
    return publish_together([staged])[0]


@dataclass
class StagedTable:
    """One table's snapshot written whole but not yet visible (`stage_table`): publish it with
    `publish_together`, or `discard` it."""

    spec: TableSpec
    stores: Stores
    partition: str | None
    writer: SnapshotWriter
    footer: dict[str, Any]

    def discard(self) -> None:
        """Drop the unpublished snapshot (nothing visible, nothing pending)."""
        self.writer.abort()


def publish_together(staged: Sequence[StagedTable]) -> list[ExtractResult]:
    """Publish every staged snapshot, in order, or none: should one fail to publish, the ones
    published before it are withdrawn and the rest discarded, so the previous snapshot of every
    table stays current, and the error is raised (LakeStoreError, OSError). Once all are
    published, each partition's snapshots superseded longer than the grace period ago, and what
    writers that died left there, are removed. Returns one result per staged table, in order."""
    published: list[StagedTable] = []
    try:
        for table in staged:
            table.writer.commit()
            published.append(table)
    except BaseException as exc:
        for table in staged:
            if table not in published:
                table.discard()
        left: list[str] = []
        for table in reversed(published):
            try:
                table.writer.withdraw()
            except Exception as undo:  # say what is left published, and the fix
                left.append(str(undo))
        if left:
            raise LakeStoreError(f"{exc}; then {' '.join(left)}") from exc
        raise
    results = []
    for table in staged:
        snapshot = table.writer.snapshot
        assert snapshot is not None
        results.append(ExtractResult(snapshot=snapshot, **table.footer))
        # Older snapshots go only once superseded for the grace period: a load that listed one
        # just before this publish can still read it. A newer one (an overlapping run) stays.
        lake = table.stores.lake
        lake.delete_older(snapshot, grace_s=table.stores.snapshot_grace_s)
        lake.remove_abandoned(table.spec.table, table.partition)
    return results


def stage_table(
    spec: TableSpec,
    client: Any,
    stores: Stores,
    qualification_type_id: str | None = None,
    *,
    extracted_at: datetime | None = None,
    page_size: int = MAX_PAGE_SIZE,
    on_page: OnPage | None = None,
    run_id: str | None = None,
    stats: ApiStats | None = None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
) -> StagedTable:
    """Page `spec.operation` for one partition (a qualification type id, or None for an
    unpartitioned table) and write the result whole as one snapshot of the lake of `stores`,
    not yet visible (staging in its scratch folder): `publish_together` publishes it.

    `page_size`: MaxResults per page, 1 to MTurk's maximum (100). The calls this extraction makes
    (in this thread and its prefetch thread) are counted on their own, so the snapshot records
    its own retries and throttles even while other threads share the client; `stats`, when
    given, counts them too. `memory_limit`: DuckDB's limit while de-duplicating a partition too
    large to sort in memory (spills beyond it).
    Raises ExtractionError (the previous snapshot unchanged, nothing staged) or ValueError for
    bad arguments.
    """
    partition = None
    if spec.partitioned:
        partition = validate_type_id(qualification_type_id or "", source="qualification_type_id")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE} (MTurk's limit), got {page_size}")
    at = _utc(extracted_at)
    started_at = datetime.now(UTC)
    clock = time.perf_counter()
    calls = spec.calls(qualification_type_id)
    page_count = 0
    own = ApiStats()
    lake = stores.lake
    with (
        counting_into(own),
        counting_into(stats) if stats is not None else contextlib.nullcontext(),
        # A scratch folder only for pages that outgrow memory: most types never need one.
        Staging(stores.scratch, spec.schema, spec.key, memory_limit=memory_limit) as staging,
    ):
        try:
            pages: Iterable[tuple[Params, list[Mapping[str, Any]]]]
            pending: Callable[[], bool] | None = None
            if spec.pages is not None:
                pages = spec.pages(client, page_size)
            else:
                stream = _Pages(client, spec.operation, calls, page_size)
                pages, pending = stream, stream.pending
            for params, records in prefetched(pages, after=PAGES_BEFORE_PREFETCH, pending=pending):
                staging.write(spec.normalise(records, at, params))
                page_count += 1
                if on_page is not None:
                    on_page(page_count, staging.rows)
        except (ClientError, BotoCoreError) as exc:
            code, text = describe_aws_error(exc)
            where = f" for qualification type {qualification_type_id}"
            raise ExtractionError(
                f"extracting {spec.table}{where if qualification_type_id else ''}: "
                f"{spec.operation} failed: {text}. The previous snapshot is unchanged; "
                "re-run the partition once the cause is fixed.",
                table=spec.table,
                qualification_type_id=qualification_type_id,
                operation=spec.operation,
                error_code=code,
            ) from exc
        except MalformedRecordError as exc:
            raise ExtractionError(
                f"extracting {spec.table}: {spec.operation} returned a record the lake cannot "
                f"hold: {exc}. The previous snapshot is unchanged.",
                table=spec.table,
                qualification_type_id=qualification_type_id,
                operation=spec.operation,
                error_code=None,
            ) from exc
        counts = NormaliseCounts()
        compression = "zstd"  # pages that outgrew memory: over 64k records read
        kept: list[pa.RecordBatch] | None = None
        if not staging.spilled:
            # Sorted in memory already, and the writer would hold them all until it closes: the
            # snapshot's own rows (after de-duplication) pick the codec, not the records read.
            kept = list(staging.last_per_key())
            if sum(batch.num_rows for batch in kept) <= SMALL_SNAPSHOT_ROWS:
                compression = "snappy"
        small = compression == "snappy"
        with lake.writer(
            spec.table,
            spec.schema,
            partition,
            snapshot_at=at,
            compression=compression,
            use_dictionary=not small,  # a small snapshot's values are stored plain
            publish_on_exit=False,  # published by publish_together, with its partner tables
        ) as writer:
            # A spilled sort is only ever iterated here, never kept in a local: a failure closes
            # it (its DuckDB connection and SPILLED_SORTS) even while the traceback is kept.
            for batch in kept if kept is not None else staging.last_per_key():
                writer.write(batch)
                counts += spec.count(batch)
            footer = dict(
                table=spec.table,
                qualification_type_id=qualification_type_id,
                rows=writer.rows,
                records_seen=staging.rows,
                pages=page_count,
                duplicates=staging.rows - writer.rows,
                granted=counts.granted,
                revoked=counts.revoked,
                invalid_locales=counts.invalid_locales,
                missing_locales=counts.missing_locales,
                null_scores=counts.null_scores,
                retries=own.retries,
                throttles=own.throttles,
                started_at=started_at,
                finished_at=datetime.now(UTC),
                extracted_at=at,
                duration_s=time.perf_counter() - clock,
                run_id=run_id,
            )
            writer.set_footer_metadata(footer_metadata(ExtractFooter(**footer).as_metadata()))
    return StagedTable(spec, stores, partition, writer, footer)


def _pages(
    client: Any, operation: str, calls: list[Params], page_size: int
) -> Iterator[tuple[Params, list[Mapping[str, Any]]]]:
    """(the call's parameters, the page's records) for every page of every call, in order."""
    return iter(_Pages(client, operation, calls, page_size))


class _Pages:
    """(the call's parameters, the page's records) for every page of every call, in order, and
    whether another request is due (`pending()`): after the last page of the last call, none is,
    so a consumer need not start a thread to fetch what is not there."""

    def __init__(self, client: Any, operation: str, calls: list[Params], page_size: int) -> None:
        self._client = client
        self._operation = operation
        self._calls = calls
        self._page_size = page_size
        self._pending = bool(calls)

    def pending(self) -> bool:
        """Whether iterating further sends another request (True until the last page came)."""
        return self._pending

    def __iter__(self) -> Iterator[tuple[Params, list[Mapping[str, Any]]]]:
        client, method = self._client, xform_name(self._operation)
        member = records_member(self._operation)
        for number, params in enumerate(self._calls, start=1):
            more_calls = number < len(self._calls)
            if not client.can_paginate(method):
                found = getattr(client, method)(**params).get(member)
                self._pending = more_calls
                yield params, [] if found is None else [found]
                continue
            paginator = client.get_paginator(method)
            pages = paginator.paginate(**params, PaginationConfig={"PageSize": self._page_size})
            for page in pages:
                # botocore asks for another page of this call when the answer has a NextToken.
                self._pending = more_calls or bool(page.get("NextToken"))
                yield params, page.get(member, [])
        self._pending = False


def _utc(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    if at.tzinfo is None:
        raise ValueError(f"extracted_at {at!r} has no time zone; pass an aware datetime")
    return at.astimezone(UTC)
