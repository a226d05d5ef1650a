"""What a "whole number" is in the files a user edits (desired_scores.csv and the website CSV's
UPDATE- cells), through `qual-pipeline plan` as a user runs it: digits, with an optional sign and
optionally a point and zeros (`95.0`, as a spreadsheet may export it), surrounding spaces (any
Unicode whitespace, a no-break space included) ignored, one rule in all three files.
What DuckDB's cast also reads as a number (`1_000`, `1e3`, `1.5e1`) is a rejected row with its
reason; it was read as 1000, 1000 and 15. A model returning numbers (not text) is checked by value.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from push_helpers import World, push_cli, write_decisions, write_desired
from support.mturk import type_id, worker_id

T1 = type_id(91)
W = [worker_id(i) for i in range(20)]
ACCEPTED = {
    "1.0": 1,
    "95.00": 95,
    " 7 ": 7,
    "-0": 0,
    "+12": 12,
    "007": 7,
    # Unicode spaces around (str.isspace): no-break spaces as spreadsheets export them, a tab,
    # an ideographic space. The website CSV rejected the first as "not written in digits".
    "\xa08\xa0": 8,
    "9\t": 9,
    "\u300010": 10,
}
REFUSED = ["1_000", "1e3", "1.5e1", "1E3", "-2e0"]
NOT_A_NUMBER = ["1,000", "\uff11\uff12", "1.5"]  # a thousands comma, full-width digits, a fraction


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A warehouse (no MTurk: plan needs none) where every worker holds T1 with 50."""
    folder = tmp_path / "data"
    World(
        types=[T1],
        names={T1: "Score"},
        qualifications=[(T1, w, "Granted", 50) for w in W],
        requests=[(f"REQ{i}", T1, worker_id(100 + i)) for i in range(len(VALUES))],
    ).warehouse(folder)
    return folder


def plan(*args: str) -> dict[str, Any]:
    result = push_cli("plan", *args, "--max-share", "1", "--skip-rejected", "--output", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def outcome(planned: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """raw value as written -> (action, new value) or ('rejected', reason)."""
    return {
        r["raw_value"]: (r["action"], r["reason"] if r["action"] == "rejected" else r["new_value"])
        for r in planned["rows"]
    }


def expected(reason_digits: str, reason_other: str) -> dict[str, tuple[str, Any]]:
    return {
        **{raw: ("update", value) for raw, value in ACCEPTED.items()},
        **{raw: ("rejected", reason_digits) for raw in REFUSED},
        **{raw: ("rejected", reason_other) for raw in NOT_A_NUMBER},
    }


VALUES = [*ACCEPTED, *REFUSED, *NOT_A_NUMBER]


@pytest.mark.parametrize("quoted", [False, True], ids=["duckdb-reader", "csv-module-reader"])
def test_desired_scores_whole_numbers_are_digits(data: Path, tmp_path: Path, quoted: bool) -> None:
    """Both readers of desired_scores.csv (a file with no quote is read by DuckDB's CSV reader,
    one with a quote by the csv module: `"1,000"` needs one) give the same rows and reasons."""
    inputs = tmp_path / "inputs"
    values = VALUES if quoted else [v for v in VALUES if "," not in v]
    write_desired(inputs, [(T1, W[i], value) for i, value in enumerate(values)])
    assert ('"' in (inputs / "desired_scores.csv").read_text()) is quoted
    found = outcome(plan("--data-dir", str(data), "--inputs-dir", str(inputs)))
    want = expected(
        "integer_value is not written in digits: write the whole number as digits "
        "(e.g. 1000 or 1000.0; not 1_000 or 1e3)",
        "integer_value is not an integer",
    )
    assert found == {raw: want[raw] for raw in values}


def test_website_csv_whole_numbers_are_digits(data: Path, tmp_path: Path) -> None:
    website = tmp_path / "workers.csv"
    cells = [[W[i], "50", value] for i, value in enumerate(VALUES)]
    with website.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Worker ID", "CURRENT-Score", "UPDATE-Score"])
        writer.writerows(cells)
    planned = plan("--data-dir", str(data), "--website-csv", str(website))
    column = 'column "UPDATE-Score": '
    assert outcome(planned) == expected(
        column + "the value is not written in digits: write the whole number as digits "
        "(e.g. 1000 or 1000.0; not 1_000 or 1e3)",
        column + "the value is neither a whole number nor Revoke",
    )


def test_a_model_returning_numbers_is_checked_by_value(data: Path, tmp_path: Path) -> None:
    """The rule is about text as written: a model's DOUBLE 1e3 (DuckDB writes it 1000.0) or
    DECIMAL 7.00 is the whole number it holds."""
    mine = tmp_path / "models"
    mine.mkdir()
    (mine / "desired_scores.sql").write_text(
        f"SELECT '{T1}' AS qualification_type_id, '{W[0]}' AS worker_id, 1e3 AS integer_value "
        f"UNION ALL SELECT '{T1}', '{W[1]}', 7.00::DECIMAL(5, 2)"
    )
    planned = plan("--data-dir", str(data), "--sql-dir", str(mine))
    assert {r["worker_id"]: (r["action"], r["new_value"]) for r in planned["rows"]} == {
        W[0]: ("update", 1000),
        W[1]: ("update", 7),
    }


def test_grant_decisions_whole_numbers_are_digits(data: Path, tmp_path: Path) -> None:
    """grant_decisions.csv's integer_value (the score an accept grants) follows the same rule."""
    inputs = tmp_path / "inputs"
    write_decisions(inputs, [(f"REQ{i}", "accept", v, "") for i, v in enumerate(VALUES)])
    planned = plan("--data-dir", str(data), "--inputs-dir", str(inputs), "--requests")
    want = expected(
        "integer_value is not written in digits: write the whole number as digits "
        "(e.g. 1000 or 1000.0; not 1_000 or 1e3)",
        "integer_value is not an integer",
    )
    want = {raw: ("accept" if a == "update" else a, v) for raw, (a, v) in want.items()}
    assert outcome(planned) == want
