"""The warehouse file in states a user meets, through the installed `qual-pipeline` command on real
files: damaged (random bytes in a block, a file cut at its tail), a folder in its place, read-only
(its mode, or a read-only filesystem), empty with a write-ahead log beside it. Each is one message
naming the file and the fix, with the exit code of its kind, and a refresh refuses before any
MTurk call where it can know up front.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from support.folders import AS_A_USER, remount, small_disk
from support.mturk import (
    make_data,
    qualification,
    qualification_type,
    type_id,
)
from support.prepared import copy_of, refreshed_folder

from qual_pipeline.local_mturk.server import LocalMTurk

T1 = type_id(31)
REBUILD = (
    "and run `qual-pipeline refresh`, which builds a new warehouse from each type's newest "
    "snapshot in the lake: the current qualifications, requests and types come back, but the "
    "change history before them, the earlier loads and their check results are only in the old "
    "file."
)


def qual_pipeline(
    *args: str, env: dict[str, str] | None = None, prefix: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("qual-pipeline")
    return subprocess.run(
        [*(prefix or []), str(script), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {}), "COLUMNS": "400"},
        timeout=120,
    )


def world_data() -> dict[str, Any]:
    """12 workers of one type."""
    return make_data(
        types=[qualification_type(T1, "Accuracy")],
        qualifications=[qualification(i, 70 + i, qual_type_id=T1) for i in range(12)],
    )


def with_inputs(data_dir: Path, env: dict[str, str], server: Any, root: Path) -> dict[str, Any]:
    """The data folder with desired scores for a plan in root/inputs, the local MTurk it came from
    and the environment that reaches it."""
    inputs = root / "inputs"
    inputs.mkdir()
    worker = qualification(0, 70, qual_type_id=T1)["WorkerId"]
    (inputs / "desired_scores.csv").write_text(
        f"qualification_type_id,worker_id,integer_value\n{T1},{worker},99\n"
    )
    return {"data_dir": data_dir, "inputs": inputs, "env": env, "server": server}


@pytest.fixture(scope="module")
def refreshed_once(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One refresh of world_data() per test session (support.prepared: the first worker to ask
    makes it, the others copy it; it was one per worker, up to 4 in `make test`), and a local MTurk
    of the same data per worker for this module's tests that only read MTurk (each test counts its
    own calls to it)."""
    made = refreshed_folder(tmp_path_factory, "warehouse_file_cli", world_data(), columns=400)
    assert made["returncode"] == 0, made["stderr"]
    with LocalMTurk(data=world_data()) as server:
        yield {"data_dir": made["data_dir"], "server": server}


@pytest.fixture
def refreshed(refreshed_once: dict[str, Any], mturk_env: Any, tmp_path: Path) -> dict[str, Any]:
    """A refreshed data folder of its own (a copy of refreshed_once's: a refresh per test was
    24-44 s of each test's setup in a full run at load 12-14), desired scores for a plan, the
    local MTurk it came from (which no test using this fixture writes to) and the environment
    that reaches it."""
    data_dir = copy_of(refreshed_once["data_dir"], tmp_path / "data")
    server = refreshed_once["server"]
    return with_inputs(data_dir, mturk_env(server), server, tmp_path)


@pytest.fixture
def refreshed_here(local_mturk: Any, mturk_env: Any, tmp_path: Path) -> dict[str, Any]:
    """As `refreshed`, with a local MTurk and a refresh of its own, for a test that writes to
    MTurk."""
    server = local_mturk(data=world_data())
    env = mturk_env(server)
    data_dir = tmp_path / "data"
    done = qual_pipeline("refresh", "--data-dir", str(data_dir), env=env)
    assert done.returncode == 0, done.stderr
    return with_inputs(data_dir, env, server, tmp_path)


def commands(data: dict[str, Any], tmp_path: Path) -> dict[str, list[str]]:
    """Every command that reads the warehouse, as a user types it."""
    where = ["--data-dir", str(data["data_dir"])]
    return {
        "sql": ["sql", "SELECT * FROM worker_qualifications", *where],
        "export": ["export", "--website-csv", str(tmp_path / "workers.csv"), *where],
        "plan": ["plan", "--inputs-dir", str(data["inputs"]), *where],
    }


def used_blocks(path: Path, table: str | None = None) -> tuple[int, list[int]]:
    """(the block size, the blocks the database uses: `table`'s data blocks, or every block)."""
    with duckdb.connect(str(path), read_only=True) as con:
        (size,) = con.execute("SELECT block_size FROM pragma_database_size()").fetchone() or (0,)
        every = con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        tables = [table] if table else [t for (t,) in every]
        metadata = con.execute("SELECT block_id FROM pragma_metadata_info()").fetchall()
        blocks = set() if table else {b for (b,) in metadata}
        for name in tables:
            rows = con.execute(
                "SELECT block_id FROM pragma_storage_info(?) WHERE persistent", [name]
            ).fetchall()
            blocks.update(b for (b,) in rows if b >= 0)
    return size, sorted(blocks)


def damage(path: Path, how: str) -> None:
    """Random bytes written in the middle of worker_qualifications' block, or the file cut inside
    the last block the database uses: both files DuckDB still opens."""
    block_size, blocks = used_blocks(path, "worker_qualifications" if how == "corrupt" else None)
    start = 3 * 4096 + blocks[-1] * block_size
    if how == "corrupt":
        with path.open("r+b") as f:
            f.seek(start + block_size // 2)
            f.write(random.Random(7).randbytes(4096))
    else:
        os.truncate(path, start + 100)
    duckdb.connect(str(path), read_only=True).close()  # it opens all the same


@pytest.mark.slow(20)
@pytest.mark.parametrize("how", ["corrupt", "cut"])
def test_a_damaged_warehouse_that_opens_is_named_with_the_fix_by_every_command(
    refreshed: dict[str, Any], tmp_path: Path, how: str
) -> None:
    # Before: `sql` said "query failed: IO Error: Corrupt database file ...", `export` "could not
    # open the warehouse: ... Retry when the other process is done", `plan` blamed the desired
    # scores CSV ("sql/push_plan.sql failed on the rows of .../desired_scores.csv"), and on a file
    # cut at its tail `plan` saved a plan and exited 0.
    path = refreshed["data_dir"] / "warehouse.duckdb"
    damage(path, how)
    fix = f"Restore it from a backup, or move it away (e.g. `mv {path} {path}.broken`) {REBUILD}"
    for name, args in commands(refreshed, tmp_path).items():
        result = qual_pipeline(*args)
        assert result.returncode == 1, (name, result.stdout, result.stderr)
        assert result.stderr.startswith(
            f"error: The warehouse {path} is damaged: DuckDB cannot read it as a database (IO "
            "Error: "
        ), (name, result.stderr)
        assert result.stderr.rstrip().endswith(fix), (name, result.stderr)
        assert len(result.stderr.splitlines()) == 1, (name, result.stderr)
        assert "desired_scores" not in result.stderr and "Traceback" not in result.stderr
    server = refreshed["server"]
    before = sum(server.call_counts().values())
    again = qual_pipeline("refresh", "--data-dir", str(refreshed["data_dir"]), env=refreshed["env"])
    assert again.returncode == 1, again.stderr
    assert "_duckdb" not in again.stderr and "Traceback" not in again.stderr
    if how == "cut":  # found when the file is opened: refused before any MTurk call
        assert again.stderr.startswith(f"error: The warehouse {path} is damaged: DuckDB cannot")
        assert again.stderr.rstrip().endswith(fix)
        assert sum(server.call_counts().values()) == before
    else:  # in a data block the load reads: its one failure names the file and the fix
        failed = [line for line in again.stderr.splitlines() if line.startswith("failed:")]
        assert failed == [
            f"failed: warehouse: Nothing was loaded: The warehouse {path} is damaged: DuckDB "
            f"cannot read it as a database ({failed[0].split(' as a database (')[1]}"
        ]
        assert failed[0].endswith(fix) and "Corrupt database file" in failed[0]


@pytest.mark.slow(12)
def test_a_folder_where_the_warehouse_file_belongs_is_refused_up_front(
    refreshed: dict[str, Any], tmp_path: Path
) -> None:
    # Before: `sql` and `plan` said "No warehouse at ...: run `qual-pipeline refresh` first", and
    # `refresh` extracted every type from MTurk before it failed at the load.
    path = refreshed["data_dir"] / "warehouse.duckdb"
    path.unlink()
    (path / "inside").mkdir(parents=True)
    server = refreshed["server"]
    before = sum(server.call_counts().values())
    message = (
        f"error: {path} is a folder, not the warehouse file (a DuckDB file of that name): move it "
        f"away (e.g. `mv {path} {path}.folder`), or point --data-dir at another data folder, then "
        "run `qual-pipeline refresh`\n"
    )
    where = ["--data-dir", str(refreshed["data_dir"])]
    runs = {
        **commands(refreshed, tmp_path),
        "refresh": ["refresh", *where],
        "push": ["push", "--replan", "--inputs-dir", str(refreshed["inputs"]), *where],
    }
    for name, args in runs.items():
        result = qual_pipeline(*args, env=refreshed["env"])
        assert (result.returncode, result.stderr) == (2, message), name
    assert sum(server.call_counts().values()) == before  # no MTurk call
    assert sorted(p.name for p in path.iterdir()) == ["inside"]


@pytest.mark.slow(12)
def test_a_read_only_warehouse_file_is_refused_before_any_mturk_call(
    refreshed: dict[str, Any],
) -> None:
    # Before: `refresh` extracted every type, then its load failed on the read-only file.
    data_dir = refreshed["data_dir"]
    path = data_dir / "warehouse.duckdb"
    data_dir.chmod(0o755)
    path.chmod(0o444)
    server = refreshed["server"]
    before = sum(server.call_counts().values())
    try:
        for command in ("refresh", "push"):
            args = [command, "--data-dir", str(data_dir)]
            result = qual_pipeline(*args, env=refreshed["env"], prefix=AS_A_USER)
            assert result.returncode == 2, result.stderr
            assert result.stderr == (
                f"error: {path} is not writable (Permission denied): {command} writes the "
                f"warehouse there; make it writable (chmod u+w {path}), or point --data-dir at "
                "another data folder\n"
            )
    finally:
        path.chmod(0o644)
    assert sum(server.call_counts().values()) == before


@pytest.mark.slow(8)
def test_a_read_only_warehouse_file_of_another_user_names_its_owner(
    refreshed: dict[str, Any],
) -> None:
    # Before: "make it writable (chmod u+w ...)", which a user who does not own the file cannot do.
    data_dir = refreshed["data_dir"]
    path = data_dir / "warehouse.duckdb"
    data_dir.chmod(0o755)
    os.chown(path, 65534, -1)
    path.chmod(0o444)
    server = refreshed["server"]
    before = sum(server.call_counts().values())
    try:
        result = qual_pipeline(
            "refresh", "--data-dir", str(data_dir), env=refreshed["env"], prefix=AS_A_USER
        )
    finally:
        path.chmod(0o644)
        os.chown(path, os.geteuid(), -1)
    assert result.returncode == 2, result.stderr
    assert "chmod u+w" not in result.stderr
    assert result.stderr.startswith(f"error: {path} is not writable (Permission denied)")
    assert "it belongs to user id 65534: ask its owner to chown it to you" in result.stderr
    assert sum(server.call_counts().values()) == before


@pytest.mark.slow(12)
def test_a_data_folder_on_a_read_only_filesystem_says_so(
    refreshed: dict[str, Any], tmp_path: Path
) -> None:
    # Before: "... is not writable (Read-only file system): ...; make it writable (chmod u+w)",
    # which cannot help on a read-only mount.
    with small_disk(tmp_path / "disk", size="8M") as disk:
        data_dir = disk / "data"
        shutil.copytree(refreshed["data_dir"], data_dir)
        remount(disk, "ro")
        result = qual_pipeline("refresh", "--data-dir", str(data_dir), env=refreshed["env"])
        assert result.returncode == 2, result.stderr
        assert result.stderr == (
            f"error: --data-dir {data_dir} is on a read-only filesystem (Read-only file system): "
            "refresh writes the lake and warehouse.duckdb there; mount that filesystem "
            "read-write, or point --data-dir at a folder on a writable one\n"
        )
        assert "chmod" not in result.stderr
        # Reading is fine there.
        count = qual_pipeline(
            "sql", "SELECT count(*) AS n FROM worker_qualifications", "--data-dir", str(data_dir),
            "--output", "csv",
        )  # fmt: skip
        assert (count.returncode, count.stdout) == (0, "n\n12\n"), count.stderr


@pytest.mark.slow(16)
def test_an_empty_warehouse_file_with_a_log_beside_it_keeps_the_log_and_is_replaced(
    refreshed: dict[str, Any],
) -> None:
    # Before: "The warehouse ... cannot be opened as a DuckDB database ... the earlier loads and
    # their check results are only in the old file" (the file is empty), and moving the file away
    # as it said let DuckDB delete the log unread.
    data_dir = refreshed["data_dir"]
    path, wal = data_dir / "warehouse.duckdb", data_dir / "warehouse.duckdb.wal"
    with duckdb.connect(str(path)) as con:  # committed work left in the log, not checkpointed
        con.execute("PRAGMA disable_checkpoint_on_shutdown")
        con.execute("SET wal_autocheckpoint = '1GB'")
        con.execute("DELETE FROM worker_qualifications WHERE integer_value < 75")
    assert wal.stat().st_size > 0
    path.write_bytes(b"")
    log = wal.read_bytes()

    query = qual_pipeline("sql", "SELECT 1", "--data-dir", str(data_dir))
    assert query.returncode == 1
    assert query.stderr == (
        f"error: No warehouse at {path}: the file is empty (0 bytes), so nothing it held is left, "
        "and the write-ahead log beside it (warehouse.duckdb.wal) holds changes to what it held, "
        "which DuckDB does not replay without it. Run `qual-pipeline refresh`: it keeps the log "
        "aside as warehouse.duckdb.wal.orphaned and creates a new warehouse from the lake.\n"
    )

    again = qual_pipeline("refresh", "--data-dir", str(data_dir), env=refreshed["env"])
    assert again.returncode == 0, again.stderr
    assert (
        f"{path} was an empty file with a write-ahead log beside it: the file held nothing, and "
        "its log, which holds changes to what it held, is kept as warehouse.duckdb.wal.orphaned "
        "(not replayed); the file is replaced by a new warehouse"
    ) in again.stderr
    assert (data_dir / "warehouse.duckdb.wal.orphaned").read_bytes() == log
    count = qual_pipeline(
        "sql", "SELECT count(*) AS n FROM worker_qualifications", "--data-dir", str(data_dir),
        "--output", "csv",
    )  # fmt: skip
    assert (count.returncode, count.stdout) == (0, "n\n12\n"), count.stderr


@pytest.mark.slow(30)
def test_a_push_that_meets_a_damaged_warehouse_records_its_changes_once_it_is_rebuilt(
    refreshed_here: dict[str, Any], tmp_path: Path
) -> None:
    # Before: the push took the damage for a busy warehouse, waited 15 s, then said "could not
    # write the warehouse: IO Error: Corrupt database file ... run the push again when the
    # warehouse is free", which it never becomes.
    data_dir, env = refreshed_here["data_dir"], refreshed_here["env"]
    path = data_dir / "warehouse.duckdb"
    where = ["--data-dir", str(data_dir), "--inputs-dir", str(refreshed_here["inputs"])]
    planned = qual_pipeline("plan", *where, env=env)
    assert planned.returncode == 0, planned.stderr
    damage(path, "corrupt")  # a block the push writes, not one its checks read
    server = refreshed_here["server"]

    pushed = qual_pipeline("push", *where, env=env)
    assert pushed.returncode == 1, pushed.stderr
    assert pushed.stderr.startswith(f"error: The warehouse {path} is damaged: DuckDB cannot read")
    assert pushed.stderr.rstrip().endswith(
        "The changes sent so far are in the push journal, not in the warehouse: once it is "
        "restored or rebuilt, run `qual-pipeline push` again to record them and finish the plan."
    )
    assert "Traceback" not in pushed.stderr
    assert server.call_counts()["AssociateQualificationWithWorker"] == 1

    # The way back the messages give: move it away, refresh, push again.
    path.rename(f"{path}.broken")
    assert qual_pipeline("refresh", "--data-dir", str(data_dir), env=env).returncode == 0
    again = qual_pipeline("push", *where, env=env)
    assert again.returncode == 0, again.stderr
    assert server.call_counts()["AssociateQualificationWithWorker"] == 1  # sent once
    audit = qual_pipeline(
        "sql", "SELECT action, status, new_value FROM push_audit", "--data-dir", str(data_dir),
        "--output", "csv",
    )  # fmt: skip
    assert audit.stdout.splitlines()[1:] == ["update,verified,99"], audit.stdout + audit.stderr
