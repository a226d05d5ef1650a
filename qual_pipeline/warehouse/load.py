"""The single-writer load: the lake's newest snapshots into the warehouse, in one transaction.

The lake and the warehouse come from the stores (a folder and a DuckDB file, or object storage and
DuckLake). The load holds the warehouse's writer for its whole run, migrates the schema when this
version's is not there yet, and reads footers and files through the lake store. Only snapshots not
loaded before are read (extract_runs records every loaded one), so a second load of the same lake
changes nothing. Everything is written between one BEGIN and one COMMIT: a failure, or a process
killed halfway, leaves the previous tables exactly as they were; a commit conflict with another
writer (DuckLake) runs the whole transaction again, which then loads only what is still new.

A load that reads new snapshots gets a load id (warehouse_loads) and records its data-quality
checks (check_results) in the same transaction: a push plan names the load it was built on, and
`push` refuses a plan whose load is no longer the newest.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from qual_pipeline.lake import layout
from qual_pipeline.schema import UTC_TIMESTAMP
from qual_pipeline.settings import percent_text
from qual_pipeline.stores.lake import LakeSnapshot, LakeStore
from qual_pipeline.stores.profile import Stores
from qual_pipeline.stores.warehouse import (
    OnBusy,
    WarehouseCheckpointError,
    WarehouseConflictError,
    WarehouseStoreError,
    check_memory_limit,
    memory_held_to,
    run_transaction,
    set_memory_limit,
    shown_memory_limit,
)
from qual_pipeline.warehouse.checks import (
    DEFAULT_MAX_ROW_DROP_SHARE,
    CheckResult,
    check_unique_worker_qualifications,
    record_checks,
    recorded_checks,
    run_checks,
)
from qual_pipeline.warehouse.snapshots import (
    EXTRACT_FIGURES,
    Snapshot,
    SnapshotError,
    read_snapshot,
)
from qual_pipeline.warehouse.sql_files import ensure_schema, registered, run_sql_file

if TYPE_CHECKING:
    from qual_pipeline.mturk_api.source import MTurkSource

HASH_MERGE_MIN_ROWS = 4_000_000
"""From how many snapshot rows of types already loaded a merge compares rows by hash and writes
only those that differ (replace_worker_qualifications); below it, it rewrites those types and
compares every key of theirs with the history (rewrite_worker_qualifications), as the previous
release did. The comparison's writes are scattered deletes and an update of every kept row,
which DuckDB's checkpoint then rewrites: at 1,000,000 rows that cost more than it saved, at
10,000,000 it saves (README, Performance)."""

StepHook = Callable[[str], None]
RetryHook = Callable[[int, BaseException], None]


class WarehouseLoadError(RuntimeError):
    """The load did not happen; the warehouse is as it was before."""


@dataclass(frozen=True)
class LoadedSnapshot:
    lake_table: str
    qualification_type_id: str | None
    snapshot: str
    rows: int
    extracted_at: datetime


@dataclass(frozen=True)
class LoadResult:
    warehouse: str
    """Where the warehouse is (the store's description)."""
    loaded: tuple[LoadedSnapshot, ...]
    changes: dict[str, int] = field(default_factory=dict)
    """History versions this load opened or closed, by change: new, returned, score, gone, ..."""
    worker_qualification_rows: int = 0
    history_rows: int = 0
    duration_s: float = 0.0
    load_id: str | None = None
    """The newest load of the warehouse: this one, or the one before when nothing was new."""
    checks: tuple[CheckResult, ...] = ()
    """The check results recorded by that load, blocking ones first."""

    @property
    def up_to_date(self) -> bool:
        """True when the lake held nothing new: the load changed nothing."""
        return not self.loaded


def latest_load_id(con: duckdb.DuckDBPyConnection) -> str | None:
    """The id of the newest recorded warehouse load, or None before the first one.

    Works on read-only connections and on warehouses written before loads were recorded.
    """
    present = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() "
        "AND table_schema = 'main' AND table_name = 'warehouse_loads'"
    ).fetchall()[0][0]
    if not present:
        return None
    row = con.execute("SELECT load_id FROM warehouse_loads ORDER BY seq DESC LIMIT 1").fetchall()
    return row[0][0] if row else None


def _new_load_id(loaded_at: datetime) -> str:
    return f"{loaded_at:%Y%m%dT%H%M%S%f}Z-{uuid.uuid4().hex[:8]}"


def _record_load(
    con: duckdb.DuckDBPyConnection,
    loaded_at: datetime,
    snapshots: int,
    history_changes: int,
    checks: list[CheckResult],
    source: MTurkSource | None = None,
) -> str:
    load_id = _new_load_id(loaded_at)
    con.execute(
        "INSERT INTO warehouse_loads (load_id, seq, loaded_at, snapshots, "
        "worker_qualification_rows, history_changes, blocking_failures, warnings, "
        "mturk_environment, mturk_endpoint) SELECT ?, coalesce(max(seq), 0) + 1, ?, ?, "
        "(SELECT count(*) FROM worker_qualifications), ?, ?, ?, ?, ? FROM warehouse_loads",
        [
            load_id,
            loaded_at,
            snapshots,
            history_changes,
            sum(1 for c in checks if c.blocking and not c.passed),
            sum(1 for c in checks if not c.blocking and not c.passed),
            source.environment if source else None,
            source.endpoint if source else None,
        ],
    )
    record_checks(con, load_id, checks, loaded_at)
    return load_id


def _loaded_snapshots(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str | None], str]:
    rows = con.execute(
        "SELECT lake_table, qualification_type_id, max(snapshot) FROM extract_runs GROUP BY ALL"
    ).fetchall()
    return {(table, type_id): newest for table, type_id, newest in rows}


def _current_snapshots(lake: LakeStore) -> list[LakeSnapshot]:
    """The newest published snapshot of every partition of every lake table.

    Listed in the reverse of the order a refresh publishes them (the types' listing, then each
    type's worker_qualifications, then its qualification_requests), so that a refresh publishing
    on another machine meanwhile cannot leave this load with a type's requests but not the
    workers snapshot published before them (the extraction check would then fail the load)."""
    listed = {
        table: list(lake.current_snapshots(table).values())
        for table in reversed(layout.PARTITIONED_TABLES)
    }
    current = [snapshot for table in layout.PARTITIONED_TABLES for snapshot in listed[table]]
    types_snapshot = lake.current_snapshot("qualification_types")
    if types_snapshot is not None:
        current.append(types_snapshot)
    return current


def _is_new(snapshot: LakeSnapshot | Snapshot, loaded: dict[tuple[str, str | None], str]) -> bool:
    if isinstance(snapshot, Snapshot):
        key = (snapshot.lake_table, snapshot.qualification_type_id)
    else:
        key = (snapshot.table, snapshot.partition)
    newest_loaded = loaded.get(key)
    return newest_loaded is None or snapshot.name > newest_loaded


def _guard_row_count_drops(
    con: duckdb.DuckDBPyConnection, snapshots: list[Snapshot], max_drop_share: float
) -> None:
    previous = dict(
        con.execute(
            "SELECT qualification_type_id, arg_max(row_count, extracted_at) FROM extract_runs "
            "WHERE lake_table = 'worker_qualifications' GROUP BY ALL"
        ).fetchall()
    )
    drops = [
        f"{s.qualification_type_id}: {previous[s.qualification_type_id]} -> {s.row_count} rows"
        for s in snapshots
        if s.lake_table == "worker_qualifications"
        and previous.get(s.qualification_type_id)
        and s.row_count < previous[s.qualification_type_id] * (1 - max_drop_share)
    ]
    if drops:
        limit = percent_text(max_drop_share)
        raise WarehouseLoadError(
            f"Row count dropped by more than {limit} against the loaded snapshot for "
            f"{len(drops)} qualification type(s) ({'; '.join(drops)}); a sudden drop usually means "
            "a broken extraction. Nothing was loaded. Extract those types again, or, if the drop "
            "is real, load with a larger max_row_drop_share."
        )


def _partition_table(snapshots: list[Snapshot]) -> pa.Table:
    return pa.table(
        {
            "qualification_type_id": [s.qualification_type_id for s in snapshots],
            "observed_at": pa.array([s.extracted_at for s in snapshots], UTC_TIMESTAMP),
            "complete": [True] * len(snapshots),
        }
    )


def _extract_runs_table(snapshots: list[Snapshot], loaded_at: datetime) -> pa.Table:
    def figure(key: str) -> list:
        return [s.extract[key] for s in snapshots]

    columns: dict[str, pa.Array | list] = {
        "lake_table": [s.lake_table for s in snapshots],
        "qualification_type_id": [s.qualification_type_id for s in snapshots],
        "snapshot": [s.name for s in snapshots],
        "extracted_at": pa.array([s.extracted_at for s in snapshots], UTC_TIMESTAMP),
        "loaded_at": pa.array([loaded_at] * len(snapshots), UTC_TIMESTAMP),
        "row_count": pa.array([s.row_count for s in snapshots], pa.int64()),
    }
    for key in EXTRACT_FIGURES:
        columns[key] = pa.array(figure(key), pa.int64())
    columns["started_at"] = pa.array(figure("started_at"), UTC_TIMESTAMP)
    columns["finished_at"] = pa.array(figure("finished_at"), UTC_TIMESTAMP)
    columns["duration_s"] = pa.array(figure("duration_s"), pa.float64())
    columns["run_id"] = pa.array(figure("run_id"), pa.string())
    return pa.table(columns)


def _load_worker_qualifications(
    con: duckdb.DuckDBPyConnection, snapshots: list[Snapshot], step: StepHook
) -> tuple[dict[str, int], CheckResult]:
    """Replace the refreshed types' rows and merge them into the history.

    A type seen for the first time (no current rows, no history) is inserted whole, and its
    first history versions are read from its snapshot too (insert_first_sighted_history) unless a
    key is held twice. Types with rows, when their snapshots hold at least HASH_MERGE_MIN_ROWS
    rows, are compared row by row with their snapshots and only the rows that differ are written
    (replace_worker_qualifications), and only their keys are compared with the history
    (compare_keys); fewer rows are rewritten and every key of theirs compared
    (rewrite_worker_qualifications, compare_types).

    Returns the history versions opened or closed, by change (new, returned, score, gone, ...),
    and the uniqueness check of worker_qualifications as replaced. That check decides the merge's
    path (any duplicate key: one row per key, see the _deduplicated observation) and is the
    load's recorded one: nothing later in the load writes worker_qualifications, so computing
    it again would find the same (at 10,000,000 rows it groups 10,000,000 key hashes).
    """
    with registered(con, "observed_partitions", _partition_table(snapshots)):
        first_sighted = {
            type_id for (type_id,) in run_sql_file(con, "load/first_sighted_partitions").fetchall()
        }
        known = [s for s in snapshots if s.qualification_type_id not in first_sighted]
        by_hash = sum(s.row_count for s in known) >= HASH_MERGE_MIN_ROWS
        # Rewritten types have every key compared with the history (compare_types).
        rewritten = bool(known) and not by_hash
        if known and by_hash:
            files = [s.location for s in known]
            run_sql_file(con, "load/replace_worker_qualifications", {"files": files})
        elif known:  # a small merge: rewriting the rows costs less than comparing them
            files = [s.location for s in known]
            run_sql_file(con, "load/rewrite_worker_qualifications", {"files": files})
        else:
            run_sql_file(con, "load/no_compared_keys")
        new = [s for s in snapshots if s.qualification_type_id in first_sighted]
        if new:
            files = [s.location for s in new]
            with memory_held_to(con):  # streamed rows: no cache of the blocks it writes
                run_sql_file(con, "load/insert_worker_qualifications", {"files": files})
        unique = _unique_keys(con, first_load=not known)
        if known and by_hash and (not unique.passed or not _held_as_snapshots(con, snapshots)):
            # A key held twice, or not as many rows as the snapshots': row hashes cannot tell
            # how often a row is held. Every refreshed type is written again from its snapshot
            # and every key of it compared with the history.
            files = [s.location for s in snapshots]
            run_sql_file(con, "load/rewrite_worker_qualifications", {"files": files})
            unique = _unique_keys(con, first_load=False)
            rewritten = True
        rows = sum(s.row_count for s in snapshots)
        step(
            f"replace worker_qualifications: {len(snapshots)} type(s), {rows:,} rows from the lake"
        )
        first_versions = 0
        if not unique.passed:  # duplicate keys (in a refreshed type, or left from before)
            run_sql_file(con, "load/observe_refreshed_worker_qualifications_deduplicated")
        else:
            run_sql_file(con, "load/observe_refreshed_worker_qualifications")
            if new and not rewritten:  # their first versions straight from the snapshots
                files = [s.location for s in new]
                with memory_held_to(con):
                    inserted = run_sql_file(
                        con, "load/insert_first_sighted_history", {"files": files}
                    )
                    first_versions = inserted.fetchall()[0][0]
        run_sql_file(con, "load/first_sighted_types")
        run_sql_file(con, "load/compare_types" if rewritten else "load/compare_keys")
        run_sql_file(con, "load/merge_history")
        # A large merge of the changed keys closes versions by copying them (their UPDATE in
        # place cost the commit's checkpoint more); a rewrite, below HASH_MERGE_MIN_ROWS, in place.
        by_copy = bool(known) and by_hash and not rewritten
        run_sql_file(con, "load/close_versions_by_copy" if by_copy else "load/close_versions")
        run_sql_file(con, "load/open_versions")
        changes = dict(
            con.execute("SELECT change, count(*) FROM history_changes GROUP BY ALL").fetchall()
        )
        if first_versions:
            changes["new"] = changes.get("new", 0) + first_versions
        step(f"merge history: {sum(changes.values()):,} version(s) opened or closed")
    return changes, unique


def _unique_keys(con: duckdb.DuckDBPyConnection, *, first_load: bool) -> CheckResult:
    """The uniqueness check of worker_qualifications. In a first load (no refreshed type had
    rows) it runs held to half the load's limit (`memory_held_to`), its keys grouped in slices
    that fit there; in a merge it keeps the whole limit and groups every key at once: held, a
    merge load of 10,000,000 rows ran out of 128MB even in slices of 1,000,000 keys (what the
    merge's transaction holds beside the check, not the check's hash table)."""
    if not first_load:
        return check_unique_worker_qualifications(con, slices=1)
    with memory_held_to(con):
        return check_unique_worker_qualifications(con)


def _held_as_snapshots(con: duckdb.DuckDBPyConnection, snapshots: list[Snapshot]) -> bool:
    """True when worker_qualifications holds, for the refreshed types (observed_partitions), as
    many rows as their snapshots bring plus the rows kept as newer (a verified push after the
    snapshot) less the snapshot rows those replace: the count that tells, with every key held
    once, that comparing rows by hash kept no row too few or too many times."""
    (held, newer) = con.execute(
        "SELECT (SELECT count(*) FROM worker_qualifications "
        "SEMI JOIN observed_partitions USING (qualification_type_id)), "
        "(SELECT count(*) FROM newer_worker_qualifications)"
    ).fetchall()[0]
    brought = sum(s.row_count for s in snapshots)
    if newer:  # rare: a push newer than the snapshot; count the snapshot rows it replaces
        files = [s.location for s in snapshots]
        (brought,) = con.execute(
            "SELECT count(*) FROM read_parquet(?, hive_partitioning = false) "
            "ANTI JOIN newer_worker_qualifications USING (qualification_type_id, worker_id)",
            [files],
        ).fetchall()[0]
    return held == brought + newer


def _load_partitioned_requests(con: duckdb.DuckDBPyConnection, snapshots: list[Snapshot]) -> None:
    with registered(con, "observed_partitions", _partition_table(snapshots)):
        run_sql_file(
            con, "load/replace_qualification_requests", {"files": [s.location for s in snapshots]}
        )


@dataclass
class _Written:
    snapshots: list[Snapshot]
    changes: dict[str, int]
    load_id: str | None
    recorded: bool


def load_warehouse(
    stores: Stores,
    *,
    max_row_drop_share: float | None = None,
    now: datetime | None = None,
    on_step: StepHook | None = None,
    on_busy: OnBusy | None = None,
    on_retry: RetryHook | None = None,
    memory_limit: str | None = None,
    source: MTurkSource | None = None,
) -> LoadResult:
    """Load the lake of `stores` into its warehouse; the warehouse's only writer while it runs.

    source: the MTurk the refresh read (environment and endpoint), recorded with a new load in
    warehouse_loads; `plan` and `push` refuse another target. None records none (not checked).

    max_row_drop_share: refuse the whole load (nothing written) when a type's new snapshot holds
    fewer than (1 - share) times the rows of its loaded one; None loads whatever the lake holds.
    now: the load time recorded in extract_runs.loaded_at and warehouse_loads, and the "now" of
    the grant-time check (default: the clock).
    on_step: called after each step inside the transaction with the step's name, a colon and its
    real counts, e.g. "merge history: 12 version(s) opened or closed" (progress logging; an
    exception raised there aborts the load like any other failure).
    on_busy: called once when another writer (or, for a DuckDB file, any other process) holds the
    warehouse and the load starts waiting for it, up to the store's wait; then WarehouseLoadError.
    on_retry: called with (attempt, error) before the transaction runs again after a conflict.
    memory_limit: DuckDB's memory limit for the load (e.g. '256MB'); beyond it DuckDB spills to
    its temp folder, so the load's memory does not grow with the rows. None: DuckDB's default
    (80% of the machine's memory). ConfigurationError when DuckDB cannot read the value or it
    is below settings.WAREHOUSE_LOAD_MEMORY_MINIMUM (checked before the warehouse is opened).
    on_step is also told when opening the warehouse replaced an empty file (0 bytes).

    WarehouseLoadError when nothing was loaded, and also when the load committed but DuckDB
    could not write it into the warehouse file (a full disk): that message names the load id.

    A load that reads new snapshots (or the first one of a warehouse with no recorded load) runs
    every check inside its transaction and records a new load id with the results; the result
    carries the newest load id and its recorded checks either way.
    """
    if max_row_drop_share is not None and not 0 <= max_row_drop_share <= 1:
        raise ValueError(f"max_row_drop_share must lie in [0, 1], got {max_row_drop_share}")
    started = time.perf_counter()
    loaded_at = (now or datetime.now(UTC)).astimezone(UTC)
    step = on_step or (lambda _name: None)
    lake, warehouse = stores.lake, stores.warehouse
    if memory_limit:
        from qual_pipeline.settings import WAREHOUSE_LOAD_MEMORY_MINIMUM

        check_memory_limit(memory_limit, minimum=WAREHOUSE_LOAD_MEMORY_MINIMUM)
    try:
        with warehouse.writer(on_busy=on_busy, on_notice=step) as con:
            if memory_limit:
                set_memory_limit(con, memory_limit)
            ensure_schema(warehouse, con)
            lake.configure_duckdb(con)
            try:
                # Footers are read before the transaction, through the lake store, once.
                known = _loaded_snapshots(con)
                candidates = [
                    read_snapshot(lake, s) for s in _current_snapshots(lake) if _is_new(s, known)
                ]
            except SnapshotError as exc:
                raise WarehouseLoadError(f"Nothing was loaded: {exc}") from exc

            def write(con: duckdb.DuckDBPyConnection) -> _Written:
                # Runs again whole after a conflict: what is new is decided inside it.
                loaded = _loaded_snapshots(con)
                snapshots = [s for s in candidates if _is_new(s, loaded)]
                return _write_load(con, snapshots, loaded_at, max_row_drop_share, step, source)

            try:
                written = run_transaction(con, write, on_retry=on_retry)
            except (WarehouseLoadError, WarehouseConflictError):
                raise
            except duckdb.OutOfMemoryException as exc:
                raise WarehouseLoadError(
                    f"Loading the lake {lake.describe()} ran out of its memory limit "
                    f"({shown_memory_limit(memory_limit)}) and was rolled back; the warehouse is "
                    "unchanged. Load with more memory: QUAL_PIPELINE_WAREHOUSE_MEMORY or "
                    "--warehouse-memory (a merge load of 10,000,000 rows needs 256MB)"
                ) from exc
            except Exception as exc:
                raise WarehouseLoadError(
                    f"Loading the lake {lake.describe()} failed and was rolled back; the "
                    f"warehouse is unchanged. Cause: {exc}"
                ) from exc
            if written.recorded:
                try:
                    warehouse.checkpoint(con)
                except WarehouseCheckpointError as exc:
                    raise WarehouseLoadError(
                        f"Load {written.load_id} committed ({len(written.snapshots)} new "
                        f"snapshot(s)), but {exc}"
                    ) from exc
            wq_rows, history_rows = con.execute(
                "SELECT (SELECT count(*) FROM worker_qualifications), "
                "(SELECT count(*) FROM worker_qualification_history)"
            ).fetchall()[0]
            checks = recorded_checks(con, written.load_id) if written.load_id else []
    except WarehouseConflictError as exc:
        raise WarehouseLoadError(f"Nothing was loaded: {exc}") from exc
    except WarehouseStoreError as exc:  # busy, unreachable
        raise WarehouseLoadError(f"Nothing was loaded: {exc}") from exc
    snapshots = written.snapshots
    return LoadResult(
        warehouse=warehouse.describe(),
        loaded=tuple(
            LoadedSnapshot(
                s.lake_table, s.qualification_type_id, s.name, s.row_count, s.extracted_at
            )
            for s in snapshots
        ),
        changes=written.changes,
        worker_qualification_rows=wq_rows,
        history_rows=history_rows,
        duration_s=time.perf_counter() - started,
        load_id=written.load_id,
        checks=tuple(checks),
    )


def _write_load(
    con: duckdb.DuckDBPyConnection,
    snapshots: list[Snapshot],
    loaded_at: datetime,
    max_row_drop_share: float | None,
    step: StepHook,
    source: MTurkSource | None = None,
) -> _Written:
    """Every step of one load inside the caller's transaction."""
    if max_row_drop_share is not None:
        _guard_row_count_drops(con, snapshots, max_row_drop_share)
    by_table = {
        table: [s for s in snapshots if s.lake_table == table]
        for table in ("worker_qualifications", "qualification_requests", "qualification_types")
    }
    changes: dict[str, int] = {}
    unique: CheckResult | None = None
    recorded = False
    if by_table["worker_qualifications"]:
        changes, unique = _load_worker_qualifications(con, by_table["worker_qualifications"], step)
        run_sql_file(con, "load/drop_staging")
    if by_table["qualification_requests"]:
        requests = by_table["qualification_requests"]
        _load_partitioned_requests(con, requests)
        step(
            f"replace qualification_requests: {len(requests)} type(s), "
            f"{sum(s.row_count for s in requests):,} rows"
        )
    if by_table["qualification_types"]:
        types = by_table["qualification_types"]
        run_sql_file(
            con, "load/replace_qualification_types", {"files": [s.location for s in types]}
        )
        step(f"replace qualification_types: {sum(s.row_count for s in types):,} rows")
    if snapshots:
        runs = _extract_runs_table(snapshots, loaded_at)
        with registered(con, "new_extract_runs", runs):
            con.execute("INSERT INTO extract_runs BY NAME SELECT * FROM new_extract_runs")
        step(f"record extract_runs: {len(snapshots)} snapshot(s)")
    load_id = latest_load_id(con)
    if snapshots or load_id is None:
        checks = run_checks(
            con,
            now=loaded_at,
            unique=unique,
            max_row_drop_share=(
                DEFAULT_MAX_ROW_DROP_SHARE if max_row_drop_share is None else max_row_drop_share
            ),
        )
        load_id = _record_load(
            con, loaded_at, len(snapshots), sum(changes.values()), checks, source
        )
        recorded = True
        blocking = [c.name for c in checks if c.blocking and not c.passed]
        warned = [c.name for c in checks if not c.blocking and not c.passed]
        step(
            f"run checks: {len(checks) - len(blocking) - len(warned)} passed"
            + (f", blocking failed: {', '.join(blocking)}" if blocking else "")
            + (f", warnings: {', '.join(warned)}" if warned else "")
            + f"; load {load_id}"
        )
    return _Written(snapshots, changes, load_id, recorded)
