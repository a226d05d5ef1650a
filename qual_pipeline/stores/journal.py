"""The push journal's database and the one-pusher lock: SQLite and a file lock (local profile), or
PostgreSQL and an advisory lock (shared profile).

The journal itself (its tables, states and rules) lives in `qual_pipeline.push.journal` and speaks
to a `JournalDatabase`: plain SQL with `?` placeholders, explicit transactions, and `lock()`, the
right to push (or save a plan) for one journal. Both implementations keep the same promises:

- a transaction is committed durably before `transaction()` returns (SQLite: WAL with
  synchronous=FULL; PostgreSQL: a COMMIT), so a change marked 'sending' is on disk before its call;
- `lock()` refuses at once (JournalBusy, naming the holder) while another process holds it, and the
  lock dies with its holder: the OS drops a file lock of a killed process, PostgreSQL ends the
  session of a killed (or vanished) one;
- `ensure_locked()` raises LockLostError when the lock was lost (the PostgreSQL session ended),
  so the push stops before its next MTurk call rather than push unlocked.

SQLite: `<data_dir>/push_journal.sqlite`, lock file `<data_dir>/push_journal.lock`.
PostgreSQL: schema `qp_<environment>_<account>_journal` in the catalog database, lock keyed by
(environment, account): a push killed on one machine resumes from any other that reaches the
database.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final, Protocol

import psycopg2
import psycopg2.extras

from qual_pipeline.stores.locks import (
    KEEPALIVE_OPTIONS,
    LockError,
    LockHeldError,
    lock_key,
    push_lock,
)
from qual_pipeline.stores.namespace import Namespace
from qual_pipeline.stores.postgres import first_line, redact_dsn

JOURNAL_NAME: Final = "push_journal.sqlite"
LOCK_NAME: Final = "push_journal.lock"
SCHEMA_SUFFIX: Final = "_journal"
BATCH_ROWS: Final = 1000
BUSY_TIMEOUT_MS: Final = 10_000
COMPACT_MIN_BYTES: Final = 1 << 20
"""Free space in the journal below which `compact` leaves it as it is (1 MiB)."""
"""How long SQLite waits for another program's lock on the journal before it gives up."""
FULL_BELOW_BYTES: Final = 1 << 20
"""An I/O error with less room than this on the journal's disk is told as a full disk."""


class JournalBusy(RuntimeError):
    """Another push (or plan) holds the journal's lock."""


class JournalStoreError(RuntimeError):
    """The journal's database could not be reached, read or written; the message names it and
    the fix (never a password). `resumable`: False when the journal itself is damaged (a push
    cannot resume from it), else True (it holds what it held before the failed write)."""

    def __init__(self, message: str, *, resumable: bool = True) -> None:
        super().__init__(message)
        self.resumable = resumable


class Cursor(Protocol):
    """What a query returns (DB-API): rows, their column names, the rows an UPDATE touched."""

    description: Any
    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class JournalDatabase(ABC):
    """One open journal database. Use from one thread."""

    @abstractmethod
    def describe(self) -> str:
        """Where the journal is, for messages (never a password)."""

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """Run one statement (`?` placeholders) outside or inside `transaction()`."""

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    @abstractmethod
    def columns(self, table: str) -> set[str]:
        """The column names of `table` (empty when it does not exist)."""

    @abstractmethod
    def create(self, ddl: str) -> None:
        """Run the journal's DDL (idempotent: CREATE ... IF NOT EXISTS)."""

    @abstractmethod
    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction, committed when the block ends, rolled back on an exception."""

    @abstractmethod
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """The right to push or save a plan; JournalBusy at once while another holds it."""

    def ensure_locked(self) -> None:  # noqa: B027
        """LockLostError if the lock this process holds was lost (nothing to check locally)."""

    def compact(self) -> bool:
        """Give the space of dropped rows (a superseded plan's) back to the disk when they are a
        large share of the journal; True when it did. A no-op where the database does it itself
        (PostgreSQL's autovacuum)."""
        return False

    @abstractmethod
    def close(self) -> None: ...


class JournalStore(ABC):
    """Where the journal lives; `connect()` opens it."""

    @abstractmethod
    def describe(self) -> str: ...

    @abstractmethod
    def connect(self) -> JournalDatabase: ...


# ------------------------------------------------------------------------------------------ SQLite


class SqliteJournalStore(JournalStore):
    """`<data_dir>/push_journal.sqlite`, locked by `<data_dir>/push_journal.lock`."""

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir)

    def describe(self) -> str:
        return str(self.data_dir / JOURNAL_NAME)

    def connect(self) -> JournalDatabase:
        return SqliteJournal(self.data_dir)


# SQLite's primary result codes (the low byte of an extended code) a user can meet and fix.
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_IOERR = 5, 6, 8, 10
_SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 11, 13, 14, 26
_DAMAGED = (_SQLITE_CORRUPT, _SQLITE_NOTADB)


def sqlite_journal_problem(path: Path, error: sqlite3.Error | OSError) -> str:
    """One message for a journal file SQLite (or the OS) could not use: what is wrong with
    `path`, the fix, and that the unfinished write left nothing behind."""
    if isinstance(error, OSError):
        code = {28: _SQLITE_FULL, 13: _SQLITE_READONLY, 30: _SQLITE_READONLY, 1: _SQLITE_READONLY}
        primary = code.get(error.errno or 0, _SQLITE_IOERR)
        detail = error.strerror or type(error).__name__
    else:
        primary = (getattr(error, "sqlite_errorcode", 0) or 0) & 0xFF
        detail = str(error).strip() or type(error).__name__
    undone = "SQLite undid the unfinished write: the journal holds what it held before"
    if primary == _SQLITE_IOERR and _free_bytes(path.parent) < FULL_BELOW_BYTES:
        # e.g. SQLITE_IOERR_SHMSIZE: the WAL's shared-memory file could not grow on a full disk
        primary, detail = _SQLITE_FULL, f"{detail}, {_free_bytes(path.parent):,} bytes free"
    if primary == _SQLITE_FULL:
        return (
            f"The push journal {path} cannot be written: the disk is full ({detail}). {undone}. "
            f"Free space on the disk holding {path.parent}, then run the command again."
        )
    if primary in (_SQLITE_READONLY, _SQLITE_CANTOPEN):
        return (
            f"The push journal {path} cannot be opened for writing ({detail}): make it and its "
            f"folder writable by this user (e.g. `chmod u+w {path} {path.parent}`), then run "
            "the command again."
        )
    if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return (
            f"The push journal {path} is locked by another program ({detail}) that kept it "
            f"locked for {BUSY_TIMEOUT_MS // 1000} s (an sqlite3 shell or a database browser "
            "with a transaction open?): close it, then run the command again."
        )
    if primary in _DAMAGED:
        return (
            f"The push journal {path} is damaged: it cannot be read as an SQLite database "
            f"({detail}). Restore it from a backup, or move it away (e.g. `mv {path} "
            f"{path}.broken`) and run `qual-pipeline plan` again: a new journal starts empty, "
            "without the saved plans and the record of the pushes in the old file."
        )
    return (
        f"The push journal {path} cannot be read or written ({detail}): check the disk "
        f"holding {path.parent} (is it full or failing?), then run the command again."
    )


def _free_bytes(folder: Path) -> int:
    """Bytes an unprivileged write may still take on the disk holding `folder` (-1: unknown)."""
    try:
        found = os.statvfs(folder)
    except OSError:
        return -1
    return found.f_bavail * found.f_frsize


class _ReadCursor:
    """A statement's whole result, read while SQLite's errors are still translated."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self.description = cursor.description
        self._rows = cursor.fetchall()
        self.rowcount = cursor.rowcount

    def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows


class SqliteJournal(JournalDatabase):
    """Every SQLite or file error (full disk, read-only or locked or damaged file) is raised as
    JournalStoreError, one message naming the file and the fix (`sqlite_journal_problem`)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / JOURNAL_NAME
        self._db: sqlite3.Connection | None = None
        try:
            with self._errors():
                self.data_dir.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(self.path, isolation_level=None)
                self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
        except JournalStoreError:
            self.close()
            raise

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            if self._db is not None and self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            damaged = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF in _DAMAGED
            raise JournalStoreError(
                sqlite_journal_problem(self.path, exc), resumable=not damaged
            ) from None

    @property
    def _con(self) -> sqlite3.Connection:
        assert self._db is not None
        return self._db

    def describe(self) -> str:
        return str(self.path)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        with self._errors():
            return _ReadCursor(self._con.execute(sql, tuple(params)))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._errors():
            self._con.executemany(sql, rows)

    def columns(self, table: str) -> set[str]:
        with self._errors():
            return {r[1] for r in self._con.execute(f"PRAGMA table_info({table})").fetchall()}

    def create(self, ddl: str) -> None:
        with self._errors():
            self._con.executescript(ddl + ";")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self._errors():
            self._con.execute("BEGIN IMMEDIATE")
        try:
            yield
            with self._errors():
                self._con.execute("COMMIT")
        except BaseException:
            if self._con.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._con.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        with self._errors():
            handle = open(self.data_dir / LOCK_NAME, "a+")  # noqa: SIM115 (closed below)
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise JournalBusy(
                    f"another push or plan is running from {self.data_dir} "
                    "(it holds push_journal.lock); wait for it to finish"
                ) from None
            # The holder's pid, for a person looking (unbuffered: on a full disk the lock holds
            # without it, and nothing is left to flush when the file closes).
            with contextlib.suppress(OSError):
                os.ftruncate(handle.fileno(), 0)
                os.pwrite(handle.fileno(), str(os.getpid()).encode(), 0)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def compact(self) -> bool:
        """VACUUM the journal, then truncate its write-ahead log, when free pages (rows deleted,
        e.g. a superseded plan's) are at least COMPACT_MIN_BYTES and half the file: the file
        then holds only what is left. Housekeeping only: when it cannot run (a full disk:
        VACUUM needs a copy's space) the journal stays as it was, whole, and False is returned."""
        try:
            page_size = self._con.execute("PRAGMA page_size").fetchone()[0]
            pages = self._con.execute("PRAGMA page_count").fetchone()[0]
            free = self._con.execute("PRAGMA freelist_count").fetchone()[0]
            if free * page_size < COMPACT_MIN_BYTES or free * 2 < pages:
                return False
            self._con.execute("VACUUM")
            self._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            return False
        return True

    def close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()


# -------------------------------------------------------------------------------------- PostgreSQL


class PostgresJournalStore(JournalStore):
    """The journal in schema `qp_<environment>_<account>_journal` of the catalog database."""

    def __init__(self, dsn: str, namespace: Namespace) -> None:
        self.dsn = dsn
        self.namespace = namespace
        self.schema = namespace.sql_name + SCHEMA_SUFFIX

    def describe(self) -> str:
        return f"{redact_dsn(self.dsn)} (schema {self.schema})"

    def connect(self) -> JournalDatabase:
        return PostgresJournal(self)


class PostgresJournal(JournalDatabase):
    """Autocommit outside `transaction()`, explicit BEGIN/COMMIT inside, as with SQLite."""

    def __init__(self, store: PostgresJournalStore) -> None:
        self.store = store
        self._lock: Any = None
        try:
            self._db = psycopg2.connect(
                store.dsn,
                connect_timeout=10,
                application_name="qual_pipeline journal",
                options=KEEPALIVE_OPTIONS,
            )
        except psycopg2.Error as exc:
            raise JournalStoreError(
                f"Cannot reach the push journal's database {redact_dsn(store.dsn)}: "
                f"{first_line(exc)}"
            ) from None
        self._db.autocommit = True
        self._cursor = self._db.cursor()
        # Two processes creating the schema at once would collide: serialise the DDL.
        with self.transaction():
            self._cursor.execute(
                "SELECT pg_advisory_xact_lock(%s)", (lock_key("journal schema", store.namespace),)
            )
            self._cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{store.schema}"')
        self._cursor.execute(f'SET search_path TO "{store.schema}"')

    def describe(self) -> str:
        return self.store.describe()

    @staticmethod
    def _sql(sql: str) -> str:
        # The journal's SQL uses `?` and never a literal `?` or `%`.
        return sql.replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        cursor = self._db.cursor()
        cursor.execute(self._sql(sql), tuple(params))
        return cursor  # type: ignore[no-any-return]

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        psycopg2.extras.execute_batch(
            self._cursor, self._sql(sql), [tuple(r) for r in rows], page_size=BATCH_ROWS
        )

    def columns(self, table: str) -> set[str]:
        self._cursor.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s",
            (self.store.schema, table),
        )
        return {r[0] for r in self._cursor.fetchall()}

    def create(self, ddl: str) -> None:
        with self.transaction():
            self._cursor.execute(
                "SELECT pg_advisory_xact_lock(%s)",
                (lock_key("journal schema", self.store.namespace),),
            )
            self._cursor.execute(ddl)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self._cursor.execute("BEGIN")
        try:
            yield
        except BaseException:
            with contextlib.suppress(psycopg2.Error):
                self._cursor.execute("ROLLBACK")
            raise
        self._cursor.execute("COMMIT")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        lock = push_lock(self.store.dsn, self.store.namespace)
        try:
            lock.acquire()
        except LockHeldError as exc:
            raise JournalBusy(str(exc)) from None
        except LockError as exc:
            raise JournalStoreError(str(exc)) from None
        self._lock = lock
        try:
            yield
        finally:
            self._lock = None
            lock.release()

    def ensure_locked(self) -> None:
        if self._lock is not None:
            self._lock.ensure_held()

    def close(self) -> None:
        with contextlib.suppress(psycopg2.Error):
            self._db.close()
