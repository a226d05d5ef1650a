"""The warehouse store: a DuckDB file (local profile) or DuckLake (shared profile).

Both give DuckDB connections on which the warehouse SQL runs unchanged, with the warehouse's catalog
in use:

- `DuckDBFileWarehouse(path)`: one file; DuckDB lets one process write it and then no other open
  it, so a held file is waited for (wait_s) and then reported as WarehouseBusyError.
- `DuckLakeWarehouse(catalog, storage, namespace)`: DuckLake with its catalog in PostgreSQL (schema
  `qp_<environment>_<account>`) and its data files under `s3://BUCKET/PREFIX/warehouse/<environment>/
  <account>/`. Readers attach read-only and read the last committed snapshot: they never wait for a
  writer. Writers run one at a time per namespace (`write` holds the namespace's PostgreSQL
  advisory lock "warehouse writer", released if the writer dies): DuckLake's own conflict check
  refuses concurrent deletes from one table, but two transactions that only insert into a table
  (e.g. two first loads) would both commit and double the rows, so loads are serialized, and a
  conflict that still happens (another writer outside the lock) is retried as a whole.

Schema DDL runs as a migration once per version (`migrate`): the applied versions are recorded in
the table `qual_pipeline_migrations`; opening the warehouse runs no DDL, so readers and writers of
the same version never conflict on `CREATE OR REPLACE VIEW` (which DuckLake refuses between
concurrent writers).

The catalog DSN (`postgresql://USER@HOST:PORT/DB`) should carry no password: libpq reads it from
PGPASSWORD or ~/.pgpass. If it does carry one, it is never shown: messages name the DSN without it.
"""

from __future__ import annotations

import logging
import random
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, TypeVar

import duckdb

from qual_pipeline.stores.duckdb_extensions import connect, load_extensions
from qual_pipeline.stores.locks import WAREHOUSE_WRITER, AdvisoryLock, LockError, LockHeldError
from qual_pipeline.stores.namespace import Namespace
from qual_pipeline.stores.object_storage import S3Storage
from qual_pipeline.stores.postgres import first_line, redact_dsn, scrub

T = TypeVar("T")
OnBusy = Callable[[], None]
"""Called once when the warehouse is found busy and the caller will wait (e.g. to say so)."""
OnNotice = Callable[[str], None]
"""Told, as one line, what opening the warehouse did beyond opening it (e.g. that it replaced an
empty file); without one, the line goes to this module's logger as a warning."""
LOG = logging.getLogger(__name__)

CATALOG: Final = "warehouse"
"""The name the warehouse is attached under on a DuckLake connection."""
MIGRATIONS_TABLE: Final = "qual_pipeline_migrations"
COMMIT_ATTEMPTS: Final = 5
WRITER_WAIT_S: Final = 600.0
"""How long a writer waits for the one before it (a load takes seconds to minutes)."""
BUSY_WAIT_S: Final = 0.0


BLOCK_START: Final = 3 * 4096
"""Where a DuckDB file's first block begins: after its main header and two database headers."""
LOCKED: Final = "could not set lock on file"
CORRUPT: Final = "Corrupt database file"
SHORT_READ: Final = "Could not read enough bytes from file"
"""Lower-cased and plain parts of DuckDB's messages: another process holds the file, a block's
checksum does not match, a read past the end of the file (followed by the file's path)."""


class WarehouseStoreError(RuntimeError):
    """The warehouse could not be opened or written; the message names it and the fix."""


class WarehouseNotFoundError(WarehouseStoreError, FileNotFoundError):
    """Nothing was loaded into this warehouse yet."""


class WarehouseBusyError(WarehouseStoreError):
    """Another writer holds the warehouse and did not finish within the wait."""


class WarehouseUnreadableError(WarehouseStoreError):
    """The warehouse file exists but DuckDB cannot open it as a database (damaged, or another
    kind of file); the message names the file and how to recover."""


class WarehouseCheckpointError(WarehouseStoreError):
    """Committed work could not be written from the write-ahead log into the database file."""


class WarehouseConflictError(WarehouseStoreError):
    """A transaction kept conflicting with concurrent writers; nothing of it was committed."""


ALLOCATOR_FLUSH_THRESHOLD = "16MB"
"""Freed memory DuckDB's allocator may keep cached before it returns it to the system."""
STREAMING_SHARE: Final = 0.5
"""The share of a load's memory limit its streaming statements run within (`memory_held_to`):
the inserts of lake rows as they are. What they need does not grow with the rows (a batch of
rows per thread and the rows appended but not yet written as blocks), but within the whole limit
DuckDB keeps every block they write cached up to it: 128MB of the default 256MB (README, Memory
of a refresh). The uniqueness check is held too: it groups the keys' hashes in slices sized to
the held limit (`warehouse.checks.uniqueness_slices`); grouped at once, a merge load's 10,000,000
ran out of 128MB."""


def shown_memory_limit(memory_limit: str | None) -> str:
    """How a message names the memory limit a connection ran with: as the setting gives it, or
    `none set, DuckDB's default` for None or empty."""
    text = (memory_limit or "").strip()
    return text or "none set, DuckDB's default"


def set_memory_limit(
    con: duckdb.DuckDBPyConnection, memory_limit: str, *, where: str | None = None
) -> None:
    """Hold DuckDB to `memory_limit` (e.g. '256MB'); beyond it, sorts, joins and aggregates spill
    to DuckDB's temp folder, and inserts do not keep the order of the rows they read.
    ConfigurationError when DuckDB cannot read the value, naming it as `where` says (e.g.
    `--warehouse-memory abc`; default `QUAL_PIPELINE_WAREHOUSE_MEMORY='abc'`)."""
    from qual_pipeline import settings

    text = memory_limit.strip()
    where = where or f"{settings.WAREHOUSE_MEMORY.env}={memory_limit!r}"
    problem = f"{where} is not a memory size DuckDB reads; write it as e.g. 256MB or 2GB"
    if not text or not all(c.isalnum() or c in ". " for c in text):
        raise settings.ConfigurationError(problem)
    try:
        con.execute(f"SET memory_limit = '{text}'")
        # Inserts from thousands of lake files need not keep the files' order; keeping it holds
        # every file's rows in memory until the earlier ones are written (out of memory at 300
        # small types under 64MB, 2,000 under 256MB). Every query that needs an order says so.
        con.execute("SET preserve_insertion_order = false")
        # Memory DuckDB frees goes back to the system once a task freed more than this, instead
        # of staying cached in its allocator (128MB by default, on top of the limit).
        con.execute(f"SET allocator_flush_threshold = '{ALLOCATOR_FLUSH_THRESHOLD}'")
        con.execute(
            f"SET allocator_bulk_deallocation_flush_threshold = '{ALLOCATOR_FLUSH_THRESHOLD}'"
        )
    except duckdb.Error as exc:
        raise settings.ConfigurationError(problem) from exc


@contextmanager
def memory_held_to(
    con: duckdb.DuckDBPyConnection, share: float = STREAMING_SHARE
) -> Iterator[None]:
    """Hold DuckDB to `share` of the connection's memory limit for the block (never below
    settings.WAREHOUSE_LOAD_MEMORY_MINIMUM), then give the connection its limit back (as DuckDB
    shows it, to 0.1 MiB); nothing when the limit is that minimum or lower, or not a size.

    Lowering the limit evicts what DuckDB keeps cached beyond it (blocks it wrote or read and no
    longer uses; written blocks are read back from the file when needed) before the block
    starts, and keeps it evicting as the block writes more; raising the connection's limit
    raises the held one too. If the lowering fails (memory DuckDB cannot evict), the block runs
    within the connection's own limit. The limit is database-wide: meant for a connection that
    is its database's only one (a load's). An error of the block is raised as it is; when it
    aborted the transaction, the held limit stays until the connection is closed (a load's is)."""
    from qual_pipeline import settings

    row = con.execute("SELECT current_setting('memory_limit')").fetchone()
    current = str(row[0]) if row else ""
    own, least = memory_bytes(current), memory_bytes(settings.WAREHOUSE_LOAD_MEMORY_MINIMUM)
    if own is None or least is None or own <= least:
        yield
        return
    held = max(least, int(own * share))
    try:
        con.execute(f"SET memory_limit = '{held}B'")
    except duckdb.OutOfMemoryException:
        yield
        return
    failed = True
    try:
        yield
        failed = False
    finally:
        try:
            con.execute(f"SET memory_limit = '{current}'")
        except duckdb.Error:
            if not failed:
                raise


_MEMORY_UNITS: Final = {
    **dict.fromkeys(("b", "byte", "bytes"), 1),
    **dict.fromkeys(("kb", "k", "kilobyte", "kilobytes"), 1000),
    **dict.fromkeys(("mb", "m", "megabyte", "megabytes"), 1000**2),
    **dict.fromkeys(("gb", "g", "gigabyte", "gigabytes"), 1000**3),
    **dict.fromkeys(("tb", "t", "terabyte", "terabytes"), 1000**4),
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
"""DuckDB's units of memory (DBConfig::ParseMemoryLimit), lower case."""
_MEMORY_SIZE: Final = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*")


def memory_bytes(memory_limit: str) -> int | None:
    """The bytes a memory limit as DuckDB writes it stands for (`32MB` 32,000,000, `32MiB`
    33,554,432, KB to TB in powers of 1000, KiB to TiB of 1024); None for what this does not
    read as a number and a unit (e.g. DuckDB's `none`)."""
    found = _MEMORY_SIZE.fullmatch(memory_limit.lower())
    if found is None or found.group(2) not in _MEMORY_UNITS:
        return None
    return int(float(found.group(1)) * _MEMORY_UNITS[found.group(2)])


def check_memory_limit(
    memory_limit: str, *, where: str | None = None, minimum: str | None = None
) -> None:
    """ConfigurationError (see `set_memory_limit`) unless DuckDB reads `memory_limit`; tried on
    an in-memory connection, so a command can refuse a bad value before it does anything.
    minimum: a memory size (e.g. settings.WAREHOUSE_LOAD_MEMORY_MINIMUM) below which the value is
    refused too, naming it as `where` says and the minimum."""
    from qual_pipeline import settings

    if minimum is not None:
        wanted, least = memory_bytes(memory_limit), memory_bytes(minimum)
        if wanted is not None and least is not None and wanted < least:
            shown = where or f"{settings.WAREHOUSE_MEMORY.env}={memory_limit!r}"
            raise settings.ConfigurationError(
                f"{shown} is less than a warehouse load needs: give it at least {minimum} "
                f"(the default is {settings.WAREHOUSE_MEMORY.default})"
            )
    with duckdb.connect() as con:
        set_memory_limit(con, memory_limit, where=where)


def is_conflict(exc: BaseException) -> bool:
    """True for a transaction conflict (DuckLake's refused COMMIT, DuckDB's write conflict)."""
    return isinstance(exc, duckdb.TransactionException) and "conflict" in str(exc).lower()


def run_transaction(
    con: duckdb.DuckDBPyConnection,
    work: Callable[[duckdb.DuckDBPyConnection], T],
    *,
    attempts: int = COMMIT_ATTEMPTS,
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> T:
    """Run `work(con)` between BEGIN and COMMIT; a conflict retries the whole of it.

    `work` must be re-runnable: it reads what it needs inside the transaction. Any other error
    rolls back and propagates. After `attempts` conflicting tries, WarehouseConflictError.
    on_retry(attempt, error) is called before each retry (for logging).
    """
    for attempt in range(1, attempts + 1):
        con.execute("BEGIN TRANSACTION")
        try:
            result = work(con)
            con.execute("COMMIT")
            return result
        except BaseException as exc:
            # After a refused COMMIT the transaction is already over and ROLLBACK raises.
            with suppress(duckdb.Error):
                con.execute("ROLLBACK")
            if not is_conflict(exc):
                raise
            if attempt == attempts:
                raise WarehouseConflictError(
                    f"The warehouse transaction conflicted with other writers {attempts} times; "
                    f"nothing of it was committed. Retry later. (last: {first_line(exc)})"
                ) from exc
            if on_retry is not None:
                on_retry(attempt, exc)
            time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")


class WarehouseStore(ABC):
    """Open the warehouse for reading or writing, write one transaction at a time, migrate."""

    @abstractmethod
    def describe(self) -> str:
        """Where the warehouse is, for messages (never a password)."""

    @abstractmethod
    def connect(self, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """A connection with the warehouse's catalog in use; the caller closes it.

        read_only: WarehouseNotFoundError if nothing was created yet.
        """

    @abstractmethod
    @contextmanager
    def writer(
        self, *, on_busy: OnBusy | None = None, on_notice: OnNotice | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A writable connection held as the warehouse's only writer for the block; waits for
        the current writer (on_busy is told once when it starts waiting), WarehouseBusyError
        after the store's wait; on_notice: see OnNotice."""

    def write(
        self,
        work: Callable[[duckdb.DuckDBPyConnection], T],
        *,
        attempts: int = COMMIT_ATTEMPTS,
        on_retry: Callable[[int, BaseException], None] | None = None,
        on_busy: OnBusy | None = None,
    ) -> T:
        """Run `work` in one transaction as the only writer; conflicts retried as a whole."""
        with self.writer(on_busy=on_busy) as con:
            return run_transaction(con, work, attempts=attempts, on_retry=on_retry)

    def require(self) -> None:
        """WarehouseNotFoundError (saying to refresh first) when nothing was loaded yet."""
        self.connect(read_only=True).close()

    def damage(self, error: BaseException) -> WarehouseUnreadableError | None:
        """The damaged-warehouse error (naming it and the way back) when `error`, or an error
        it was raised from, is DuckDB finding the warehouse's storage damaged; else None. Only a
        DuckDB file can be damaged this way: DuckLake's files are checked by DuckLake."""
        return None

    @contextmanager
    def reporting_damage(self) -> Iterator[None]:
        """Raise `damage(error)` instead of an error of the block that comes from damaged
        storage (e.g. a plan's query meeting a corrupt block): the user is told the warehouse is
        damaged and how to recover, not that a query or an input failed."""
        try:
            yield
        except WarehouseUnreadableError:
            raise
        except Exception as exc:
            damaged = self.damage(exc)
            if damaged is None:
                raise
            raise damaged from exc

    def checkpoint(self, con: duckdb.DuckDBPyConnection) -> None:  # noqa: B027
        """Fold the write-ahead log into the database after a large write (where that exists)."""

    def applied_migrations(self, con: duckdb.DuckDBPyConnection) -> set[str]:
        """The schema versions recorded as applied (read only; empty on a new warehouse)."""
        exists = con.execute(
            "SELECT count(*) FROM duckdb_tables() "
            "WHERE database_name = current_database() AND table_name = ?",
            [MIGRATIONS_TABLE],
        ).fetchone()
        if not exists or not exists[0]:
            return set()
        return {row[0] for row in con.execute(f"SELECT version FROM {MIGRATIONS_TABLE}").fetchall()}

    def migrate(self, version: str, apply: Callable[[duckdb.DuckDBPyConnection], None]) -> bool:
        """Apply schema `version` once: `apply(con)` runs inside a transaction that also records
        the version, unless it was recorded before. Returns True if this call applied it.

        Checking is a read: a warehouse already at `version` gets no DDL and no new snapshot.
        Concurrent migrators: one applies, the others find it recorded (conflicts are retried).
        """
        try:
            con = self.connect(read_only=True)  # a read: creates nothing
        except WarehouseNotFoundError:
            pass
        else:
            try:
                if version in self.applied_migrations(con):
                    return False
            finally:
                con.close()
        with self.writer() as con:
            return self.migrate_with(con, version, apply)

    def migrate_with(
        self,
        con: duckdb.DuckDBPyConnection,
        version: str,
        apply: Callable[[duckdb.DuckDBPyConnection], None],
    ) -> bool:
        """`migrate` on a connection of `writer()` the caller holds (e.g. a load about to write);
        a read when the version is recorded already."""
        if version in self.applied_migrations(con):
            return False

        def apply_once(con: duckdb.DuckDBPyConnection) -> bool:
            con.execute(
                f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
                "(version VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
            )
            if version in self.applied_migrations(con):
                return False
            apply(con)
            con.execute(
                f"INSERT INTO {MIGRATIONS_TABLE} VALUES (?, ?)", [version, datetime.now(UTC)]
            )
            return True

        return run_transaction(con, apply_once)


# -------------------------------------------------------------------------------------- DuckDB file


class DuckDBFileWarehouse(WarehouseStore):
    """The warehouse as one DuckDB file (local profile)."""

    def __init__(self, path: Path | str, *, wait_s: float = BUSY_WAIT_S) -> None:
        self.path = Path(path)
        self.wait_s = wait_s

    def describe(self) -> str:
        return str(self.path)

    def connect(
        self,
        *,
        read_only: bool = False,
        on_busy: OnBusy | None = None,
        on_notice: OnNotice | None = None,
    ) -> duckdb.DuckDBPyConnection:
        """Connect, retrying with backoff (50 ms doubling to 1 s) while another process holds
        the file, for up to the store's wait_s; on_busy is told once when the wait begins.

        An empty file (0 bytes: DuckDB could not write even its header, e.g. on a full disk)
        holds nothing: a reader is told there is no warehouse (WarehouseNotFoundError), a writer
        replaces it with a new database and says so through on_notice. A file DuckDB cannot open
        otherwise raises WarehouseUnreadableError naming it and the way back."""
        if read_only:
            self.require()
        elif self.path.is_dir():
            raise WarehouseStoreError(self.folder_message())
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.wait_s
        delay = 0.05
        told = replaced = False
        while True:
            try:
                con = connect(str(self.path), read_only=read_only)
            except duckdb.Error as exc:
                # DuckDB's "Could not set lock on file": not "lock" alone, which a damaged
                # file's "Corrupt database file: ... in block at location N" holds too.
                if not isinstance(exc, duckdb.IOException) or LOCKED not in str(exc).lower():
                    # Once: a disk still full leaves the new file empty too.
                    if not read_only and not replaced and self._replaced_empty(on_notice):
                        replaced = True
                        continue
                    raise self._cannot_open(exc) from None
                if on_busy is not None and not told:
                    told = True
                    on_busy()
                if time.monotonic() >= deadline:
                    raise WarehouseBusyError(
                        f"Cannot open {self.path} for {'reading' if read_only else 'writing'}: "
                        "another process holds it (a load, a push or a query session). Retry "
                        f"when it is done. ({first_line(exc)})"
                    ) from exc
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
            else:
                try:
                    with self.reporting_damage():
                        self._check_whole(con)
                except BaseException:
                    con.close()
                    raise
                return con

    def _check_whole(self, con: duckdb.DuckDBPyConnection) -> None:
        """WarehouseUnreadableError when the file ends before a block the database uses (a
        file cut at its tail: DuckDB opens it and fails only the query that reads a missing
        block, so a command reading other blocks would succeed on a damaged warehouse).

        The header's block count (pragma_database_size) is checked first; only a file shorter
        than that (which DuckDB leaves too, after it releases free blocks at the end) has the
        blocks in use listed: every table's column segments and the metadata blocks."""
        size = self.path.stat().st_size
        row = con.execute(
            "SELECT block_size, total_blocks FROM pragma_database_size() "
            "WHERE database_name = current_database()"
        ).fetchone()
        if row is None or size >= BLOCK_START + row[0] * row[1]:
            return
        block_size = row[0]
        used = {r[0] for r in con.execute("SELECT block_id FROM pragma_metadata_info()").fetchall()}
        tables = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = current_schema()"
        ).fetchall()
        for (table,) in tables:
            for block, more in con.execute(
                "SELECT block_id, additional_block_ids FROM pragma_storage_info(?) "
                "WHERE persistent",
                [table],
            ).fetchall():
                used.update(b for b in [block, *(more or [])] if b is not None and b >= 0)
        if used and size < BLOCK_START + (max(used) + 1) * block_size:
            raise WarehouseUnreadableError(
                self._damaged(
                    f"the file ends at byte {size:,}, before block {max(used)}, which the "
                    f"database uses and which ends at byte "
                    f"{BLOCK_START + (max(used) + 1) * block_size:,}"
                )
            )

    def damage(self, error: BaseException) -> WarehouseUnreadableError | None:
        """See WarehouseStore.damage: DuckDB's "Corrupt database file" (a block whose checksum
        does not match) or a read past the end of this file. A failed checkpoint is not
        damage (WarehouseCheckpointError says what it is)."""
        seen: BaseException | None = error
        for _ in range(20):
            if seen is None or isinstance(seen, WarehouseCheckpointError):
                return None
            if isinstance(seen, WarehouseUnreadableError):
                return seen
            if isinstance(seen, duckdb.Error):
                text = str(seen)
                names = {str(self.path), str(self.path.absolute()), str(self.path.resolve())}
                if CORRUPT in text or any(f'{SHORT_READ} "{name}"' in text for name in names):
                    return WarehouseUnreadableError(self._damaged(first_line(seen)))
            seen = seen.__cause__ or seen.__context__
        return None

    def require(self) -> None:
        if self.path.is_dir():
            raise WarehouseStoreError(self.folder_message())
        if not self.path.is_file():
            raise WarehouseNotFoundError(
                f"No warehouse at {self.path}: run `qual-pipeline refresh` first (or point "
                "QUAL_PIPELINE_DATA_DIR at the data directory that holds warehouse.duckdb)."
            )
        if self._empty():
            raise WarehouseNotFoundError(
                f"No warehouse at {self.path}: the file is empty (a load could not write it, "
                "e.g. on a full disk); run `qual-pipeline refresh` to create it."
            )
        if self._empty_with_log():
            raise WarehouseNotFoundError(
                f"No warehouse at {self.path}: the file is empty (0 bytes), so nothing it held "
                f"is left, and the write-ahead log beside it ({self.wal.name}) holds changes to "
                "what it held, which DuckDB does not replay without it. Run `qual-pipeline "
                f"refresh`: it keeps the log aside as {self._aside().name} and creates a new "
                "warehouse from the lake."
            )

    @property
    def wal(self) -> Path:
        """DuckDB's write-ahead log of the file: committed work not yet written into it."""
        return self.path.with_name(self.path.name + ".wal")

    def _empty(self) -> bool:
        """True for a 0-byte file with no write-ahead log beside it: nothing can be in it."""
        try:
            return self.path.stat().st_size == 0 and not (
                self.wal.exists() and self.wal.stat().st_size > 0
            )
        except FileNotFoundError:
            return False

    def _empty_with_log(self) -> bool:
        """True for a 0-byte file with a write-ahead log beside it. The log holds changes made
        after a checkpoint of the file, which the file no longer has: DuckDB refuses the empty
        file, and once the file is gone it creates a new database and deletes the log unread."""
        try:
            return self.path.stat().st_size == 0 and self.wal.stat().st_size > 0
        except FileNotFoundError:
            return False

    def _aside(self) -> Path:
        """Where the log of an empty file is kept: `warehouse.duckdb.wal.orphaned`, or with
        `.1`, `.2`... when that exists."""
        aside = self.wal.with_name(self.wal.name + ".orphaned")
        n = 0
        while aside.exists() or aside.is_symlink():
            n += 1
            aside = self.wal.with_name(f"{self.wal.name}.orphaned.{n}")
        return aside

    def _replaced_empty(self, on_notice: OnNotice | None) -> bool:
        """Remove the file if it is empty (DuckDB then creates a new one); True if it did. A
        write-ahead log beside an empty file is renamed aside first (see `_empty_with_log`):
        kept, never replayed into the new warehouse nor deleted.

        Called after DuckDB refused the file, which it does only once it holds the file's lock:
        no other process is writing it."""
        if self._empty_with_log():
            aside = self._aside()
            self.wal.rename(aside)
            self.path.unlink(missing_ok=True)
            notice = (
                f"{self.path} was an empty file with a write-ahead log beside it: the file held "
                f"nothing, and its log, which holds changes to what it held, is kept as "
                f"{aside.name} (not replayed); the file is replaced by a new warehouse"
            )
        elif self._empty():
            self.path.unlink(missing_ok=True)
            notice = (
                f"{self.path} was an empty file (a load could not write it, e.g. on a full "
                "disk): it held nothing and is replaced by a new warehouse"
            )
        else:
            return False
        if on_notice is not None:
            on_notice(notice)
        else:
            LOG.warning(notice)
        return True

    def _cannot_open(self, exc: duckdb.Error) -> WarehouseStoreError:
        """The error to raise when DuckDB refused to open the file for `exc` (not a lock)."""
        reason = first_line(exc)
        system = ("Permission denied", "No space left", "Read-only")
        if not self.path.is_file() or self._empty() or any(text in reason for text in system):
            fix = " Free space on that disk and try again." if "No space left" in reason else ""
            return WarehouseStoreError(f"Cannot open the warehouse {self.path}: {reason}.{fix}")
        return WarehouseUnreadableError(self._damaged(reason))

    def _damaged(self, reason: str) -> str:
        """The one message for a damaged warehouse file: what DuckDB found (`reason`), the way
        back, and what a rebuild from the lake loses."""
        return (
            f"The warehouse {self.path} is damaged: DuckDB cannot read it as a database "
            f"({reason}). Restore it from a backup, or move it away (e.g. `mv {self.path} "
            f"{self.path}.broken`) and run `qual-pipeline refresh`, which builds a new "
            "warehouse from each type's newest snapshot in the lake: the current qualifications, "
            "requests and types come back, but the change history before them, the earlier "
            "loads and their check results are only in the old file."
        )

    def folder_message(self) -> str:
        """What to say when a folder stands where the warehouse file belongs."""
        return (
            f"{self.path} is a folder, not the warehouse file (a DuckDB file of that name): "
            f"move it away (e.g. `mv {self.path} {self.path}.folder`), or point "
            f"QUAL_PIPELINE_DATA_DIR at another data folder, then run `qual-pipeline refresh`"
        )

    def checkpoint(self, con: duckdb.DuckDBPyConnection) -> None:
        """CHECKPOINT; WarehouseCheckpointError when DuckDB cannot write the file (committed work
        stays in the write-ahead log, which the next open replays)."""
        try:
            con.execute("CHECKPOINT")
        except duckdb.Error as exc:
            raise WarehouseCheckpointError(
                f"writing it from the write-ahead log {self.wal} into {self.path} (DuckDB's "
                f"checkpoint) failed: {first_line(exc)}. The log keeps it: queries see it, and "
                f"the next refresh replays the log into the file. Free space on the disk that "
                f"holds {self.path.parent} first."
            ) from exc

    @contextmanager
    def writer(
        self, *, on_busy: OnBusy | None = None, on_notice: OnNotice | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        # The file lock makes the holder the only writer (and the only process) already.
        con = self.connect(on_busy=on_busy, on_notice=on_notice)
        try:
            with self.reporting_damage():
                yield con
        finally:
            con.close()


# ----------------------------------------------------------------------------------------- DuckLake


class DuckLakeWarehouse(WarehouseStore):
    """The warehouse as DuckLake: catalog in PostgreSQL at `catalog` (a libpq DSN or URI), data
    files on `storage` under `warehouse/<environment>/<account>/`, keyed by `namespace`.

    writer_wait_s: how long a writer waits for the namespace's current writer to finish.
    """

    def __init__(
        self,
        catalog: str,
        storage: S3Storage,
        namespace: Namespace,
        *,
        writer_wait_s: float = WRITER_WAIT_S,
    ) -> None:
        self.catalog = catalog
        self.storage = storage
        self.namespace = namespace
        self.writer_wait_s = writer_wait_s
        self.data_path = (
            storage.location.child("warehouse", namespace.environment, namespace.account).url()
            + "/"
        )
        self.metadata_schema = namespace.sql_name

    def describe(self) -> str:
        return f"DuckLake {redact_dsn(self.catalog)} ({self.metadata_schema}), {self.data_path}"

    def connect(self, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        con = connect()
        try:
            load_extensions(con, "httpfs", "ducklake", "postgres_scanner")
            self.storage.configure_duckdb(con)
            options = [
                f"DATA_PATH {_literal(self.data_path)}",
                f"METADATA_SCHEMA {_literal(self.metadata_schema)}",
            ]
            if read_only:
                options.append("READ_ONLY")
            try:
                con.execute(
                    f"ATTACH {_literal('ducklake:postgres:' + self.catalog)} AS {CATALOG} "
                    f"({', '.join(options)})"
                )
            except duckdb.Error as exc:
                # DuckDB's message quotes the DSN, password included: never pass it on.
                message = scrub(first_line(exc), self.catalog)
                if read_only and "does not exist" in message:
                    raise WarehouseNotFoundError(
                        f"No warehouse in {self.describe()}: run `qual-pipeline refresh` first."
                    ) from None
                raise WarehouseStoreError(
                    f"Cannot open the warehouse {self.describe()}: {message}"
                ) from None
            con.execute(f"USE {CATALOG}")
        except BaseException:
            con.close()
            raise
        return con

    @contextmanager
    def writer(
        self, *, on_busy: OnBusy | None = None, on_notice: OnNotice | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        lock = AdvisoryLock(self.catalog, WAREHOUSE_WRITER, self.namespace)
        try:
            try:
                lock.acquire()
            except LockHeldError:
                if on_busy is not None:
                    on_busy()
                lock.acquire(wait_s=self.writer_wait_s)
        except LockHeldError as exc:
            raise WarehouseBusyError(str(exc)) from None
        except LockError as exc:
            raise WarehouseStoreError(str(exc)) from None
        try:
            con = self.connect()
            try:
                yield con
            finally:
                con.close()
        finally:
            lock.release()


def _literal(text: str) -> str:
    """A SQL string literal (for ATTACH, which takes no parameters)."""
    return "'" + text.replace("'", "''") + "'"
