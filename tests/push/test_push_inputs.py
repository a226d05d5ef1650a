"""The files a user edits, as `qual-pipeline plan` reads them: headers in any case, messages that
name the file, and rejected rows shown with their line and their value as written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from push_helpers import World, push_cli, start_world
from support.mturk import type_id, worker_id

T1 = type_id(81)
W = [worker_id(i) for i in range(10)]


@pytest.fixture
def world(local_mturk, mturk_env, tmp_path: Path):
    """A local MTurk and a warehouse where W[0..5] hold T1 with 10 and REQ1 is pending."""
    world = World(
        types=[T1],
        qualifications=[(T1, w, "Granted", 10) for w in W[:6]],
        requests=[("REQ1", T1, W[8])],
    )
    mturk, common = start_world(local_mturk, mturk_env, tmp_path, world)
    (tmp_path / "inputs").mkdir()
    return mturk, common


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def plan_json(common: list[str], *more: str) -> tuple[int, dict[str, Any]]:
    result = push_cli("plan", *common, *more, "--max-share", "1", "--output", "json")
    return result.exit_code, json.loads(result.output) if result.exit_code in (0, 1) else {}


def test_headers_match_in_any_case_and_order_with_spaces_trimmed(world, tmp_path: Path) -> None:
    _, common = world
    write(
        tmp_path / "inputs" / "desired_scores.csv",
        f" Worker_ID ,QUALIFICATION_TYPE_ID,Integer_Value\n{W[1]},{T1},11\n",
        encoding="utf-8-sig",  # what Excel's "CSV UTF-8" writes
    )
    code, plan = plan_json(common)
    assert code == 0, plan
    assert plan["counts"]["update"] == 1
    assert [(r["worker_id"], r["new_value"]) for r in plan["rows"]] == [(W[1], 11)]

    write(
        tmp_path / "inputs" / "grant_decisions.csv",
        "Qualification_Request_ID,DECISION,Integer_Value\nREQ1,Accept,70\n",
    )
    code, plan = plan_json(common, "--requests")
    assert code == 0, plan
    assert plan["counts"]["accept"] == 1


def test_a_rejected_row_shows_its_line_and_its_value_as_written(world, tmp_path: Path) -> None:
    _, common = world
    desired = write(
        tmp_path / "inputs" / "desired_scores.csv",
        "qualification_type_id,worker_id,integer_value\n"
        f"{T1},{W[1]},11\n"
        "\n"  # a blank line still counts
        f'{T1},"{W[2]}",12\n'
        f"{T1},{W[3]},85.5\n"
        f'{T1},{W[4]},"1\n2"\n'  # a value spanning two lines
        f"{T1},{W[5]}, 7 ,extra\n",
    )
    code, plan = plan_json(common)
    assert code == 1
    rejected = {
        r["source_line"]: (r["worker_id"], r["raw_value"], r["reason"])
        for r in plan["rows"]
        if r["action"] == "rejected"
    }
    assert rejected == {
        5: (W[3], "85.5", "integer_value is not an integer"),
        6: (W[4], "1\n2", "integer_value is not an integer"),
        8: (W[5], " 7 ", "the row has 4 cells and the header 3: quote values that hold commas"),
    }
    assert plan["rejected_examples"]["integer_value is not an integer"] == "line 5: '85.5'"

    shown = push_cli("plan", *common, "--max-share", "1")
    assert "line 5: '85.5'" in shown.output
    assert f"Inputs: {desired} (read by sql/desired_scores.sql)" in shown.output
    refused = push_cli("push", *common, "--replan", "--max-share", "1")
    assert refused.exit_code == 1
    assert "2 x integer_value is not an integer (first at line 5: '85.5')" in refused.output
    assert f"read from {desired} (read by sql/desired_scores.sql)" in refused.output


def test_a_rejected_id_is_shown_not_the_rows_value(world, tmp_path: Path) -> None:
    # The first-at example of a reason about an id showed the row's score ('11'), which is not
    # what was wrong.
    _, common = world
    write(
        tmp_path / "inputs" / "desired_scores.csv",
        "qualification_type_id,worker_id,integer_value\n"
        f"{T1},{W[1]},11\n"
        f"{T1},a-12,11\n"
        f"3NOSUCHTYPE000000000,{W[2]},12\n",
    )
    code, plan = plan_json(common)
    assert code == 1
    assert plan["rejected_examples"] == {
        "worker_id must be A followed by upper-case letters and digits (at most 64)":
            "line 3: worker_id 'a-12'",
        "not one of your qualification types (not in qualification_types; "
        "sandbox and production ids differ)":
            "line 4: qualification_type_id '3NOSUCHTYPE000000000'",
    }  # fmt: skip
    refused = push_cli("push", *common, "--replan", "--max-share", "1")
    assert refused.exit_code == 1
    assert "(first at line 3: worker_id 'a-12')" in refused.output


def test_a_rejected_revocation_is_shown_as_one_with_its_reason(world, tmp_path: Path) -> None:
    # A revocation has no value: its example read `line 3: empty`.
    _, common = world
    header = "qualification_type_id,worker_id,integer_value,action,reason\n"
    write(
        tmp_path / "inputs" / "desired_scores.csv",
        f"{header}{T1},{W[1]},11,,\n"
        f"{T1},{W[2]},,revoke,left the study\n"
        f"{T1},{W[3]},,revoke,\n"
        f"{T1},{W[4]},,revoke,fraud\n"
        f"{T1},{W[4]},,revoke,spam\n",
    )
    needs = "revoking a qualification needs --allow-revokes (the worker can no longer work on HITs that require it)"  # noqa: E501
    twice = "the same worker appears 2 times with different values (revoke: fraud and revoke: spam)"
    code, plan = plan_json(common)
    assert code == 1
    assert plan["rejected_examples"] == {
        needs: "line 3: revoke, reason 'left the study'",
        twice: f"line 5: worker_id '{W[4]}'",
    }
    shown = push_cli("plan", *common, "--max-share", "1")
    assert "line 3: revoke, reason 'left the study'" in shown.output
    assert "empty" not in shown.output
    refused = push_cli("push", *common, "--replan", "--max-share", "1")
    assert refused.exit_code == 1
    assert f"2 x {needs} (first at line 3: revoke, reason 'left the study')" in refused.output

    write(tmp_path / "inputs" / "desired_scores.csv", f"{header}{T1},{W[3]},,Revoke,\n")
    code, plan = plan_json(common)
    assert plan["rejected_examples"] == {needs: "line 2: revoke, no reason"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("worker_id,integer_value\nA1,1\n", "missing: qualification_type_id. The header is"),
        (
            "qualification_type_id,worker_id,Worker_ID,integer_value\n",
            "the header names the column worker_id twice ('worker_id' and 'Worker_ID')",
        ),
        ("qualification_type_id;worker_id;integer_value\n", "separated by semicolons"),
        (
            "qualification_type_id\tworker_id\tinteger_value\n",
            "(the file looks separated by tabs: save it with commas)",
        ),
        ("", "is empty: it needs a header line"),
        ("qualification_type_id,worker_id,integer_value\nx,\xe9t\xe9,1\n", "is not UTF-8"),
    ],
    ids=["missing-column", "twice", "semicolons", "tabs", "empty", "latin-1"],
)
def test_a_file_that_cannot_be_read_is_named_with_the_fix(
    world, tmp_path: Path, content: str, message: str
) -> None:
    _, common = world
    path = write(tmp_path / "inputs" / "desired_scores.csv", content, encoding="latin-1")
    result = push_cli("plan", *common)
    assert result.exit_code == 2  # bad input: bad usage
    assert str(path) in result.output and message in result.output
    assert "Traceback" not in result.output


def test_the_out_of_date_message_names_the_edited_file(world, tmp_path: Path) -> None:
    mturk, common = world
    desired = tmp_path / "inputs" / "desired_scores.csv"
    write(desired, f"qualification_type_id,worker_id,integer_value\n{T1},{W[1]},11\n")
    assert push_cli("plan", *common, "--max-share", "1").exit_code == 0
    write(desired, f"qualification_type_id,worker_id,integer_value\n{T1},{W[1]},12\n")
    refused = push_cli("push", *common)
    assert refused.exit_code == 1
    assert f"{desired} (read by sql/desired_scores.sql) now gives other rows" in refused.output
    assert mturk.call_counts()["AssociateQualificationWithWorker"] == 0


def test_the_shipped_examples_plan_as_inputs_readme_says(tmp_path: Path) -> None:
    """inputs/desired_scores.csv and inputs/website_workers.csv, against a warehouse holding their
    types and workers (plan needs no MTurk)."""
    example_type, tagging, expert = "3YJP8DI8F47JY6LPEKOFHXLJ1G0Q49", type_id(82), type_id(83)
    world = World(
        types=[example_type, tagging, expert],
        names={tagging: "Image tagging, accuracy", expert: "Expert reviewers"},
        qualifications=[
            (example_type, "A143XRCI1YXAFE", "Granted", 80),
            (example_type, "A2ZK5OT6HMN8KD", "Granted", 92),
            (example_type, "A3NMQ3019X6YE0", "Granted", 75),
            (tagging, "A143XRCI1YXAFE", "Granted", 87),
            (tagging, "A2ZK5OT6HMN8KD", "Granted", 64),
            (tagging, "A1Y8SC4JZ6K2Q7", "Granted", 12),
            (expert, "A143XRCI1YXAFE", "Granted", 1),
            (expert, "A2ZK5OT6HMN8KD", "Granted", 1),
        ],
    )
    world.warehouse(tmp_path / "data")
    inputs = Path(__file__).resolve().parents[2] / "inputs"
    common = ["--data-dir", str(tmp_path / "data"), "--inputs-dir", str(inputs)]
    allow = ["--allow-grants", "--allow-revokes", "--max-revoke-share", "1"]

    def changes(*more: str) -> tuple[set[tuple[str, str, str, Any]], dict[str, Any]]:
        code, plan = plan_json(common, *allow, *more)
        assert code == 0, plan
        rows = {
            (r["qualification_type_id"], r["worker_id"], r["action"], r["new_value"])
            for r in plan["rows"]
        }
        return rows, plan

    rows, _ = changes()
    assert rows == {
        (example_type, "A143XRCI1YXAFE", "update", 87),
        (example_type, "A3NMQ3019X6YE0", "revoke", None),
    }
    rows, plan = changes("--website-csv", str(inputs / "website_workers.csv"))
    assert rows == {
        (tagging, "A143XRCI1YXAFE", "update", 92),
        (tagging, "A3NMQ3019X6YE0", "grant", 70),
        (expert, "A2ZK5OT6HMN8KD", "revoke", None),
    }
    assert plan["not_applied"][0].startswith("not applied: 2 block-status cell(s)")
