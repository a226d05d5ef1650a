"""Extract many qualification types at once: threads sharing one client, one outcome per type.

A requester with thousands of small types pays for a refresh in API calls, not in per-type
overhead: `concurrency` worker threads take the types one after the other and extract each of
its tables (`stage_table`, one snapshot per table, published together once all are written:
`publish_together`), all through the one client the
caller passes, so they share its retry mode's pace (botocore's adaptive limiter lives in the
client) and any rate limiter it was built with. boto3 clients are thread-safe.

A type that fails fails alone: its outcome carries the error (which names the type, the
operation and the cause; its previous snapshots are unchanged, of every table: a type lands all
its tables or none) and the others go on. Outcomes are
yielded as types finish, in completion order. Once `stop` is set (or the process was told to stop
sending requests, `mturk_api.client.stop_requests`) no further request is sent: types not started
are not started, and those in flight end at their next request; both come back `stopped`. The
worker threads are daemon threads: a thread still asleep in a retry's back-off when the process
exits does not hold it up, and it sends nothing when it wakes.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from qual_pipeline.extract.errors import ExtractionError
from qual_pipeline.extract.result import ExtractResult
from qual_pipeline.extract.staging import DEFAULT_MEMORY_LIMIT
from qual_pipeline.extract.tables import (
    QUALIFICATION_REQUESTS_SPEC,
    WORKER_QUALIFICATIONS_SPEC,
    StagedTable,
    TableSpec,
    publish_together,
    stage_table,
)
from qual_pipeline.memory import (
    limit_malloc_arenas,
    release_free_memory,
    use_system_arrow_pool,
)
from qual_pipeline.mturk_api.client import RequestsStopped, requests_stopped, stop_on
from qual_pipeline.stores.profile import Stores

TYPE_SPECS: tuple[TableSpec, ...] = (WORKER_QUALIFICATIONS_SPEC, QUALIFICATION_REQUESTS_SPEC)
"""The partitioned lake tables, extracted for every type in this order."""
DEFAULT_CONCURRENCY = 8


@dataclass(frozen=True)
class TypeOutcome:
    """What became of one type: its published snapshots, and the error or stop that ended it."""

    qualification_type_id: str
    results: tuple[ExtractResult, ...] = ()
    """One per table, in TYPE_SPECS order, when all were published; empty otherwise."""
    error: str | None = None
    """Why the type failed: names the type, the operation and the cause."""
    stopped: bool = False
    """Not extracted (or not finished) because the extraction was told to stop."""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and not self.stopped

    @property
    def rows(self) -> int:
        return sum(r.rows for r in self.results)


@dataclass
class ExtractionProgress:
    """Counts a caller may read while `extract_types` runs (updated from its threads)."""

    types_total: int = 0
    types_done: int = 0
    """Types finished (published, failed or stopped), counted by the worker threads as each
    ends, however far behind the consumer of the outcomes is."""
    types_failed: int = 0
    types_stopped: int = 0
    records: int = 0
    """Rows of the types extracted so far (as in their snapshots) plus the records the API
    returned for the types in flight; a type that fails or is stopped takes its records back."""
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    """When the last type finished (time.monotonic()), None before."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_records(self, n: int) -> None:
        with self._lock:
            self.records += n

    def settle(self, read: int, outcome: TypeOutcome) -> None:
        """Replace the `read` records a type's pages added by the rows it published (all its
        tables landed), or by none (it failed or was stopped)."""
        with self._lock:
            self.records += (outcome.rows if outcome.ok else 0) - read

    def finish(self, outcome: TypeOutcome) -> None:
        with self._lock:
            self.types_done += 1
            self.types_failed += 1 if outcome.error is not None and not outcome.stopped else 0
            self.types_stopped += 1 if outcome.stopped else 0
            if self.types_done == self.types_total:
                self.ended = time.monotonic()

    @property
    def types_extracted(self) -> int:
        """Types finished whose every table landed (neither failed nor stopped)."""
        return self.types_done - self.types_failed - self.types_stopped

    @property
    def seconds(self) -> float:
        """Since the extraction started, until its last type finished (or now)."""
        return (self.ended if self.ended is not None else time.monotonic()) - self.started


def extract_types(
    client: Any,
    stores: Stores,
    type_ids: Iterable[str],
    *,
    specs: Sequence[TableSpec] = TYPE_SPECS,
    concurrency: int = DEFAULT_CONCURRENCY,
    stop: threading.Event | None = None,
    progress: ExtractionProgress | None = None,
    run_id: str | None = None,
    extracted_at: datetime | None = None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
) -> Iterator[TypeOutcome]:
    """Extract `specs` for every type of `type_ids`, `concurrency` types at a time; one outcome
    per type, as each finishes. Closing the iterator early stops the extraction (as `stop`).

    `progress`, when given, is kept up to date by the worker threads (types done, failed and
    stopped, records so far), ahead of the outcomes a slow consumer has taken.
    Raises ValueError for a concurrency below 1; every per-type problem is an outcome.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    ids = list(dict.fromkeys(type_ids))
    use_system_arrow_pool()  # freed Arrow buffers returned by release_free_memory, not kept
    limit_malloc_arenas()  # the worker threads share malloc's arenas instead of one each
    stop = stop or threading.Event()
    unhook = stop_on(client, stop, "the extraction was stopped")
    if progress is not None:
        progress.types_total = len(ids)
    todo: queue.SimpleQueue[str] = queue.SimpleQueue()
    for type_id in ids:
        todo.put(type_id)
    done: queue.SimpleQueue[TypeOutcome] = queue.SimpleQueue()

    def halted() -> bool:
        return stop.is_set() or requests_stopped() is not None

    def work() -> None:
        while True:
            try:
                type_id = todo.get_nowait()
            except queue.Empty:
                return
            if halted():
                outcome = TypeOutcome(type_id, stopped=True)
            else:
                outcome = _extract_one(client, stores, type_id, specs, progress, run_id,
                                       extracted_at, memory_limit)  # fmt: skip
            if progress is not None:
                progress.finish(outcome)  # here, not where the outcomes are consumed
            done.put(outcome)

    threads = [
        threading.Thread(target=work, name=f"extract-{n}", daemon=True)
        for n in range(min(concurrency, len(ids)))
    ]
    for thread in threads:
        thread.start()
    finished = False
    try:
        for _ in ids:
            yield _next(done)
        finished = True
    finally:
        if finished:
            unhook()  # every thread is done: the client may serve other work
            release_free_memory()  # what the extraction freed, before the load that follows
        else:
            stop.set()  # the consumer stopped early (or was interrupted): send nothing more


def _extract_one(
    client: Any,
    stores: Stores,
    type_id: str,
    specs: Sequence[TableSpec],
    progress: ExtractionProgress | None,
    run_id: str | None,
    extracted_at: datetime | None,
    memory_limit: str,
) -> TypeOutcome:
    read = [0]  # records this type's pages added to the progress, all tables
    outcome = _extract_tables(client, stores, type_id, specs, progress, read, run_id,
                              extracted_at, memory_limit)  # fmt: skip
    if progress is not None:
        progress.settle(read[0], outcome)
    return outcome


def _extract_tables(
    client: Any,
    stores: Stores,
    type_id: str,
    specs: Sequence[TableSpec],
    progress: ExtractionProgress | None,
    read: list[int],
    run_id: str | None,
    extracted_at: datetime | None,
    memory_limit: str,
) -> TypeOutcome:
    started = time.perf_counter()
    results: list[ExtractResult] = []
    seen = [0]

    def on_page(_pages: int, records: int) -> None:
        if progress is not None:
            progress.add_records(records - seen[0])
            read[0] += records - seen[0]
        seen[0] = records

    staged: list[StagedTable] = []
    try:
        try:
            for spec in specs:
                seen[0] = 0
                staged.append(
                    stage_table(
                        spec,
                        client,
                        stores,
                        type_id,
                        on_page=on_page,
                        run_id=run_id,
                        extracted_at=extracted_at,
                        memory_limit=memory_limit,
                    )
                )
        except BaseException:
            for table in staged:  # a type lands all its tables or none
                table.discard()
            raise
        results.extend(publish_together(staged))
    except RequestsStopped:
        return TypeOutcome(type_id, tuple(results), stopped=True, seconds=_since(started))
    except ExtractionError as exc:
        return TypeOutcome(type_id, tuple(results), error=str(exc), seconds=_since(started))
    except Exception as exc:  # a disk or data problem: this type fails, the others go on
        error = f"extracting qualification type {type_id} failed: {type(exc).__name__}: {exc}"
        return TypeOutcome(type_id, tuple(results), error=error, seconds=_since(started))
    return TypeOutcome(type_id, tuple(results), seconds=_since(started))


def _next(done: queue.SimpleQueue[TypeOutcome]) -> TypeOutcome:
    """The next outcome, waiting in short steps so a signal handler runs without delay."""
    while True:
        try:
            return done.get(timeout=0.25)
        except queue.Empty:
            continue


def _since(started: float) -> float:
    return time.perf_counter() - started
