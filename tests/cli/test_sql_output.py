"""`qual-pipeline sql` prints every DuckDB type, in each of its outputs, by the one rule the README
gives (its sql section): json, each value as DuckDB's `to_json` (valid JSON: NaN and Infinity as
strings); csv and the table, DuckDB's cast to VARCHAR, with lists, structs and maps as JSON. And a
reader that closes the pipe early (`| head -1`) ends the command quietly, exit 0."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

SCRIPT = Path(sys.executable).with_name("qual-pipeline")

EVERY_TYPE = """
SELECT
    INTERVAL 90 SECOND AS an_interval,
    TIME '10:00' AS a_time,
    '\\x00ab'::BLOB AS a_blob,
    'c0a1b2c3-0000-4000-8000-000000000001'::UUID AS a_uuid,
    1.50::DECIMAL(10, 2) AS a_decimal,
    12345678901234567890.123456789::DECIMAL(38, 9) AS a_wide_decimal,
    [1, 2] AS a_list,
    {'a': 1, 'b': 'x'} AS a_struct,
    MAP {'k': 1} AS a_map,
    DATE '2024-01-02' AS a_date,
    TIMESTAMPTZ '2024-01-02 03:04:05+00' AS a_timestamptz,
    'nan'::DOUBLE AS a_nan,
    'inf'::DOUBLE AS an_infinity,
    '-inf'::FLOAT AS a_minus_infinity,
    [1.5, 'nan'::DOUBLE] AS a_list_with_nan,
    [1, 2]::INTEGER[2] AS an_array,
    union_value(k := 1) AS a_union,
    true AS a_boolean,
    170141183460469231731687303715884105727::HUGEINT AS a_hugeint,
    NULL AS a_null,
    'he said "hi", then left' AS a_text
"""

AS_JSON = {
    "an_interval": "00:01:30",
    "a_time": "10:00:00",
    "a_blob": "\\x00ab",
    "a_uuid": "c0a1b2c3-0000-4000-8000-000000000001",
    "a_decimal": 1.5,
    "a_wide_decimal": "12345678901234567890.123456789",  # parsed as Decimal below
    "a_list": [1, 2],
    "a_struct": {"a": 1, "b": "x"},
    "a_map": {"k": 1},
    "a_date": "2024-01-02",
    "a_timestamptz": "2024-01-02 03:04:05+00",
    "a_nan": "NaN",
    "an_infinity": "Infinity",
    "a_minus_infinity": "-Infinity",
    "a_list_with_nan": [1.5, "NaN"],
    "an_array": [1, 2],
    "a_union": {"k": 1},
    "a_boolean": True,
    "a_hugeint": 170141183460469231731687303715884105727,
    "a_null": None,
    "a_text": 'he said "hi", then left',
}

AS_CSV = {
    "an_interval": "00:01:30",
    "a_time": "10:00:00",
    "a_blob": "\\x00ab",
    "a_uuid": "c0a1b2c3-0000-4000-8000-000000000001",
    "a_decimal": "1.50",
    "a_wide_decimal": "12345678901234567890.123456789",
    "a_list": "[1,2]",
    "a_struct": '{"a":1,"b":"x"}',
    "a_map": '{"k":1}',
    "a_date": "2024-01-02",
    "a_timestamptz": "2024-01-02 03:04:05+00",
    "a_nan": "nan",
    "an_infinity": "inf",
    "a_minus_infinity": "-inf",
    "a_list_with_nan": '[1.5,"NaN"]',
    "an_array": "[1,2]",
    "a_union": '{"k":1}',
    "a_boolean": "true",
    "a_hugeint": "170141183460469231731687303715884105727",
    "a_null": "",
    "a_text": 'he said "hi", then left',
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder whose warehouse is an empty DuckDB file: the queries need no table."""
    folder = tmp_path_factory.mktemp("data")
    duckdb.connect(str(folder / "warehouse.duckdb")).close()
    return folder


def sql(data_dir: Path, query: str, output: str) -> subprocess.CompletedProcess[str]:
    """`qual-pipeline sql` as a user runs it; asserts it printed no traceback."""
    done = subprocess.run(
        [str(SCRIPT), "sql", "--data-dir", str(data_dir), query, "--output", output],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "2000"},
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def strict_json(text: str) -> object:
    """`text` parsed as strict JSON: NaN, Infinity and -Infinity (not JSON) are refused."""

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse, parse_float=float)


def test_json_prints_every_type_as_valid_json(data_dir: Path) -> None:
    done = sql(data_dir, EVERY_TYPE, "json")
    assert done.returncode == 0, done.stderr
    rows = strict_json(done.stdout)
    assert isinstance(rows, list) and len(rows) == 1
    row = rows[0]
    from decimal import Decimal

    wide = json.loads(done.stdout, parse_float=Decimal)[0]["a_wide_decimal"]
    assert wide == Decimal(AS_JSON["a_wide_decimal"])  # every digit kept
    assert {k: v for k, v in row.items() if k != "a_wide_decimal"} == {
        k: v for k, v in AS_JSON.items() if k != "a_wide_decimal"
    }
    assert list(row) == list(AS_JSON)  # the query's column order


def test_csv_and_table_print_every_type_as_duckdb_text(data_dir: Path) -> None:
    done = sql(data_dir, EVERY_TYPE, "csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert rows == [AS_CSV]
    for nested in ("a_list", "a_struct", "a_map", "a_list_with_nan"):
        strict_json(rows[0][nested])
    table = sql(data_dir, EVERY_TYPE, "table")
    assert table.returncode == 0, table.stderr
    for name, text in AS_CSV.items():
        assert name in table.stdout
        assert text in table.stdout, name


def test_an_interval_from_the_warehouse_clock_prints(data_dir: Path) -> None:
    query = "SELECT now() - TIMESTAMPTZ '2024-01-01 00:00:00+00' AS age"
    for output in ("json", "csv", "table"):
        done = sql(data_dir, query, output)
        assert done.returncode == 0, (output, done.stderr)
        assert "days" in done.stdout, output


@pytest.mark.parametrize("output", ["csv", "json", "table"])
def test_a_reader_closing_the_pipe_early_ends_it_quietly(data_dir: Path, output: str) -> None:
    """`qual-pipeline sql ... | head -1`: far more than a pipe holds (64 KiB), the reader reads
    one line."""
    rows = 5_000 if output == "table" else 300_000  # a table of 5,000 rows is 400 KB
    process = subprocess.Popen(
        [
            str(SCRIPT),
            "sql",
            "--data-dir",
            str(data_dir),
            f"SELECT range AS n, 'some text' AS t FROM range({rows})",
            "--output",
            output,
            "--limit",
            str(rows),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline()
    process.stdout.close()
    code = process.wait(timeout=120)
    stderr = process.stderr.read().decode()
    process.stderr.close()
    assert (code, stderr) == (0, "")
