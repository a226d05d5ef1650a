"""The lake store, local folder and S3 (moto's server): publish whole or not at all, never
overwrite, abort on failure, nothing visible after kill -9, delete only older snapshots after a
grace period, readable by DuckDB."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from support.lake_data import EXTRACTED_AT as AT
from support.lake_data import TYPE_ID as TYPE
from support.lake_data import big_batches, worker_rows
from support.services import S3Server

from qual_pipeline.schema import WORKER_QUALIFICATIONS
from qual_pipeline.stores.duckdb_extensions import connect
from qual_pipeline.stores.lake import (
    S3_MIN_PART_BYTES,
    LakeStore,
    LocalLakeStore,
    S3LakeStore,
    SnapshotExistsError,
)
from qual_pipeline.stores.namespace import Namespace
from qual_pipeline.stores.object_storage import S3Storage

TABLE = "worker_qualifications"
OTHER_TYPE = "3TESTTYPE000000000000000000002"
NAMESPACE = Namespace("sandbox", "acme-research")
TESTS_DIR = Path(__file__).resolve().parents[1]


def s3_store(bucket: str) -> S3LakeStore:
    return S3LakeStore(S3Storage(f"s3://{bucket}/team"), NAMESPACE, part_bytes=S3_MIN_PART_BYTES)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> LakeStore:
    if request.param == "local":
        return LocalLakeStore(tmp_path / "lake")
    return s3_store(request.getfixturevalue("s3_bucket"))


def pending_uploads(s3_server: S3Server, bucket: str) -> list[str]:
    listed = s3_server.client().list_multipart_uploads(Bucket=bucket)
    return [u["Key"] for u in listed.get("Uploads", [])]


def all_keys(s3_server: S3Server, bucket: str) -> list[str]:
    listed = s3_server.client().list_objects_v2(Bucket=bucket)
    return [o["Key"] for o in listed.get("Contents", [])]


def test_published_snapshots_are_listed_newest_last_and_readable_by_duckdb(store):
    with store.writer(TABLE, WORKER_QUALIFICATIONS, TYPE, snapshot_at=AT) as first:
        first.write(worker_rows(3))
    later = AT + timedelta(hours=1)
    with store.writer(TABLE, WORKER_QUALIFICATIONS, TYPE, snapshot_at=later) as second:
        second.write(worker_rows(5))
        second.set_footer_metadata({b"qual_pipeline.extract": b'{"rows": 5}'})
    with store.writer(TABLE, WORKER_QUALIFICATIONS, OTHER_TYPE, snapshot_at=AT) as other:
        other.write(worker_rows(2, type_id=OTHER_TYPE))
    with store.writer("qualification_types", pa.schema([("id", pa.string())])) as types:
        types.write(pa.table({"id": ["x"]}))

    assert store.partitions(TABLE) == sorted([TYPE, OTHER_TYPE])
    assert [s.name for s in store.snapshots(TABLE, TYPE)] == [
        "20250102T030405000000Z.parquet",
        "20250102T040405000000Z.parquet",
    ]
    current = store.current_snapshots(TABLE)
    assert current == {TYPE: second.snapshot, OTHER_TYPE: other.snapshot}
    assert store.current_snapshot("qualification_types") == types.snapshot
    assert store.read_footer(second.snapshot).metadata[b"qual_pipeline.extract"] == b'{"rows": 5}'
    assert store.read_footer(second.snapshot).num_rows == 5

    con = connect()
    store.configure_duckdb(con)
    files = [s.location for s in current.values()]
    counted = con.execute(
        "SELECT qualification_type_id, count(*) FROM read_parquet($files) GROUP BY ALL ORDER BY 1",
        {"files": files},
    ).fetchall()
    assert counted == [(TYPE, 5), (OTHER_TYPE, 2)]


def test_duckdb_keeps_no_copy_of_the_local_lake_files_it_reads(tmp_path):
    """A read of local snapshots leaves nothing in DuckDB's external file cache (a copy of each
    file read, held in the process beside the OS's page cache; it grew with the lake)."""
    store = LocalLakeStore(tmp_path / "lake")
    with store.writer(TABLE, WORKER_QUALIFICATIONS, TYPE, snapshot_at=AT) as w:
        w.write(worker_rows(2000))
    assert w.snapshot is not None
    con = connect()
    store.configure_duckdb(con)
    read = con.execute("SELECT count(*) FROM read_parquet(?)", [w.snapshot.location]).fetchone()
    cached = con.execute(
        "SELECT memory_usage_bytes FROM duckdb_memory() WHERE tag = 'EXTERNAL_FILE_CACHE'"
    ).fetchone()
    assert read == (2000,)
    assert cached == (0,)


def test_an_exception_mid_write_leaves_nothing_and_keeps_the_previous_snapshot(store):
    with store.writer(TABLE, WORKER_QUALIFICATIONS, TYPE, snapshot_at=AT) as good:
        good.write(worker_rows(3))
    writer = store.writer(TABLE, WORKER_QUALIFICATIONS, TYPE, row_group_rows=1000)
    with pytest.raises(RuntimeError, match="extraction failed"), writer as w:
        # More than one S3 part, so a multipart upload is under way when the failure comes.
        for batch in big_batches(2 * S3_MIN_PART_BYTES):
            w.write(batch)
        raise RuntimeError("extraction failed")
    assert writer.snapshot is None
    assert store.snapshots(TABLE, TYPE) == [good.snapshot]
    assert store.remove_abandoned(TABLE, TYPE, max_age_s=0) == 0  # nothing was left behind


def test_s3_failure_mid_upload_leaves_no_object_and_no_pending_upload(s3_server, s3_bucket):
    store = s3_store(s3_bucket)
    writer = store.writer(TABLE, WORKER_QUALIFICATIONS, TYPE, row_group_rows=1000)
    with pytest.raises(RuntimeError, match="connection lost"), writer as w:
        for batch in big_batches(2 * S3_MIN_PART_BYTES):
            w.write(batch)
        # The writer really was mid-upload: parts sent, the upload pending and invisible.
        assert pending_uploads(s3_server, s3_bucket) != []
        assert all_keys(s3_server, s3_bucket) == []
        raise RuntimeError("connection lost")
    assert all_keys(s3_server, s3_bucket) == []
    assert pending_uploads(s3_server, s3_bucket) == []


def test_a_large_snapshot_is_published_by_multipart_upload(s3_server, s3_bucket):
    store = s3_store(s3_bucket)
    with store.writer(TABLE, WORKER_QUALIFICATIONS, TYPE, row_group_rows=1000) as w:
        for batch in big_batches(2 * S3_MIN_PART_BYTES):
            w.write(batch)
    assert w.snapshot is not None
    size = s3_server.client().head_object(
        Bucket=s3_bucket, Key=w.snapshot.location.removeprefix(f"s3://{s3_bucket}/")
    )["ContentLength"]
    assert size > 2 * S3_MIN_PART_BYTES  # so it went as three parts
    assert store.read_footer(w.snapshot).num_rows == w.rows
    assert pending_uploads(s3_server, s3_bucket) == []
    con = connect()
    store.configure_duckdb(con)
    assert con.execute(
        "SELECT count(*) FROM read_parquet(?)", [w.snapshot.location]
    ).fetchone() == (w.rows,)


@pytest.mark.parametrize("big", [False, True], ids=["single-put", "multipart"])
def test_an_existing_snapshot_is_never_overwritten(store, big, request):
    with store.writer(TABLE, WORKER_QUALIFICATIONS, TYPE, snapshot_at=AT) as first:
        first.write(worker_rows(3))
    before = store.read_footer(first.snapshot).num_rows
    with (
        pytest.raises(SnapshotExistsError, match="not overwritten"),
        store.writer(
            TABLE, WORKER_QUALIFICATIONS, TYPE, snapshot_at=AT, row_group_rows=1000
        ) as again,
    ):
        for batch in big_batches(2 * S3_MIN_PART_BYTES) if big else [worker_rows(7)]:
            again.write(batch)
    assert store.snapshots(TABLE, TYPE) == [first.snapshot]
    assert store.read_footer(first.snapshot).num_rows == before == 3
    if isinstance(store, S3LakeStore):
        s3_server = request.getfixturevalue("s3_server")
        assert pending_uploads(s3_server, store.root.bucket) == []


def test_delete_older_keeps_newer_snapshots_and_waits_for_the_grace_period(store):
    names = {}
    for hour in (1, 2, 3):
        with store.writer(
            TABLE, WORKER_QUALIFICATIONS, TYPE, snapshot_at=AT + timedelta(hours=hour)
        ) as w:
            w.write(worker_rows(hour))
        names[hour] = w.snapshot
    # An overlapping run that started earlier (hour 2.5) publishes last.
    with store.writer(
        TABLE, WORKER_QUALIFICATIONS, TYPE, snapshot_at=AT + timedelta(hours=2, minutes=30)
    ) as late:
        late.write(worker_rows(1))

    assert store.delete_older(late.snapshot, grace_s=0) == [names[1], names[2]]
    assert store.snapshots(TABLE, TYPE) == [late.snapshot, names[3]]  # the newer one stays

    with store.writer(
        TABLE, WORKER_QUALIFICATIONS, TYPE, snapshot_at=AT + timedelta(hours=4)
    ) as newest:
        newest.write(worker_rows(4))
    # Just superseded: within the grace period nothing goes.
    assert store.delete_older(newest.snapshot, grace_s=600) == []
    later = newest.snapshot.published_at + timedelta(seconds=601)
    assert store.delete_older(newest.snapshot, grace_s=600, now=later) == [
        late.snapshot,
        names[3],
    ]
    assert store.snapshots(TABLE, TYPE) == [newest.snapshot]


def test_grace_counts_from_when_each_snapshot_was_superseded(tmp_path):
    store = LocalLakeStore(tmp_path / "lake")
    published = []
    for hour in (1, 2, 3):
        with store.writer(
            TABLE, WORKER_QUALIFICATIONS, TYPE, snapshot_at=AT + timedelta(hours=hour)
        ) as w:
            w.write(worker_rows(1))
        published.append(w.snapshot)
    now = datetime.now(UTC)
    # Snapshot 2 was published an hour ago (superseding 1), snapshot 3 a minute ago.
    for snap, age in ((published[1], 3600), (published[2], 60)):
        stamp = (now - timedelta(seconds=age)).timestamp()
        os.utime(snap.location, (stamp, stamp))
    deleted = store.delete_older(published[2], grace_s=600, now=now)
    assert [s.name for s in deleted] == [published[0].name]
    assert [s.name for s in store.snapshots(TABLE, TYPE)] == [p.name for p in published[1:]]


def test_local_abandoned_temp_files_are_removed_only_when_old(tmp_path):
    store = LocalLakeStore(tmp_path / "lake")
    part = tmp_path / "lake" / TABLE / f"qualification_type_id={TYPE}"
    part.mkdir(parents=True)
    stale, fresh = part / ".old.abc.tmp", part / ".new.def.tmp"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    old = (datetime.now(UTC) - timedelta(days=3)).timestamp()
    os.utime(stale, (old, old))
    assert store.remove_abandoned(TABLE, TYPE) == 1
    assert not stale.exists() and fresh.exists()


WRITER_CHILD = textwrap.dedent(
    """
    import sys, time
    from support.lake_data import TYPE_ID, big_batches
    from qual_pipeline.schema import WORKER_QUALIFICATIONS
    from qual_pipeline.stores.lake import LocalLakeStore, S3LakeStore, S3_MIN_PART_BYTES
    from qual_pipeline.stores.namespace import Namespace
    from qual_pipeline.stores.object_storage import S3Storage
    kind, where = sys.argv[1], sys.argv[2]
    if kind == "local":
        store = LocalLakeStore(where)
    else:
        storage = S3Storage(f"s3://{{where}}/team")
        namespace = Namespace("sandbox", "acme-research")
        store = S3LakeStore(storage, namespace, part_bytes=S3_MIN_PART_BYTES)
    with store.writer(
        "worker_qualifications", WORKER_QUALIFICATIONS, TYPE_ID, row_group_rows=1000
    ) as w:
        for batch in big_batches(2 * S3_MIN_PART_BYTES):
            w.write(batch)
        print("writing", flush=True)
        time.sleep(120)
    """
)


def run_writer_until_killed(kind: str, where: str, env: dict[str, str]) -> None:
    """Start a writer in a child process, wait until it is mid-write, then kill -9 it."""
    code = WRITER_CHILD.format()
    child = subprocess.Popen(
        [sys.executable, "-c", code, kind, where],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **env, "PYTHONPATH": str(TESTS_DIR)},
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "writing"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL


def test_kill_9_of_a_local_writer_leaves_nothing_visible(tmp_path):
    store = LocalLakeStore(tmp_path / "lake")
    run_writer_until_killed("local", str(tmp_path / "lake"), {})
    assert store.snapshots(TABLE, TYPE) == []
    assert store.current_snapshots(TABLE) == {}
    assert store.remove_abandoned(TABLE, TYPE, max_age_s=0) == 1  # its temporary file


def test_kill_9_of_an_s3_writer_leaves_nothing_visible(s3_server, s3_bucket):
    store = s3_store(s3_bucket)
    run_writer_until_killed("s3", s3_bucket, s3_server.env())
    assert all_keys(s3_server, s3_bucket) == []
    assert store.current_snapshots(TABLE) == {}
    assert len(pending_uploads(s3_server, s3_bucket)) == 1  # invisible, and cleared once old:
    assert store.remove_abandoned(TABLE, TYPE, max_age_s=0) == 1
    assert pending_uploads(s3_server, s3_bucket) == []


def test_lake_keys_are_namespaced_by_environment_and_account(s3_server, s3_bucket):
    namespaces = [Namespace("sandbox", "acme"), Namespace("production", "acme")]
    namespaces.append(Namespace("sandbox", "beta"))
    for count, namespace in enumerate(namespaces, start=1):
        store = S3LakeStore(S3Storage(f"s3://{s3_bucket}/team"), namespace)
        with store.writer(TABLE, WORKER_QUALIFICATIONS, TYPE, snapshot_at=AT) as w:
            w.write(worker_rows(count))
    assert sorted(all_keys(s3_server, s3_bucket)) == sorted(
        f"team/lake/{ns}/{TABLE}/qualification_type_id={TYPE}/20250102T030405000000Z.parquet"
        for ns in ("production/acme", "sandbox/acme", "sandbox/beta")
    )
    for count, namespace in enumerate(namespaces, start=1):  # each sees only its own snapshot
        store = S3LakeStore(S3Storage(f"s3://{s3_bucket}/team"), namespace)
        assert store.read_footer(store.current_snapshots(TABLE)[TYPE]).num_rows == count


def test_a_snapshot_written_unpublished_is_invisible_until_commit_and_withdraw_undoes_it(store):
    """What a type's two tables rely on (extract.tables.publish_together): a snapshot written
    with publish_on_exit=False is listed only once committed; withdrawing it makes the previous
    snapshot current again; an aborted one leaves nothing listed."""
    with store.writer(TABLE, WORKER_QUALIFICATIONS, TYPE, snapshot_at=AT) as previous:
        previous.write(worker_rows(3))
    later = AT + timedelta(hours=1)
    staged = store.writer(TABLE, WORKER_QUALIFICATIONS, TYPE, snapshot_at=later,
                          publish_on_exit=False)  # fmt: skip
    with staged:
        staged.write(worker_rows(5))
    assert staged.snapshot is None
    assert store.snapshots(TABLE, TYPE) == [previous.snapshot]
    published = staged.commit()
    assert [s.name for s in store.snapshots(TABLE, TYPE)] == [
        previous.snapshot.name,
        published.name,
    ]
    staged.withdraw()
    assert store.snapshots(TABLE, TYPE) == [previous.snapshot]
    assert store.current_snapshots(TABLE) == {TYPE: previous.snapshot}
    dropped = store.writer(TABLE, WORKER_QUALIFICATIONS, OTHER_TYPE, snapshot_at=later,
                           publish_on_exit=False)  # fmt: skip
    with dropped:
        dropped.write(worker_rows(2, type_id=OTHER_TYPE))
    dropped.abort()
    assert store.partitions(TABLE) == [TYPE]  # no snapshot, no folder left for the other type
