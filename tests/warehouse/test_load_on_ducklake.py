"""The warehouse's own load runs unchanged on the shared profile (lake on moto's S3, DuckLake with
its catalog in PostgreSQL and data files on S3): the same refreshes and a recorded push give the
same tables, history, views and check results as on a folder and a DuckDB file; two loads at once
both land, or one runs again, and every snapshot is loaded once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from support.services import S3Server, free_port
from support.stores import read_warehouse
from warehouse_lake import (
    OTHER,
    SKILL,
    T1,
    T3,
    load_three_refreshes,
    worker,
    write_worker_qualifications,
)

from qual_pipeline.stores.profile import Stores, StoreSettings, local_stores, open_stores
from qual_pipeline.warehouse import record_pushed_changes, run_checks
from qual_pipeline.warehouse.sql_files import TABLES, VIEWS, schema_version

# The clock at load time, and load ids made from it.
NOT_REPRODUCIBLE = {
    "extract_runs": "EXCLUDE (loaded_at)",
    "warehouse_loads": "EXCLUDE (load_id, loaded_at)",
    "check_results": "EXCLUDE (load_id, checked_at, details)",  # details: checked against now
}


def shared(bucket: str, catalog: str, account: str = "acme") -> Stores:
    return open_stores(
        StoreSettings(storage=f"s3://{bucket}/team", catalog=catalog, account=account)
    )


def refresh_and_push(stores: Stores) -> None:
    load_three_refreshes(stores)
    with stores.warehouse.writer() as con:
        record_pushed_changes(
            con, [(SKILL, "A", 99, "Granted"), (SKILL, "N", 5, "Granted")], T3 + timedelta(1)
        )


def contents(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    found = {}
    for name in (*TABLES, *VIEWS):
        columns = NOT_REPRODUCIBLE.get(name, "")
        found[name] = con.execute(f"SELECT * {columns} FROM {name} ORDER BY ALL").fetchall()
    checks = run_checks(con, now=T3 + timedelta(days=2))
    found["checks"] = [(c.name, c.passed, c.metadata) for c in checks]
    return found


@pytest.mark.slow(17)
def test_the_load_gives_the_same_warehouse_on_the_shared_profile_as_on_the_local_one(
    tmp_path, s3_server: S3Server, s3_bucket, postgres_database
):
    local = local_stores(tmp_path / "local")
    refresh_and_push(local)
    con = read_warehouse(local)
    try:
        expected = contents(con)
    finally:
        con.close()

    stores = shared(s3_bucket, postgres_database)
    refresh_and_push(stores)
    con = read_warehouse(stores)
    try:
        found = contents(con)
        snapshots = con.execute("SELECT count(*) FROM ducklake_snapshots('warehouse')").fetchone()
        migrations = con.execute("SELECT version FROM qual_pipeline_migrations").fetchall()
    finally:
        con.close()

    assert expected["worker_qualification_history"]  # the scenario produced history
    assert found == expected
    assert migrations == [(schema_version(),)]  # the schema was applied once, by the first load
    assert snapshots[0] >= 5  # migration, three loads, the push: each its own DuckLake snapshot
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert any(k.startswith("team/lake/sandbox/acme/worker_qualifications/") for k in keys)
    assert not (tmp_path / "shared").exists()


LOADER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from qual_pipeline.stores.profile import StoreSettings, open_stores
    from qual_pipeline.warehouse import load_warehouse

    bucket, catalog, go = sys.argv[1:4]
    stores = open_stores(
        StoreSettings(storage=f"s3://{bucket}/team", catalog=catalog, account="acme")
    )
    while not Path(go).exists():
        time.sleep(0.005)
    result = load_warehouse(stores)
    print(len(result.loaded), flush=True)
    """
)


@pytest.mark.slow(10)
def test_two_loads_at_once_both_land_and_each_snapshot_loads_once(
    s3_server: S3Server, s3_bucket, postgres_database
):
    stores = shared(s3_bucket, postgres_database)
    write_worker_qualifications(stores, SKILL, [worker(f"W{i}") for i in range(300)], T1)
    write_worker_qualifications(stores, OTHER, [worker("X", 1)], T1)
    go = Path(os.environ.get("TMPDIR", "/tmp")) / f"qp-go-{os.getpid()}-{free_port()}"
    env = {**os.environ, **s3_server.env()}
    loaders = [
        subprocess.Popen(
            [sys.executable, "-c", LOADER, s3_bucket, postgres_database, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    try:
        go.touch()  # both start at the same moment
        outputs = [loader.communicate(timeout=120) for loader in loaders]
    finally:
        go.unlink(missing_ok=True)
        for loader in loaders:
            if loader.poll() is None:
                loader.kill()
                loader.wait()
    assert [loader.returncode for loader in loaders] == [0, 0], outputs
    # One loaded both snapshots; the other, after it, found nothing new.
    assert sorted(out.strip() for out, _ in outputs) == ["0", "2"]
    con = read_warehouse(stores)
    try:
        assert con.execute("SELECT count(*) FROM worker_qualifications").fetchone() == (301,)
        assert con.execute("SELECT count(*) FROM extract_runs").fetchone() == (2,)
        assert con.execute("SELECT count(*) FROM warehouse_loads").fetchone() == (1,)
    finally:
        con.close()
