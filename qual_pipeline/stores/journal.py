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


class JournalBusy(RuntimeError):
    """Another push (or plan) holds the journal's lock."""


class JournalStoreError(RuntimeError):
    """The journal's database could not be reached; the message names it (never a password)."""


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


class SqliteJournal(JournalDatabase):
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / JOURNAL_NAME
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")

    def describe(self) -> str:
        return str(self.path)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self._db.execute(sql, tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._db.executemany(sql, rows)

    def columns(self, table: str) -> set[str]:
        return {r[1] for r in self._db.execute(f"PRAGMA table_info({table})").fetchall()}

    def create(self, ddl: str) -> None:
        self._db.executescript(ddl + ";")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        with open(self.data_dir / LOCK_NAME, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise JournalBusy(
                    f"another push or plan is running from {self.data_dir} "
                    "(it holds push_journal.lock); wait for it to finish"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def close(self) -> None:
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
