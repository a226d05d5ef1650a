"""A snapshot that cannot be published on a full disk leaves no empty partition folder behind (a
refresh of 300 types on a full disk once left hundreds of empty `qualification_type_id=` folders);
a partition folder that already held a snapshot is kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import folders
from support.lake_data import EXTRACTED_AT as AT
from support.lake_data import worker_rows

from qual_pipeline.schema import WORKER_QUALIFICATIONS
from qual_pipeline.stores.lake import LocalLakeStore

TABLE = "worker_qualifications"
NEW_TYPE = "3TESTTYPE000000000000000000009"
OLD_TYPE = "3TESTTYPE000000000000000000008"


def test_a_publish_failing_on_a_full_disk_removes_the_folder_it_made(tmp_path: Path) -> None:
    with folders.small_disk(tmp_path / "disk", "2M") as disk:
        store = LocalLakeStore(disk / "lake")
        with store.writer(TABLE, WORKER_QUALIFICATIONS, OLD_TYPE, snapshot_at=AT) as first:
            first.write(worker_rows(3))
        filler = folders.fill_disk(disk)
        for partition in (NEW_TYPE, OLD_TYPE):
            with (
                pytest.raises(OSError),
                store.writer(
                    TABLE, WORKER_QUALIFICATIONS, partition, use_dictionary=False
                ) as writer,
            ):
                for _ in range(50):
                    writer.write(worker_rows(2000))
        folders_left = sorted(p.name for p in (disk / "lake" / TABLE).iterdir())
        assert folders_left == [f"qualification_type_id={OLD_TYPE}"]
        assert [s.name for s in store.snapshots(TABLE, OLD_TYPE)] == [first.snapshot.name]
        filler.unlink()
