"""The push journal: a write-ahead record that makes a push resumable after kill -9 or a power cut.

SQLite in WAL mode with synchronous=FULL, at <data_dir>/push_journal.sqlite. A whole plan is written
as 'pending' in one transaction before anything is sent; each change is marked 'sending' (committed)
before its call and 'sent' after it, so a row left in 'sending' is exactly a change whose outcome is
unknown and must be read back before it is sent again. The attempts table is the outbox of the
DuckDB push_audit table. DDL: sql/push_journal.sql.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qual_pipeline.push.plan import SQL_DIR, read_sql

JOURNAL_NAME = "push_journal.sqlite"
LOCK_NAME = "push_journal.lock"
OPEN_STATES = ("pending", "sending", "sent")
FINAL_STATES = ("verified", "mismatch", "failed")


class JournalBusy(RuntimeError):
    """Another push holds the journal of this data directory."""


@dataclass(frozen=True)
class PlanRecord:
    plan_id: str
    kind: str
    environment: str
    send_notifications: bool
    total: int
    state: str
    created_at: str


@dataclass(frozen=True)
class Change:
    """One journalled change, as the sender needs it."""

    plan_id: str
    seq: int
    action: str
    qualification_type_id: str
    worker_id: str
    qualification_request_id: str | None
    old_value: int | None
    new_value: int | None
    reject_reason: str | None
    state: str
    attempt: int


@dataclass(frozen=True)
class Outcome:
    """What one attempt ended as; written to the change and to its attempt row together."""

    change: Change
    state: str  # the change's new state
    status: str  # the attempt's status
    observed_value: int | None = None
    observed_status: str | None = None
    error: str | None = None


def now_utc() -> str:
    return datetime.now(UTC).isoformat()


class Journal:
    """One data directory's push journal. Use from a single thread; hold `lock()` while pushing."""

    def __init__(self, data_dir: Path, sql_dir: Path = SQL_DIR) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / JOURNAL_NAME
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(read_sql("push_journal", sql_dir) + ";")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive right to push from this data directory; released by the OS even on kill -9."""
        with open(self.data_dir / LOCK_NAME, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise JournalBusy(
                    f"another push is running from {self.data_dir} "
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

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # plans

    def add_plan(
        self,
        *,
        kind: str,
        environment: str,
        send_notifications: bool,
        batches: Iterable[list[dict[str, Any]]],
    ) -> PlanRecord:
        """Journal every change of a plan as 'pending', all in one transaction.

        The plan id is the SHA-256 of the plan's contents (first 20 hex digits) and its creation
        time, so equal plans share a prefix and a plan pushed twice stays two records.
        """
        provisional = uuid.uuid4().hex
        created_at = datetime.now(UTC)
        created = created_at.isoformat()
        digest = hashlib.sha256(f"{kind}|{environment}|{send_notifications}".encode())
        total = 0
        with self._transaction() as db:
            db.execute(
                "INSERT INTO plans VALUES (?, ?, ?, ?, 0, 'open', ?, NULL)",
                (provisional, kind, environment, int(send_notifications), created),
            )
            for batch in batches:
                rows = []
                for r in batch:
                    rows.append(
                        (
                            provisional,
                            total,
                            r["action"],
                            r["qualification_type_id"],
                            r["worker_id"],
                            r.get("qualification_request_id"),
                            r.get("old_value"),
                            r.get("new_value"),
                            r.get("reject_reason"),
                        )
                    )
                    digest.update(repr(rows[-1][2:]).encode())
                    total += 1
                db.executemany(
                    "INSERT INTO changes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0)", rows
                )
            plan_id = f"{digest.hexdigest()[:20]}-{created_at:%Y%m%dT%H%M%S%f}"
            db.execute(
                "UPDATE plans SET total = ?, plan_id = ? WHERE plan_id = ?",
                (total, plan_id, provisional),
            )
            db.execute("UPDATE changes SET plan_id = ? WHERE plan_id = ?", (plan_id, provisional))
        return PlanRecord(plan_id, kind, environment, send_notifications, total, "open", created)

    def open_plans(self) -> list[PlanRecord]:
        rows = self._db.execute(
            "SELECT plan_id, kind, environment, send_notifications, total, state, created_at "
            "FROM plans WHERE state = 'open' ORDER BY created_at"
        ).fetchall()
        return [PlanRecord(r[0], r[1], r[2], bool(r[3]), r[4], r[5], r[6]) for r in rows]

    def finish_if_done(self, plan_id: str) -> bool:
        """Close a plan whose changes are all final; True when it is closed."""
        marks = ", ".join("?" for _ in OPEN_STATES)
        left = self._db.execute(
            f"SELECT count(*) FROM changes WHERE plan_id = ? AND state IN ({marks})",
            (plan_id, *OPEN_STATES),
        ).fetchone()[0]
        if left:
            return False
        self._db.execute(
            "UPDATE plans SET state = 'done', finished_at = ? WHERE plan_id = ?",
            (now_utc(), plan_id),
        )
        return True

    def state_counts(self, plan_id: str) -> dict[str, int]:
        return dict(
            self._db.execute(
                "SELECT state, count(*) FROM changes WHERE plan_id = ? GROUP BY state", (plan_id,)
            ).fetchall()
        )

    # changes

    def changes(self, plan_id: str, state: str, limit: int | None = None) -> list[Change]:
        sql = "SELECT * FROM changes WHERE plan_id = ? AND state = ? ORDER BY seq"
        params: tuple[Any, ...] = (plan_id, state)
        if limit is not None:
            sql += " LIMIT ?"
            params += (limit,)
        return [Change(*row) for row in self._db.execute(sql, params).fetchall()]

    def mark_sending(self, changes: list[Change], run_id: str) -> list[Change]:
        """Commit 'sending' and a new attempt for each change before any of them is sent."""
        at = now_utc()
        with self._transaction() as db:
            db.executemany(
                "UPDATE changes SET state = 'sending', attempt = attempt + 1 "
                "WHERE plan_id = ? AND seq = ?",
                [(c.plan_id, c.seq) for c in changes],
            )
            db.executemany(
                "INSERT INTO attempts (plan_id, seq, attempt, run_id, status, attempted_at) "
                "VALUES (?, ?, ?, ?, 'sending', ?)",
                [(c.plan_id, c.seq, c.attempt + 1, run_id, at) for c in changes],
            )
        return [replace(c, state="sending", attempt=c.attempt + 1) for c in changes]

    def record_outcomes(self, outcomes: list[Outcome]) -> None:
        """Write each change's new state and its attempt's status in one transaction."""
        at = now_utc()
        with self._transaction() as db:
            db.executemany(
                "UPDATE changes SET state = ? WHERE plan_id = ? AND seq = ?",
                [(o.state, o.change.plan_id, o.change.seq) for o in outcomes],
            )
            db.executemany(
                "UPDATE attempts SET status = ?, observed_value = ?, observed_status = ?, "
                "error = ?, finished_at = ? WHERE plan_id = ? AND seq = ? AND attempt = ?",
                [
                    (
                        o.status,
                        o.observed_value,
                        o.observed_status,
                        o.error,
                        at,
                        o.change.plan_id,
                        o.change.seq,
                        o.change.attempt,
                    )
                    for o in outcomes
                ],
            )

    # audit outbox

    def unrecorded(self, limit: int = 10_000) -> list[dict[str, Any]]:
        """Finished attempts not yet copied to push_audit, joined with their change."""
        cur = self._db.execute(
            "SELECT a.run_id, a.plan_id, a.seq, a.attempt, p.kind, c.qualification_type_id, "
            "c.worker_id, c.qualification_request_id, c.old_value, c.new_value, "
            "a.observed_value, a.observed_status, c.action, a.status, a.error, a.attempted_at, "
            "a.finished_at FROM attempts a JOIN changes c USING (plan_id, seq) "
            "JOIN plans p USING (plan_id) WHERE a.recorded = 0 "
            "AND a.status NOT IN ('sending', 'sent') ORDER BY a.plan_id, a.seq LIMIT ?",
            (limit,),
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def mark_recorded(self, rows: list[dict[str, Any]]) -> None:
        with self._transaction() as db:
            db.executemany(
                "UPDATE attempts SET recorded = 1 WHERE plan_id = ? AND seq = ? AND attempt = ?",
                [(r["plan_id"], r["seq"], r["attempt"]) for r in rows],
            )
