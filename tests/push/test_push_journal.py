"""The journal: a whole plan saved at once with its header, opened for sending, attempts as an
outbox, one pusher at a time, and journals of earlier versions migrated. The same tests run on
both journal stores: SQLite in the data folder (local profile) and PostgreSQL (shared profile)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from qual_pipeline.push.journal import Journal, JournalBusy, Outcome, PlanHeader, PlanRecord
from qual_pipeline.stores.journal import JournalStore, PostgresJournalStore, SqliteJournalStore
from qual_pipeline.stores.namespace import Namespace

ACME = Namespace("sandbox", "acme")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> JournalStore:
    if request.param == "sqlite":
        return SqliteJournalStore(tmp_path)
    return PostgresJournalStore(request.getfixturevalue("postgres_database"), ACME)


def opened(store: JournalStore) -> Journal:
    return Journal(store.connect())


def header(kind: str = "scores", **more: Any) -> PlanHeader:
    return PlanHeader(
        kind=kind, environment="sandbox", load_id="L1", inputs_fingerprint="2-abc", **more
    )


def saved_and_opened(journal: Journal, n: int) -> PlanRecord:
    plan = journal.save_plan(header(), changes=plan_batches(n))
    return journal.open_plan(plan.plan_id, send_notifications=False)


def plan_batches(n: int) -> list[list[dict]]:
    return [
        [
            {
                "action": "update",
                "qualification_type_id": "T1",
                "worker_id": f"A{i}",
                "old_value": 1,
                "new_value": 2,
            }
            for i in range(n)
        ]
    ]


def test_plan_lifecycle_and_audit_outbox(store: JournalStore) -> None:
    with opened(store) as journal:
        saved = journal.save_plan(
            header(verdict=("too many",), ignored_checks=("extraction_complete",)),
            changes=plan_batches(3),
            rejections=[[{"worker_id": "A9", "raw_value": "x", "reason": "not an integer"}]],
        )
        assert (saved.state, saved.total, saved.load_id) == ("saved", 3, "L1")
        assert saved.verdict == ("too many",) and saved.ignored_checks == ("extraction_complete",)
        assert journal.open_plans() == []  # saved is not journalled for sending yet
        assert [r["reason"] for r in journal.rejections(saved.plan_id)] == ["not an integer"]
        plan = journal.open_plan(saved.plan_id, send_notifications=False)
        assert plan.state == "open" and plan.opened_at is not None
        with pytest.raises(ValueError, match="not a saved plan"):
            journal.open_plan(saved.plan_id, send_notifications=False)
        assert [p.plan_id for p in journal.open_plans()] == [plan.plan_id]
        assert journal.state_counts(plan.plan_id) == {"pending": 3}

        sending = journal.mark_sending(journal.changes(plan.plan_id, "pending"), "run1")
        assert [c.attempt for c in sending] == [1, 1, 1]
        assert journal.unrecorded() == []  # attempts in flight are not audited yet
        journal.record_outcomes(
            [
                Outcome(sending[0], "verified", "verified", 2, "Granted"),
                Outcome(sending[1], "pending", "interrupted", 1, "Granted", "interrupted"),
                Outcome(sending[2], "failed", "failed", error="RequestError: no"),
            ]
        )
        assert journal.state_counts(plan.plan_id) == {"verified": 1, "pending": 1, "failed": 1}
        assert not journal.finish_if_done(plan.plan_id)

        again = journal.mark_sending(journal.changes(plan.plan_id, "pending"), "run2")
        assert [c.attempt for c in again] == [2]
        journal.record_outcomes([Outcome(again[0], "verified", "verified", 2, "Granted")])
        assert journal.finish_if_done(plan.plan_id)
        assert journal.open_plans() == []

        rows = journal.unrecorded()
        assert {r["ignored_checks"] for r in rows} == {"extraction_complete"}
        assert sorted((r["seq"], r["attempt"], r["status"]) for r in rows) == [
            (0, 1, "verified"),
            (1, 1, "interrupted"),
            (1, 2, "verified"),
            (2, 1, "failed"),
        ]
        journal.mark_recorded(rows)
        assert journal.unrecorded() == []


def test_journal_survives_reopening(store: JournalStore) -> None:
    with opened(store) as journal:
        plan = saved_and_opened(journal, 2)
        journal.mark_sending(journal.changes(plan.plan_id, "pending", limit=1), "run1")
    with opened(store) as journal:
        assert journal.state_counts(plan.plan_id) == {"sending": 1, "pending": 1}


def test_plan_id_hashes_the_contents(store: JournalStore) -> None:
    with opened(store) as journal:
        ids = [
            journal.save_plan(header(), changes=b).plan_id
            for b in (plan_batches(2), plan_batches(2), plan_batches(3))
        ]
    assert ids[0] != ids[1] and ids[0][:20] == ids[1][:20]
    assert ids[0][:20] != ids[2][:20]


def test_one_pusher_per_journal(store: JournalStore) -> None:
    with (
        opened(store) as first,
        opened(store) as second,
        first.lock(),
        pytest.raises(JournalBusy, match=r"(another push or plan|Another push of sandbox/acme) is"),
        second.lock(),
    ):
        first.ensure_locked()
    with opened(store) as again, again.lock():  # released with the block
        pass


def test_a_new_plan_supersedes_the_saved_one_of_its_kind(store: JournalStore) -> None:
    with opened(store) as journal:
        first = journal.save_plan(header(), changes=plan_batches(1))
        requests = journal.save_plan(header("requests"), changes=plan_batches(1))
        second = journal.save_plan(header(), changes=plan_batches(2))
        states = [journal.plan(p.plan_id) for p in (first, second)]
        assert [p.state for p in states if p] == ["superseded", "saved"]
        assert journal.changes(first.plan_id, "pending") == []  # its rows are gone
        assert len(journal.changes(second.plan_id, "pending")) == 2
        assert journal.newest_saved("scores") == second
        assert journal.newest_saved("requests") == requests
        assert journal.opened_since(requests) == []
        journal.open_plan(second.plan_id, send_notifications=True)
        assert [p.plan_id for p in journal.opened_since(requests)] == [second.plan_id]


def test_a_journal_of_an_earlier_version_is_migrated_and_resumes(tmp_path: Path) -> None:
    """Plans journalled before saved plans existed keep resuming after an upgrade (SQLite: the
    PostgreSQL journal came after them)."""
    store = SqliteJournalStore(tmp_path)
    db = sqlite3.connect(tmp_path / "push_journal.sqlite")
    db.executescript(
        """
        CREATE TABLE plans (plan_id TEXT PRIMARY KEY, kind TEXT NOT NULL,
            environment TEXT NOT NULL, send_notifications INTEGER NOT NULL,
            total INTEGER NOT NULL, state TEXT NOT NULL, created_at TEXT NOT NULL,
            finished_at TEXT);
        INSERT INTO plans VALUES ('old', 'scores', 'sandbox', 0, 1, 'open',
            '2025-01-01T00:00:00+00:00', NULL);
        """
    )
    db.close()
    with opened(store) as journal:
        (old,) = journal.open_plans()
        assert (old.plan_id, old.load_id, old.verdict) == ("old", None, ())
        assert journal.save_plan(header(), changes=plan_batches(1)).state == "saved"
