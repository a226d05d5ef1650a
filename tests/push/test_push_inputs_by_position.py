"""A desired-scores CSV with no row of only empty cells is read by all DuckDB's threads, each row's
line being its position in the file: the lines must stay exact over many reader buffers, and the
table must be the one the csv module reads."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from qual_pipeline.push import inputs
from qual_pipeline.push.inputs import load_csv_table
from qual_pipeline.stores.warehouse import set_memory_limit

REQUIRED = ("qualification_type_id", "worker_id", "integer_value")
OPTIONAL = ("action", "reason")


def _table(path: Path, memory: str, *, fast: bool, monkeypatch: pytest.MonkeyPatch):
    # Spill files in the test's own folder: an in-memory database spills to ./.tmp, shared by
    # every pytest worker (two such tests at once overwrote each other's spill files).
    con = duckdb.connect(config={"temp_directory": str(path.parent / "spill")})
    set_memory_limit(con, memory)
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(inputs, "_one_record_per_line", lambda _path: None)
        loaded = load_csv_table(con, path, "desired_csv", required=REQUIRED, optional=OPTIONAL)
    by_position = bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() "
            "WHERE temporary AND table_name = 'desired_csv_rows'"
        ).fetchone()[0]
    )
    return con, loaded.rows, by_position


@pytest.mark.parametrize("memory", ["32MB", "256MB"])
def test_lines_stay_exact_over_many_buffers(
    memory: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1,000,000 rows (about 19MB): 32MB reads it in 2MB buffers, 256MB in 16MB ones.
    path = tmp_path / "desired_scores.csv"
    rows = "".join(f"A{i + 2},T{i % 7},{i % 100},,\n" for i in range(1_000_000))
    path.write_text(f"worker_id,qualification_type_id,integer_value,notes,reason\n{rows}")
    con, count, by_position = _table(path, memory, fast=True, monkeypatch=monkeypatch)
    assert by_position  # read by position, not numbered by one thread
    assert count == 1_000_000
    assert con.execute(
        "SELECT count(*), min(source_line), max(source_line), "
        "count(*) FILTER (WHERE 'A' || source_line <> worker_id), "
        "count(action), count(reason), count(input_problem) FROM desired_csv"
    ).fetchall() == [(1_000_000, 2, 1_000_001, 0, 0, 0, 0)]


@pytest.mark.parametrize(
    "content",
    [
        b"qualification_type_id,worker_id,integer_value,action\n"
        b"T1,A1,5,\nT1,A2,,revoke\nT2,A3, 7 ,",
        b"\xef\xbb\xbfWorker ID,Qualification_Type_ID,integer_value\r\nA1,T1,5\r\nA2,,6\r\n",
        b"qualification_type_id,worker_id,integer_value\n",
    ],
    ids=[
        "no line end at the end",
        "crlf, byte-order mark, header spelled otherwise",
        "header only",
    ],
)
def test_by_position_gives_the_csv_module_table(
    content: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "desired_scores.csv"
    path.write_bytes(content)
    tables = []
    for fast in (True, False):
        con, count, by_position = _table(path, "256MB", fast=fast, monkeypatch=monkeypatch)
        assert by_position is fast
        rows = con.execute("SELECT * FROM desired_csv ORDER BY source_line").fetchall()
        assert count == len(rows)
        tables.append((rows, [d[0] for d in con.description]))
    assert tables[0] == tables[1]


def test_a_row_of_empty_cells_is_numbered_in_order_not_by_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "desired_scores.csv"
    path.write_bytes(b"qualification_type_id,worker_id,integer_value\nT1,A1,5\n,,\nT1,A2,6\n")
    con, _, by_position = _table(path, "256MB", fast=True, monkeypatch=monkeypatch)
    assert not by_position
    assert con.execute("SELECT worker_id, source_line FROM desired_csv").fetchall() == [
        ("A1", 2),
        ("A2", 4),
    ]


def test_loading_again_replaces_a_view_with_a_table_and_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One connection loads a plain file (a view), then one only the csv module reads (a
    table), then the plain one again: each load gives its own file's rows."""
    plain, quoted = tmp_path / "plain.csv", tmp_path / "quoted.csv"
    plain.write_bytes(b"qualification_type_id,worker_id,integer_value\nT1,A1,5\n")
    quoted.write_bytes(b'qualification_type_id,worker_id,integer_value\nT1,"A2",6\n')
    con = duckdb.connect()
    for path, worker in ((plain, "A1"), (quoted, "A2"), (plain, "A1")):
        load_csv_table(con, path, "desired_csv", required=REQUIRED)
        assert con.execute("SELECT worker_id FROM desired_csv").fetchall() == [(worker,)]


@pytest.mark.parametrize(
    ("content", "accepted"),
    [
        (b"h,i\r\nT1,A1\r\nT1,A2\r\n", True),  # CRLF line ends
        (b"h,i\nT1,A1\nT1,A2", True),
        (b"h,i\r\nT1,A1\rT1,A2\r\n", False),  # a lone carriage return
        (b"h,i\r\nT1,A1\r\n\r\nT1,A2\r\n", False),  # an empty CRLF line
        (b"h,i\nT1,A1\n\nT1,A2\n", False),  # an empty line
        (b"h,i\nT1,A1\nT1,A2\r", False),  # ends with a carriage return
        (b"\nh,i\nT1,A1\n", False),  # starts with an empty line
    ],
)
def test_the_scan_decides_the_same_at_every_chunk_boundary(
    content: bytes, accepted: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan reads SCAN_BYTES at a time and looks at carriage returns only in chunks that
    have one (or follow one): wherever a chunk ends, the same verdict."""
    path = tmp_path / "desired_scores.csv"
    path.write_bytes(content)
    lines = content.count(b"\n") + (not content.endswith(b"\n"))
    for size in range(2, len(content) + 1):  # a chunk of 2 bytes or more, as SCAN_BYTES is
        monkeypatch.setattr(inputs, "SCAN_BYTES", size)
        assert inputs._one_record_per_line(path) == (lines if accepted else None), size
