"""A row whose cells are all blank or spaces, with more cells than the header (trailing commas),
is one the csv module's reader leaves out; DuckDB's reader accepts trailing empty cells and kept
it as a row of spaces, which the plan then rejected (or showed) at a line the csv module skips.
Both readers must give the same table, and `qual-pipeline plan` the same plan."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from push_helpers import World, push_cli, start_world
from support.mturk import type_id, worker_id

from qual_pipeline.push import inputs
from qual_pipeline.push.inputs import load_csv_table

REQUIRED = ("qualification_type_id", "worker_id", "integer_value")
OPTIONAL = ("action", "reason")
HEADER = b"qualification_type_id,worker_id,integer_value"

FILES = {
    "spaces then a trailing comma": HEADER + b"\nT1,A1,5\n , , ,\nT1,A2,6\n",
    "a space, then empty cells": HEADER + b"\nT1,A1,5\n ,,,,\nT1,A2,6\n",
    "a tab, crlf": HEADER + b"\r\nT1,A1,5\r\n\t,,,\r\nT1,A2,6\r\n",
    "a no-break space, last line": HEADER + b"\nT1,A1,5\nT1,A2,6\n\xc2\xa0,,,",
    "an unread column": HEADER + b",notes\nT1,A1,5,x\n , ,, ,,\nT1,A2,6,y\n",
}


def _rows(path: Path, *, fast: bool, monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    con = duckdb.connect()
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(inputs, "_one_record_per_line", lambda _path: None)
        loaded = load_csv_table(con, path, "desired_csv", required=REQUIRED, optional=OPTIONAL)
    rows = con.execute("SELECT * FROM desired_csv ORDER BY source_line").fetchall()
    assert loaded.rows == len(rows)
    return rows


@pytest.mark.parametrize("content", FILES.values(), ids=FILES.keys())
def test_duckdb_reads_the_rows_the_csv_module_reads(
    content: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "desired_scores.csv"
    path.write_bytes(content)
    reference = _rows(path, fast=False, monkeypatch=monkeypatch)
    assert [r[:3] for r in reference] == [("T1", "A1", "5"), ("T1", "A2", "6")]
    assert _rows(path, fast=True, monkeypatch=monkeypatch) == reference


def test_the_plan_skips_such_a_row_as_the_csv_module_does(
    local_mturk, mturk_env, tmp_path: Path
) -> None:
    t1, w1, w2 = type_id(61), worker_id(1), worker_id(2)
    _, common = start_world(
        local_mturk, mturk_env, tmp_path, World(types=[t1], qualifications=[(t1, w1, "Granted", 1)])
    )
    (tmp_path / "inputs").mkdir()
    (tmp_path / "inputs" / "desired_scores.csv").write_text(
        f"qualification_type_id,worker_id,integer_value\n{t1},{w1},5\n , , ,\n{t1},{w2},6\n"
    )
    planned = push_cli("plan", *common, "--max-share", "10", "--allow-grants")
    assert planned.exit_code == 0, planned.output
    assert "│ rejected  │    0 │" in planned.output  # no row of spaces rejected at line 3
    assert "A push would send 2 change(s)." in planned.output


def test_the_spaces_trimmed_are_every_character_python_strips() -> None:
    from qual_pipeline.push.inputs import _SPACES

    assert "".join(c for c in map(chr, range(0x110000)) if c.isspace()) == _SPACES
