"""The push journal's SQLite file when it cannot be written: a full disk (a small tmpfs filled to
its last byte), a read-only file, a file another program keeps locked, a damaged file. `plan`,
`push` and a push's resume each give one message naming the file and the fix, exit 1, no
traceback; nothing half-written is left for a later push to misread, and the way back works."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from push_helpers import World, mturk_state, push_cli, saved_plan_id, start_world, write_desired
from support import folders
from support.mturk import type_id, worker_id
from support.push_process import MTurkRelay, push_command, run_push_process

T1 = type_id(41)
HOLDERS = 30
ASSOCIATE = "AssociateQualificationWithWorker"


def world() -> World:
    return World(
        types=[T1], qualifications=[(T1, worker_id(i), "Granted", i) for i in range(HOLDERS)]
    )


def is_full_disk_message(message: str, journal: Path) -> bool:
    """The full-disk message: SQLite says 'database or disk is full', or, when the WAL's
    shared-memory file cannot grow, 'disk I/O error' with the free bytes."""
    return (
        message.startswith(
            f"error: The push journal {journal} cannot be written: the disk is full ("
        )
        and (
            "). SQLite undid the unfinished write: the journal holds what it held before. Free "
            f"space on the disk holding {journal.parent}, then run the command again."
        )
        in message
    )


def one_error(output: str) -> str:
    """The single error line of a command's output (folded to one line), asserting no trace."""
    assert "Traceback" not in output and "sqlite3." not in output, output
    text = " ".join(output.split())
    assert text.count("error:") == 1, output
    return text[text.index("error:") :]


@pytest.fixture
def on_small_disk(local_mturk: Any, mturk_env: Any, tmp_path: Path) -> Any:
    """(mturk, data args, the data folder on a 16MB tmpfs, the inputs folder, the MTurk env)."""
    mturk, _ = start_world(local_mturk, mturk_env, tmp_path, world())
    env = mturk_env(mturk)
    with folders.small_disk(tmp_path / "disk", "16M") as disk:
        data = disk / "data"
        shutil.copytree(tmp_path / "data", data)
        common = ["--data-dir", str(data), "--inputs-dir", str(tmp_path / "inputs")]
        yield mturk, common, data, tmp_path / "inputs", env


def test_plan_and_push_on_a_full_disk_name_the_journal_and_the_fix(on_small_disk: Any) -> None:
    mturk, common, data, inputs, _ = on_small_disk
    journal = data / "push_journal.sqlite"
    write_desired(inputs, [(T1, worker_id(i), 100 + i) for i in range(5)])
    first = push_cli("plan", *common, "--max-share", "1")
    assert first.exit_code == 0, first.output
    old_plan = saved_plan_id(first.output)

    # New inputs (2,000 grants), then the disk fills: the plan cannot be saved. Before: a
    # traceback ending in sqlite3.OperationalError: database or disk is full.
    write_desired(inputs, [(T1, worker_id(1000 + i), 5) for i in range(2000)])
    filler = folders.fill_disk(data.parent, leave=64 * 1024)
    planned = push_cli("plan", *common, "--max-share", "1", "--allow-grants")
    assert planned.exit_code == 1
    message = one_error(planned.output)
    assert is_full_disk_message(message, journal) and message.endswith("command again."), message
    assert "(database or disk is full)" in message
    # Nothing half-written: the earlier plan is still the newest saved one, and a push refuses
    # it (its inputs changed) without sending anything.
    pushed = push_cli("push", *common)
    assert pushed.exit_code == 1, pushed.output
    assert old_plan in pushed.output and "inputs changed" in pushed.output
    # With no room left at all, even opening the journal fails (its shared-memory file).
    filler.unlink()
    filler = folders.fill_disk(data.parent)
    for command in (["plan", "--max-share", "1"], ["push"]):
        full = push_cli(*command, *common)
        assert full.exit_code == 1
        assert is_full_disk_message(one_error(full.output), journal), full.output
    assert mturk.call_counts().get(ASSOCIATE, 0) == 0

    # The way back: free the space, plan and push.
    filler.unlink()
    write_desired(inputs, [(T1, worker_id(i), 200 + i) for i in range(HOLDERS)])
    again = push_cli("plan", *common, "--max-share", "1")
    assert again.exit_code == 0, again.output
    done = push_cli("push", *common)
    assert done.exit_code == 0, done.output
    assert mturk_state(mturk, [(T1, worker_id(i)) for i in range(HOLDERS)]) == {
        (T1, worker_id(i)): ("Granted", 200 + i) for i in range(HOLDERS)
    }


@pytest.mark.slow(12)
def test_a_resume_on_a_full_disk_names_the_journal_and_resumes_once_there_is_room(
    on_small_disk: Any,
) -> None:
    mturk, common, data, inputs, env = on_small_disk
    journal = data / "push_journal.sqlite"
    write_desired(inputs, [(T1, worker_id(i), 300 + i) for i in range(HOLDERS)])
    args = ["push", "--replan", *common, "--max-share", "1", "--batch-size", "10", "--rate", "500"]
    relay = MTurkRelay(mturk.endpoint_url)
    try:  # killed with a change applied and its batch still 'sending' in the journal
        killed = relay.run_killed(args, env, "after_call:1", data)
    finally:
        relay.close()
    assert killed.returncode < 0, killed.stdout + killed.stderr

    # Room for the journal to open and for a few writes, not for the whole push: the resume
    # reads the batch in flight back, goes on, and a write of the journal fails mid-push.
    filler = folders.fill_disk(data.parent, leave=64 * 1024)
    sent = mturk.call_counts().get(ASSOCIATE, 0)
    resumed = run_push_process(["push", *common], env)
    assert resumed.returncode == 1
    message = one_error(resumed.stderr + resumed.stdout)
    assert mturk.call_counts().get(ASSOCIATE, 0) == sent  # its first write failed: none sent
    assert is_full_disk_message(message, journal), message
    assert "Run `qual-pipeline push` again" in message
    filler.unlink()
    finished = run_push_process(["push", *common], env)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert mturk_state(mturk, [(T1, worker_id(i)) for i in range(HOLDERS)]) == {
        (T1, worker_id(i)): ("Granted", 300 + i) for i in range(HOLDERS)
    }
    assert mturk.call_counts()[ASSOCIATE] == HOLDERS  # each change applied once, none twice


def test_a_read_only_journal_file_names_the_file_and_the_fix(
    local_mturk: Any, mturk_env: Any, tmp_path: Path
) -> None:
    mturk, common = start_world(local_mturk, mturk_env, tmp_path, world())
    env = mturk_env(mturk)
    write_desired(tmp_path / "inputs", [(T1, worker_id(1), 77)])
    assert push_cli("plan", *common, "--max-share", "1").exit_code == 0
    journal = tmp_path / "data" / "push_journal.sqlite"
    journal.chmod(0o444)
    as_user = folders.AS_A_USER if os.geteuid() == 0 else []  # root ignores the file's mode
    for command in (["plan", "--max-share", "1"], ["push"]):
        done = subprocess.run(
            as_user + push_command([*command, *common]),
            env={**os.environ, **env, "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 1, done
        message = one_error(done.stderr + done.stdout)
        assert message.startswith(
            f"error: The push journal {journal} cannot be opened for writing ("
        ), message
        assert (
            f"make it and its folder writable by this user (e.g. `chmod u+w {journal} " in message
        )
    assert mturk.call_counts().get(ASSOCIATE, 0) == 0


@pytest.mark.slow(12)  # SQLite waits out its 10 s busy timeout
def test_a_journal_another_program_keeps_locked_names_it(
    local_mturk: Any, mturk_env: Any, tmp_path: Path
) -> None:
    _, common = start_world(local_mturk, mturk_env, tmp_path, world())
    write_desired(tmp_path / "inputs", [(T1, worker_id(1), 77)])
    assert push_cli("plan", *common, "--max-share", "1").exit_code == 0
    journal = tmp_path / "data" / "push_journal.sqlite"
    other = sqlite3.connect(journal, isolation_level=None)  # e.g. an sqlite3 shell
    other.execute("BEGIN EXCLUSIVE")
    try:
        planned = push_cli("plan", *common, "--max-share", "1")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert planned.exit_code == 1
    message = one_error(planned.output)
    assert message.startswith(
        f"error: The push journal {journal} is locked by another program (database is locked)"
    ), message
    assert "close it, then run the command again" in message
    assert push_cli("plan", *common, "--max-share", "1").exit_code == 0


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_journal_names_the_file_and_the_fix(
    local_mturk: Any, mturk_env: Any, tmp_path: Path, damage: str
) -> None:
    mturk, common = start_world(local_mturk, mturk_env, tmp_path, world())
    write_desired(tmp_path / "inputs", [(T1, worker_id(1), 77)])
    assert push_cli("plan", *common, "--max-share", "1").exit_code == 0
    journal = tmp_path / "data" / "push_journal.sqlite"
    data = journal.read_bytes()
    journal.write_bytes(b"not a journal" * 400 if damage == "garbage" else data[:1500])
    for command in (["plan", "--max-share", "1"], ["push"]):
        done = push_cli(*command, *common)
        assert done.exit_code == 1
        message = one_error(done.output)
        assert message.startswith(f"error: The push journal {journal} is damaged"), message
        assert f"`mv {journal} {journal}.broken`" in message
    journal.rename(journal.with_name("push_journal.sqlite.broken"))
    assert push_cli("plan", *common, "--max-share", "1").exit_code == 0
    assert push_cli("push", *common).exit_code == 0
    assert mturk_state(mturk, [(T1, worker_id(1))]) == {(T1, worker_id(1)): ("Granted", 77)}


def test_a_large_superseded_plan_gives_its_space_back(tmp_path: Path) -> None:
    # A plan of 20,000 changes superseded by a plan of one: its rows were dropped, but
    # push_journal.sqlite (and its -wal file) kept every byte, plan after plan.
    workers = [worker_id(i) for i in range(20_000)]
    World(types=[T1], qualifications=[(T1, w, "Granted", 1) for w in workers]).warehouse(
        tmp_path / "data"
    )
    common = ["--data-dir", str(tmp_path / "data"), "--inputs-dir", str(tmp_path / "inputs")]
    journal = tmp_path / "data" / "push_journal.sqlite"

    def size() -> int:
        return sum(p.stat().st_size for p in journal.parent.glob("push_journal.sqlite*"))

    write_desired(tmp_path / "inputs", [(T1, w, 7) for w in workers])
    large = push_cli("plan", *common, "--max-share", "1", "--max-changes", "20000")
    assert large.exit_code == 0, large.output
    after_large = size()
    assert after_large > 2_000_000, after_large

    write_desired(tmp_path / "inputs", [(T1, workers[0], 8)])
    small = push_cli("plan", *common, "--max-share", "1")
    assert small.exit_code == 0, small.output
    assert size() < after_large / 10, (size(), after_large)
    with sqlite3.connect(journal) as con:  # what the journal holds is whole
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        states = dict(con.execute("SELECT state, count(*) FROM plans GROUP BY state").fetchall())
        assert states == {"superseded": 1, "saved": 1}
        assert con.execute("SELECT count(*) FROM changes").fetchone() == (1,)
    pushable = push_cli("plan", *common, "--max-share", "1")  # and it keeps working
    assert pushable.exit_code == 0, pushable.output
