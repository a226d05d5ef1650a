"""`--sql-dir FOLDER` holding only your own models: each file there replaces the package's, the
package's sql/ folder gives the rest, and a model that fails is named by the file you edited.
Through the CLI (`plan`, then `push`) against a local MTurk."""

from __future__ import annotations

from pathlib import Path

from push_helpers import World, push_cli, start_world
from support.mturk import type_id, worker_id

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
    said = (missing.output + broken.output).replace(str(model), "the user's file")
    assert "sql/desired_scores.sql" not in said, said

    nowhere = push_cli("plan", *common, "--sql-dir", str(tmp_path / "nowhere"))
    assert nowhere.exit_code == 2
    assert "does not exist" in nowhere.output
