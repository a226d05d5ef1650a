"""The requester website's worker CSV in (`plan --website-csv`) and out (`export --website-csv`),
through the CLI against a local MTurk over real HTTP."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from push_helpers import (
    World,
    file_digest,
    mturk_state,
    push_cli,
    start_world,
    warehouse_rows,
    write_csv,
)
from support.mturk import type_id, worker_id

ACCURACY, EXPERT, FOREIGN = type_id(61), type_id(62), type_id(63)
NAMES = {
    ACCURACY: "Accuracy, image tagging",  # a space and a comma
    EXPERT: "Expert",
    FOREIGN: "Somebody else's type",  # on MTurk, owned by another requester
}
W = [worker_id(i) for i in range(40)]
ASSOCIATE = "AssociateQualificationWithWorker"
DISASSOCIATE = "DisassociateQualificationFromWorker"
HEADER = [
    "Worker ID",
    "UPDATE BlockStatus",
    "BlockReason",
    "CURRENT BlockStatus",
    "Lifetime Approval Rate",
    "Last 30 Days Approval Rate",
    "Last 7 Days Approval Rate",
    f"CURRENT-{NAMES[ACCURACY]}",
    f"UPDATE-{NAMES[ACCURACY]}",
    "CURRENT-Expert",
    "UPDATE-Expert",
    f"CURRENT-{NAMES[FOREIGN]}",
    f"UPDATE-{NAMES[FOREIGN]}",
]


def website_world() -> World:
    return World(
        types=[ACCURACY, EXPERT],
        foreign_types=[FOREIGN],
        names=NAMES,
        qualifications=[(ACCURACY, W[i], "Granted", 10 + i) for i in range(20)]
        + [(EXPERT, W[i], "Granted", 1) for i in range(10)]
        + [(EXPERT, W[30], "Revoked", 1)],
    )


def row(worker: str, accuracy: str = "", expert: str = "", foreign: str = "", **more: str) -> list:
    """One line of the website CSV: approval rates and CURRENT- cells filled as the site does."""
    return [
        worker,
        more.get("block", ""),
        more.get("block_reason", ""),
        "",
        "100% (25/25)",
        "96% (24/25)",
        "0% (0/0)",
        "12",
        accuracy,
        "1",
        expert,
        "",
        foreign,
    ]


ROWS = [
    row(W[0], accuracy="95"),  # update 10 -> 95
    row(W[1], expert="revoke"),  # a revocation, in lower case
    row(W[4], block="Block", block_reason="copied answers,\nrepeatedly"),  # two lines, not applied
    row(W[2], accuracy="85.5"),  # neither a whole number nor Revoke
    row(W[3], accuracy="13"),  # what MTurk holds already
    row(W[15], expert="Revoke"),  # does not hold Expert: nothing to revoke
    row(W[30], expert="REVOKE"),  # revoked already
    row(W[35], accuracy=" 60 "),  # a grant to a new worker
    row(W[6], foreign="5"),  # a type that is not ours
    row(W[7]),  # blank cells: untouched
]
# Lines: header 1, then one per row except the block reason spanning two.
LINES = {W[0]: 2, W[1]: 3, W[4]: 4, W[2]: 6, W[3]: 7, W[15]: 8, W[30]: 9, W[35]: 10, W[6]: 11}


def write_website_csv(path: Path, rows: list[list[Any]], header: list[str] = HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def world(local_mturk, mturk_env, tmp_path: Path):
    def start(world: World = website_world()) -> tuple[Any, list[str]]:
        return start_world(local_mturk, mturk_env, tmp_path, world)

    return start


ALLOW = [
    "--allow-grants",
    "--allow-revokes",
    "--max-share",
    "1",
    "--max-revoke-share",
    "1",
    "--skip-rejected",
]


def test_the_website_csv_plans_exactly_its_cells_and_the_push_applies_them(
    world, tmp_path: Path
) -> None:
    mturk, common = world()
    website = write_website_csv(tmp_path / "workers.csv", ROWS)

    refused = push_cli("plan", *common, "--website-csv", str(website), "--allow-grants")
    assert refused.exit_code == 1
    assert "revoking a qualification needs --allow-revokes" in refused.output

    planned = push_cli("plan", *common, "--website-csv", str(website), *ALLOW, "--output", "json")
    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.output)
    assert plan["counts"] == {"update": 1, "grant": 1, "revoke": 1, "unchanged": 3, "rejected": 2}
    assert plan["not_applied"] == [
        f"not applied: 2 block-status cell(s) in UPDATE BlockStatus, BlockReason of {website}: "
        "qual_pipeline changes qualifications only; block or unblock workers on the requester "
        "website"
    ]
    changes = {
        (r["qualification_type_id"], r["worker_id"]): (r["action"], r["old_value"], r["new_value"])
        for r in plan["rows"]
        if r["action"] != "rejected"
    }
    assert changes == {
        (ACCURACY, W[0]): ("update", 10, 95),
        (ACCURACY, W[35]): ("grant", None, 60),
        (EXPERT, W[1]): ("revoke", 1, None),
    }
    rejected = {
        r["source_line"]: (r["source_column"], r["raw_value"], r["reason"])
        for r in plan["rows"]
        if r["action"] == "rejected"
    }
    column = f"UPDATE-{NAMES[ACCURACY]}"
    assert rejected == {
        LINES[W[2]]: (
            column,
            "85.5",
            f'column "{column}": the value is neither a whole number nor Revoke',
        ),
        LINES[W[6]]: (
            f"UPDATE-{NAMES[FOREIGN]}",
            "5",
            f'column "UPDATE-{NAMES[FOREIGN]}": none of your qualification types is named '
            f'"{NAMES[FOREIGN]}" (names are matched as MTurk shows them, case included, the '
            "spaces around them aside; refresh if the type is new)",
        ),
    }

    shown = push_cli("plan", *common, "--website-csv", str(website), *ALLOW)
    assert shown.exit_code == 0, shown.output
    assert "not applied: 2 block-status cell(s) in UPDATE BlockStatus, BlockReason" in shown.output
    assert f"line {LINES[W[2]]}, column '{column}': '85.5'" in shown.output  # the first-at column
    assert f"Inputs: the website CSV {website}" in shown.output
    assert mturk.call_counts()[ASSOCIATE] + mturk.call_counts()[DISASSOCIATE] == 0

    pushed = push_cli("push", *common, "--rate", "200")
    assert pushed.exit_code == 0, pushed.output
    assert mturk_state(mturk, [(ACCURACY, W[0]), (ACCURACY, W[35]), (EXPERT, W[1])]) == {
        (ACCURACY, W[0]): ("Granted", 95),
        (ACCURACY, W[35]): ("Granted", 60),
        (EXPERT, W[1]): ("Revoked", 1),
    }
    assert (mturk.call_counts()[ASSOCIATE], mturk.call_counts()[DISASSOCIATE]) == (2, 1)
    assert mturk.notifications() == []
    audit = warehouse_rows(
        tmp_path / "data",
        "SELECT worker_id, action, status, observed_status FROM push_audit ORDER BY 1",
    )
    assert audit == [
        (W[0], "update", "verified", "Granted"),
        (W[1], "revoke", "verified", "Revoked"),
        (W[35], "grant", "verified", "Granted"),
    ]

    again = push_cli("push", *common, "--replan", "--website-csv", str(website), *ALLOW)
    assert again.exit_code == 0, again.output
    assert "Nothing to push" in again.output
    assert (mturk.call_counts()[ASSOCIATE], mturk.call_counts()[DISASSOCIATE]) == (2, 1)


def test_an_edited_website_csv_makes_its_saved_plan_out_of_date(world, tmp_path: Path) -> None:
    mturk, common = world()
    website = write_website_csv(tmp_path / "workers.csv", [row(W[0], accuracy="95")])
    planned = push_cli("plan", *common, "--website-csv", str(website), *ALLOW)
    assert planned.exit_code == 0, planned.output

    write_website_csv(website, [row(W[0], accuracy="96")])
    refused = push_cli("push", *common)
    assert refused.exit_code == 1
    assert f"the website CSV {website.resolve()} now gives other rows" in refused.output
    assert mturk.call_counts()[ASSOCIATE] == 0

    plan_flag = push_cli("push", *common, "--website-csv", str(website))
    assert plan_flag.exit_code == 2
    assert "--website-csv belongs to the plan: pass it to `qual-pipeline plan`" in plan_flag.output
    two = push_cli("push", *common, "--website-csv", str(website), "--max-changes", "5")
    assert two.exit_code == 2
    assert "--max-changes, --website-csv belong to the plan: pass them to" in two.output


def test_a_saved_plan_whose_website_csv_moved_names_the_path_and_the_push_fixes(
    world, tmp_path: Path
) -> None:
    # The hint was the plan's ("give the path of the worker CSV downloaded ..., or write one with
    # export"): a push of a saved plan takes no --website-csv, so it named a fix that cannot work.
    mturk, common = world()
    website = write_website_csv(tmp_path / "workers.csv", [row(W[0], accuracy="95")])
    planned = push_cli("plan", *common, "--website-csv", str(website), *ALLOW)
    assert planned.exit_code == 0, planned.output
    moved = website.rename(tmp_path / "elsewhere.csv")

    refused = push_cli("push", *common)
    assert refused.exit_code == 2, refused.output
    lines = [line for line in refused.output.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert (
        f"was made from the website CSV {website.resolve()}, which is no longer there (moved or "
        f"deleted), so the push cannot check that it did not change. Put it back at "
        f"{website.resolve()} and push again, or plan the file where it is now "
        "(`qual-pipeline plan --website-csv NEW_PATH`), then push"
    ) in refused.output
    assert "export --website-csv" not in refused.output and "downloaded" not in refused.output
    assert mturk.requests_after(0) == 0

    moved.rename(website)
    pushed = push_cli("push", *common)
    assert pushed.exit_code == 0, pushed.output
    assert mturk.call_counts()[ASSOCIATE] == 1


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (["Worker", "UPDATE-Expert"], "has no 'Worker ID' column(s)"),
        (["Worker ID", "CURRENT-Expert"], "has no UPDATE-<type name> column"),
        (["Worker ID;UPDATE-Expert"], "separated by semicolons"),
        (["Worker ID\tUPDATE-Expert"], "(the file looks separated by tabs: save it with commas)"),
    ],
)
def test_a_file_that_is_not_the_website_layout_is_refused_naming_it(
    world, tmp_path: Path, header: list[str], message: str
) -> None:
    _, common = world()
    website = write_website_csv(tmp_path / "workers.csv", [[W[0], "5"]], header=header)
    result = push_cli("plan", *common, "--website-csv", str(website))
    assert result.exit_code == 2  # bad input: bad usage
    assert str(website) in result.output and message in result.output
    assert "Traceback" not in result.output


def test_a_name_two_types_share_is_rejected_naming_the_column(tmp_path: Path) -> None:
    """MTurk keeps names unique per requester, but a warehouse can hold a deleted type's name
    next to a new one's; the plan (which needs no MTurk) must not guess between them."""
    twin = type_id(64)
    world = World(
        types=[ACCURACY, twin],
        names={ACCURACY: "Twin", twin: "Twin"},
        qualifications=[(ACCURACY, W[0], "Granted", 1), (twin, W[0], "Granted", 1)],
    )
    world.warehouse(tmp_path / "data")
    common = ["--data-dir", str(tmp_path / "data")]
    website = write_website_csv(tmp_path / "w.csv", [[W[0], "7"]], ["Worker ID", "UPDATE-Twin"])
    result = push_cli("plan", *common, "--website-csv", str(website), "--output", "json")
    assert result.exit_code == 1
    (rejected,) = json.loads(result.output)["rows"]
    assert rejected["reason"].startswith(
        'column "UPDATE-Twin": 2 of your qualification types are named "Twin"'
    )


def test_export_writes_the_website_layout_and_its_untouched_file_plans_nothing(
    world, tmp_path: Path
) -> None:
    quoted = type_id(65)
    names = {ACCURACY: NAMES[ACCURACY], quoted: 'Say "hi", then stop', EXPERT: "Expert"}
    mturk, common = world(
        World(
            types=[ACCURACY, quoted, EXPERT],
            names=names,
            qualifications=[
                (ACCURACY, W[1], "Granted", 80),
                (ACCURACY, W[2], "Revoked", 30),  # revoked: blank, as the website shows it
                (quoted, W[1], "Granted", None),  # granted without a score: blank
                (quoted, W[3], "Granted", 5),
                (EXPERT, W[3], "Granted", 0),
            ],
        )
    )
    exported = tmp_path / "export" / "workers.csv"
    exported.parent.mkdir()
    result = push_cli(
        "export", "--data-dir", str(tmp_path / "data"), "--website-csv", str(exported)
    )
    assert result.exit_code == 0, result.output
    assert "Wrote 3 worker(s) x 3 qualification type(s)" in result.output

    text = exported.read_text(encoding="utf-8")
    assert text.splitlines()[0] == (
        'Worker ID,"CURRENT-Accuracy, image tagging","UPDATE-Accuracy, image tagging",'
        "CURRENT-Expert,UPDATE-Expert,"
        '"CURRENT-Say ""hi"", then stop","UPDATE-Say ""hi"", then stop"'
    )
    with exported.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[1:] == [
        [W[1], "80", "", "", "", "", ""],
        [W[2], "", "", "", "", "", ""],
        [W[3], "", "", "0", "", "5", ""],
    ]

    untouched = push_cli("plan", *common, "--website-csv", str(exported))
    assert untouched.exit_code == 0, untouched.output
    assert "Nothing to push" in untouched.output

    rows[3][6] = "6"  # UPDATE-Say "hi", then stop, for W[3]
    rows[1][2] = "Revoke"
    with exported.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    edited = push_cli("plan", *common, "--website-csv", str(exported), *ALLOW, "--output", "json")
    assert edited.exit_code == 0, edited.output
    changes = sorted(
        (r["qualification_type_id"], r["worker_id"], r["action"], r["new_value"])
        for r in json.loads(edited.output)["rows"]
    )
    assert changes == [(ACCURACY, W[1], "revoke", None), (quoted, W[3], "update", 6)]
    assert mturk.call_counts()[ASSOCIATE] == 0


def test_export_leaves_out_a_name_two_types_share_and_changes_no_warehouse_byte(
    tmp_path: Path,
) -> None:
    twin = type_id(66)
    World(
        types=[ACCURACY, EXPERT, twin],
        names={ACCURACY: "Twin", twin: "Twin", EXPERT: "Expert"},
        qualifications=[(ACCURACY, W[0], "Granted", 1), (EXPERT, W[0], "Granted", 2)],
    ).warehouse(tmp_path / "data")
    warehouse = tmp_path / "data" / "warehouse.duckdb"
    before = file_digest(warehouse)
    exported = tmp_path / "workers.csv"
    result = push_cli(
        "export", "--data-dir", str(tmp_path / "data"), "--website-csv", str(exported)
    )
    assert result.exit_code == 0, result.output
    assert "not exported: types named 'Twin'" in result.output
    with exported.open(newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == [
            ["Worker ID", "CURRENT-Expert", "UPDATE-Expert"],
            [W[0], "2", ""],
        ]
    assert file_digest(warehouse) == before


def test_an_update_column_named_twice_is_refused_naming_the_column(tmp_path: Path) -> None:
    """The same UPDATE- column twice (a spreadsheet's copied column) is the file's mistake, named
    as the desired-scores file names a column twice: the column, the file, the fix; exit 2. It was
    a rejected row saying the worker appears 2 times with different values."""
    world = World(types=[EXPERT], names=NAMES, qualifications=[(EXPERT, W[0], "Granted", 1)])
    world.warehouse(tmp_path / "data")
    website = write_website_csv(
        tmp_path / "w.csv",
        [[W[0], "1", "60", "70"]],
        ["Worker ID", "CURRENT-Expert", "UPDATE-Expert", "update-Expert"],
    )
    result = push_cli("plan", "--data-dir", str(tmp_path / "data"), "--website-csv", str(website))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [
        f"error: {website}, line 1: the header names the column UPDATE-Expert twice "
        "('UPDATE-Expert', column 3, and 'update-Expert', column 4): its cells would be two "
        "values for one worker; keep one of the two columns"
    ]


def header_world(tmp_path: Path) -> list[str]:
    """A warehouse (no MTurk: plan needs none) where W[0] holds Expert and Accuracy."""
    World(
        types=[ACCURACY, EXPERT],
        names=NAMES,
        qualifications=[(EXPERT, W[0], "Granted", 1), (ACCURACY, W[0], "Granted", 10)],
    ).warehouse(tmp_path / "data")
    return ["--data-dir", str(tmp_path / "data")]


def test_update_headers_are_read_with_surrounding_spaces_trimmed(tmp_path: Path) -> None:
    """Header names are trimmed (any Unicode whitespace), as in the files of inputs/: a column
    ` UPDATE-Expert` was silently ignored (its cells dropped) next to another UPDATE- column."""
    common = header_world(tmp_path)
    website = write_website_csv(
        tmp_path / "w.csv",
        [[W[0], "5", "50"]],
        ["Worker ID", " UPDATE-Expert", f"\xa0UPDATE-{NAMES[ACCURACY]}\t"],
    )
    result = push_cli(
        "plan", *common, "--website-csv", str(website), "--max-share", "1", "--output", "json"
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["rows"]
    assert sorted(
        (r["qualification_type_id"], r["action"], r["new_value"]) for r in rows
    ) == sorted([(EXPERT, "update", 5), (ACCURACY, "update", 50)])


def test_an_update_column_named_twice_after_trimming_is_refused(tmp_path: Path) -> None:
    common = header_world(tmp_path)
    website = write_website_csv(
        tmp_path / "w.csv", [[W[0], "5", "6"]], ["Worker ID", "UPDATE-Expert", " UPDATE-Expert"]
    )
    result = push_cli("plan", *common, "--website-csv", str(website))
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (
        f"error: {website}, line 1: the header names the column UPDATE-Expert twice "
        "('UPDATE-Expert', column 2, and ' UPDATE-Expert', column 3): its cells would be two "
        "values for one worker; keep one of the two columns"
    )


@pytest.mark.parametrize(
    "column",
    ["UPDATE Expert", "update_Expert", "UPDATE -Expert", "Update - Expert", "UPDATE\u2013Expert"],
)
@pytest.mark.parametrize("alone", [False, True], ids=["next-to-another", "alone"])
def test_a_column_that_looks_like_an_update_column_is_refused_naming_it(
    tmp_path: Path, column: str, alone: bool
) -> None:
    """No column that looks like UPDATE-<type name> (another case, spaces, another separator) is
    dropped silently: its cells would be changes the plan never shows. A website column that
    asks for something else (`UPDATE BlockStatus`) is counted as not applied, as before."""
    common = header_world(tmp_path)
    header = ["Worker ID", "UPDATE BlockStatus", column] + ([] if alone else ["UPDATE-Expert"])
    website = write_website_csv(tmp_path / "w.csv", [[W[0], "", "5", "6"][: len(header)]], header)
    result = push_cli("plan", *common, "--website-csv", str(website))
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (
        f"error: {website}, line 1: the column {column!r} (column 3) looks like an "
        "UPDATE-<type name> column but is not one, so its cells would be ignored: write its "
        "header as UPDATE-<type name> (UPDATE, a hyphen, then the type name as MTurk shows it) "
        "or remove the column"
    )


def website_plan(tmp_path: Path, common: list[str], text: str, *more: str) -> tuple[int, dict]:
    """`plan --website-csv` of a file holding exactly `text`, as JSON."""
    website = tmp_path / "w.csv"
    website.write_text(text, encoding="utf-8")
    result = push_cli(
        "plan",
        *common,
        "--website-csv",
        str(website),
        "--max-share",
        "1",
        *more,
        "--output",
        "json",
    )
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.output)


def test_a_row_with_more_cells_than_the_header_is_rejected_as_in_desired_scores(
    tmp_path: Path,
) -> None:
    """`1,5` typed unquoted is two cells: the 5 was dropped without a word and the plan set the
    score to 1. Each non-blank UPDATE- cell of such a row is rejected, and so is a row whose extra
    cell is its only value, with the reason desired_scores.csv gives the same row; empty or
    whitespace cells after the header's (a trailing comma) are not values and change nothing."""
    common = header_world(tmp_path)
    code, plan = website_plan(
        tmp_path,
        common,
        "Worker ID,UPDATE-Expert\n"
        f"{W[0]},1,5\n"  # "1,5" typed unquoted
        f"{W[1]},,5\n"  # the only value is past the header
        f"{W[2]},7,, \n",  # a trailing comma and a space: not values
        "--allow-grants",
    )
    assert code == 1
    rows = {
        r["source_line"]: (r["worker_id"], r["source_column"], r["raw_value"], r["action"])
        for r in plan["rows"]
    }
    assert rows == {
        2: (W[0], "UPDATE-Expert", "1", "rejected"),
        3: (W[1], None, "5", "rejected"),  # shown as written (a second tester saw "empty")
        4: (W[2], "UPDATE-Expert", "7", "grant"),
    }
    reason = "the row has 3 cells and the header 2: quote values that hold commas"
    assert plan["rejected"][reason] == 2
    assert plan["rejected_examples"][reason] == "line 2, column 'UPDATE-Expert': '1'"

    # one rule: the same row in desired_scores.csv gets the same words
    write_csv(
        tmp_path / "inputs" / "desired_scores.csv",
        ["qualification_type_id", "worker_id", "integer_value"],
        [(EXPERT, W[0], "1", "5")],
    )
    desired = push_cli(
        "plan", *common, "--inputs-dir", str(tmp_path / "inputs"), "--output", "json"
    )
    assert desired.exit_code == 1, desired.output
    assert json.loads(desired.output)["rejected"] == {
        "the row has 4 cells and the header 3: quote values that hold commas": 1
    }


def test_a_row_with_fewer_cells_than_the_header_reads_the_missing_cells_as_blank(
    tmp_path: Path,
) -> None:
    """A row that stops early (a spreadsheet leaves trailing empty cells out) has blank cells
    after its last: blank cells leave the worker untouched, as a blank cell written out does."""
    common = header_world(tmp_path)
    code, plan = website_plan(
        tmp_path,
        common,
        f'Worker ID,"UPDATE-{NAMES[ACCURACY]}",UPDATE-Expert\n{W[0]},50\n{W[1]}\n',
    )
    assert code == 0, plan
    assert [
        (r["qualification_type_id"], r["worker_id"], r["action"], r["new_value"])
        for r in plan["rows"]
    ] == [(ACCURACY, W[0], "update", 50)]


@pytest.mark.parametrize("column", ["UPDATE-", " update- "])
def test_an_update_column_without_a_type_name_is_refused_naming_it(
    tmp_path: Path, column: str
) -> None:
    """A bare `UPDATE-` column was planned as rejected rows ("qualification_type_id is missing"),
    unlike every other malformed UPDATE- header: refused before planning, naming it, exit 2."""
    common = header_world(tmp_path)
    website = write_website_csv(
        tmp_path / "w.csv", [[W[0], "5", "6"]], ["Worker ID", "UPDATE-Expert", column]
    )
    result = push_cli("plan", *common, "--website-csv", str(website))
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (
        f"error: {website}, line 1: the column {column!r} (column 3) names no qualification "
        "type, so its cells could not be applied: write the type name after the hyphen "
        "(UPDATE-<type name>, the name as MTurk shows it) or remove the column"
    )


def test_a_value_outside_the_32_bit_range_is_rejected_naming_its_column(tmp_path: Path) -> None:
    common = header_world(tmp_path)
    code, plan = website_plan(
        tmp_path,
        common,
        f'Worker ID,UPDATE-Expert,"UPDATE-{NAMES[ACCURACY]}"\n{W[0]},99999999999,-2147483649.0\n',
    )
    assert code == 1
    column = f"UPDATE-{NAMES[ACCURACY]}"
    assert sorted((r["source_column"], r["raw_value"], r["reason"]) for r in plan["rows"]) == [
        (
            column,
            "-2147483649.0",
            f'column "{column}": the value is outside the 32-bit range -2147483648..2147483647',
        ),
        (
            "UPDATE-Expert",
            "99999999999",
            'column "UPDATE-Expert": the value is outside the 32-bit range -2147483648..2147483647',
        ),
    ]


def test_a_revocation_shows_what_was_written(tmp_path: Path) -> None:
    """The "as written" cell of a revocation was blank: it shows the cell as typed, with a
    character a terminal would not show escaped, as every other value."""
    common = header_world(tmp_path)
    text = f'Worker ID,UPDATE-Expert,"UPDATE-{NAMES[ACCURACY]}"\n{W[0]}, REVOKE ,\tRevoke\xa0\n'
    code, plan = website_plan(tmp_path, common, text, "--allow-revokes", "--max-revoke-share", "1")
    assert code == 0, plan
    assert sorted(
        (r["qualification_type_id"], r["action"], r["raw_value"]) for r in plan["rows"]
    ) == [
        (ACCURACY, "revoke", "\tRevoke\xa0"),
        (EXPERT, "revoke", " REVOKE "),
    ]
    shown = push_cli(
        "plan",
        *common,
        "--website-csv",
        str(tmp_path / "w.csv"),
        "--allow-revokes",
        "--max-share",
        "1",
        "--max-revoke-share",
        "1",
    )
    assert shown.exit_code == 0, shown.output
    rows = [line for line in shown.output.splitlines() if W[0] in line]
    assert len(rows) == 2, shown.output
    assert any("│  REVOKE  " in line for line in rows), rows
    assert any("│ \\tRevoke\\xa0 " in line for line in rows), rows


def test_type_names_with_spaces_around_them_go_out_and_come_back(world, tmp_path: Path) -> None:
    """A type whose name has spaces around it (`Trailing ` on MTurk) is exported as its
    UPDATE- column, and the edited file plans it: the spaces around a name are ignored on both
    sides, as header names are trimmed. Names that only spaces tell apart, and a blank name, are
    left out of the export and named, as a name two types share is. Before: the edit of
    `UPDATE-Trailing ` was rejected (no type named "Trailing"), and a blank name was written as
    an `UPDATE-` column that made plan refuse the whole file."""
    trailing, leading, twin_a, twin_b, blank = (type_id(n) for n in (67, 68, 69, 70, 71))
    names = {trailing: "Trailing ", leading: " Leading", twin_a: "Twin", twin_b: "Twin ", blank: ""}
    mturk, common = world(
        World(
            types=[trailing, leading, twin_a, twin_b, blank],
            names=names,
            qualifications=[(t, W[0], "Granted", 10) for t in names],
        )
    )
    exported = tmp_path / "export" / "workers.csv"
    exported.parent.mkdir()
    result = push_cli(
        "export", "--data-dir", str(tmp_path / "data"), "--website-csv", str(exported)
    )
    assert result.exit_code == 0, result.output
    assert "not exported: types named '', 'Twin', 'Twin '" in result.output
    with exported.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows == [
        [
            "Worker ID",
            "CURRENT- Leading",
            "UPDATE- Leading",
            "CURRENT-Trailing ",
            "UPDATE-Trailing ",
        ],
        [W[0], "10", "", "10", ""],
    ]
    untouched = push_cli("plan", *common, "--website-csv", str(exported))
    assert untouched.exit_code == 0, untouched.output

    rows[1][2], rows[1][4] = "11", "12"
    with exported.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    edited = push_cli(
        "plan", *common, "--website-csv", str(exported), "--max-share", "1", "--output", "json"
    )
    assert edited.exit_code == 0, edited.output
    changes = sorted(
        (r["qualification_type_id"], r["action"], r["new_value"])
        for r in json.loads(edited.output)["rows"]
    )
    assert changes == sorted([(leading, "update", 11), (trailing, "update", 12)])

    # Typed by hand, a header naming one of the twins matches both: rejected, never guessed.
    twins = write_website_csv(tmp_path / "twins.csv", [[W[0], "5"]], ["Worker ID", "UPDATE-Twin"])
    guessed = push_cli("plan", *common, "--website-csv", str(twins), "--max-share", "1")
    assert guessed.exit_code == 1, guessed.output
    assert '2 of your qualification types are named "Twin"' in guessed.output
    assert mturk.call_counts()[ASSOCIATE] == 0
