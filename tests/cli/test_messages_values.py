"""Bad values a user gives, each refused in one message that quotes the value and names the fix,
through the console script:

- a yes/no variable (QUAL_PIPELINE_PUSH_ALLOW_GRANTS=maybe) lists the words it takes, as number
  settings give their range (typer's own words were 'unable to interpret input');
- `sql --output json` of a query with two columns of one name (a JSON object with a duplicate
  key, which most readers read as one) is refused, naming the name and the fix;
- `dagster-home FOLDER` with a dagster.yaml Dagster cannot read names FOLDER, not DAGSTER_HOME.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pytest
from support.cli_process import run_clean as run

from qual_pipeline import settings

SCRIPT = Path(sys.executable).with_name("qual-pipeline")
YES_NO = [s for s in settings.SETTINGS if s.kind is bool and s.flag is not None]


def test_every_yes_no_setting_with_an_option_is_covered() -> None:
    names = {s.env for s in YES_NO}
    assert {
        "QUAL_PIPELINE_PUSH_ALLOW_GRANTS",
        "QUAL_PIPELINE_PUSH_ALLOW_REVOKES",
        "QUAL_PIPELINE_PUSH_SKIP_REJECTED",
        "QUAL_PIPELINE_PUSH_ALLOW_PRODUCTION",
        "QUAL_PIPELINE_PUSH_SEND_NOTIFICATIONS",
    } <= names


@pytest.mark.parametrize("setting", YES_NO, ids=lambda s: s.env)
def test_a_bad_yes_no_variable_lists_the_accepted_words(
    setting: settings.Setting[bool], tmp_path: Path
) -> None:
    command = setting.commands[0]
    refused = run(
        command, "--data-dir", str(tmp_path / "data"), cwd=tmp_path, **{setting.env: "maybe"}
    )
    assert refused.returncode == 2, refused.stderr
    assert f"{setting.env}='maybe' is not a yes/no value" in refused.stderr, refused.stderr
    for word in (*settings.TRUE, *settings.FALSE):
        assert word in refused.stderr.split("is not a yes/no value", 1)[1], refused.stderr
    assert "unable to interpret" not in refused.stderr


# plan reads three yes/no variables: each run gives each of them one of the words (every word
# once, in mixed case), three child processes instead of one per word.
PLAN_YES_NO = ("QUAL_PIPELINE_PUSH_ALLOW_GRANTS", "QUAL_PIPELINE_PUSH_ALLOW_REVOKES",
               "QUAL_PIPELINE_PUSH_SKIP_REJECTED")  # fmt: skip


def test_plan_reads_the_yes_no_variables_the_words_test_gives_it() -> None:
    assert {s.env for s in YES_NO if "plan" in s.commands} == set(PLAN_YES_NO)


@pytest.mark.parametrize("words", [("yes", "ON", "1"), ("no", "Off", "0"), ("true", "FALSE")])
def test_the_listed_words_are_taken(words: tuple[str, ...], tmp_path: Path) -> None:
    """Each word the message lists is one the option takes: plan gets past its options (it then
    says there is no warehouse yet, exit 1, not a refused value, exit 2)."""
    given = dict(zip(PLAN_YES_NO, words, strict=False))
    done = run("plan", "--data-dir", str(tmp_path / "data"), cwd=tmp_path, **given)
    assert "is not a yes/no value" not in done.stderr, done.stderr
    assert done.returncode != 2, done.stderr


def test_sql_json_refuses_two_columns_of_one_name(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    duckdb.connect(str(data / "warehouse.duckdb")).close()
    refused = run("sql", "--data-dir", str(data), "--output", "json", "SELECT 1 a, 2 a",
                  cwd=tmp_path)  # fmt: skip
    assert refused.returncode == 1, refused.stderr
    assert refused.stdout == ""
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert '2 columns are named "a"' in lines[0] and "AS" in lines[0], lines[0]
    # Distinct names, and the other outputs, print as before.
    assert run("sql", "--data-dir", str(data), "--output", "json", "SELECT 1 a, 2 b",
               cwd=tmp_path).returncode == 0  # fmt: skip
    csv = run("sql", "--data-dir", str(data), "--output", "csv", "SELECT 1 a, 2 a", cwd=tmp_path)
    assert csv.returncode == 0 and csv.stdout.splitlines() == ["a,a", "1,2"], csv.stdout


def test_dagster_home_folder_with_a_bad_dagster_yaml_names_the_argument(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("run_coordinator: [not, a, mapping\n")
    refused = run("dagster-home", str(home), cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert f"FOLDER '{home}'" in lines[0] and "give another folder as FOLDER" in lines[0], lines
    assert "DAGSTER_HOME" not in lines[0], lines[0]
    # Given through DAGSTER_HOME, the variable is named, as before.
    through_env = run("dagster-home", cwd=tmp_path, DAGSTER_HOME=str(home))
    assert through_env.returncode == 2 and f"DAGSTER_HOME='{home}'" in through_env.stderr
