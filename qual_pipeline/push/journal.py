"""The push journal: the saved plans, and a write-ahead record that makes a push resumable after
kill -9 or a power cut.

The journal's database comes from the stores (`qual_pipeline.stores.journal`): SQLite in WAL mode
with synchronous=FULL at <data_dir>/push_journal.sqlite (local profile), or PostgreSQL (shared
profile, so a push killed on one machine resumes on another); the same SQL and rules on both.
`plan` saves a whole
plan (its header, every change as 'pending', its rejected rows) in one transaction, in state
'saved'; `push` opens exactly that plan (state 'open') before anything is sent. Each change is
marked 'sending' (committed) before its call and 'sent' after it, so a row left in 'sending' is
exactly a change whose outcome is unknown and must be read back before it is sent again. The
attempts table is the outbox of the DuckDB push_audit table. DDL: sql/push_journal.sql.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qual_pipeline.push.plan import SQL_DIR, read_sql
from qual_pipeline.stores.journal import JournalBusy, JournalDatabase

__all__ = ["JournalBusy"]  # re-exported: the push's callers catch it from here
OPEN_STATES = ("pending", "sending", "sent")
FINAL_STATES = ("verified", "mismatch", "failed", "refused")
PLAN_STATES = ("saved", "superseded", "open", "done")
# Columns of `plans` added after the first release (journals written before are migrated).
_PLAN_COLUMNS_ADDED = (
    "opened_at",
    "load_id",
    "inputs_fingerprint",
    "settings",
    "summary",
    "verdict",
    "ignored_checks",
)
# Columns of `rejections` added after the first release.
_REJECTION_COLUMNS_ADDED = (("source_line", "INTEGER"), ("source_column", "TEXT"))
# Columns of `changes` added after the first release (added last, as the DDL has them).
_CHANGE_COLUMNS_ADDED = (("old_status", "TEXT"),)
_PLAN_COLUMNS = (
    "plan_id, kind, environment, send_notifications, total, state, created_at, finished_at, "
    + ", ".join(_PLAN_COLUMNS_ADDED)
)


@dataclass(frozen=True)
class PlanHeader:
    """What a plan was built from and with, besides its rows."""

    kind: str
    environment: str
    load_id: str | None
    inputs_fingerprint: str
    settings: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    verdict: tuple[str, ...] = ()
    """Why a push of this plan is refused (rejected rows, guard, checks); () when it may go."""
    ignored_checks: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlanRecord:
    """One plan of the journal: its header and state (its rows are read separately)."""

    plan_id: str
    kind: str
    environment: str
    send_notifications: bool
    total: int
    state: str  # one of PLAN_STATES
    created_at: str
    finished_at: str | None = None
    opened_at: str | None = None
    load_id: str | None = None
    inputs_fingerprint: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    verdict: tuple[str, ...] = ()
    ignored_checks: tuple[str, ...] = ()

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> PlanRecord:
        (plan_id, kind, environment, notify, total, state, created, finished, opened, load_id,
         fingerprint, settings, summary, verdict, ignored) = row  # fmt: skip
        return cls(
            plan_id=plan_id,
            kind=kind,
            environment=environment,
            send_notifications=bool(notify),
            total=total,
            state=state,
            created_at=created,
            finished_at=finished,
            opened_at=opened,
            load_id=load_id,
            inputs_fingerprint=fingerprint,
            settings=json.loads(settings) if settings else {},
            summary=json.loads(summary) if summary else {},
            verdict=tuple(json.loads(verdict)) if verdict else (),
            ignored_checks=tuple(json.loads(ignored)) if ignored else (),
        )


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
    old_status: str | None = None
    """The worker's status under the plan (Granted, Revoked; None: lacked the type, or a plan
    journalled before this was recorded)."""


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
    """Now in UTC, ISO 8601 with microseconds always: journal times compare as text."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


class Journal:
    """One push journal, on the database the stores opened (closed with the journal). Use from a
    single thread; hold `lock()` while pushing or saving a plan."""

    def __init__(self, db: JournalDatabase, sql_dir: Path = SQL_DIR) -> None:
        self._db = db
        try:
            self._migrate()
            db.create(read_sql("push_journal", sql_dir))
        except BaseException:
            db.close()
            raise

    @property
    def path(self) -> str:
        """Where the journal is, for messages."""
        return self._db.describe()

    def _migrate(self) -> None:
        """Journals of earlier versions: add the columns `plans` and `rejections` lack."""
        present = self._db.columns("plans")
        if present:  # else a new journal: the DDL creates the table whole
            for column in _PLAN_COLUMNS_ADDED:
                if column not in present:
                    self._db.execute(f"ALTER TABLE plans ADD COLUMN {column} TEXT")
        for table, added in (
            ("rejections", _REJECTION_COLUMNS_ADDED),
            ("changes", _CHANGE_COLUMNS_ADDED),
        ):
            present = self._db.columns(table)
            if present:
                for column, kind in added:
                    if column not in present:
                        self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def close(self) -> None:
        self._db.close()

    def compact(self) -> bool:
        """Give the space of dropped rows (a superseded plan's) back to the disk when they are a
        large share of the journal (JournalDatabase.compact); True when it did."""
        return self._db.compact()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive right to push (or save a plan) with this journal; released even on
        kill -9 (JournalBusy at once while another holds it)."""
        with self._db.lock():
            yield

    def ensure_locked(self) -> None:
        """Raise (LockLostError) if the lock was lost: called before MTurk calls."""
        self._db.ensure_locked()

    @contextmanager
    def _transaction(self) -> Iterator[JournalDatabase]:
        with self._db.transaction():
            yield self._db

    # plans

    def save_plan(
        self,
        header: PlanHeader,
        *,
        changes: Iterable[list[dict[str, Any]]],
        rejections: Iterable[list[dict[str, Any]]] = (),
    ) -> PlanRecord:
        """Save a plan in one transaction: its header, every change as 'pending' and its
        rejected rows. Older saved plans of the same kind become 'superseded' (their header
        stays, their rows are dropped: they can never be pushed).

        The plan id is the SHA-256 of the plan's kind, environment and change rows (first 20
        hex digits; rejected rows are not in it) and its creation time, so plans with the same
        changes share a prefix and a plan saved twice stays two records.
        """
        provisional = uuid.uuid4().hex
        created_at = datetime.now(UTC)
        digest = hashlib.sha256(f"{header.kind}|{header.environment}".encode())
        total = rejected = 0
        with self._transaction() as db:
            # A superseded plan can never be pushed: keep its header, drop its rows.
            for table in ("changes", "rejections"):
                db.execute(
                    f"DELETE FROM {table} WHERE plan_id IN (SELECT plan_id FROM plans "
                    "WHERE kind = ? AND state = 'saved')",
                    (header.kind,),
                )
            db.execute(
                "UPDATE plans SET state = 'superseded' WHERE kind = ? AND state = 'saved'",
                (header.kind,),
            )
            db.execute(
                f"INSERT INTO plans ({_PLAN_COLUMNS}) "
                "VALUES (?, ?, ?, 0, 0, 'saved', ?, NULL, NULL, ?, ?, ?, ?, ?, ?)",
                (
                    provisional,
                    header.kind,
                    header.environment,
                    created_at.isoformat(timespec="microseconds"),
                    header.load_id,
                    header.inputs_fingerprint,
                    json.dumps(header.settings, sort_keys=True),
                    json.dumps(header.summary, sort_keys=True, default=str),
                    json.dumps(list(header.verdict)),
                    json.dumps(list(header.ignored_checks)),
                ),
            )
            for batch in changes:
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
                            # the message MTurk shows the worker: a rejection's or a revocation's
                            r.get("reject_reason") or r.get("revoke_reason"),
                            r.get("current_status"),
                        )
                    )
                    digest.update(repr(rows[-1][2:]).encode())
                    total += 1
                db.executemany(
                    "INSERT INTO changes (plan_id, seq, action, qualification_type_id, worker_id, "
                    "qualification_request_id, old_value, new_value, reject_reason, state, "
                    "attempt, old_status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?)",
                    rows,
                )
            for batch in rejections:
                db.executemany(
                    "INSERT INTO rejections (plan_id, seq, qualification_type_id, worker_id, "
                    "qualification_request_id, raw_value, reason, input_rows, source_line, "
                    "source_column) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            provisional,
                            rejected + i,
                            r.get("qualification_type_id"),
                            r.get("worker_id"),
                            r.get("qualification_request_id"),
                            r.get("raw_value"),
                            r["reason"],
                            r.get("input_rows"),
                            r.get("source_line"),
                            r.get("source_column"),
                        )
                        for i, r in enumerate(batch)
                    ],
                )
                rejected += len(batch)
            plan_id = f"{digest.hexdigest()[:20]}-{created_at:%Y%m%dT%H%M%S%f}"
            db.execute(
                "UPDATE plans SET total = ?, plan_id = ? WHERE plan_id = ?",
                (total, plan_id, provisional),
            )
            for table in ("changes", "rejections"):
                db.execute(
                    f"UPDATE {table} SET plan_id = ? WHERE plan_id = ?", (plan_id, provisional)
                )
        return self._plan(plan_id)

    def open_plan(self, plan_id: str, *, send_notifications: bool) -> PlanRecord:
        """Journal a saved plan for sending ('open'): from here on a push resumes it until done."""
        with self._transaction() as db:
            updated = db.execute(
                "UPDATE plans SET state = 'open', opened_at = ?, send_notifications = ? "
                "WHERE plan_id = ? AND state = 'saved'",
                (now_utc(), int(send_notifications), plan_id),
            ).rowcount
        if updated != 1:
            raise ValueError(f"plan {plan_id} is not a saved plan; it cannot be opened")
        return self._plan(plan_id)

    def plan(self, plan_id: str) -> PlanRecord | None:
        """The plan with this id, or None."""
        return self._one(f"SELECT {_PLAN_COLUMNS} FROM plans WHERE plan_id = ?", (plan_id,))

    def _plan(self, plan_id: str) -> PlanRecord:
        record = self.plan(plan_id)
        if record is None:
            raise KeyError(plan_id)
        return record

    def _one(self, sql: str, params: tuple[Any, ...]) -> PlanRecord | None:
        row = self._db.execute(sql, params).fetchone()
        return PlanRecord.from_row(row) if row else None

    def newest_saved(self, kind: str) -> PlanRecord | None:
        """The newest plan of `kind` waiting to be pushed, or None."""
        return self._one(
            f"SELECT {_PLAN_COLUMNS} FROM plans WHERE kind = ? AND state = 'saved' "
            "ORDER BY created_at DESC LIMIT 1",
            (kind,),
        )

    def newest_of_kind(self, kind: str) -> PlanRecord | None:
        """The newest plan of `kind`, whatever its state, or None."""
        return self._one(
            f"SELECT {_PLAN_COLUMNS} FROM plans WHERE kind = ? ORDER BY created_at DESC LIMIT 1",
            (kind,),
        )

    def opened_since(self, plan: PlanRecord) -> list[PlanRecord]:
        """Other plans with changes that a push opened after `plan` was saved."""
        rows = self._db.execute(
            f"SELECT {_PLAN_COLUMNS} FROM plans WHERE plan_id <> ? AND total > 0 "
            "AND opened_at > ? ORDER BY opened_at",
            (plan.plan_id, plan.created_at),
        ).fetchall()
        return [PlanRecord.from_row(r) for r in rows]

    def open_plans(self) -> list[PlanRecord]:
        """Plans journalled for sending and not finished: what the next push resumes first."""
        rows = self._db.execute(
            f"SELECT {_PLAN_COLUMNS} FROM plans WHERE state = 'open' ORDER BY created_at"
        ).fetchall()
        return [PlanRecord.from_row(r) for r in rows]

    def rejections(self, plan_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        """A plan's rejected rows with their reason, in plan order."""
        sql = "SELECT * FROM rejections WHERE plan_id = ? ORDER BY seq"
        params: tuple[Any, ...] = (plan_id,)
        if limit is not None:
            sql += " LIMIT ?"
            params += (limit,)
        cur = self._db.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

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
        sql = (
            "SELECT plan_id, seq, action, qualification_type_id, worker_id, "
            "qualification_request_id, old_value, new_value, reject_reason, state, attempt, "
            "old_status FROM changes WHERE plan_id = ? AND state = ? ORDER BY seq"
        )
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
            "a.finished_at, p.ignored_checks FROM attempts a JOIN changes c USING (plan_id, seq) "
            "JOIN plans p USING (plan_id) WHERE a.recorded = 0 "
            "AND a.status NOT IN ('sending', 'sent') ORDER BY a.plan_id, a.seq LIMIT ?",
            (limit,),
        )
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        for r in rows:  # the audit holds the ignored checks as comma-separated names
            ignored = json.loads(r["ignored_checks"]) if r["ignored_checks"] else []
            r["ignored_checks"] = ",".join(ignored) or None
        return rows

    def mark_recorded(self, rows: list[dict[str, Any]]) -> None:
        with self._transaction() as db:
            db.executemany(
                "UPDATE attempts SET recorded = 1 WHERE plan_id = ? AND seq = ? AND attempt = ?",
                [(r["plan_id"], r["seq"], r["attempt"]) for r in rows],
            )
