"""The warehouse file after a full disk, damage or a bad memory limit: each state a user meets is
one message naming the file and the fix, and the way back works as the message says.

The full-disk tests mount a small tmpfs (tests run as root in CI); the empty file, the state a
full disk leaves behind, is also made directly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import folders
from support.stores import warehouse_rows
from typer.testing import CliRunner
from warehouse_lake import OTHER, SKILL, T1, load_three_refreshes, worker
from warehouse_lake import write_worker_qualifications as write_type

from qual_pipeline import settings
from qual_pipeline.cli.app import app
from qual_pipeline.stores.profile import local_stores
from qual_pipeline.warehouse import WarehouseLoadError, load_warehouse

EMPTY_NOTICE = "was an empty file (a load could not write it, e.g. on a full disk): it held nothing"


def sql(data_dir: Path, query: str) -> tuple[int, str]:
    """`qual-pipeline sql` as a user runs it: (exit code, what it printed); never a traceback."""
    result = CliRunner().invoke(
        app, ["sql", "--data-dir", str(data_dir), "--output", "csv", query], env={"COLUMNS": "300"}
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def load(data_dir: Path, **options: object) -> tuple[list[str], str]:
    """load_warehouse as the refresh calls it: (the steps it told, the newest load id)."""
    steps: list[str] = []
    result = load_warehouse(local_stores(data_dir), on_step=steps.append, **options)  # type: ignore[arg-type]
    assert result.load_id is not None
    return steps, result.load_id


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2MB tmpfs, unmounted after the test."""
    with folders.small_disk(tmp_path / "disk", "2M") as mount:
        yield mount


def test_an_empty_warehouse_file_is_no_warehouse_and_the_next_load_replaces_it(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    write_type(data_dir, SKILL, [worker("A", 10), worker("B", 20)], T1)
    (data_dir / "warehouse.duckdb").write_bytes(b"")

    code, output = sql(data_dir, "SELECT 1")
    assert code == 1
    assert output.strip() == (
        f"error: No warehouse at {data_dir / 'warehouse.duckdb'}: the file is empty (a load could "
        "not write it, e.g. on a full disk); run `qual-pipeline refresh` to create it."
    )

    steps, _ = load(data_dir)
    assert (
        steps[0]
        == f"{data_dir / 'warehouse.duckdb'} {EMPTY_NOTICE} and is replaced by a new warehouse"
    )
    assert sql(data_dir, "SELECT count(*) AS n FROM worker_qualifications") == (0, "n\n2\n")


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_an_unreadable_warehouse_file_names_the_fix_and_a_rebuild_restores_the_current_state(
    tmp_path: Path, damage: str
) -> None:
    data_dir = tmp_path / "data"
    load_three_refreshes(data_dir)
    path = data_dir / "warehouse.duckdb"
    current = warehouse_rows(data_dir, "SELECT * FROM worker_qualifications ORDER BY ALL")
    history = warehouse_rows(data_dir, "SELECT count(*) FROM worker_qualification_history")[0][0]
    loads = warehouse_rows(data_dir, "SELECT count(*) FROM warehouse_loads")[0][0]
    assert loads == 3 and history > len(current)
    shutil.copy(path, tmp_path / "good.duckdb")
    data = path.read_bytes()
    path.write_bytes(b"not a database" * 100 if damage == "garbage" else data[: len(data) // 2])

    fix = (
        f"Restore it from a backup, or move it away (e.g. `mv {path} {path}.broken`) and run "
        "`qual-pipeline refresh`, which builds a new warehouse from each type's newest snapshot "
        "in the lake: the current qualifications, requests and types come back, but the change "
        "history before them, the earlier loads and their check results are only in the old "
        "file."
    )
    code, output = sql(data_dir, "SELECT 1")
    assert code == 1
    assert output.startswith(f"error: The warehouse {path} cannot be opened as a DuckDB database (")
    assert output.count("error:") == 1 and " ".join(output.split()).endswith(fix)
    with pytest.raises(WarehouseLoadError) as failed:
        load_warehouse(local_stores(data_dir))
    assert str(failed.value).startswith(f"Nothing was loaded: The warehouse {path} cannot be")
    assert str(failed.value).endswith(fix)
    assert path.read_bytes()[:14] == (b"not a database" if damage == "garbage" else data[:14])

    # What the message says: moved away, a refresh (here its load) rebuilds the current state;
    # the history restarts from the newest snapshots, the earlier loads are gone.
    path.rename(f"{path}.broken")
    load(data_dir)
    assert warehouse_rows(data_dir, "SELECT * FROM worker_qualifications ORDER BY ALL") == current
    rebuilt = warehouse_rows(data_dir, "SELECT count(*) FROM worker_qualification_history")[0][0]
    assert rebuilt == len(current) < history
    assert warehouse_rows(data_dir, "SELECT count(*) FROM warehouse_loads") == [(1,)]
    # And the other way back: the backup restored is the warehouse as it was.
    shutil.copy(tmp_path / "good.duckdb", path)
    assert warehouse_rows(data_dir, "SELECT count(*) FROM warehouse_loads") == [(loads,)]


def test_a_first_load_on_a_full_disk_leaves_an_empty_file_the_next_load_replaces(
    small_disk: Path,
) -> None:
    data_dir = small_disk / "data"
    write_type(data_dir, SKILL, [worker("A", 10)], T1)
    filler = small_disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        with pytest.raises(OSError, match="No space left"):  # the disk full to the last byte
            while True:
                os.write(fd, b"\0" * 512)
    finally:
        os.close(fd)

    with pytest.raises(WarehouseLoadError) as failed:
        load_warehouse(local_stores(data_dir))
    path = data_dir / "warehouse.duckdb"
    assert str(failed.value).startswith(f"Nothing was loaded: Cannot open the warehouse {path}: ")
    assert "No space left on device" in str(failed.value)
    assert str(failed.value).endswith("Free space on that disk and try again.")
    assert path.stat().st_size == 0  # what DuckDB leaves: the state the other tests make directly

    filler.unlink()  # and more room: a new warehouse's schema alone takes most of 2MB
    subprocess.run(["mount", "-o", "remount,size=64M", str(small_disk)], check=True)
    steps, _ = load(data_dir)
    assert EMPTY_NOTICE in steps[0]
    assert warehouse_rows(data_dir, "SELECT worker_id FROM worker_qualifications") == [("A",)]


def test_a_load_committed_before_its_checkpoint_ran_out_of_disk_says_so_and_the_next_open_keeps_it(
    small_disk: Path, tmp_path: Path
) -> None:
    data_dir = small_disk / "data"
    data_dir.mkdir()
    (tmp_path / "lake").mkdir()
    (data_dir / "lake").symlink_to(tmp_path / "lake")  # the lake elsewhere: the disk holds DuckDB
    # 5,000 rows: the commit's log fits the 2MB disk, the checkpoint's blocks do not (2,000 and
    # 10,000 rows do the same; 80,000 fail within the commit and roll back).
    write_type(data_dir, SKILL, [worker(f"A{i:012d}", i % 100) for i in range(5000)], T1)
    with pytest.raises(WarehouseLoadError) as failed:
        load_warehouse(local_stores(data_dir))
    message = str(failed.value)
    path, wal = data_dir / "warehouse.duckdb", data_dir / "warehouse.duckdb.wal"
    (load_id,) = warehouse_rows(data_dir, "SELECT load_id FROM warehouse_loads")[
        0
    ]  # a query sees it
    assert message.startswith(
        f"Load {load_id} committed (1 new snapshot(s)), but writing it from the write-ahead log "
        f"{wal} into {path} (DuckDB's checkpoint) failed: FATAL Error: Failed to create checkpoint"
    )
    assert "No space left on device" in message
    assert message.endswith(
        "The log keeps it: queries see it, and the next refresh replays the log into the file. "
        f"Free space on the disk that holds {data_dir} first."
    )
    assert wal.stat().st_size > 0
    assert warehouse_rows(data_dir, "SELECT count(*) FROM worker_qualifications") == [(5000,)]

    subprocess.run(["mount", "-o", "remount,size=64M", str(small_disk)], check=True)
    write_type(data_dir, OTHER, [worker("X", 1)], T1)
    _, newest = load(data_dir)  # the next refresh's load
    assert not wal.exists()  # replayed into the file
    assert warehouse_rows(data_dir, "SELECT load_id FROM warehouse_loads ORDER BY seq") == [
        (load_id,),
        (newest,),
    ]
    assert warehouse_rows(data_dir, "SELECT count(*) FROM worker_qualifications") == [(5001,)]


@pytest.mark.parametrize("limit", ["1KB", "1MB", "31MB"])
def test_a_load_refuses_a_memory_limit_below_the_minimum_before_it_opens_anything(
    tmp_path: Path, limit: str
) -> None:
    data_dir = tmp_path / "data"
    write_type(data_dir, SKILL, [worker("A", 10)], T1)
    with pytest.raises(settings.ConfigurationError) as refused:
        load_warehouse(local_stores(data_dir), memory_limit=limit)
    assert str(refused.value) == (
        f"QUAL_PIPELINE_WAREHOUSE_MEMORY={limit!r} is less than a warehouse load needs: give it "
        f"at least {settings.WAREHOUSE_LOAD_MEMORY_MINIMUM} (the default is 256MB)"
    )
    assert not (data_dir / "warehouse.duckdb").exists()


def test_a_load_of_a_few_types_runs_within_the_minimum(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    write_type(data_dir, SKILL, [worker(f"A{i}", i % 100) for i in range(300)], T1)
    write_type(data_dir, OTHER, [worker("X", 1)], T1)
    load(data_dir, memory_limit=settings.WAREHOUSE_LOAD_MEMORY_MINIMUM)
    assert warehouse_rows(data_dir, "SELECT count(*) FROM worker_qualifications") == [(301,)]
