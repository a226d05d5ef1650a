"""The warehouse store on a DuckDB file and on DuckLake (PostgreSQL catalog, data files on moto's
S3): extensions from the wheels, migrations once per version, conflicts retried as a whole, one
writer at a time, readers that never wait, no password in any message."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
from support.services import S3Server, free_port

from qual_pipeline.stores.duckdb_extensions import (
    EXTENSION_WHEELS,
    connect,
    extension_path,
    load_extensions,
)
from qual_pipeline.stores.namespace import Namespace
from qual_pipeline.stores.object_storage import S3Storage
from qual_pipeline.stores.warehouse import (
    DuckDBFileWarehouse,
    DuckLakeWarehouse,
    WarehouseConflictError,
    WarehouseNotFoundError,
    WarehouseStore,
    WarehouseStoreError,
    run_transaction,
)

ACME = Namespace("sandbox", "acme")


def ducklake_store(bucket: str, catalog: str, namespace: Namespace = ACME) -> DuckLakeWarehouse:
    return DuckLakeWarehouse(catalog, S3Storage(f"s3://{bucket}/team"), namespace)


@pytest.fixture
def ducklake(s3_bucket: str, postgres_database: str) -> DuckLakeWarehouse:
    return ducklake_store(s3_bucket, postgres_database)


@pytest.fixture(params=["duckdb-file", "ducklake"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> WarehouseStore:
    if request.param == "duckdb-file":
        return DuckDBFileWarehouse(tmp_path / "warehouse.duckdb")
    return request.getfixturevalue("ducklake")


def create_scores(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS scores (worker_id VARCHAR NOT NULL, score INTEGER)")
    con.execute("CREATE OR REPLACE VIEW high_scores AS SELECT * FROM scores WHERE score >= 50")


def ducklake_snapshot_count(store: DuckLakeWarehouse) -> int:
    con = store.connect(read_only=True)
    try:
        return con.execute("SELECT count(*) FROM ducklake_snapshots('warehouse')").fetchone()[0]
    finally:
        con.close()


def test_extensions_load_from_the_installed_wheels_and_nothing_is_downloaded():
    con = connect()
    settings = dict(
        con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN "
            "('autoinstall_known_extensions', 'autoload_known_extensions', "
            "'allow_unsigned_extensions')"
        ).fetchall()
    )
    assert settings == {
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
        "allow_unsigned_extensions": "false",
    }
    # Without LOAD, an s3:// read fails at once instead of fetching httpfs from the internet.
    with pytest.raises(duckdb.Error, match="httpfs"):
        con.execute("SELECT * FROM read_parquet('s3://nowhere/x.parquet')")
    for name in EXTENSION_WHEELS:
        path = extension_path(name)
        assert path is not None and f"v{duckdb.__version__}" in str(path)
    load_extensions(con, *EXTENSION_WHEELS)
    loaded = dict(con.execute("SELECT extension_name, loaded FROM duckdb_extensions()").fetchall())
    assert all(loaded[name] for name in EXTENSION_WHEELS)


def test_without_the_wheel_an_extension_loads_from_a_prepopulated_directory(tmp_path, monkeypatch):
    """An air-gapped host without the wheels: the extension file copied into DuckDB's extension
    directory (as `INSTALL` on a connected machine leaves it) loads from there, signature checked;
    an empty directory gives the message naming the wheel, and still nothing is downloaded."""
    import shutil

    from qual_pipeline.stores import duckdb_extensions

    wheel_file = extension_path("httpfs")
    assert wheel_file is not None
    monkeypatch.setattr(duckdb_extensions, "extension_path", lambda name: None)
    empty = connect()
    empty.execute(f"SET extension_directory = '{tmp_path / 'empty'}'")
    with pytest.raises(duckdb_extensions.ExtensionMissingError) as missing:
        load_extensions(empty, "httpfs")
    assert f"duckdb-extension-httpfs=={duckdb.__version__}" in str(missing.value)
    assert not (tmp_path / "empty").exists() or not any((tmp_path / "empty").rglob("*.duckdb_*"))

    con = connect()
    platform = con.execute("PRAGMA platform").fetchone()[0]
    folder = tmp_path / "extensions" / f"v{duckdb.__version__}" / platform
    folder.mkdir(parents=True)
    shutil.copy(wheel_file, folder / "httpfs.duckdb_extension")
    con.execute(f"SET extension_directory = '{tmp_path / 'extensions'}'")
    load_extensions(con, "httpfs")
    loaded = dict(con.execute("SELECT extension_name, loaded FROM duckdb_extensions()").fetchall())
    assert loaded["httpfs"]


def test_migrations_run_once_per_version(store):
    calls: list[str] = []

    def version_1(con: duckdb.DuckDBPyConnection) -> None:
        calls.append("1")
        create_scores(con)

    assert store.migrate("1", version_1) is True
    snapshots = ducklake_snapshot_count(store) if isinstance(store, DuckLakeWarehouse) else None
    assert store.migrate("1", version_1) is False  # already applied: no DDL at all
    store.connect().close()  # opening the warehouse runs no DDL either
    assert calls == ["1"]
    if snapshots is not None:
        assert ducklake_snapshot_count(store) == snapshots  # nothing was committed
    assert store.migrate("2", lambda con: con.execute("ALTER TABLE scores ADD COLUMN note VARCHAR"))
    con = store.connect(read_only=True)
    try:
        versions = con.execute("SELECT version FROM qual_pipeline_migrations ORDER BY 1")
        assert versions.fetchall() == [("1",), ("2",)]
        assert [c[0] for c in con.execute("DESCRIBE scores").fetchall()] == [
            "worker_id",
            "score",
            "note",
        ]
    finally:
        con.close()


def test_a_failed_migration_leaves_nothing_and_runs_again(store):
    def broken(con: duckdb.DuckDBPyConnection) -> None:
        create_scores(con)
        con.execute("SELECT * FROM no_such_table")

    with pytest.raises(duckdb.CatalogException):
        store.migrate("1", broken)
    assert store.migrate("1", create_scores) is True
    con = store.connect(read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM high_scores").fetchone() == (0,)
    finally:
        con.close()


def test_a_commit_conflict_is_retried_as_a_whole(ducklake):
    ducklake.migrate("1", create_scores)
    ducklake.write(lambda con: con.execute("INSERT INTO scores VALUES ('A', 10), ('B', 20)"))
    other = ducklake.connect()
    attempts: list[int] = []
    retries: list[str] = []

    def raise_scores(con: duckdb.DuckDBPyConnection) -> int:
        attempts.append(len(attempts) + 1)
        con.execute("UPDATE scores SET score = score + 1 WHERE worker_id = 'A'")
        if len(attempts) == 1:  # another writer commits to the same table meanwhile
            other.execute("DELETE FROM scores WHERE worker_id = 'B'")
        return len(attempts)

    con = ducklake.connect()
    try:
        result = run_transaction(con, raise_scores, on_retry=lambda _, e: retries.append(str(e)))
        assert result == 2 and attempts == [1, 2]
        assert len(retries) == 1 and "conflict" in retries[0].lower()
        # The first attempt left nothing: A was raised once, by the retry.
        assert con.execute("SELECT * FROM scores ORDER BY 1").fetchall() == [("A", 11)]
    finally:
        con.close()
        other.close()


def test_a_conflict_that_keeps_happening_commits_nothing(ducklake):
    ducklake.migrate("1", create_scores)
    ducklake.write(lambda con: con.execute("INSERT INTO scores VALUES ('A', 10), ('B', 20)"))
    other = ducklake.connect()

    def always_interrupted(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("UPDATE scores SET score = 0 WHERE worker_id = 'A'")
        other.execute("INSERT INTO scores VALUES ('C', 1)")

    con = ducklake.connect()
    try:
        with pytest.raises(WarehouseConflictError, match="conflicted with other writers 2 times"):
            run_transaction(con, always_interrupted, attempts=2)
        assert con.execute("SELECT * FROM scores ORDER BY 1").fetchall() == [
            ("A", 10),
            ("B", 20),
            ("C", 1),
            ("C", 1),
        ]
    finally:
        con.close()
        other.close()


def test_readers_never_wait_for_a_writer(ducklake):
    ducklake.migrate("1", create_scores)
    with ducklake.writer() as writer:
        writer.execute("BEGIN TRANSACTION")
        writer.execute("INSERT INTO scores VALUES ('A', 90)")
        reader = ducklake.connect(read_only=True)  # while the writer holds its lock
        try:
            assert reader.execute("SELECT count(*) FROM scores").fetchone() == (0,)
            writer.execute("COMMIT")
            assert reader.execute("SELECT count(*) FROM high_scores").fetchone() == (1,)
            with pytest.raises(duckdb.Error, match=r"read-only|read only"):
                reader.execute("INSERT INTO scores VALUES ('B', 1)")
        finally:
            reader.close()


WRITER_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from qual_pipeline.stores.namespace import Namespace
    from qual_pipeline.stores.object_storage import S3Storage
    from qual_pipeline.stores.warehouse import DuckLakeWarehouse

    bucket, catalog, go, name = sys.argv[1:5]
    storage = S3Storage(f"s3://{bucket}/team")
    store = DuckLakeWarehouse(catalog, storage, Namespace("sandbox", "acme"))
    while not Path(go).exists():
        time.sleep(0.005)

    def load(con):
        # Idempotent like the real load: a snapshot already recorded is not loaded again.
        done = con.execute("SELECT count(*) FROM loads WHERE snapshot = 's1'").fetchone()[0]
        if done:
            return "nothing new"
        con.execute("INSERT INTO scores SELECT 'W' || i, i % 100 FROM range(1000) t(i)")
        con.execute("INSERT INTO loads VALUES ('s1', ?)", [name])
        return "loaded"

    print(store.write(load), flush=True)
    """
)


@pytest.mark.slow(11)
def test_two_loads_at_once_both_land_and_load_once(s3_server, s3_bucket, postgres_database):
    store = ducklake_store(s3_bucket, postgres_database)

    def schema(con: duckdb.DuckDBPyConnection) -> None:
        create_scores(con)
        con.execute("CREATE TABLE loads (snapshot VARCHAR, loader VARCHAR)")

    store.migrate("1", schema)
    go = Path(os.environ.get("TMPDIR", "/tmp")) / f"qp-go-{os.getpid()}-{free_port()}"
    env = {**os.environ, **s3_server.env()}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER_CHILD, s3_bucket, postgres_database, str(go), name],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name in ("first", "second")
    ]
    try:
        go.touch()  # both start their transaction at the same moment
        outputs = sorted(child.communicate(timeout=120)[0].strip() for child in children)
    finally:
        go.unlink(missing_ok=True)
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert [child.returncode for child in children] == [0, 0]
    assert outputs == ["loaded", "nothing new"]
    con = store.connect(read_only=True)
    try:
        assert con.execute("SELECT count(*), count(DISTINCT worker_id) FROM scores").fetchone() == (
            1000,
            1000,
        )
        assert con.execute("SELECT count(*) FROM loads").fetchone() == (1,)
    finally:
        con.close()


@pytest.mark.slow(14)
def test_namespaces_share_a_catalog_and_a_bucket_without_touching_each_other(
    s3_server: S3Server, s3_bucket, postgres_database
):
    stores = {
        ns: ducklake_store(s3_bucket, postgres_database, ns)
        for ns in (ACME, Namespace("production", "acme"), Namespace("sandbox", "beta"))
    }
    for rows, store in enumerate(stores.values(), start=1):
        store.migrate("1", create_scores)
        store.write(  # more rows than DuckLake inlines into the catalog: data files on S3
            lambda con, n=rows: con.execute(
                "INSERT INTO scores SELECT 'W' || i, 1 FROM range(?) t(i)", [n * 1000]
            )
        )
    for rows, store in enumerate(stores.values(), start=1):
        con = store.connect(read_only=True)
        try:
            assert con.execute("SELECT count(*) FROM scores").fetchone() == (rows * 1000,)
        finally:
            con.close()
    keys = [
        o["Key"] for o in s3_server.client().list_objects_v2(Bucket=s3_bucket).get("Contents", [])
    ]
    assert keys and all(k.startswith("team/warehouse/") for k in keys)
    assert {"/".join(k.split("/")[2:4]) for k in keys} == {
        "sandbox/acme",
        "production/acme",
        "sandbox/beta",
    }


@pytest.mark.parametrize("kind", ["duckdb-file", "ducklake"])
def test_reading_a_warehouse_never_loaded_says_to_refresh_first(kind, request, tmp_path):
    store: WarehouseStore = (
        DuckDBFileWarehouse(tmp_path / "warehouse.duckdb")
        if kind == "duckdb-file"
        else request.getfixturevalue("ducklake")
    )
    with pytest.raises(WarehouseNotFoundError, match="run `qual-pipeline refresh` first"):
        store.connect(read_only=True)


def test_an_unreachable_catalog_is_named_without_its_password(s3_bucket):
    port = free_port()
    catalog = f"postgresql://loader:do-not-show-me@127.0.0.1:{port}/catalog"
    store = DuckLakeWarehouse(catalog, S3Storage(f"s3://{s3_bucket}/team"), ACME)
    for attempt in (lambda: store.connect(), lambda: store.migrate("1", create_scores)):
        with pytest.raises(WarehouseStoreError) as failed:
            attempt()
        assert "do-not-show-me" not in str(failed.value)
        assert f"postgresql://loader@127.0.0.1:{port}/catalog" in str(failed.value)
        assert failed.value.__suppress_context__
