"""Run a push: finish what an interrupted push left, then apply exactly one saved plan.

Order of a run, all under the journal's push lock (a file lock, or a PostgreSQL advisory lock per
environment and account, checked before every MTurk call):
1. every unfinished journalled plan is finished first (its 'sending' rows read back, never blindly
   re-sent), so a push killed at any moment resumes on the next run;
2. the plan to apply is the saved one (`plan_id`, or the newest saved plan of the kind), checked
   against the journal, the warehouse's current load and the inputs' fingerprint, and refused
   before any call if any of them moved since it was saved; with `replan` a fresh plan is built,
   judged and saved first, under the same lock;
3. the plan is opened (journalled for sending) and its changes go out in batches through a small
   thread pool sharing one rate limiter; each batch is read back with GetQualificationScore, then
   its attempts are copied to push_audit and its verified values into the warehouse.

MTurk errors that outlive botocore's retries (throttling, faults, lost connections) stop the run
with PushInterrupted: the journal holds every change's state, and the next push resumes. So does a
stop asked for by the process (`qual_pipeline.interrupt.stop`, from a signal handler): no batch is
journalled for sending after it (`interrupt.Interrupted` is raised instead), the calls in flight
end and are read back on resume (their changes stay 'sending'); a call the stop caught before it
was handed to the HTTP send (waiting for the rate pace, say) puts its change back to 'pending'.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from qual_pipeline import interrupt
from qual_pipeline.mturk_api.errors import describe
from qual_pipeline.push.calls import (
    Observed,
    has_landed,
    is_transient,
    pending_request_ids,
    read_score,
    refuses_caller,
    send_change,
)
from qual_pipeline.push.guard import PRODUCTION_REFUSAL, PushRefused
from qual_pipeline.push.journal import Change, Journal, Outcome, PlanRecord
from qual_pipeline.push.plan import SQL_DIR, Kind, PlanSummary
from qual_pipeline.push.saved_plan import (
    REFUSED,
    PlanSettings,
    ReadWarehouse,
    SavedPlan,
    ValueOf,
    check_target,
    confirm_unchanged,
    plan_to_push,
    read_only_warehouse,
    refused_message,
    save_plan,
)
from qual_pipeline.settings import (
    ENDPOINT_URL,
    ENVIRONMENT,
    PUSH_ALLOW_PRODUCTION,
    PUSH_BATCH_SIZE,
    PUSH_CONCURRENCY,
    PUSH_SEND_NOTIFICATIONS,
    ConfigurationError,
)
from qual_pipeline.stores.journal import JournalStoreError
from qual_pipeline.stores.profile import Stores
from qual_pipeline.stores.warehouse import (
    WarehouseBusyError,
    WarehouseStore,
    WarehouseUnreadableError,
    run_transaction,
)
from qual_pipeline.warehouse.pushed_changes import apply_pushed_changes
from qual_pipeline.warehouse.sql_files import ensure_schema

READ_BEFORE = ("update", "grant", "accept")
"""Actions whose call sets a score: the worker's score is read first (GetQualificationScore) and
the change refused, never sent, when MTurk holds other than what the plan saw."""
FLUSH_WAITS = (0.5, 1.0, 2.0, 4.0, 8.0)  # seconds between tries while the warehouse is busy
Progress = Callable[[int, int], None]
RESUME_HINT = (
    "Nothing is lost: the journal holds every change. Run `qual-pipeline push` again (in Dagster: "
    "materialize the push asset again) to resume; changes whose outcome is unknown are read back "
    "before anything is sent again."
)

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
        ("observed_status", pa.string()),
        ("action", pa.string()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("attempted_at", pa.timestamp("us", tz="UTC")),
        ("finished_at", pa.timestamp("us", tz="UTC")),
        ("ignored_checks", pa.string()),
    ]
)


class PushInterrupted(RuntimeError):
    """MTurk could not be reached mid-push; the journal holds the state, re-run to resume."""


class CredentialsRefused(ConfigurationError):
    """MTurk refused the caller's credentials: the push stopped at the first such answer, no
    change marked failed; fix the credentials and push again to resume."""


class PushFailed(RuntimeError):
    """The push ran but some changes failed or read back differently; see `report`."""

    def __init__(self, message: str, report: PushReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class PushSettings:
    """How a push sends a plan (what it sends is the saved plan's business)."""

    environment: str = ENVIRONMENT.required_default
    allow_production: bool = PUSH_ALLOW_PRODUCTION.required_default
    send_notifications: bool = PUSH_SEND_NOTIFICATIONS.required_default
    concurrency: int = PUSH_CONCURRENCY.required_default
    batch_size: int = PUSH_BATCH_SIZE.required_default
    endpoint_url: str | None = None
    """Where the push's requests go (None: the environment's real service): checked against
    the MTurk the warehouse was refreshed from."""

    @classmethod
    def from_settings(cls, value: ValueOf) -> PushSettings:
        """The push settings as the declared settings (QUAL_PIPELINE_PUSH_*, MTURK_ENVIRONMENT)
        give them."""
        return cls(
            environment=value(ENVIRONMENT),
            allow_production=value(PUSH_ALLOW_PRODUCTION),
            send_notifications=value(PUSH_SEND_NOTIFICATIONS),
            concurrency=value(PUSH_CONCURRENCY),
            batch_size=value(PUSH_BATCH_SIZE),
            endpoint_url=value(ENDPOINT_URL) or None,
        )


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
    kind: Kind = "scores"
    """What this run was asked to push: scores, or (--requests) request decisions."""
    plan_id: str | None = None
    """The saved plan this run applied (None when it only resumed unfinished ones)."""
    saved: SavedPlan | None = None
    """The plan this run built and saved itself (push with replan)."""
    plans: list[PlanOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Lines about settings this run did not apply (e.g. a resumed plan's notifications)."""

    @property
    def summary(self) -> PlanSummary | None:
        return self.saved.summary if self.saved is not None else None

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
    stores: Stores,
    inputs_dir: Path,
    settings: PushSettings,
    plan_id: str | None = None,
    replan: PlanSettings | None = None,
    read_warehouse: ReadWarehouse | None = None,
    sql_dir: Path = SQL_DIR,
    progress: Progress | None = None,
    website_csv: Path | None = None,
) -> PushReport:
    """Finish unfinished plans, then apply one saved plan of `kind` (or, with `replan`, plan,
    save and apply a fresh one); raise if anything failed.

    plan_id: the saved plan to apply; None applies the newest saved plan of `kind`.
    replan: plan settings to build a new plan with, instead of applying a saved one.
    website_csv: with `replan`, build the scores plan from the requester website's worker CSV.
    stores: where the journal and the warehouse are (the push's lock is the journal's).
    read_warehouse: read-only connections for planning and checks (default: the stores').
    Raises PushRefused (nothing sent for the plan: no saved plan, out of date, refused by its
    verdict), JournalBusy (another push is running), PlanError (bad model or warehouse),
    PushInterrupted (MTurk unreachable after retries: resume later), interrupt.Interrupted (the
    process was asked to stop: resume later) or PushFailed (after recording every outcome).
    """
    report = PushReport(run_id=uuid.uuid4().hex, kind=kind)
    if settings.environment == "production" and not settings.allow_production:
        raise PushRefused(REFUSED + PRODUCTION_REFUSAL)
    if plan_id is not None and replan is not None:
        raise ValueError("pass either plan_id (apply a saved plan) or replan, not both")
    if website_csv is not None and replan is None:
        raise ValueError("website_csv builds a plan: pass it with replan (or to save_plan)")
    reader = read_warehouse or read_only_warehouse(stores.warehouse)
    with reader() as con:  # before the journal: an unfinished plan is resumed to this MTurk too
        check_target(
            con,
            environment=settings.environment,
            endpoint_url=settings.endpoint_url,
            command="push",
            profile=stores.profile,
        )
    sender = _Sender(client, stores.warehouse, settings, sql_dir, report.run_id)
    sender.profile = stores.profile
    try:
        with Journal(stores.journal.connect(), sql_dir) as journal, journal.lock():
            sender.journal = journal
            try:
                _run_locked(
                    kind, sender, report, reader, inputs_dir, plan_id, replan, progress, website_csv
                )
            except NoCredentialsError:
                raise
            except ClientError as e:
                if refuses_caller(e):
                    raise CredentialsRefused(sender.refusal(e)) from e
                raise PushInterrupted(sender.interruption(e)) from e
            except BotoCoreError as e:
                raise PushInterrupted(sender.interruption(e)) from e
    except JournalStoreError as e:  # e.g. a full disk: the failed write left the journal as it was
        if not e.resumable:
            raise
        raise JournalStoreError(f"{e} {RESUME_HINT}") from None
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
    read_warehouse: ReadWarehouse,
    inputs_dir: Path,
    plan_id: str | None,
    replan: PlanSettings | None,
    progress: Progress | None,
    website_csv: Path | None = None,
) -> None:
    journal, settings = sender.journal, sender.settings
    finished_now: set[str] = set()
    for plan in journal.open_plans():
        if plan.environment != settings.environment:
            raise PushRefused(
                f"an unfinished push {plan.plan_id} to {plan.environment} is in the journal "
                f"({journal.path}); finish it first with --environment {plan.environment}"
            )
        if plan.send_notifications != settings.send_notifications:
            report.notes.append(
                f"note: plan {plan.plan_id} was resumed with SendNotification="
                f"{plan.send_notifications}, as it was opened: "
                f"{'' if settings.send_notifications else 'no '}--send-notifications applies to "
                "the plans a push opens, not to one it resumes"
            )
        report.plans.append(sender.execute(plan, resumed=True, progress=progress))
        finished_now.add(plan.plan_id)
    sender.flush()
    try:
        _push_target(
            kind,
            sender,
            report,
            read_warehouse,
            inputs_dir,
            plan_id,
            replan,
            progress,
            website_csv,
            finished_now,
        )
    except PushRefused as e:
        if not report.plans:
            raise
        # Something was sent (or read back) for the resumed plans: never say "nothing was sent".
        raise PushRefused(_after_resume(report, str(e)), report=report) from None


def _push_target(
    kind: Kind,
    sender: _Sender,
    report: PushReport,
    read_warehouse: ReadWarehouse,
    inputs_dir: Path,
    plan_id: str | None,
    replan: PlanSettings | None,
    progress: Progress | None,
    website_csv: Path | None,
    finished_now: set[str],
) -> None:
    """Step 2 and 3 of a run (the module's): the plan this run applies, checked, then sent."""
    journal, settings = sender.journal, sender.settings
    if replan is not None:
        saved = save_plan(
            kind,
            journal=journal,
            read_warehouse=read_warehouse,
            inputs_dir=inputs_dir,
            settings=replan,
            sql_dir=sender.sql_dir,
            website_csv=website_csv,
            profile=sender.profile,
        )
        report.saved = saved
        if saved.verdict:
            raise PushRefused(refused_message(saved.record))
        target: PlanRecord | None = saved.record
    else:
        target = plan_to_push(
            journal,
            kind=kind,
            plan_id=plan_id,
            environment=settings.environment,
            finished_now=finished_now,
        )
        if target is None:
            if plan_id is not None or report.plans:
                report.plan_id = plan_id
                return  # the plan asked for, or every unfinished one, was finished just now
            flag = " --requests" if kind == "requests" else ""
            raise PushRefused(
                f"{REFUSED}there is no saved {kind} plan to push. Run `qual-pipeline plan{flag}` "
                f"first and review it, then `qual-pipeline push{flag}`; or use "
                f"`qual-pipeline push{flag} --replan` to plan and push in one step"
            )
        confirm_unchanged(
            journal,
            target,
            read_warehouse=read_warehouse,
            inputs_dir=inputs_dir,
            sql_dir=sender.sql_dir,
        )
    assert target is not None
    report.plan_id = target.plan_id
    _stop_if_asked()
    opened = journal.open_plan(target.plan_id, send_notifications=settings.send_notifications)
    if opened.total == 0:
        journal.finish_if_done(opened.plan_id)
        return
    report.plans.append(sender.execute(opened, resumed=False, progress=progress))


def _after_resume(report: PushReport, refusal: str) -> str:
    """The refusal of this run's plan when unfinished plans were resumed first: what the resume
    did, then why the plan was not pushed (`refusal`, which begins with REFUSED)."""
    done = "; ".join(
        f"resumed plan {p.plan_id} ({p.kind}): {p.total:,} change(s), "
        + ", ".join(f"{s} {n:,}" for s, n in sorted(p.states.items()))
        for p in report.plans
    )
    problems = sum(len(p.problems) for p in report.plans)
    if problems:
        done += f" ({problems} problem(s), recorded in push_audit)"
    reason = refusal.removeprefix(REFUSED)
    return (
        f"{done}. The interrupted push was finished first; then the push of the next plan was "
        f"refused, and nothing of that plan was sent: {reason}"
    )


class _Sender:
    """Sends one journalled plan's changes and keeps the journal, audit and warehouse in step."""

    def __init__(
        self,
        client: Any,
        warehouse: WarehouseStore,
        settings: PushSettings,
        sql_dir: Path,
        run_id: str,
    ) -> None:
        self.client = client
        self.warehouse = warehouse
        self.settings = settings
        self.sql_dir = sql_dir
        self.run_id = run_id
        self.profile = "local"
        """'local' or 'shared' (Stores.profile), for the wording of messages only."""
        self.journal: Journal
        self.problems: list[str] = []
        self.refused: ClientError | None = None
        """MTurk's first refusal of the credentials: no call is made after it."""
        self.plan: PlanRecord | None = None
        self.stage = "preparing the push"
        self._schema_ready = False
        self._lock_check = threading.Lock()
        self._handed = threading.local()
        """Per sending thread: `handed` is True once an attempt of the current call went to
        botocore's HTTP send (after the rate pace's wait and every stop check)."""

    def locked(self) -> None:
        """Stop (LockLostError) unless this process still holds the push lock: called before
        every MTurk call, so that two pushers of one account never send at once."""
        with self._lock_check:
            self.journal.ensure_locked()

    def interruption(self, error: BotoCoreError | ClientError) -> str:
        """What to tell the user when MTurk errors outlived the retries: what, where, and how the
        journal stands."""
        return f"MTurk failed while {self.stage}: {describe(error)}.{self._state()} {RESUME_HINT}"

    def refusal(self, error: ClientError) -> str:
        """What to tell the user when MTurk refused the credentials (one line)."""
        return (
            f"MTurk refused the credentials while {self.stage}: {describe(error)}. Check "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) for the "
            f"{self.settings.environment} environment; the push stopped at the first refusal and "
            f"marked no change failed.{self._state()} Run `qual-pipeline push` again once they "
            "are right: it resumes, reading back the changes in flight before sending anything."
        )

    def _state(self) -> str:
        if self.plan is None:
            return ""
        counts = self.journal.state_counts(self.plan.plan_id)
        listed = ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))
        return f" Plan {self.plan.plan_id}'s changes in the journal: {listed}."

    def execute(self, plan: PlanRecord, *, resumed: bool, progress: Progress | None) -> PlanOutcome:
        self.problems = []
        self.plan = plan
        size = self.settings.batch_size
        notify = plan.send_notifications
        events = self.client.meta.events
        handed_id = f"qual_pipeline-push-handed-{id(self)}"

        def handed(**_: Any) -> None:
            self._handed.handed = True

        # Last of the before-send handlers: after the rate pace's wait and the stop checks, just
        # before the request goes out; a call stopped earlier never left.
        events.register_last("before-send.mturk", handed, unique_id=handed_id)
        try:
            return self._execute(plan, resumed=resumed, progress=progress, size=size, notify=notify)
        finally:
            events.unregister("before-send.mturk", unique_id=handed_id)

    def _execute(
        self,
        plan: PlanRecord,
        *,
        resumed: bool,
        progress: Progress | None,
        size: int,
        notify: bool,
    ) -> PlanOutcome:
        with ThreadPoolExecutor(max_workers=self.settings.concurrency) as pool:
            self.pool = pool
            # Unknown outcomes first: read back, and send again only what has not landed.
            _stop_if_asked()
            self.stage = f"reading back the changes in flight of plan {plan.plan_id}"
            while batch := self.journal.changes(plan.plan_id, "sending", size):
                self._resolve_unknown(batch)
            self.stage = f"reading back the sent changes of plan {plan.plan_id}"
            while batch := self.journal.changes(plan.plan_id, "sent", size):
                self._verify(batch)
            self.flush()
            done = plan.total - sum(
                n for s, n in self.journal.state_counts(plan.plan_id).items() if s == "pending"
            )
            while batch := self.journal.changes(plan.plan_id, "pending", size):
                _stop_if_asked()
                sending = self.journal.mark_sending(batch, self.run_id)
                self.stage = f"sending the changes of plan {plan.plan_id}"
                results = list(pool.map(_caught(lambda c: self._send(c, notify)), sending))
                errors = [
                    r.cause if isinstance(r, _NotSent) else r
                    for r in results
                    if isinstance(r, BaseException)
                ]
                sent = [c for c, r in zip(sending, results, strict=True) if r is None]
                failed = [r for r in results if isinstance(r, Outcome)]
                # Changes stopped before their call: back to 'pending', the attempt 'interrupted'
                # with why (never 'sending': nothing of them reached MTurk).
                unsent = [
                    Outcome(c, "pending", "interrupted", error=r.message)
                    for c, r in zip(sending, results, strict=True)
                    if isinstance(r, _NotSent)
                ]
                # Journal what is known even when a call failed: the rest stay 'sending'.
                self.journal.record_outcomes(
                    [Outcome(c, "sent", "sent") for c in sent] + failed + unsent
                )
                if errors:
                    raise _first(errors)
                self.stage = f"reading back the changes of plan {plan.plan_id}"
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
        """None when the call succeeded; an Outcome when MTurk refused it for good.

        Transient errors (throttling, faults) that outlive botocore's retries propagate: the
        change stays 'sending', and the next run reads it back before sending it again. What
        stops the change before its call is handed to the HTTP send (a stop asked for, also while
        the call waits for the rate pace; refused credentials; the read before an update failing)
        raises _NotSent: its call never left, which the journal says.
        """
        try:
            if self.refused is not None:  # credentials refused: send nothing more
                raise self.refused
            _stop_if_asked()
            if change.action in READ_BEFORE:
                changed = self._changed_since_plan(change)
                if changed is not None:
                    return changed
            self.locked()
            _stop_if_asked()
        except (BotoCoreError, ClientError, interrupt.Interrupted) as e:
            if isinstance(e, ClientError) and refuses_caller(e):
                self.refused = e
            raise _NotSent(e) from e
        self._handed.handed = False
        try:
            send_change(self.client, change, send_notifications=notify)
        except interrupt.Interrupted as e:
            # Stopped while waiting for the rate pace (or a retry's back-off): in flight only
            # when an attempt of the call was handed to the HTTP send before the stop.
            if not self._handed.handed:
                raise _NotSent(e) from e
            raise
        except ClientError as e:
            if refuses_caller(e):
                self.refused = e
                raise
            if is_transient(e):
                raise
            # A retried call may fail because its first attempt landed (an accepted request is
            # gone): read back before calling it a failure.
            observed, pending, errors = self._observe([change], parallel=False)
            if errors:
                raise errors[0] from e
            if has_landed(change, observed.get(change.seq), change.seq in pending):
                return None
            error = describe(e)
            self.problems.append(f"{_who(change)}: {error}")
            return Outcome(change, "failed", "failed", error=error)
        return None

    def _changed_since_plan(self, change: Change) -> Outcome | None:
        """Before an update, a grant or an accept: None when MTurk still holds what the plan saw
        for the worker (the score it held, or no granted qualification); else the change's
        refusal, recorded with what MTurk holds. Each of them sets the score (an accept to 1
        when the plan gives none), so sending it over a score changed since the plan would
        overwrite that score unseen. One GetQualificationScore per change (within --rate)."""
        self.locked()
        seen = read_score(self.client, change.qualification_type_id, change.worker_id)
        # An update's worker held the type; a plan journalled before old_status was recorded
        # left it None.
        held = change.old_status or ("Granted" if change.action == "update" else None)
        if held == "Granted":
            same = seen.status == "Granted" and seen.value == change.old_value
            planned = f"Granted {change.old_value}"
        else:
            same = seen.status in ("Revoked", "Missing")
            planned = "Revoked" if held == "Revoked" else "no qualification"
        if same:
            return None
        if seen.status == "Unreadable":
            now = f"MTurk refused to read the worker's score ({seen.error})"
        else:
            now = f"MTurk holds {seen.status}{'' if seen.value is None else f' {seen.value}'}"
        verb = {"accept": "accepted", "grant": "granted"}.get(change.action, "updated")
        doing = {"accept": "accepting", "grant": "granting"}.get(change.action, "updating")
        again = "plan the request again" if change.action == "accept" else "plan again"
        error = (
            f"not {verb}: the worker's qualification changed on MTurk since the plan (the plan "
            f"saw {planned}; {now}), and {doing} would set {change.new_value}. Refresh, then "
            f"{again} to decide it on the current score"
        )
        self.problems.append(f"{_who(change)}: {error}")
        return _observed_outcome(change, "refused", "refused", seen, error)

    def _resolve_unknown(self, batch: list[Change]) -> None:
        def not_landed(c: Change, seen: Observed | None) -> Outcome:
            if seen is not None and seen.error is not None:
                # Whether MTurk applied it is unknown: never sent a second time unknowingly.
                error = (
                    "outcome unknown: its call was interrupted, then MTurk refused to read it "
                    f"back ({seen.error}); not sent again. Refresh and plan again to retry it"
                )
                self.problems.append(f"{_who(c)}: {error}")
                return _observed_outcome(c, "failed", "failed", seen, error)
            held = "still pending" if seen is None else _held(seen)
            return _observed_outcome(
                c,
                "pending",
                "interrupted",
                seen,
                "interrupted while its call was in flight (outcome unknown); read back, MTurk "
                f"did not hold it ({held}); sent again",
            )

        self._read_back(batch, not_landed)

    def _verify(self, batch: list[Change]) -> None:
        if not batch:
            return

        def mismatch(c: Change, seen: Observed | None) -> Outcome:
            if seen is not None and seen.error is not None:
                error = f"sent, but MTurk refused to read it back: {seen.error}"
                self.problems.append(f"{_who(c)}: {error}")
                return _observed_outcome(c, "failed", "failed", seen, error)
            got = _held(seen) if seen else "still pending"
            error = f"read back {got}, expected {_expected(c)}"
            self.problems.append(f"{_who(c)}: {error}")
            return _observed_outcome(c, "mismatch", "mismatch", seen, error)

        self._read_back(batch, mismatch)

    def _read_back(
        self, batch: list[Change], otherwise: Callable[[Change, Observed | None], Outcome]
    ) -> None:
        """Read every change back and journal it: verified where MTurk holds it, else what
        `otherwise` says. Each change read is journalled even when others could not be read
        (MTurk failing after the retries, a stop): then the first such error is raised, and only
        those others are read again by the next push."""
        observed, pending, errors = self._observe(batch)
        outcomes = []
        for c in batch:
            if (c.action != "reject" and c.seq not in observed) or c.seq in pending.unread:
                continue  # not read: stays as it is
            seen = observed.get(c.seq)
            if has_landed(c, seen, c.seq in pending):
                outcomes.append(_observed_outcome(c, "verified", "verified", seen))
            else:
                outcomes.append(otherwise(c, seen))
        self.journal.record_outcomes(outcomes)
        if errors:
            raise _first(errors)

    def _observe(
        self, batch: list[Change], *, parallel: bool = True
    ) -> tuple[dict[int, Observed], _Pending, list[BaseException]]:
        """GetQualificationScore for every change that sets a score; pending requests by type.

        A request whose type's pending list MTurk refuses to give (for good) is observed as
        'Unreadable', so it is never taken as decided. Transient errors, refused credentials
        and a stop are returned (third item), not raised: the changes they left unread are
        missing from the observations (scores) or in `pending.unread` (requests).
        """
        scored = [c for c in batch if c.action != "reject"]

        def read(c: Change) -> Observed:
            self.locked()
            return read_score(self.client, c.qualification_type_id, c.worker_id)

        reads = self.pool.map(_caught(read), scored) if parallel else map(_caught(read), scored)
        observed: dict[int, Observed] = {}
        errors: list[BaseException] = []
        for c, got in zip(scored, reads, strict=True):
            if isinstance(got, BaseException):
                errors.append(got)
            else:
                observed[c.seq] = got
        pending = _Pending()
        requests = [c for c in batch if c.qualification_request_id]
        for type_id in sorted({c.qualification_type_id for c in requests}):
            of_type = [c for c in requests if c.qualification_type_id == type_id]
            try:
                self.locked()
                ids = pending_request_ids(self.client, type_id)
            except ClientError as e:
                if is_transient(e) or refuses_caller(e):
                    errors.append(e)
                    pending.unread.update(c.seq for c in of_type)
                    continue
                unreadable = Observed("Unreadable", error=describe(e))
                observed.update((c.seq, unreadable) for c in of_type)
                pending.update(c.seq for c in of_type)
                continue
            except (BotoCoreError, interrupt.Interrupted) as e:
                errors.append(e)
                pending.unread.update(c.seq for c in of_type)
                continue
            pending.update(c.seq for c in of_type if c.qualification_request_id in ids)
        return observed, pending, errors

    def flush(self) -> None:
        """Copy finished attempts to push_audit and verified values into the warehouse, both in
        one warehouse transaction (retried whole on a conflict).

        Idempotent (audit rows are keyed by plan, change and attempt), so a crash between the
        warehouse's commit and the journal's mark only means the next run writes the same rows
        again.
        """
        while rows := self.journal.unrecorded():

            def record(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]] = rows) -> None:
                _insert_audit(con, rows)
                _record_in_warehouse(con, rows)

            for wait in (*FLUSH_WAITS, None):
                try:
                    with self.warehouse.writer() as con:
                        if not self._schema_ready:
                            ensure_schema(self.warehouse, con)
                            self._schema_ready = True
                        run_transaction(con, record)
                    break
                except WarehouseUnreadableError as e:  # damaged: waiting would not help
                    raise PushInterrupted(
                        f"{e} The changes sent so far are in the push journal, not in the "
                        "warehouse: once it is restored or rebuilt, run `qual-pipeline push` "
                        "again to record them and finish the plan."
                    ) from e
                except (WarehouseBusyError, duckdb.IOException) as e:  # another writer holds it
                    if wait is None:
                        raise PushInterrupted(
                            f"could not write the warehouse: {e}. Every change is journalled; "
                            "run the push again when the warehouse is free to record the rest"
                        ) from e
                    time.sleep(wait)
            self.journal.mark_recorded(rows)


class _NotSent(Exception):
    """A change stopped before its call started; `cause`: what stopped it (raised on)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause
        if isinstance(cause, interrupt.Interrupted):
            why = f"the push was stopped ({cause})"
        elif isinstance(cause, ClientError) and refuses_caller(cause):
            why = f"MTurk refused the credentials ({describe(cause)})"
        else:
            why = f"MTurk failed ({describe(cause)})"  # type: ignore[arg-type]
        self.message = f"not sent: {why} before its call; the next push sends it"


class _Pending(set[int]):
    """The request changes still pending on MTurk; `unread`: those whose pending list could not
    be read (their outcome is still unknown)."""

    def __init__(self) -> None:
        super().__init__()
        self.unread: set[int] = set()


def _caught(call: Callable[[Change], Any]) -> Callable[[Change], Any]:
    """`call`, returning instead of raising what stops a batch midway (MTurk failing after the
    retries, refused credentials, a stop), so the calls that did answer are journalled."""

    def run(change: Change) -> Any:
        try:
            return call(change)
        except (BotoCoreError, ClientError, interrupt.Interrupted, _NotSent) as e:
            return e

    return run


def _first(errors: list[BaseException]) -> BaseException:
    """The error that stops the run, of several from one batch: refused credentials first
    (a configuration error), then a stop asked for, then MTurk's first failure."""
    for error in errors:
        if isinstance(error, ClientError) and refuses_caller(error):
            return error
    for error in errors:
        if isinstance(error, interrupt.Interrupted):
            return error
    return errors[0]


def _held(seen: Observed) -> str:
    """What MTurk holds, as read back: `Granted 5`, `Revoked`, `Missing`."""
    return seen.status if seen.value is None else f"{seen.status} {seen.value}"


def _stop_if_asked() -> None:
    """Raise interrupt.Interrupted once the process was asked to stop (nothing is journalled
    for sending after that)."""
    reason = interrupt.stopped()
    if reason is not None:
        raise interrupt.Interrupted(reason)


def _who(change: Change) -> str:
    if change.qualification_request_id:
        return f"request {change.qualification_request_id} ({change.action})"
    return f"{change.qualification_type_id}/{change.worker_id} ({change.action})"


def _expected(change: Change) -> str:
    if change.action == "reject":
        return "the request no longer pending"
    if change.action == "revoke":
        return "Revoked"
    return f"Granted {change.new_value}"


def _insert_audit(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> None:
    columns = {name: [r[name] for r in rows] for name in AUDIT_COLUMNS.names}
    for name in ("attempted_at", "finished_at"):
        columns[name] = [datetime.fromisoformat(v) if v else None for v in columns[name]]
    batch = pa.table(columns, schema=AUDIT_COLUMNS)
    con.register("push_audit_batch", batch)
    try:
        con.execute(
            "INSERT INTO push_audit BY NAME SELECT * FROM push_audit_batch AS b WHERE NOT EXISTS "
            "(SELECT 1 FROM push_audit AS a WHERE a.plan_id = b.plan_id AND a.seq = b.seq "
            "AND a.attempt = b.attempt)"
        )
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
            # MTurk answers no score for a revoked qualification; it keeps the one the worker
            # had, as a refresh lists it, so the history records the status change alone.
            revoked = r["action"] == "revoke" and r["observed_status"] == "Revoked"
            value = r["old_value"] if revoked else r["observed_value"]
            latest[key] = (*key, value, r["observed_status"])
    if latest:
        apply_pushed_changes(con, list(latest.values()), datetime.now(UTC))


def _observed_outcome(
    change: Change, state: str, status: str, seen: Observed | None, error: str | None = None
) -> Outcome:
    return Outcome(
        change,
        state,
        status,
        seen.value if seen else None,
        seen.audit_status if seen else None,
        error,
    )
