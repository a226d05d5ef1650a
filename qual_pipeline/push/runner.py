"""Run a push: finish what an interrupted push left, plan, guard, journal, send, read back, record.

Order of a run, all under the data directory's push lock:
1. every unfinished journalled plan is finished first (its 'sending' rows read back, never blindly
   re-sent), so a push killed at any moment resumes on the next run;
2. a fresh plan is built from the user's model against the warehouse (which already reflects what
   step 1 pushed), checked by the guard and journalled as a whole;
3. changes go out in batches through a small thread pool sharing one rate limiter; each batch is
   read back with GetQualificationScore, then its attempts are copied to push_audit and its verified
   values into the warehouse.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from qual_pipeline.push.calls import (
    Observed,
    describe_error,
    has_landed,
    pending_request_ids,
    read_score,
    send_change,
)
from qual_pipeline.push.guard import GuardLimits, PushRefused, check_push_allowed
from qual_pipeline.push.journal import Change, Journal, Outcome, PlanRecord
from qual_pipeline.push.plan import (
    CHANGE_ACTIONS,
    SQL_DIR,
    Kind,
    PlanSummary,
    build_request_plan,
    build_score_plan,
    ensure_push_audit,
    plan_rows,
)
from qual_pipeline.warehouse.pushed_changes import record_pushed_changes

FLUSH_WAITS = (0.5, 1.0, 2.0, 4.0, 8.0)  # seconds between tries while the warehouse is busy
ConnectWarehouse = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]
CrashHook = Callable[[str], None]
Progress = Callable[[int, int], None]

AUDIT_COLUMNS = pa.schema(
    [
        ("run_id", pa.string()),
        ("plan_id", pa.string()),
        ("seq", pa.int64()),
        ("attempt", pa.int32()),
        ("kind", pa.string()),
        ("qualification_type_id", pa.string()),
        ("worker_id", pa.string()),
        ("qualification_request_id", pa.string()),
        ("old_value", pa.int32()),
        ("new_value", pa.int32()),
        ("observed_value", pa.int32()),
        ("action", pa.string()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("attempted_at", pa.timestamp("us", tz="UTC")),
        ("finished_at", pa.timestamp("us", tz="UTC")),
    ]
)


class PushInterrupted(RuntimeError):
    """MTurk could not be reached mid-push; the journal holds the state, re-run to resume."""


class PushFailed(RuntimeError):
    """The push ran but some changes failed or read back differently; see `report`."""

    def __init__(self, message: str, report: PushReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class PushSettings:
    """Everything a push run decides with, besides where to send and what to read."""

    environment: str = "sandbox"
    allow_production: bool = False
    send_notifications: bool = False
    skip_rejected: bool = False
    allow_grants: bool = False
    limits: GuardLimits = field(default_factory=GuardLimits)
    concurrency: int = 4
    batch_size: int = 100


@dataclass
class PlanOutcome:
    """How one journalled plan ended in this run."""

    plan_id: str
    kind: str
    resumed: bool
    total: int
    states: dict[str, int]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class PushReport:
    run_id: str
    summary: PlanSummary | None = None
    plans: list[PlanOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.plans)

    @property
    def verified(self) -> int:
        return sum(p.states.get("verified", 0) for p in self.plans)


def run_push(
    kind: Kind,
    *,
    client: Any,
    data_dir: Path,
    connect_warehouse: ConnectWarehouse,
    inputs_dir: Path,
    settings: PushSettings,
    sql_dir: Path = SQL_DIR,
    progress: Progress | None = None,
    crash_hook: CrashHook | None = None,
) -> PushReport:
    """Finish unfinished plans, then plan, guard, journal and push `kind`; raise if anything failed.

    Raises PushRefused (nothing sent for the new plan), JournalBusy (another push is running),
    PlanError (bad model or warehouse) or PushFailed (after recording every outcome).
    """
    report = PushReport(run_id=uuid.uuid4().hex)
    if settings.environment == "production" and not settings.allow_production:
        raise PushRefused(
            "push refused, nothing was sent: this push targets the production MTurk environment, "
            "where changes reach real workers; pass --allow-production to confirm"
        )
    sender = _Sender(client, connect_warehouse, settings, sql_dir, report.run_id, crash_hook)
    try:
        _run_locked(kind, sender, report, data_dir, inputs_dir, progress)
    except NoCredentialsError:
        raise
    except BotoCoreError as e:
        raise PushInterrupted(
            f"lost contact with MTurk mid-push ({e}). Nothing is lost: the journal knows every "
            "change; run the push again to resume (changes in flight are read back first)"
        ) from e
    if not report.ok:
        problems = [p for outcome in report.plans for p in outcome.problems]
        shown = "\n- ".join(problems[:20])
        more = f"\n(and {len(problems) - 20} more; see push_audit)" if len(problems) > 20 else ""
        raise PushFailed(
            f"push finished with {len(problems)} problem(s), recorded in push_audit:"
            f"\n- {shown}{more}",
            report,
        )
    return report


def _run_locked(
    kind: Kind,
    sender: _Sender,
    report: PushReport,
    data_dir: Path,
    inputs_dir: Path,
    progress: Progress | None,
) -> None:
    settings, sql_dir, connect_warehouse = sender.settings, sender.sql_dir, sender.connect_warehouse
    with Journal(data_dir, sql_dir) as journal, journal.lock():
        sender.journal = journal
        for plan in journal.open_plans():
            if plan.environment != settings.environment:
                raise PushRefused(
                    f"an unfinished push {plan.plan_id} to {plan.environment} is in the journal "
                    f"({journal.path}); finish it first with --environment {plan.environment}"
                )
            report.plans.append(sender.execute(plan, resumed=True, progress=progress))
        sender.flush()
        with connect_warehouse() as con:
            ensure_push_audit(con, sql_dir)
            if kind == "scores":
                summary = build_score_plan(
                    con, inputs_dir=inputs_dir, sql_dir=sql_dir, allow_grants=settings.allow_grants
                )
            else:
                summary = build_request_plan(con, inputs_dir=inputs_dir, sql_dir=sql_dir)
            report.summary = summary
            check_push_allowed(
                summary,
                settings.limits,
                environment=settings.environment,
                allow_production=settings.allow_production,
                skip_rejected=settings.skip_rejected,
            )
            plan = None
            if summary.changes:
                plan = journal.add_plan(
                    kind=kind,
                    environment=settings.environment,
                    send_notifications=settings.send_notifications,
                    batches=_journal_rows(con, kind),
                )
        if plan is not None:
            sender.hook("journalled")
            report.plans.append(sender.execute(plan, resumed=False, progress=progress))


def _journal_rows(con: duckdb.DuckDBPyConnection, kind: Kind) -> Iterator[list[dict[str, Any]]]:
    yield from plan_rows(con, kind, actions=CHANGE_ACTIONS[kind])


class _Sender:
    """Sends one journalled plan's changes and keeps the journal, audit and warehouse in step."""

    def __init__(
        self,
        client: Any,
        connect_warehouse: ConnectWarehouse,
        settings: PushSettings,
        sql_dir: Path,
        run_id: str,
        crash_hook: CrashHook | None,
    ) -> None:
        self.client = client
        self.connect_warehouse = connect_warehouse
        self.settings = settings
        self.sql_dir = sql_dir
        self.run_id = run_id
        self.crash_hook = crash_hook
        self.journal: Journal
        self.problems: list[str] = []

    def hook(self, point: str) -> None:
        if self.crash_hook is not None:
            self.crash_hook(point)

    def execute(self, plan: PlanRecord, *, resumed: bool, progress: Progress | None) -> PlanOutcome:
        self.problems = []
        size = self.settings.batch_size
        notify = plan.send_notifications
        with ThreadPoolExecutor(max_workers=self.settings.concurrency) as pool:
            self.pool = pool
            # Unknown outcomes first: read back, and send again only what has not landed.
            while batch := self.journal.changes(plan.plan_id, "sending", size):
                self._resolve_unknown(batch)
            while batch := self.journal.changes(plan.plan_id, "sent", size):
                self._verify(batch)
            self.flush()
            done = plan.total - sum(
                n for s, n in self.journal.state_counts(plan.plan_id).items() if s == "pending"
            )
            while batch := self.journal.changes(plan.plan_id, "pending", size):
                sending = self.journal.mark_sending(batch, self.run_id)
                self.hook("marked_sending")
                results = list(pool.map(lambda c: self._send(c, notify), sending))
                sent = [c for c, outcome in zip(sending, results, strict=True) if outcome is None]
                failed = [o for o in results if o is not None]
                self.journal.record_outcomes([Outcome(c, "sent", "sent") for c in sent] + failed)
                self.hook("marked_sent")
                self._verify(sent)
                self.flush()
                done += len(batch)
                if progress is not None:
                    progress(done, plan.total)
        self.journal.finish_if_done(plan.plan_id)
        return PlanOutcome(
            plan_id=plan.plan_id,
            kind=plan.kind,
            resumed=resumed,
            total=plan.total,
            states=self.journal.state_counts(plan.plan_id),
            problems=list(self.problems),
        )

    def _send(self, change: Change, notify: bool) -> Outcome | None:
        """None when the call succeeded; an Outcome when MTurk refused it for good."""
        try:
            send_change(self.client, change, send_notifications=notify)
        except ClientError as e:
            # A retried call may fail because its first attempt landed (an accepted request is
            # gone): read back before calling it a failure.
            observed, pending = self._observe([change], parallel=False)
            if has_landed(change, observed.get(change.seq), change.seq in pending):
                return None
            error = describe_error(e)
            self.problems.append(f"{_who(change)}: {error}")
            return Outcome(change, "failed", "failed", error=error)
        self.hook("sent")
        return None

    def _resolve_unknown(self, batch: list[Change]) -> None:
        def interrupted(c: Change, seen: Observed | None) -> Outcome:
            return _observed_outcome(
                c, "pending", "interrupted", seen, "interrupted before MTurk applied it; sent again"
            )

        self.journal.record_outcomes(self._read_back(batch, interrupted))

    def _verify(self, batch: list[Change]) -> None:
        if not batch:
            return

        def mismatch(c: Change, seen: Observed | None) -> Outcome:
            got = f"{seen.status} {seen.value}" if seen else "still pending"
            error = f"read back {got}, expected {_expected(c)}"
            self.problems.append(f"{_who(c)}: {error}")
            return _observed_outcome(c, "mismatch", "mismatch", seen, error)

        self.journal.record_outcomes(self._read_back(batch, mismatch))
        self.hook("verified")

    def _read_back(
        self, batch: list[Change], otherwise: Callable[[Change, Observed | None], Outcome]
    ) -> list[Outcome]:
        """Read every change back: verified where MTurk holds it, else what `otherwise` says."""
        observed, pending = self._observe(batch)
        outcomes = []
        for c in batch:
            seen = observed.get(c.seq)
            if has_landed(c, seen, c.seq in pending):
                outcomes.append(_observed_outcome(c, "verified", "verified", seen))
            else:
                outcomes.append(otherwise(c, seen))
        return outcomes

    def _observe(
        self, batch: list[Change], *, parallel: bool = True
    ) -> tuple[dict[int, Observed], set[int]]:
        """GetQualificationScore for every change that sets a score; pending requests by type."""
        scored = [c for c in batch if c.action != "reject"]

        def read(c: Change) -> Observed:
            return read_score(self.client, c.qualification_type_id, c.worker_id)

        results = self.pool.map(read, scored) if parallel else map(read, scored)
        observed = {c.seq: o for c, o in zip(scored, results, strict=True)}
        pending: set[int] = set()
        requests = [c for c in batch if c.qualification_request_id]
        for type_id in sorted({c.qualification_type_id for c in requests}):
            ids = pending_request_ids(self.client, type_id)
            pending.update(c.seq for c in requests if c.qualification_request_id in ids)
        return observed, pending

    def flush(self) -> None:
        """Copy finished attempts to push_audit and verified values into the warehouse.

        Idempotent (audit rows are keyed by plan, change and attempt), so a crash between the
        DuckDB commit and the journal's mark only means the next run writes the same rows again.
        """
        while rows := self.journal.unrecorded():
            for wait in (*FLUSH_WAITS, None):
                try:
                    with self.connect_warehouse() as con:
                        ensure_push_audit(con, self.sql_dir)
                        _insert_audit(con, rows)
                        _record_in_warehouse(con, rows)
                    break
                except duckdb.IOException as e:  # another process holds the file
                    if wait is None:
                        raise PushInterrupted(
                            f"could not write the warehouse: {e}. Every change is journalled; "
                            "run the push again when the warehouse is free to record the rest"
                        ) from e
                    time.sleep(wait)
            self.journal.mark_recorded(rows)


def _who(change: Change) -> str:
    if change.qualification_request_id:
        return f"request {change.qualification_request_id} ({change.action})"
    return f"{change.qualification_type_id}/{change.worker_id} ({change.action})"


def _expected(change: Change) -> str:
    if change.action == "reject":
        return "the request no longer pending"
    return f"Granted {change.new_value}"


def _insert_audit(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> None:
    columns = {name: [r[name] for r in rows] for name in AUDIT_COLUMNS.names}
    for name in ("attempted_at", "finished_at"):
        columns[name] = [datetime.fromisoformat(v) if v else None for v in columns[name]]
    batch = pa.table(columns, schema=AUDIT_COLUMNS)
    con.register("push_audit_batch", batch)
    try:
        con.execute("INSERT OR IGNORE INTO push_audit BY NAME SELECT * FROM push_audit_batch")
    finally:
        con.unregister("push_audit_batch")


def _record_in_warehouse(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> None:
    """Hand read-back values to the warehouse so it reflects them before the next refresh."""
    latest: dict[tuple[str, str], tuple[str, str, int | None, str]] = {}
    for r in rows:  # ordered by plan and seq: the last word on a worker wins
        if (
            r["status"] in ("verified", "mismatch")
            and r["action"] != "reject"
            and r["observed_status"] in ("Granted", "Revoked")
        ):
            key = (r["qualification_type_id"], r["worker_id"])
            latest[key] = (*key, r["observed_value"], r["observed_status"])
    if latest:
        record_pushed_changes(con, list(latest.values()), datetime.now(UTC))


def _observed_outcome(
    change: Change, state: str, status: str, seen: Observed | None, error: str | None = None
) -> Outcome:
    return Outcome(
        change,
        state,
        status,
        seen.value if seen else None,
        seen.status if seen else None,
        error,
    )
