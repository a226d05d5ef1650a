"""Snapshots as the extraction writes them through the local lake store (row groups, footer
stats, a Hive layout any reader takes) and the staging de-duplication. The store's own rules
(publish whole or nothing, never overwrite, delete older only after the grace) are tested in
tests/stores/test_lake_store.py."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from qual_pipeline.extract import staging as staging_module
from qual_pipeline.extract.staging import Staging
from qual_pipeline.lake.footer import EXTRACT_METADATA_KEY, footer_metadata, read_footer
from qual_pipeline.schema import WORKER_QUALIFICATIONS
from qual_pipeline.stores.lake import LocalLakeStore
from qual_pipeline.stores.profile import local_stores

TYPE = "3TESTTYPE000000000000000000001"
AT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
TABLE = "worker_qualifications"


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


def test_pages_are_buffered_into_row_groups_and_stats_go_to_the_footer(tmp_path):
    lake = LocalLakeStore(tmp_path / "lake")
    later = datetime(2025, 1, 3, tzinfo=UTC)
    with lake.writer(TABLE, WORKER_QUALIFICATIONS, TYPE, snapshot_at=later, row_group_rows=2) as w:
        for i in range(5):
            w.write(rows([f"AW{i}"]))
        w.set_footer_metadata(footer_metadata({"rows": 5, "run_id": "r-1"}))
    assert w.snapshot is not None
    assert w.snapshot.name == "20250103T000000000000Z.parquet"
    part = tmp_path / "lake" / TABLE / f"qualification_type_id={TYPE}"
    assert [p.name for p in part.iterdir()] == [w.snapshot.name]  # no temp file left
    meta = pq.read_metadata(w.snapshot.location)
    assert meta.num_rows == 5 and meta.num_row_groups == 3  # buffered into groups of 2
    figures = read_footer(lake.read_footer(w.snapshot).metadata[EXTRACT_METADATA_KEY])
    assert (figures["rows"], figures["run_id"]) == (5, "r-1")


def test_wrong_schema_is_refused_with_both_schemas_named(tmp_path):
    lake = LocalLakeStore(tmp_path)
    with (
        pytest.raises(TypeError, match="does not match"),
        lake.writer(TABLE, WORKER_QUALIFICATIONS, TYPE) as w,
    ):
        w.write(pa.RecordBatch.from_pylist([{"worker_id": "AW1"}]))
    assert lake.snapshots(TABLE, TYPE) == []
    assert lake.remove_abandoned(TABLE, TYPE, max_age_s=0) == 0  # nothing left behind


def test_empty_snapshot_is_published_with_the_schema(tmp_path):
    lake = LocalLakeStore(tmp_path)
    with lake.writer(TABLE, WORKER_QUALIFICATIONS, TYPE) as w:
        pass
    assert w.snapshot is not None
    assert pq.read_schema(w.snapshot.location).remove_metadata() == WORKER_QUALIFICATIONS
    assert pq.read_metadata(w.snapshot.location).num_rows == 0
    assert EXTRACT_METADATA_KEY not in (lake.read_footer(w.snapshot).metadata or {})


def test_lake_is_readable_as_a_hive_dataset_by_duckdb_and_pyarrow(tmp_path):
    lake = LocalLakeStore(tmp_path / "lake")
    other = "3TESTTYPE000000000000000000002"
    for type_id, workers in ((TYPE, ["AW1", "AW2"]), (other, ["AW3"])):
        with lake.writer(TABLE, WORKER_QUALIFICATIONS, type_id) as w:
            batch = rows(workers)
            batch = batch.set_column(0, "qualification_type_id", pa.array([type_id] * len(workers)))
            w.write(pa.RecordBatch.from_arrays(batch.columns, schema=WORKER_QUALIFICATIONS))
    # A crashed writer's temp file must not be read as data.
    root = tmp_path / "lake" / TABLE
    (root / f"qualification_type_id={TYPE}" / ".x.y.tmp").write_bytes(b"junk")
    found = duckdb.sql(
        "SELECT qualification_type_id, count(*) FROM read_parquet($glob, hive_partitioning=true) "
        "GROUP BY ALL ORDER BY 1",
        params={"glob": f"{root}/*/*.parquet"},
    ).fetchall()
    assert found == [(TYPE, 2), (other, 1)]
    table = ds.dataset(root, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 3
    assert set(lake.current_snapshots(TABLE)) == {TYPE, other}


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
    assert not any(tmp_path.iterdir())  # no scratch space was needed


@pytest.mark.parametrize("seed", range(5))
def test_small_and_large_in_memory_paths_keep_the_same_rows(tmp_path, monkeypatch, seed):
    # A small partition is de-duplicated with a dict, a larger one with Arrow's sort: over pages
    # that repeat and change workers (non-ASCII ids too), both keep the same last observations.
    rng = random.Random(seed)
    pages = [
        rows(
            [f"AW{rng.randrange(60)}{'é' if rng.random() < 0.2 else ''}" for _ in range(n)],
            score=page,
            status=rng.choice(["Granted", "Revoked"]),
        )
        for page, n in enumerate(rng.randrange(0, 40) for _ in range(rng.randrange(1, 6)))
    ]
    kept = {}
    for limit in (0, 4096):  # every partition through Arrow, then through the dict
        monkeypatch.setattr(staging_module, "PYTHON_DEDUPE_ROWS", limit)
        with Staging(tmp_path, WORKER_QUALIFICATIONS, "worker_id") as s:
            for page in pages:
                s.write(page)
            batches = list(s.last_per_key())
            assert not s.spilled
        assert all(b.schema == WORKER_QUALIFICATIONS for b in batches)
        kept[limit] = pa.Table.from_batches(batches, schema=WORKER_QUALIFICATIONS).to_pylist()
    expected: dict[str, dict] = {}
    for page in pages:
        for row in page.to_pylist():
            expected[row["worker_id"]] = row  # a later page wins
    assert kept[0] == kept[4096] == [expected[w] for w in sorted(expected)]


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
    assert list(tmp_path.iterdir()) == []  # nothing left in the scratch folder


@pytest.mark.parametrize(("bucket", "sort"), [(7, 7), (14, 7), (1000, 7)])
def test_staging_in_several_hash_passes_still_keeps_one_row_per_key(
    tmp_path, monkeypatch, bucket, sort
):
    # buckets of 7 rows sorted whole; of 14 rows, sorted in 2 passes; one bucket, 8 passes
    monkeypatch.setattr(staging_module, "ROWS_PER_BUCKET", bucket)
    monkeypatch.setattr(staging_module, "ROWS_PER_PASS", sort)
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
    stores = local_stores(tmp_path)
    with (
        pytest.raises(RuntimeError),
        stores.scratch() as scratch,
        Staging(scratch, WORKER_QUALIFICATIONS, "worker_id") as s,
    ):
        s.write(rows(["AW1"]))
        assert s.directory.is_dir()
        raise RuntimeError("page failed")
    assert not s.directory.exists()
    assert not (tmp_path / ".staging").exists()  # and the empty .staging/ with it


def test_staging_keeps_the_folder_another_extraction_still_uses(tmp_path, monkeypatch):
    monkeypatch.setattr(staging_module, "STAGING_ROW_GROUP_ROWS", 1)  # both spill to disk
    stores = local_stores(tmp_path)
    with (
        stores.scratch() as first_scratch,
        Staging(first_scratch, WORKER_QUALIFICATIONS, "worker_id") as first,
    ):
        first.write(rows(["AW2"]))
        with (
            stores.scratch() as second_scratch,
            Staging(second_scratch, WORKER_QUALIFICATIONS, "worker_id") as second,
        ):
            second.write(rows(["AW1"]))
        assert not second.directory.exists()
        assert first.directory.is_dir()  # .staging/ stays while the first one works in it
        assert [r["worker_id"] for b in first.last_per_key() for r in b.to_pylist()] == ["AW2"]
    assert not (tmp_path / ".staging").exists()


def test_scratch_folders_of_many_extractions_at_once_never_collide_with_the_root_removal(
    tmp_path,
):
    """Extractions running side by side (a refresh pages 8 types at once) each take a scratch
    folder under .staging/ while others remove the empty root: none fails (a refresh of 2,000
    types failed one type with FileExistsError on .staging before)."""
    stores = local_stores(tmp_path)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(500):
                with stores.scratch() as folder:
                    assert folder.is_dir()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert not (tmp_path / ".staging").exists()


def test_staging_refuses_a_key_outside_the_schema(tmp_path):
    with pytest.raises(ValueError, match="not a column"):
        Staging(tmp_path, WORKER_QUALIFICATIONS, "worker_id; DROP TABLE x")


def test_staging_takes_a_scratch_folder_from_its_factory_only_when_it_spills(tmp_path, monkeypatch):
    stores = local_stores(tmp_path)
    with Staging(stores.scratch, WORKER_QUALIFICATIONS, "worker_id") as small:
        small.write(rows(["AW2", "AW1"]))
        assert not (tmp_path / ".staging").exists()  # in memory: no folder taken
        assert [r["worker_id"] for b in small.last_per_key() for r in b.to_pylist()] == [
            "AW1",
            "AW2",
        ]
    assert small.directory is None and small.path is None
    monkeypatch.setattr(staging_module, "STAGING_ROW_GROUP_ROWS", 1)
    with Staging(stores.scratch, WORKER_QUALIFICATIONS, "worker_id") as large:
        large.write(rows(["AW2"]))
        large.write(rows(["AW1"]))
        assert large.spilled and large.path is not None and large.path.is_file()
        assert large.path.parent.parent.parent == tmp_path / ".staging"  # the factory's folder
        assert [r["worker_id"] for b in large.last_per_key() for r in b.to_pylist()] == [
            "AW1",
            "AW2",
        ]
    assert not (tmp_path / ".staging").exists()  # folder given back and removed with its root
