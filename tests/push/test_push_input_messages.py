"""Messages about the files a user gives `plan` and `push`: each names the file, the line and the
fix; a resumed push says which of its options it did not apply; an interrupted `plan` says what
it saved."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from push_helpers import (
    World,
    journal_of,
    push_cli,
    start_world,
    write_desired,
)
from support.mturk import type_id, worker_id
from support.push_process import REPO, push_command

from qual_pipeline.local_mturk.server import FaultConfig
from qual_pipeline.stores.journal import JOURNAL_NAME

T1 = type_id(71)
W = [worker_id(i) for i in range(20)]
HEADER = "qualification_type_id,worker_id,integer_value\n"


@pytest.fixture
def world(local_mturk, mturk_env, tmp_path: Path):
    world = World(
        types=[T1],
        qualifications=[(T1, w, "Granted", 10) for w in W[:12]],
        requests=[("REQ1", T1, W[15]), ("REQ2", T1, W[16])],
    )
    mturk, common = start_world(local_mturk, mturk_env, tmp_path, world)
    (tmp_path / "inputs").mkdir()
    return mturk, common


def test_a_missing_website_csv_is_named_with_its_own_fix(world, tmp_path: Path) -> None:
    _, common = world
    missing = tmp_path / "nonexist.csv"
    result = push_cli("plan", *common, "--website-csv", str(missing))
    assert result.exit_code == 2  # a bad input file is bad usage
    assert f"{missing} does not exist: give the path of the worker CSV downloaded" in result.output
    assert "--inputs-dir" not in result.output and "Traceback" not in result.output


def test_a_bad_decision_is_shown_as_written(world, tmp_path: Path) -> None:
    _, common = world
    (tmp_path / "inputs" / "grant_decisions.csv").write_text(
        "qualification_request_id,decision,integer_value,reason\nREQ1,accept,,\nREQ2, Approve,,\n"
    )
    result = push_cli("plan", "--requests", *common, "--max-share", "1", "--output", "json")
    assert result.exit_code == 1
    shown = json.loads(result.output)
    # as written, case and space included: it was shown lowercased ('approve')
    assert shown["rejected_examples"] == {
        "decision must be accept or reject": "line 3: decision ' Approve'"
    }
    (row,) = [r for r in shown["rows"] if r["action"] == "rejected"]
    assert row["decision"] == " Approve"


@pytest.mark.parametrize("end", ["\n", ""], ids=["newline", "no-newline"])
def test_a_quote_never_closed_is_refused_naming_its_line(world, tmp_path: Path, end: str) -> None:
    _, common = world
    path = tmp_path / "inputs" / "desired_scores.csv"
    path.write_text(f'{HEADER}{T1},{W[1]},11\n{T1},{W[2]},"5{end}')
    result = push_cli("plan", *common, "--max-share", "1")
    assert result.exit_code == 2, result.output
    assert f"{path}, line 3: a quoted value opened there is never closed" in result.output


def test_a_file_not_utf8_names_the_line_of_the_first_bad_byte(world, tmp_path: Path) -> None:
    _, common = world
    path = tmp_path / "inputs" / "desired_scores.csv"
    path.write_bytes(f"{HEADER}{T1},{W[1]},11\n".encode() + f"{T1},\xe9,12\n".encode("latin-1"))
    result = push_cli("plan", *common, "--max-share", "1")
    assert result.exit_code == 2
    assert f"{path} is not UTF-8 text (line 3)" in result.output


@pytest.mark.parametrize(
    ("name", "text", "option", "said"),
    [
        (
            "desired_scores.csv",
            "worker,score\nA1,2\n",
            [],
            "the header (line 1) must name the columns qualification_type_id, worker_id, "
            "integer_value",
        ),
        (
            "grant_decisions.csv",
            "request,decision\nREQ1,accept\n",
            ["--requests"],
            "the header (line 1) must name the columns qualification_request_id, decision",
        ),
        ("workers.csv", "foo,bar\n1,2\n", ["--website-csv"], "has no 'Worker ID' column"),
    ],
    ids=["desired-scores", "decisions", "website-csv"],
)
@pytest.mark.parametrize("command", ["plan", "push"])
def test_a_bad_input_file_is_bad_usage_naming_the_file(
    world, tmp_path: Path, name: str, text: str, option: list[str], said: str, command: str
) -> None:
    # A desired-scores file, a decisions file or a website CSV that cannot be read as one exited
    # 1, as a refused plan does; it is bad input: exit 2, one line naming the file and the fix.
    mturk, common = world
    path = tmp_path / "inputs" / name
    path.write_text(text)
    given = [*option, str(path)] if option == ["--website-csv"] else option
    args = [command, *common, *given, *(["--replan"] if command == "push" else [])]
    result = push_cli(*args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: "), lines
    assert said in lines[0]
    assert "Traceback" not in result.output
    assert mturk.call_counts().get("AssociateQualificationWithWorker", 0) == 0


def test_send_notifications_on_a_resumed_push_says_it_is_not_applied(
    world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mturk, common = world
    write_desired(tmp_path / "inputs", [(T1, W[i], 50 + i) for i in range(4)])
    mturk.set_faults(FaultConfig(throttle_rate=1.0))
    monkeypatch.setenv("MTURK_MAX_ATTEMPTS", "1")
    assert push_cli("push", *common, "--replan", "--max-share", "1").exit_code == 1
    with journal_of(tmp_path / "data") as journal:
        (plan,) = journal.open_plans()
    mturk.set_faults(FaultConfig())
    resumed = push_cli("push", *common, "--send-notifications")
    assert resumed.exit_code == 0, resumed.output
    assert (
        f"note: plan {plan.plan_id} was resumed with SendNotification=False, as it was opened: "
        "--send-notifications applies to the plans a push opens, not to one it resumes"
    ) in resumed.output
    assert mturk.notifications() == []
    quiet = push_cli("push", *common)
    assert "note:" not in quiet.output


def _has_plans_table(journal: Path) -> bool:
    """Whether the journal file exists and its `plans` table was created (read-only look)."""
    if not journal.exists():
        return False
    db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=0.1)
    try:
        found = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'plans'").fetchone()
    except sqlite3.OperationalError:  # locked or half-created: look again
        return False
    finally:
        db.close()
    return found is not None


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
@pytest.mark.slow(15)
def test_an_interrupted_plan_says_nothing_was_saved(
    signum: int, code: int, world, mturk_env, tmp_path: Path
) -> None:
    mturk, common = world
    env = mturk_env(mturk)
    path = tmp_path / "inputs" / "desired_scores.csv"
    with path.open("w") as handle:  # quoted: read by the csv module, a few seconds
        handle.write(HEADER)
        handle.writelines(f'"{T1}","A{i:012d}","{i % 90}"\n' for i in range(600_000))
    process = subprocess.Popen(
        push_command(["plan", *common, "--max-share", "1"]),
        env={**os.environ, **env, "COLUMNS": "200"},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    journal = tmp_path / "data" / JOURNAL_NAME
    try:
        deadline = time.monotonic() + 60
        # The plan is being built under the journal's lock once the journal holds its tables
        # (under load the file appeared a while before them, and a signal then found none).
        while not _has_plans_table(journal):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.3)
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == code, stdout + stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    name = signal.Signals(signum).name
    assert lines == [
        f"interrupted ({name}): no plan was saved; the journal and the warehouse are as they were."
    ], stderr
    db = sqlite3.connect(journal)
    try:
        assert db.execute("SELECT count(*) FROM plans").fetchone() == (0,)
    finally:
        db.close()


def test_control_characters_in_ids_and_values_are_shown_escaped(world, tmp_path: Path) -> None:
    # A NUL in a worker id, an escape sequence in a value and a tab reached the terminal raw in
    # the plan rows: a NUL shows as nothing, ESC [31m turns the rest red, a tab as spaces.
    _, common = world
    path = tmp_path / "inputs" / "desired_scores.csv"
    path.write_bytes(
        f"{HEADER}{T1},A1\x00B,5\n{T1},{W[1]},4\x1b[31m2\n{T1},A2\tC\u200b,7\n".encode()
    )
    result = push_cli("plan", *common, "--max-share", "1")
    assert result.exit_code == 1, result.output  # the rows are rejected
    shown = result.output
    assert "\x00" not in shown and "\x1b" not in shown and "\t" not in shown
    assert "\u200b" not in shown
    table = shown[shown.index("plan rows") :]
    assert "A1\\x00B" in table and "4\\x1b[31m2" in table and "A2\\tC\\u200b" in table
    assert "line 2: worker_id 'A1\\x00B'" in shown  # the rejected rows' first example

    # in a message too: a header cell with a NUL, in the one error line
    path.write_bytes(b"qualification_type_id,worker\x00id,integer_value\n")
    refused = push_cli("plan", *common)
    assert refused.exit_code == 2, refused.output
    assert "\x00" not in refused.output and "worker\\x00id" in refused.output


def test_a_saved_plan_whose_csv_was_moved_names_the_recorded_path(world, tmp_path: Path) -> None:
    # The push of a saved plan reads the inputs the plan recorded; a CSV moved since was refused
    # with the plan's hint ("point --inputs-dir at the folder"), which a saved plan ignores.
    mturk, common = world
    path = write_desired(tmp_path / "inputs", [(T1, W[1], 77)])
    assert push_cli("plan", *common, "--max-share", "1").exit_code == 0
    path.rename(tmp_path / "moved.csv")
    refused = push_cli("push", *common)
    assert refused.exit_code == 2, refused.output
    said = " ".join(refused.output.split())
    assert f"was made from {path.resolve()}, which is no longer there (moved or deleted)" in said
    assert f"Put it back at {path.resolve()} and push again, or plan it where it is now " in said
    assert "(`qual-pipeline plan --inputs-dir FOLDER`, the folder that holds it)" in said
    assert mturk.call_counts().get("AssociateQualificationWithWorker", 0) == 0


@pytest.mark.parametrize(
    ("kind", "name", "row"),
    [
        ([], "desired_scores.csv", f"{T1},{W[0]},55\n"),
        (["--requests"], "grant_decisions.csv", "REQ1,accept\n"),
    ],
    ids=["scores", "requests"],
)
def test_a_missing_inputs_folder_names_what_a_pip_install_has(
    world, tmp_path: Path, kind: list[str], name: str, row: str
) -> None:
    """A pip install ships no inputs/ folder (nor the README.md in it): the fix names the file's
    columns and the README section, and a file written from the message alone plans."""
    _, common = world
    folder = tmp_path / "installed_elsewhere"
    args = ["plan", *kind, *common, "--inputs-dir", str(folder), "--max-share", "1"]
    missing = push_cli(*args)
    assert missing.exit_code == 2, missing.output
    message = " ".join(missing.output.split())
    assert f"{folder / name} does not exist: create it" in message, message
    assert "inputs folder's README.md" not in message
    assert "README section 'Pushing scores back to MTurk', 'The two models you own'" in message
    columns = message.split("names the columns ", 1)[1].split(" ", 1)[0]
    folder.mkdir()
    (folder / name).write_text(columns + "\n" + row)
    planned = push_cli(*args)
    assert planned.exit_code == 0, planned.output
    assert "A push would send 1 change(s)." in planned.output, planned.output
