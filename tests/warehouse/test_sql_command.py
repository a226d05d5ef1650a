"""`qual-pipeline sql` reads the warehouse and nothing else, as the README says: an empty query is
one message (exit 2); COPY TO, INSTALL (no download), ATTACH, reading a file and SET are refused
with one line (exit 1) and write nothing; TEMP tables work. The same on the shared profile
(DuckLake over moto's S3 with its catalog in PostgreSQL), where the data files are still read."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.services import S3Server
from typer.testing import CliRunner
from warehouse_lake import load_three_refreshes

from qual_pipeline.cli.app import app
from qual_pipeline.stores.profile import StoreSettings, local_stores, open_stores

REFUSED = (
    "query refused: `qual-pipeline sql` only reads the warehouse (it writes no file, reads none "
    "outside the warehouse, installs or loads no extension and changes no setting): "
)


def sql(where: list[str], query: str) -> tuple[int, str]:
    """(exit code, what it printed) of `qual-pipeline sql --output csv QUERY`; no traceback."""
    result = CliRunner().invoke(
        app, ["sql", *where, "--output", "csv", query], env={"COLUMNS": "300"}
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def check_read_only(where: list[str], tmp_path: Path) -> None:
    """Every refusal, and the reads that still work, on the warehouse `where` names."""
    before = files_under(tmp_path)
    assert sql(where, "SELECT count(*) AS n FROM worker_qualifications") == (0, "n\n5\n")
    for empty in ("", "   ", ";", "/* nothing */"):
        code, said = sql(where, empty)
        assert (code, said) == (
            2,
            'error: the query is empty: pass one, e.g. qual-pipeline sql "SELECT 1"\n',
        ), empty
    # Before: both ran and only the last result printed, exit 0.
    code, said = sql(where, "SELECT 1 AS x; SELECT 2 AS y")
    assert code == 2, said
    assert said.startswith("error: the query holds 2 statements and one result is printed"), said
    assert sql(where, "SELECT 1 AS x;") == (0, "x\n1\n")
    copied = tmp_path / "copied.csv"
    refused = {
        f"COPY (SELECT 42 AS x) TO '{copied}'": f'Cannot access file "{copied}"',
        "INSTALL httpfs": "Cannot access directory",  # refused before any download
        "LOAD spatial": "Loading external extensions is disabled",
        f"EXPORT DATABASE '{tmp_path / 'dump'}'": "Cannot access file",
        f"ATTACH '{tmp_path / 'other.duckdb'}' AS other": "Cannot access file",
        "SELECT * FROM read_csv('/etc/hostname')": 'Cannot access file "/etc/hostname"',
        "SET memory_limit = '100GB'": 'Cannot change configuration option "memory_limit"',
        "RESET threads": 'Cannot change configuration option "threads"',
        "SET enable_external_access = true": "Cannot change configuration option",
    }
    for query, reason in refused.items():
        code, said = sql(where, query)
        assert code == 1, (query, said)
        assert said.startswith(REFUSED), (query, said)
        assert reason in said, (query, said)
        assert "download" not in said.lower(), said
        assert len(said.strip().splitlines()) == 1, said
    # What holds: no rows, a pragma, temp tables (in the connection, for the one command).
    assert sql(where, "SELECT 1 AS x WHERE false") == (0, "x\n")
    assert sql(where, "SELECT count(*) AS n FROM pragma_version()") == (0, "n\n1\n")
    code, said = sql(where, "CREATE TEMP TABLE t AS SELECT 1 AS x")
    assert code == 0, said
    assert sql(where, "SELECT count(*) AS n FROM duckdb_tables() WHERE temporary") == (0, "n\n0\n")
    assert files_under(tmp_path) == before


def test_sql_reads_the_warehouse_file_and_nothing_else(tmp_path: Path) -> None:
    # Before: "" was a traceback (AttributeError), COPY wrote copied.csv, INSTALL tried
    # extensions.duckdb.org and SET succeeded, each exit 0.
    load_three_refreshes(local_stores(tmp_path / "data"))
    check_read_only(["--data-dir", str(tmp_path / "data")], tmp_path)


@pytest.mark.slow(15)
def test_sql_on_the_shared_profile_reads_ducklake_and_nothing_else(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, postgres_database: str
) -> None:
    settings = StoreSettings(
        storage=f"s3://{s3_bucket}/team", catalog=postgres_database, account="acme"
    )
    load_three_refreshes(open_stores(settings))
    where = ["--storage", f"s3://{s3_bucket}/team", "--catalog", postgres_database]
    where += ["--account", "acme"]
    check_read_only(where, tmp_path)
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert not [k for k in keys if "copied" in k]
