"""The journal: a whole plan journalled at once, attempts as an outbox, one pusher at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from qual_pipeline.push.journal import Journal, JournalBusy, Outcome


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


def test_plan_lifecycle_and_audit_outbox(tmp_path: Path) -> None:
    with Journal(tmp_path) as journal:
        plan = journal.add_plan(
            kind="scores", environment="sandbox", send_notifications=False, batches=plan_batches(3)
        )
        assert plan.total == 3
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
        assert sorted((r["seq"], r["attempt"], r["status"]) for r in rows) == [
            (0, 1, "verified"),
            (1, 1, "interrupted"),
            (1, 2, "verified"),
            (2, 1, "failed"),
        ]
        journal.mark_recorded(rows)
        assert journal.unrecorded() == []


def test_journal_survives_reopening(tmp_path: Path) -> None:
    with Journal(tmp_path) as journal:
        plan = journal.add_plan(
            kind="scores", environment="sandbox", send_notifications=False, batches=plan_batches(2)
        )
        journal.mark_sending(journal.changes(plan.plan_id, "pending", limit=1), "run1")
    with Journal(tmp_path) as journal:
        assert journal.state_counts(plan.plan_id) == {"sending": 1, "pending": 1}


def test_plan_id_hashes_the_contents(tmp_path: Path) -> None:
    with Journal(tmp_path) as journal:
        ids = [
            journal.add_plan(
                kind="scores", environment="sandbox", send_notifications=False, batches=b
            ).plan_id
            for b in (plan_batches(2), plan_batches(2), plan_batches(3))
        ]
    assert ids[0] != ids[1] and ids[0][:20] == ids[1][:20]
    assert ids[0][:20] != ids[2][:20]


def test_one_pusher_per_data_dir(tmp_path: Path) -> None:
    with (
        Journal(tmp_path) as first,
        Journal(tmp_path) as second,
        first.lock(),
        pytest.raises(JournalBusy, match="another push is running"),
        second.lock(),
    ):
        pass
