"""SIGINT and SIGTERM stop `qual-pipeline push` mid-run, and the next push resumes exactly once.

The push is the user's command in a child process against a local MTurk that answers every request
after a delay (`FaultConfig(latency_ms=...)`, what `local-mturk serve --latency-ms` sets), so the
signal lands while calls are in flight. The local MTurk records when each request arrives: none may
arrive after the signal (a request already on the wire gets 0.1 s). The journal is read from the
test; the following push must land every change once (AssociateQualificationWithWorker counted on
the local MTurk) and read every one back.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from push_helpers import (
    World,
    mturk_state,
    run_push_process,
    warehouse_rows,
    write_desired,
)
from support.mturk import type_id, worker_id
from support.push_process import REPO, push_command

from qual_pipeline.local_mturk.faults import FaultConfig
from qual_pipeline.stores.journal import JOURNAL_NAME

T1 = type_id(41)
CHANGES = 60
ASSOCIATE = "AssociateQualificationWithWorker"
LATENCY_MS = 150
STOP_WITHIN_S = 5.0
ON_THE_WIRE_S = 0.1


def push_args(tmp_path: Path, *more: str) -> list[str]:
    return [
        "push",
        "--data-dir",
        str(tmp_path / "data"),
        "--inputs-dir",
        str(tmp_path / "inputs"),
        "--rate",
        "200",
        "--concurrency",
        "4",
        "--batch-size",
        "8",
        *more,
    ]


def planned_world(
    local_mturk: Any, mturk_env: Any, tmp_path: Path, faults: FaultConfig | None = None
) -> tuple[Any, dict[str, str], Path, dict[str, int]]:
    """70 workers of T1 on a local MTurk (with `faults`) and in the warehouse, new scores for the
    first CHANGES of them in tmp_path/inputs, and the saved plan of them (`qual-pipeline plan` in
    a child process): (the MTurk, the environment pointing at it, the data folder, worker id ->
    desired score)."""
    world = World(types=[T1], qualifications=[(T1, worker_id(i), "Granted", i) for i in range(70)])
    mturk = local_mturk(data=world.mturk_data(), faults=faults)
    env = mturk_env(mturk)
    data = tmp_path / "data"
    world.warehouse(data)
    desired = {worker_id(i): 500 + i for i in range(CHANGES)}
    write_desired(tmp_path / "inputs", [(T1, w, v) for w, v in desired.items()])
    plan = ["plan", "--data-dir", str(data), "--inputs-dir", str(tmp_path / "inputs")]
    planned = run_push_process([*plan, "--max-share", "1"], env)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    return mturk, env, data, desired


def signal_push(
    mturk: Any, env: dict[str, str], args: list[str], *, sent: int, signum: int
) -> tuple[int, str, str, float]:
    """`qual-pipeline <args>` in a child process, sent `signum` once MTurk has received `sent`
    updates: (exit code, stdout, stderr, time.monotonic() when the signal was sent)."""
    process = subprocess.Popen(
        push_command(args),
        env={**os.environ, **env, "COLUMNS": "200"},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while mturk.call_counts()[ASSOCIATE] < sent:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the push never got going"
            time.sleep(0.01)
        signalled = time.monotonic()
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, stdout, stderr, signalled


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
@pytest.mark.slow(16)
def test_signal_stops_push_and_next_push_resumes_exactly_once(
    signum: int, code: int, local_mturk, mturk_env, tmp_path: Path
) -> None:
    mturk, env, data, desired = planned_world(
        local_mturk, mturk_env, tmp_path, FaultConfig(latency_ms=LATENCY_MS)
    )

    # Mid-run: some batches sent, more to come.
    returncode, stdout, stderr, signalled = signal_push(
        mturk, env, push_args(tmp_path), sent=12, signum=signum
    )
    seconds = time.monotonic() - signalled

    assert returncode == code, stdout + stderr
    assert seconds < STOP_WITHIN_S, f"took {seconds:.1f} s to stop"
    assert mturk.requests_after(signalled + ON_THE_WIRE_S) == 0
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    name = signal.Signals(signum).name
    assert lines[0] == (
        f"interrupted ({name}): no MTurk request was sent after the signal and the journal holds "
        "every change. Run `qual-pipeline push` again to resume: changes whose outcome is unknown "
        "are read back before anything is sent again."
    )
    assert "Traceback" not in stdout + stderr

    # The journal is consistent: every change in a state a resume knows, none failed, the plan
    # still open, and fewer changes sent than planned (it stopped mid-way).
    journal = sqlite3.connect(data / JOURNAL_NAME)
    try:
        states = dict(journal.execute("SELECT state, count(*) FROM changes GROUP BY state"))
        # Changes the stop caught before their call are pending again, their attempt saying
        # so, and MTurk never got them: never left 'sending' as if their outcome were unknown.
        not_sent = journal.execute(
            "SELECT c.state, c.worker_id FROM attempts AS a JOIN changes AS c USING (plan_id, seq) "
            "WHERE a.status = 'interrupted' AND a.error LIKE 'not sent: the push was stopped%'"
        ).fetchall()
    finally:
        journal.close()
    assert all(state == "pending" for state, _ in not_sent), not_sent
    held = mturk_state(mturk, [(T1, w) for _, w in not_sent])
    assert all(held[(T1, w)] != ("Granted", desired[w]) for _, w in not_sent), held
    assert sum(states.values()) == CHANGES, states
    assert set(states) <= {"pending", "sending", "sent", "verified"}, states
    assert states.get("pending", 0) > 0, states
    sent_before = mturk.call_counts()[ASSOCIATE]
    assert sent_before < CHANGES

    resumed = run_push_process(push_args(tmp_path), env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resumed plan" in resumed.stdout, resumed.stdout
    assert mturk.call_counts()[ASSOCIATE] == CHANGES  # each change landed exactly once
    assert mturk_state(mturk, [(T1, w) for w in desired]) == {
        (T1, w): ("Granted", v) for w, v in desired.items()
    }
    verified = warehouse_rows(
        data, "SELECT count(DISTINCT worker_id) FROM push_audit WHERE status = 'verified'"
    )
    assert verified == [(CHANGES,)]


def test_signal_after_the_push_finished_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    """In process: a signal inside the block is caught (not raised), asks every MTurk call to
    stop, and is forgotten after it; a push that had finished when it came says so."""
    from qual_pipeline import interrupt
    from qual_pipeline.cli.push import interrupted
    from qual_pipeline.interrupt import stopping_on_signals

    before = signal.getsignal(signal.SIGINT)
    with stopping_on_signals() as caught:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        assert caught == [signal.SIGINT]
        assert interrupt.stopped() == "interrupted by SIGINT"
    assert interrupt.stopped() is None
    assert signal.getsignal(signal.SIGINT) is before
    assert interrupted(signal.SIGINT, finished=True) == 130
    assert capsys.readouterr().err.strip() == (
        "interrupted (SIGINT) after the push had finished: nothing is left to resume."
    )


@pytest.mark.slow(20)
def test_signal_while_calls_wait_for_the_rate_leaves_them_pending(
    local_mturk, mturk_env, tmp_path: Path
) -> None:
    """A slow --rate queues the batch's calls behind the pace's tokens (reads before updates and
    updates alike); a SIGINT then stops them before they are handed to the HTTP send. None of them
    left, so none may stay 'sending' (outcome unknown): they are pending again, the attempt says
    "not sent", and the resume sends them without an "in flight" read-back."""
    mturk, env, data, _ = planned_world(local_mturk, mturk_env, tmp_path)
    args = [
        "push",
        "--data-dir",
        str(data),
        "--inputs-dir",
        str(tmp_path / "inputs"),
        "--rate",
        "4",
        "--batch-size",
        "30",
    ]
    # Some sent, most of the batch queued.
    returncode, stdout, stderr, _ = signal_push(mturk, env, args, sent=3, signum=signal.SIGINT)
    assert returncode == 130, stdout + stderr

    journal = sqlite3.connect(data / JOURNAL_NAME)
    try:
        states = dict(journal.execute("SELECT state, count(*) FROM changes GROUP BY state"))
        not_sent = journal.execute(
            "SELECT count(*) FROM attempts WHERE status = 'interrupted' "
            "AND error LIKE 'not sent: the push was stopped%'"
        ).fetchone()[0]
    finally:
        journal.close()
    assert states.get("sending", 0) == 0, states
    assert not_sent > 0, states
    sent_before = mturk.call_counts()[ASSOCIATE]
    assert states.get("sent", 0) + states.get("verified", 0) == sent_before, states

    resumed = run_push_process([*args[:5], "--rate", "200"], env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert mturk.call_counts()[ASSOCIATE] == CHANGES
    in_flight = warehouse_rows(
        data, "SELECT count(*) FROM push_audit WHERE error LIKE '%while its call was in flight%'"
    )
    assert in_flight == [(0,)]
