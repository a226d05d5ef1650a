"""A load's statements that stream rows run held to a lower DuckDB limit (`memory_held_to`): what
DuckDB keeps cached beyond it is evicted, and the connection gets its own limit back after."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from qual_pipeline import settings
from qual_pipeline.stores.warehouse import memory_bytes, memory_held_to, set_memory_limit
from qual_pipeline.warehouse.checks import check_unique_worker_qualifications, uniqueness_slices


def limit_of(con: duckdb.DuckDBPyConnection) -> int:
    """The connection's memory limit in bytes, as DuckDB shows it (to 0.1 MiB)."""
    (shown,) = con.execute("SELECT current_setting('memory_limit')").fetchone()  # type: ignore[misc]
    size = memory_bytes(shown)
    assert size is not None, shown
    return size


def cached_mb(con: duckdb.DuckDBPyConnection) -> float:
    """What DuckDB's buffer pool holds of the database's blocks, in MiB."""
    (used,) = con.execute(
        "SELECT coalesce(sum(memory_usage_bytes), 0) / 2**20 FROM duckdb_memory() "
        "WHERE tag = 'BASE_TABLE'"
    ).fetchone()  # type: ignore[misc]
    return float(used)


def test_the_block_runs_within_the_held_limit_and_the_connection_gets_its_own_back() -> None:
    with duckdb.connect() as con:
        set_memory_limit(con, "256MB")
        own = limit_of(con)
        with memory_held_to(con):  # half of it
            assert limit_of(con) == pytest.approx(128_000_000, rel=0.001)
        assert limit_of(con) == pytest.approx(own, rel=0.001)
        with pytest.raises(RuntimeError, match="inside"), memory_held_to(con, 0.25):
            assert limit_of(con) == pytest.approx(64_000_000, rel=0.001)
            raise RuntimeError("inside")
        assert limit_of(con) == pytest.approx(own, rel=0.001)  # given back after a failure too


HELD = [("16MB", 16_000_000), ("32MB", 32_000_000), ("48MB", 32_000_000), ("1GB", 500_000_000)]


@pytest.mark.parametrize(("own", "held"), HELD)
def test_the_held_limit_is_never_below_a_loads_minimum(own: str, held: int) -> None:
    assert settings.WAREHOUSE_LOAD_MEMORY_MINIMUM == "32MB"
    with duckdb.connect() as con:
        set_memory_limit(con, own)
        before = limit_of(con)
        with memory_held_to(con):
            assert limit_of(con) == pytest.approx(held, rel=0.005)
        assert limit_of(con) == pytest.approx(before, rel=0.005)  # as DuckDB shows it


def test_blocks_cached_under_the_connections_limit_are_evicted_within_the_held_one(
    tmp_path: Path,
) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        set_memory_limit(con, "512MB")
        con.execute("CREATE TABLE t (s VARCHAR, i BIGINT)")
        con.execute("BEGIN TRANSACTION")  # as a load: the blocks it writes, before the commit
        con.execute("INSERT INTO t SELECT md5(i::VARCHAR), i FROM range(4000000) AS r(i)")
        assert cached_mb(con) > 48  # kept under 512MB though nothing reads them now
        with memory_held_to(con, 0.05):  # a load's minimum, 32MB (30.5 MiB)
            assert cached_mb(con) <= 30.6
            assert con.execute("SELECT sum(i) FROM t").fetchall() == [(7_999_998_000_000,)]
            assert cached_mb(con) <= 30.6
        con.execute("COMMIT")
        assert con.execute("SELECT count(*) FROM t").fetchall() == [(4_000_000,)]


def test_an_error_of_the_block_is_raised_as_it_is_in_an_aborted_transaction() -> None:
    with duckdb.connect() as con:
        set_memory_limit(con, "256MB")
        con.execute("BEGIN TRANSACTION")
        with pytest.raises(duckdb.OutOfMemoryException), memory_held_to(con, 0.01):  # 32MB
            con.execute(
                "SELECT count(DISTINCT s) FROM (SELECT md5(i::VARCHAR) || repeat('x', 200) AS s "
                "FROM range(2000000) AS r(i))"
            ).fetchall()
        con.execute("ROLLBACK")


def duplicated_keys_table(path: Path, keys: int, every: int) -> duckdb.DuckDBPyConnection:
    """A database file whose worker_qualifications holds `keys` keys over 7 types, every
    `every`-th key twice and the first one three times."""
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE worker_qualifications (qualification_type_id VARCHAR, worker_id VARCHAR)"
    )
    keys_of = "SELECT 'T' || (i % 7)::VARCHAR, 'W' || i::VARCHAR FROM range({}, {}, {}) AS r(i)"
    con.execute(f"INSERT INTO worker_qualifications {keys_of.format(0, keys, 1)}")
    con.execute(f"INSERT INTO worker_qualifications {keys_of.format(0, keys, every)}")
    con.execute(f"INSERT INTO worker_qualifications {keys_of.format(0, 1, 1)}")
    con.execute("CHECKPOINT")
    return con


@pytest.mark.slow(20)
def test_the_uniqueness_check_groups_its_keys_in_slices_that_fit_the_limit(
    tmp_path: Path,
) -> None:
    # 1,000,000 keys: their hashes grouped at once took more than 32MB (DuckDB ran out of it with
    # nowhere to spill); in slices of 250,000 keys (128 bytes of the limit each) they fit.
    with duplicated_keys_table(tmp_path / "w.duckdb", 1_000_000, 50_000) as con:
        con.execute("SET temp_directory = ''")  # no spilling: the hash table must fit
        set_memory_limit(con, "32MB")
        assert uniqueness_slices(con) == 5  # 1,000,021 rows
        found = check_unique_worker_qualifications(con)
        # Where DuckDB can spill (a load's warehouse file has a temp directory) the slices only
        # bound the spill: 16 bytes per key, one slice here, and every duplicate still found.
        con.execute("SET temp_directory = ?", [str(tmp_path / "spill")])
        assert uniqueness_slices(con) == 1
        spilled = check_unique_worker_qualifications(con)
        set_memory_limit(con, "1GB")
        assert uniqueness_slices(con) == 1
        whole = check_unique_worker_qualifications(con)
    assert not found.passed
    assert found.metadata["offending"] == whole.metadata["offending"] == 20  # every duplicate
    assert spilled.metadata == whole.metadata
    assert found.by_type == whole.by_type
    assert sum(found.by_type.values()) == 20
    assert found.metadata["examples"] == whole.metadata["examples"]
    assert found.metadata["examples"][0] == {
        "qualification_type_id": "T0",
        "worker_id": "W0",
        "copies": 3,
    }
