"""The desired-scores CSV read by DuckDB's reader (one record per line) gives the same table as the
csv module's reader: values as written, empty cells NULL, lines, rows of empty cells left out."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from qual_pipeline.push import inputs
from qual_pipeline.push.inputs import InputError, load_csv_table

REQUIRED = ("qualification_type_id", "worker_id", "integer_value")
OPTIONAL = ("action", "reason")

FILES: dict[str, tuple[bytes, bool]] = {
    # name: (content, read by DuckDB's reader; if not, by the csv module)
    "plain": (
        b"Worker_ID, qualification type id ,integer_value,notes\n"
        b"A1,T1,5,x\nA2,T1, 7 ,\n,,,\nA3,,8,\n,T2,,\nA4,T1,9,last",
        True,
    ),
    "crlf and byte-order mark": (
        b"\xef\xbb\xbfqualification_type_id,worker_id,integer_value,action,reason\r\n"
        b"T1,A1,5,,\r\nT1,A2,,revoke,left the study\r\n,,,,\r\nT1,A3,6,,\r\n",
        True,
    ),
    "empty last row": (b"qualification_type_id,worker_id,integer_value\nT1,A1,5\n,,\n", True),
    "empty last row, no line end": (b"Worker_ID,qualification_type_id,integer_value\n,,", True),
    "empty line": (b"qualification_type_id,worker_id,integer_value\nT1,A1,5\n\nT1,A2,6\n", False),
    "empty last lines": (b"qualification_type_id,worker_id,integer_value\nT1,A1,5\n\n\n", False),
    "too many cells": (
        b"qualification_type_id,worker_id,integer_value\nT1,A1,5,6\nT1,A2,6\nT1,A3\n",
        False,
    ),
    "quoted": (
        b'qualification_type_id,worker_id,integer_value,reason\nT1,A1,5,"a, b"\nT1,"A2",6,\n',
        False,
    ),
    "quoted line break": (
        b'qualification_type_id,worker_id,integer_value,reason\nT1,A1,5,"a\nb"\nT1,A2,6,\n',
        False,
    ),
    "lone carriage return": (b"qualification_type_id,worker_id,integer_value\rT1,A1,5\r", False),
    "mixed line ends": (
        b"qualification_type_id,worker_id,integer_value\r\nT1,A1,5\nT1,A2,6\r\n",
        False,  # DuckDB refuses it
    ),
    "header not on line 1": (b"\nqualification_type_id,worker_id,integer_value\nT1,A1,5\n", False),
}


@contextlib.contextmanager
def _reader(monkeypatch: pytest.MonkeyPatch, *, fast: bool) -> Iterator[list[bool]]:
    """Within it, CSV files are read by DuckDB's reader when they can be (`fast`) or always by
    the csv module; yields the list of whether each DuckDB read succeeded."""
    read_plain = inputs._read_plain_csv
    used: list[bool] = []

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        count = read_plain(*args, **kwargs)
        used.append(count is not None)
        return count

    with monkeypatch.context() as m:
        m.setattr(inputs, "_read_plain_csv", spy)
        if not fast:
            m.setattr(inputs, "_one_record_per_line", lambda _path: None)
        yield used


def _read(path: Path, *, fast: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[list[tuple], bool]:
    """The table read from `path` and whether DuckDB's reader read it (`fast`: when it can)."""
    con = duckdb.connect()
    with _reader(monkeypatch, fast=fast) as used:
        loaded = load_csv_table(con, path, "desired_csv", required=REQUIRED, optional=OPTIONAL)
    rows = con.execute("SELECT * FROM desired_csv ORDER BY source_line").fetchall()
    assert loaded.rows == len(rows)
    return rows, any(used)


@pytest.mark.parametrize("name", FILES)
def test_duckdb_reader_gives_the_csv_module_table(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, plain = FILES[name]
    path = tmp_path / "desired_scores.csv"
    path.write_bytes(content)
    fast, by_duckdb = _read(path, fast=True, monkeypatch=monkeypatch)
    reference, _ = _read(path, fast=False, monkeypatch=monkeypatch)
    assert by_duckdb is plain
    assert fast == reference


def test_duckdb_reader_rows_and_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "desired_scores.csv"
    path.write_bytes(FILES["plain"][0])
    assert _read(path, fast=True, monkeypatch=monkeypatch) == (
        [
            ("T1", "A1", "5", None, None, 2, None),
            ("T1", "A2", " 7 ", None, None, 3, None),
            (None, "A3", "8", None, None, 5, None),
            ("T2", None, None, None, None, 6, None),
            ("T1", "A4", "9", None, None, 7, None),
        ],
        True,
    )


def test_a_file_duckdb_refuses_is_read_by_the_csv_module(tmp_path: Path) -> None:
    path = tmp_path / "desired_scores.csv"
    path.write_bytes(b"qualification_type_id,worker_id,integer_value\nT1,A1,5\nT1,\xff,6\n")
    assert inputs._one_record_per_line(path)
    with pytest.raises(InputError, match="not UTF-8"):
        load_csv_table(duckdb.connect(), path, "desired_csv", required=REQUIRED)


def test_the_scan_sees_a_quote_past_its_first_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "desired_scores.csv"
    rows = "".join(f"T1,A{i},{i}\n" for i in range(2_000))
    path.write_text(f'qualification_type_id,worker_id,integer_value\n{rows}T1,"A9",1\n')
    monkeypatch.setattr(inputs, "SCAN_BYTES", 1_000)
    assert not inputs._one_record_per_line(path)
    path.write_text(f"qualification_type_id,worker_id,integer_value\n{rows}\nT1,A9,1\n")
    assert not inputs._one_record_per_line(path)
    path.write_text(f"qualification_type_id,worker_id,integer_value\n{rows}T1,A9,1\n")
    assert inputs._one_record_per_line(path)


def _outcome(path: Path, *, fast: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[object, bool]:
    """`_read`, or the message of the InputError it raised."""
    try:
        return _read(path, fast=fast, monkeypatch=monkeypatch)
    except InputError as e:
        return str(e), False


@pytest.mark.parametrize(
    "cells",
    [
        b"T1,A1,5,x\nT1,A2,6," + b"y" * 200_000 + b"\n",  # over the csv module's field limit
        b"T1,A1,5," + b"y" * 131_072 + b"\nT1,A2,6,\n",  # at it
        b"T1,A1,5,x\nT1,A2,6," + b"y" * 40_000_000 + b"\n",  # the last line over any buffer
        b"T1,A1,5,x\nT1,A2,6," + b"y" * 2_000_000,  # the same without its line end
    ],
    ids=["over the field limit", "at the field limit", "last line 40MB", "last line 2MB"],
)
def test_a_long_value_reads_the_same_both_ways(
    cells: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DuckDB's reader read a value the csv module refuses, and left out a last line longer than
    # its buffer without an error (no row instead of the csv module's message).
    path = tmp_path / "desired_scores.csv"
    path.write_bytes(b"qualification_type_id,worker_id,integer_value,reason\n" + cells)
    fast, _ = _outcome(path, fast=True, monkeypatch=monkeypatch)
    reference, _ = _outcome(path, fast=False, monkeypatch=monkeypatch)
    assert fast == reference


@pytest.mark.parametrize("memory", ["32MB", "256MB"])
def test_a_file_larger_than_the_buffer_is_read_by_duckdb_within_a_limit(
    memory: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DuckDB's reader, with its default 32MB buffer, ran out of a 32MB limit that the csv module
    # reads this file within; 256MB is the setting's default.
    from qual_pipeline.stores.warehouse import set_memory_limit

    path = tmp_path / "desired_scores.csv"
    rows = "".join(f"T1,A{i},{i % 100}\n" if i % 9 else ",,\n" for i in range(1_000_000))
    path.write_text(f"qualification_type_id,worker_id,integer_value\n{rows}")
    tables = []
    for fast in (True, False):
        # Spill files in the test's own folder, not ./.tmp shared by every pytest worker.
        con = duckdb.connect(config={"temp_directory": str(tmp_path / "spill")})
        set_memory_limit(con, memory)
        with _reader(monkeypatch, fast=fast) as used:
            load_csv_table(con, path, "desired_csv", required=REQUIRED)
        assert used == ([True] if fast else [])
        tables.append(
            con.execute(
                "SELECT count(*), min(source_line), max(source_line), "
                "count(*) FILTER (WHERE 'A' || (source_line - 2) <> worker_id) FROM desired_csv"
            ).fetchall()
        )
    assert tables[0] == tables[1] == [(888_888, 3, 1_000_000, 0)]
