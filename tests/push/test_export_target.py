"""`export --website-csv FILE` never writes over what it must not: the data folder's files (the
warehouse, the push journal, the lake), DAGSTER_HOME, a file that is not a worker CSV, or an
existing worker CSV without --overwrite. Through the CLI, on a loaded warehouse."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from push_helpers import World, file_digest
from support.mturk import type_id, worker_id
from typer.testing import CliRunner

from qual_pipeline.cli import app

T1 = type_id(71)
W = [worker_id(i) for i in range(3)]


def export(data_dir: Path, target: Path | str, *more: str, home: Path | None = None):
    env = {"COLUMNS": "200", "DAGSTER_HOME": str(home) if home else None}
    return CliRunner().invoke(
        app, ["export", "--data-dir", str(data_dir), "--website-csv", str(target), *more], env=env
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    World(types=[T1], qualifications=[(T1, w, "Granted", 5) for w in W]).warehouse(
        tmp_path / "data"
    )
    (tmp_path / "data" / "push_journal.sqlite").write_bytes(b"SQLite format 3\0journal")
    return tmp_path / "data"


def test_the_data_folders_files_are_never_written_over(data_dir: Path, tmp_path: Path) -> None:
    # The warehouse became a 53 KB CSV (history and push_audit gone), exit 0; the journal too.
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    (tmp_path / "link.csv").symlink_to(data_dir / "warehouse.duckdb")
    targets = [
        data_dir / "warehouse.duckdb",
        data_dir / "push_journal.sqlite",
        data_dir / "new.csv",  # inside the data folder, even a new file
        home / "dagster.yaml",
        tmp_path / "link.csv",  # a link into the data folder
    ]
    before = {p: file_digest(p) for p in targets if p.exists()}
    for target in targets:
        for more in ((), ("--overwrite",)):
            result = export(data_dir, target, *more, home=home)
            assert result.exit_code == 2, (target, result.output)
            folder = home if target.parent == home else data_dir
            assert result.output.startswith(f"error: {target} is inside {folder}"), result.output
            assert "choose a file in another folder" in result.output
            assert len(result.output.strip().splitlines()) == 1, result.output
    assert {p: file_digest(p) for p in before} == before
    assert not (data_dir / "new.csv").exists()
    assert sorted(p.name for p in data_dir.iterdir() if p.name.startswith(".")) == []


def test_an_existing_file_is_replaced_only_if_a_worker_csv_and_with_overwrite(
    data_dir: Path, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    refused = export(data_dir, notes, "--overwrite")
    assert refused.exit_code == 2
    assert refused.output.strip() == (
        f"error: {notes} exists and is not a worker CSV (its first cell is not 'Worker ID'), "
        "so the export does not replace it: choose a new file name"
    )
    assert notes.read_text() == "my notes\n"

    workers = tmp_path / "workers.csv"
    assert export(data_dir, workers).exit_code == 0
    first = workers.read_text(encoding="utf-8")
    assert first.splitlines()[0] == "Worker ID,CURRENT-type 0071,UPDATE-type 0071"
    edited = first.replace(f"{W[0]},5,", f"{W[0]},5,9")
    workers.write_text(edited, encoding="utf-8")
    again = export(data_dir, workers)
    assert again.exit_code == 2
    assert again.output.strip() == (
        f"error: {workers} exists: pass --overwrite to replace it (your edits in its UPDATE- "
        "cells would be lost), or choose a new file name"
    )
    assert workers.read_text(encoding="utf-8") == edited
    replaced = export(data_dir, workers, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert workers.read_text(encoding="utf-8") == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "notes.txt", "workers.csv"]


def test_a_failed_export_leaves_the_old_file(data_dir: Path, tmp_path: Path) -> None:
    # The file size limit (ulimit -f) makes the write fail after its first bytes, as a full
    # disk would: the old file stays whole and no temporary file is left.
    workers = tmp_path / "workers.csv"
    old = "Worker ID,CURRENT-x,UPDATE-x\nA1,1,2\n"
    workers.write_text(old, encoding="utf-8")

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (40, 40))

    script = str(Path(sys.executable).with_name("qual-pipeline"))
    command = [script, "export", "--data-dir", str(data_dir), "--website-csv", str(workers)]
    result = subprocess.run(
        [*command, "--overwrite"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        preexec_fn=small_files,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(f"error: cannot write {workers}: File too large"), result
    assert "Traceback" not in result.stderr
    assert workers.read_text(encoding="utf-8") == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "workers.csv"]


def test_a_missing_folder_is_bad_usage(data_dir: Path, tmp_path: Path) -> None:
    # Before: exit 1 (the write failed), while every other refused target exits 2.
    target = tmp_path / "no_such_folder" / "workers.csv"
    missing = export(data_dir, target)
    assert missing.exit_code == 2, missing.output
    assert missing.output.strip() == (
        f"error: {target}: its folder {target.parent} does not exist: create the folder first, "
        "or choose a file in an existing folder"
    )
    (tmp_path / "a_file").write_text("x")
    under_a_file = export(data_dir, tmp_path / "a_file" / "workers.csv")
    assert under_a_file.exit_code == 2, under_a_file.output
    assert "its folder" in under_a_file.output and "is not a folder" in under_a_file.output
    assert not target.parent.exists()
