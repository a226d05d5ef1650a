"""PostgreSQL advisory locks for the shared profile: one pusher, and one warehouse writer, per
(MTurk environment, requester account).

A lock is a session-level advisory lock (`pg_try_advisory_lock`) held on a connection of its own
for as long as its holder runs. PostgreSQL releases it when that session ends, however it ends: a
clean release, a crash, a kill -9 (the kernel closes the socket and the server ends the session at
once), or a machine that vanished (the server's TCP keepalives, set per session below, end the
session after about 60 s of silence). Nothing has to be cleaned up by hand, and no lock outlives its
holder.

The lock key is a 64-bit digest of (purpose, environment, account), so pushers of two accounts, or
of sandbox and production, never exclude each other; advisory locks are also scoped to the
database, so two catalogs on one server never share a lock.

A holder that lost its connection (a network cut) has lost the lock as well: `ensure_held` checks
it, and the push path calls it before every MTurk call so that it stops rather than push unlocked.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time
from datetime import datetime
from types import TracebackType
from typing import Any, Final, Self

import psycopg2

from qual_pipeline.stores.namespace import Namespace
from qual_pipeline.stores.postgres import first_line, redact_dsn

PUSH: Final = "push"
WAREHOUSE_WRITER: Final = "warehouse writer"
KEEPALIVE_OPTIONS: Final = (
    "-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3"
)
"""Server-side TCP keepalives for the lock's session: a holder whose machine vanished without
closing its socket loses the lock after about a minute."""
CONNECT_TIMEOUT_S: Final = 10


class LockError(RuntimeError):
    """The lock could not be taken or was lost; the message says who holds it and what to do."""


class LockHeldError(LockError):
    """Another live session holds the lock."""


class LockLostError(LockError):
    """This holder's session ended (connection lost): the lock may be held by someone else now."""


def lock_key(purpose: str, namespace: Namespace) -> int:
    """The signed 64-bit advisory lock key of (purpose, environment, account)."""
    digest = hashlib.sha256(
        f"qual_pipeline\0{purpose}\0{namespace.environment}\0{namespace.account}".encode()
    ).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class AdvisoryLock:
    """A session-level advisory lock for (purpose, namespace) on the PostgreSQL at `dsn`.

    Use as a context manager (`with AdvisoryLock(dsn, PUSH, ns):` refuses at once if held) or call
    `acquire(wait_s=...)` to wait for it. Holding it keeps one connection open.
    """

    def __init__(self, dsn: str, purpose: str, namespace: Namespace) -> None:
        self.dsn = dsn
        self.purpose = purpose
        self.namespace = namespace
        self.key = lock_key(purpose, namespace)
        self._con: Any = None

    @property
    def held(self) -> bool:
        return self._con is not None

    def _connect(self) -> Any:
        name = f"qual_pipeline {self.purpose} {socket.gethostname()}:{os.getpid()}"[:63]
        try:
            con = psycopg2.connect(
                self.dsn,
                connect_timeout=CONNECT_TIMEOUT_S,
                application_name=name,
                options=KEEPALIVE_OPTIONS,
                keepalives=1,
                keepalives_idle=30,
                keepalives_interval=10,
                keepalives_count=3,
            )
        except psycopg2.Error as exc:
            raise LockError(
                f"Cannot reach the PostgreSQL catalog at {redact_dsn(self.dsn)} to take the "
                f"{self.purpose} lock of {self.namespace}: {first_line(exc)}"
            ) from None
        con.autocommit = True
        return con

    def acquire(self, *, wait_s: float = 0.0) -> None:
        """Take the lock, waiting up to wait_s for its holder; LockHeldError naming the holder."""
        if self._con is not None:
            raise RuntimeError("this AdvisoryLock is already held")
        con = self._connect()
        deadline = time.monotonic() + wait_s
        delay = 0.05
        try:
            while True:
                with con.cursor() as cur:
                    cur.execute("SELECT pg_try_advisory_lock(%s)", (self.key,))
                    if cur.fetchone()[0]:
                        self._con = con
                        return
                if time.monotonic() >= deadline:
                    raise LockHeldError(self._held_message(con, wait_s))
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, 1.0)
        except BaseException:
            con.close()
            raise

    def _held_message(self, con: Any, wait_s: float) -> str:
        holder = self._holder(con)
        waited = f" (waited {wait_s:g} s)" if wait_s else ""
        return (
            f"Another {self.purpose} of {self.namespace} is running{waited}: {holder}. Only one "
            f"may run at a time; retry when it is done. The lock is released by itself when its "
            "holder ends, even if it was killed."
        )

    def _holder(self, con: Any) -> str:
        unsigned = self.key & 0xFFFFFFFFFFFFFFFF
        with con.cursor() as cur:
            cur.execute(
                "SELECT a.application_name, a.backend_start "
                "FROM pg_locks AS l JOIN pg_stat_activity AS a USING (pid) "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s "
                "AND l.objid = %s AND l.objsubid = 1 "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                (unsigned >> 32, unsigned & 0xFFFFFFFF),
            )
            row = cur.fetchone()
        if row is None:
            return "its holder just released it"
        name, since = row
        started = since.isoformat(timespec="seconds") if isinstance(since, datetime) else "?"
        return f"held by {name or 'an unnamed session'} since {started}"

    def ensure_held(self) -> None:
        """LockLostError if this holder's session has ended (it holds nothing any more)."""
        if self._con is None:
            raise LockLostError(f"The {self.purpose} lock of {self.namespace} is not held.")
        try:
            with self._con.cursor() as cur:
                cur.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid = pg_backend_pid() AND classid = %s AND objid = %s AND objsubid = 1",
                    ((self.key & 0xFFFFFFFFFFFFFFFF) >> 32, self.key & 0xFFFFFFFF),
                )
                if cur.fetchone()[0] == 1:
                    return
        except psycopg2.Error:
            pass
        self._drop()
        raise LockLostError(
            f"The {self.purpose} lock of {self.namespace} was lost (its PostgreSQL session "
            "ended); stopping so that two never run at once."
        )

    def release(self) -> None:
        """Release the lock (closing its session releases it too); safe to call twice."""
        if self._con is None:
            return
        try:
            # A session that is gone took the lock with it: nothing to unlock then.
            with contextlib.suppress(psycopg2.Error), self._con.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        finally:
            self._drop()

    def _drop(self) -> None:
        con, self._con = self._con, None
        if con is not None:
            with contextlib.suppress(psycopg2.Error):
                con.close()

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def push_lock(dsn: str, namespace: Namespace) -> AdvisoryLock:
    """The one-pusher lock of `namespace`: `with push_lock(dsn, ns):` refuses at once
    (LockHeldError naming the holder) while another push of the same account runs."""
    return AdvisoryLock(dsn, PUSH, namespace)
