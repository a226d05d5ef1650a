"""The snapshot writer (atomic publish, footer stats) and the staging de-duplication."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from qual_pipeline.extract import staging as staging_module
from qual_pipeline.extract.staging import Staging, staging_root
from qual_pipeline.lake.layout import current_snapshots, partition_dir, snapshots_in, table_dir
from qual_pipeline.lake.writer import (
    EXTRACT_METADATA_KEY,
    SnapshotWriter,
    read_extract_metadata,
    remove_stale_temp_files,
)
from qual_pipeline.schema import WORKER_QUALIFICATIONS

TYPE = "3TESTTYPE000000000000000000001"
AT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def rows(workers: list[str], *, score: int = 1, status: str = "Granted") -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(
        [
            {
                "qualification_type_id": TYPE,
                "worker_id": w,
                "status": status,
                "integer_value": score,
                "country": None,
                "subdivision": None,
                "country_name": None,
                "subdivision_name": None,
                "grant_time": None,
                "extracted_at": AT,
            }
            for w in workers
        ],
        schema=WORKER_QUALIFICATIONS,
    )


def test_publish_replaces_the_previous_snapshot_and_stores_stats(tmp_path):
    part = partition_dir(tmp_path, "worker_qualifications", TYPE)
    with SnapshotWriter(part, WORKER_QUALIFICATIONS, snapshot_at=AT) as first:
        first.write(rows(["AW1", "AW2"]))
    assert snapshots_in(part) == [first.path]
    later = datetime(2025, 1, 3, tzinfo=UTC)
    with SnapshotWriter(part, WORKER_QUALIFICATIONS, snapshot_at=later, row_group_rows=2) as w:
        for i in range(5):
            w.write(rows([f"AW{i}"]))
        w.set_extract_metadata({"rows": 5, "run_id": "r-1"})
    assert snapshots_in(part) == [w.path]  # the older one is gone
    assert [p.name for p in part.iterdir()] == [w.path.name]  # no temp file left
    assert w.path.name == "20250103T000000000000Z.parquet"
    meta = pq.read_metadata(w.path)
    assert meta.num_rows == 5 and meta.num_row_groups == 3  # buffered into groups of 2
    assert read_extract_metadata(w.path) == {"rows": 5, "run_id": "r-1"}
    assert EXTRACT_METADATA_KEY in meta.metadata


def test_failure_keeps_the_previous_snapshot_and_removes_the_temp_file(tmp_path):
    part = partition_dir(tmp_path, "worker_qualifications", TYPE)
    with SnapshotWriter(part, WORKER_QUALIFICATIONS, snapshot_at=AT) as good:
        good.write(rows(["AW1", "AW2", "AW3"]))
    before = good.path.read_bytes()
    writer = SnapshotWriter(part, WORKER_QUALIFICATIONS, snapshot_at=datetime.now(UTC))
    with pytest.raises(RuntimeError, match="boom"), writer as w:
        w.write(rows(["AW9"]))
        assert w.temp_path.exists() and w.temp_path.name.startswith(".")
        raise RuntimeError("boom")
    assert not writer.published
    assert sorted(p.name for p in part.iterdir()) == [good.path.name]
    assert good.path.read_bytes() == before
    assert pq.read_table(good.path).num_rows == 3


def test_publish_keeps_a_newer_snapshot_of_an_overlapping_run(tmp_path):
    part = partition_dir(tmp_path, "worker_qualifications", TYPE)
    older_start, newer_start = AT, datetime(2025, 1, 3, tzinfo=UTC)
    # The run that started later publishes first; the slower, older run publishes after it.
    with SnapshotWriter(part, WORKER_QUALIFICATIONS, snapshot_at=newer_start) as newer:
        newer.write(rows(["AW1", "AW2"]))
    with SnapshotWriter(part, WORKER_QUALIFICATIONS, snapshot_at=older_start) as older:
        older.write(rows(["AW1"]))
    assert snapshots_in(part) == [older.path, newer.path]  # the newer one was not deleted
    assert current_snapshots(tmp_path, "worker_qualifications") == {TYPE: newer.path}
    newest_start = datetime(2025, 1, 4, tzinfo=UTC)
    with SnapshotWriter(part, WORKER_QUALIFICATIONS, snapshot_at=newest_start) as newest:
        newest.write(rows(["AW3"]))
    assert snapshots_in(part) == [newest.path]  # both older ones go at the next publish


def test_wrong_schema_is_refused_with_both_schemas_named(tmp_path):
    with (
        pytest.raises(TypeError, match="does not match"),
        SnapshotWriter(tmp_path, WORKER_QUALIFICATIONS) as w,
    ):
        w.write(pa.RecordBatch.from_pylist([{"worker_id": "AW1"}]))
    assert list(tmp_path.iterdir()) == []


def test_empty_snapshot_is_published_with_the_schema(tmp_path):
    with SnapshotWriter(tmp_path, WORKER_QUALIFICATIONS) as w:
        pass
    assert pq.read_schema(w.path).remove_metadata() == WORKER_QUALIFICATIONS
    assert pq.read_metadata(w.path).num_rows == 0
    assert read_extract_metadata(w.path) is None  # no stats were set


def test_stale_temp_files_of_crashed_writers_are_removed_fresh_ones_kept(tmp_path):
    stale, fresh = tmp_path / ".old.abc.tmp", tmp_path / ".new.def.tmp"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    old = time.time() - 3 * 24 * 3600
    os.utime(stale, (old, old))
    assert remove_stale_temp_files(tmp_path) == [stale]
    assert fresh.exists()


def test_lake_is_readable_as_a_hive_dataset_by_duckdb_and_pyarrow(tmp_path):
    other = "3TESTTYPE000000000000000000002"
    for type_id, workers in ((TYPE, ["AW1", "AW2"]), (other, ["AW3"])):
        part = partition_dir(tmp_path, "worker_qualifications", type_id)
        with SnapshotWriter(part, WORKER_QUALIFICATIONS) as w:
            batch = rows(workers)
            batch = batch.set_column(0, "qualification_type_id", pa.array([type_id] * len(workers)))
            w.write(pa.RecordBatch.from_arrays(batch.columns, schema=WORKER_QUALIFICATIONS))
    # A crashed writer's temp file must not be read as data.
    (partition_dir(tmp_path, "worker_qualifications", TYPE) / ".x.y.tmp").write_bytes(b"junk")
    root = table_dir(tmp_path, "worker_qualifications")
    found = duckdb.sql(
        "SELECT qualification_type_id, count(*) FROM read_parquet($glob, hive_partitioning=true) "
        "GROUP BY ALL ORDER BY 1",
        params={"glob": f"{root}/*/*.parquet"},
    ).fetchall()
    assert found == [(TYPE, 2), (other, 1)]
    table = ds.dataset(root, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 3
    assert set(current_snapshots(tmp_path, "worker_qualifications")) == {TYPE, other}


def test_staging_keeps_the_last_observation_of_each_key_sorted(tmp_path):
    with Staging(tmp_path, WORKER_QUALIFICATIONS, "worker_id") as s:
        s.write(rows(["AW3", "AW1", "AW2"], score=1))
        s.write(rows(["AW1"], score=2))  # repeated on a later page with a new score
        s.write(rows([]))
        s.write(rows(["AW3"], score=3, status="Revoked"))
        out = pa.Table.from_batches(list(s.last_per_key()), schema=WORKER_QUALIFICATIONS)
        assert s.rows == 5
        assert not s.spilled  # a few pages: sorted in memory, no file, no DuckDB
    assert [(r["worker_id"], r["integer_value"], r["status"]) for r in out.to_pylist()] == [
        ("AW1", 2, "Granted"),
        ("AW2", 1, "Granted"),
        ("AW3", 3, "Revoked"),
    ]
    assert not staging_root(tmp_path).exists()  # no scratch space was needed


def test_staging_beyond_one_row_group_spills_to_disk_and_keeps_the_same_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(staging_module, "STAGING_ROW_GROUP_ROWS", 2)
    with Staging(tmp_path, WORKER_QUALIFICATIONS, "worker_id") as s:
        s.write(rows(["AW3", "AW1", "AW2"], score=1))
        s.write(rows(["AW1"], score=2))
        s.write(rows(["AW3"], score=3, status="Revoked"))
        out = pa.Table.from_batches(list(s.last_per_key()), schema=WORKER_QUALIFICATIONS)
        assert s.spilled and s.directory.is_dir()
    assert [(r["worker_id"], r["integer_value"], r["status"]) for r in out.to_pylist()] == [
        ("AW1", 2, "Granted"),
        ("AW2", 1, "Granted"),
        ("AW3", 3, "Revoked"),
    ]
    assert not s.directory.exists()  # scratch space removed
    assert not staging_root(tmp_path).exists()  # and the empty .staging/ with it


def test_staging_in_several_hash_passes_still_keeps_one_row_per_key(tmp_path, monkeypatch):
    monkeypatch.setattr(staging_module, "ROWS_PER_PASS", 7)
    monkeypatch.setattr(staging_module, "STAGING_ROW_GROUP_ROWS", 10)
    workers = [f"AW{i:03d}" for i in range(40)]
    with Staging(tmp_path, WORKER_QUALIFICATIONS, "worker_id") as s:
        for start in range(0, 40, 9):
            s.write(rows(workers[start : start + 9], score=1))
        for start in range(0, 40, 3):  # every third worker again, later
            s.write(rows(workers[start : start + 1], score=2))
        out = pa.Table.from_batches(list(s.last_per_key()), schema=WORKER_QUALIFICATIONS)
    got = {r["worker_id"]: r["integer_value"] for r in out.to_pylist()}
    assert len(got) == out.num_rows == 40
    assert got == {w: 2 if i % 3 == 0 else 1 for i, w in enumerate(workers)}


def test_staging_scratch_is_removed_on_failure(tmp_path, monkeypatch):
    monkeypatch.setattr(staging_module, "STAGING_ROW_GROUP_ROWS", 1)
    with pytest.raises(RuntimeError), Staging(tmp_path, WORKER_QUALIFICATIONS, "worker_id") as s:
        s.write(rows(["AW1"]))
        assert s.directory.is_dir()
        raise RuntimeError("page failed")
    assert not s.directory.exists()
    assert not staging_root(tmp_path).exists()


def test_staging_keeps_the_folder_another_extraction_still_uses(tmp_path, monkeypatch):
    monkeypatch.setattr(staging_module, "STAGING_ROW_GROUP_ROWS", 1)  # both spill to disk
    with Staging(tmp_path, WORKER_QUALIFICATIONS, "worker_id") as first:
        first.write(rows(["AW2"]))
        with Staging(tmp_path, WORKER_QUALIFICATIONS, "worker_id") as second:
            second.write(rows(["AW1"]))
        assert not second.directory.exists()
        assert first.directory.is_dir()  # .staging/ stays while the first one works in it
        assert [r["worker_id"] for b in first.last_per_key() for r in b.to_pylist()] == ["AW2"]
    assert not staging_root(tmp_path).exists()


def test_staging_refuses_a_key_outside_the_schema(tmp_path):
    with pytest.raises(ValueError, match="not a column"):
        Staging(tmp_path, WORKER_QUALIFICATIONS, "worker_id; DROP TABLE x")
