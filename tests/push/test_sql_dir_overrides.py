"""`--sql-dir FOLDER` holding only your own models: each file there replaces the package's, the
package's sql/ folder gives the rest, and a model that fails is named by the file you edited.
Through the CLI (`plan`, then `push`) against a local MTurk."""

from __future__ import annotations

import shutil
from pathlib import Path

from push_helpers import World, push_cli, start_world, write_desired
from support.mturk import type_id, worker_id

from qual_pipeline.warehouse.sql_files import SQL_DIR

T1 = type_id(81)
W = [worker_id(i) for i in range(4)]


def test_a_folder_with_only_your_models_plans_and_pushes(
    local_mturk, mturk_env, tmp_path: Path
) -> None:
    # Before: "SQL file mysql/push_journal.sql is missing; restore it from the qual_pipeline
    # package's sql/ folder", exit 1, for a folder holding only desired_scores.sql.
    world = World(types=[T1], qualifications=[(T1, w, "Granted", 10) for w in W])
    mturk, common = start_world(local_mturk, mturk_env, tmp_path, world)
    mine = tmp_path / "mysql"
    mine.mkdir()
    (mine / "desired_scores.sql").write_text(
        f"SELECT '{T1}' AS qualification_type_id, '{W[1]}' AS worker_id, 42 AS integer_value\n"
    )
    (mine / "grant_decisions.sql").write_text(
        "SELECT NULL::VARCHAR AS qualification_request_id, NULL::VARCHAR AS decision WHERE false\n"
    )
    planned = push_cli("plan", *common, "--sql-dir", str(mine), "--max-share", "1")
    assert planned.exit_code == 0, planned.output
    assert "Inputs: " in planned.output and str(mine / "desired_scores.sql") in planned.output
    pushed = push_cli("push", *common, "--sql-dir", str(mine))
    assert pushed.exit_code == 0, pushed.output
    assert mturk.call_counts()["AssociateQualificationWithWorker"] == 1


def test_a_failing_model_is_named_by_the_users_file(local_mturk, mturk_env, tmp_path: Path) -> None:
    world = World(types=[T1], qualifications=[(T1, W[0], "Granted", 10)])
    _, common = start_world(local_mturk, mturk_env, tmp_path, world)
    mine = tmp_path / "mysql"
    mine.mkdir()
    model = mine / "desired_scores.sql"
    model.write_text("SELECT 1 AS worker_id\n")
    missing = push_cli("plan", *common, "--sql-dir", str(mine))
    assert missing.exit_code == 1
    assert missing.output.startswith(f"error: {model} must return the columns"), missing.output
    model.write_text("SELECT * FROM no_such_table\n")
    broken = push_cli("plan", *common, "--sql-dir", str(mine))
    assert broken.exit_code == 1
    assert broken.output.startswith(f"error: {model} failed: Catalog Error"), broken.output
    # Before: the view was made of the first SELECT and the second ran apart, unseen (exit 0,
    # a plan of worker 0 alone); a trailing semicolon is still one statement.
    model.write_text(
        f"SELECT '{T1}' AS qualification_type_id, '{W[0]}' AS worker_id, 5 AS integer_value;\n"
        f"SELECT '{T1}' AS qualification_type_id, '{W[0]}' AS worker_id, 7 AS integer_value;\n"
    )
    two = push_cli("plan", *common, "--sql-dir", str(mine))
    assert two.exit_code == 1, two.output
    assert two.output.startswith(f"error: {model} holds 2 SQL statements"), two.output
    assert "UNION ALL" in two.output
    said = (missing.output + broken.output).replace(str(model), "the user's file")
    assert "sql/desired_scores.sql" not in said, said

    nowhere = push_cli("plan", *common, "--sql-dir", str(tmp_path / "nowhere"))
    assert nowhere.exit_code == 2
    assert "does not exist" in nowhere.output


def test_only_your_two_models_are_read_from_the_folder(
    local_mturk, mturk_env, tmp_path: Path
) -> None:
    # Before: a push_guard.sql returning no rows next to desired_scores.sql replaced the
    # package's guard: the plan setting every holder to 1 passed (exit 0, "Inputs:" naming only
    # desired_scores.sql) and its push sent every change.
    workers = [worker_id(i) for i in range(20)]
    world = World(types=[T1], qualifications=[(T1, w, "Granted", 10) for w in workers])
    mturk, common = start_world(local_mturk, mturk_env, tmp_path, world)
    mine = tmp_path / "g1"
    mine.mkdir()
    (mine / "desired_scores.sql").write_text(
        "SELECT qualification_type_id, worker_id, 1 AS integer_value FROM worker_qualifications\n"
        "WHERE status = 'Granted' AND integer_value <> 1\n"
    )
    guarded = push_cli("plan", *common, "--sql-dir", str(mine))
    assert guarded.exit_code == 1, guarded.output
    assert "refused" in guarded.output and f"Inputs: {mine / 'desired_scores.sql'}" in (
        guarded.output
    )

    (mine / "push_guard.sql").write_text(
        "SELECT qualification_type_id, 0::BIGINT AS changes, 1000000::BIGINT AS workers,\n"
        "0::BIGINT AS score_changes, 0::BIGINT AS revokes FROM guarded_plan WHERE false\n"
    )
    for command in ("plan", "push"):
        refused = push_cli(command, *common, "--sql-dir", str(mine))
        assert refused.exit_code == 2, refused.output
        said = " ".join(refused.output.split())  # click's usage error may wrap
        assert f"{mine} holds push_guard.sql: remove it; only desired_scores.sql and " in said
        assert "grant_decisions.sql are read from --sql-dir" in said
        assert "Traceback" not in refused.output
    assert "Saved as plan" not in push_cli("plan", *common, "--sql-dir", str(mine)).output
    nothing = push_cli("push", *common)  # the guard-refused plan saved first
    assert nothing.exit_code == 1, nothing.output
    assert mturk.call_counts().get("AssociateQualificationWithWorker", 0) == 0


def test_a_copy_of_the_whole_sql_folder_is_refused(local_mturk, mturk_env, tmp_path: Path) -> None:
    world = World(types=[T1], qualifications=[(T1, W[0], "Granted", 10)])
    _, common = start_world(local_mturk, mturk_env, tmp_path, world)
    copied = tmp_path / "sql"
    shutil.copytree(SQL_DIR, copied)
    refused = push_cli("plan", *common, "--sql-dir", str(copied))
    assert refused.exit_code == 2, refused.output
    said = " ".join(refused.output.split())
    others = sorted(
        p.relative_to(SQL_DIR).as_posix()
        for p in SQL_DIR.rglob("*.sql")
        if p.name not in ("desired_scores.sql", "grant_decisions.sql") or p.parent != SQL_DIR
    )
    assert f"{copied} holds {', '.join(others[:5])} and {len(others) - 5} more: remove them" in (
        said
    )
    for name in ("desired_scores", "grant_decisions"):
        assert f"{name}.sql" in said
    (copied / "notes.txt").write_text("not SQL: left alone\n")
    for name in others:
        (copied / name).unlink()
    write_desired(tmp_path / "inputs", [(T1, W[0], 42)])
    kept = push_cli("plan", *common, "--sql-dir", str(copied), "--max-share", "1")
    assert kept.exit_code == 0, kept.output
    assert f"(read by {copied / 'desired_scores.sql'})" in kept.output, kept.output
