"""A run's own working folder (shared profile): new and empty, the process's working directory and
temporary folder while it lasts, then removed with whatever was written in it, even on an error;
relative settings keep meaning the folder the process started in."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from dagster import DagsterInstance, asset, materialize, mem_io_manager

from qual_pipeline.defs.resources import PipelineConfig
from qual_pipeline.stores.profile import own_working_folder


def test_the_folder_is_new_empty_current_and_removed_even_on_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seen: list[Path] = []
    with (
        pytest.raises(RuntimeError, match="mid-run"),
        own_working_folder("run-1234abcd") as folder,
    ):
        seen.append(folder)
        assert folder.parent == tmp_path.resolve()
        assert list(folder.iterdir()) == []
        assert Path.cwd() == folder
        assert Path(tempfile.gettempdir()) == folder
        Path("spill.tmp").write_text("x")  # a relative write lands in the folder
        with tempfile.NamedTemporaryFile(delete=False) as scratch:
            assert Path(scratch.name).parent == folder
        raise RuntimeError("mid-run")
    assert Path.cwd() == tmp_path
    assert tempfile.gettempdir() == str(tmp_path)
    assert not seen[0].exists()
    assert list(tmp_path.iterdir()) == []


def test_shared_profile_runs_work_in_their_own_folder_and_resolve_inputs_from_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Path] = {}

    @asset
    def probe(pipeline: PipelineConfig) -> None:
        seen["cwd"] = Path.cwd()
        seen["inputs"] = pipeline.inputs_path

    def run(storage: str | None) -> None:
        config = PipelineConfig(storage=storage, inputs_dir="inputs")
        result = materialize(
            [probe], resources={"pipeline": config, "io_manager": mem_io_manager}, instance=instance
        )
        assert result.success

    with DagsterInstance.ephemeral() as instance:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
        run("s3://bucket/prefix")
        assert seen["cwd"].parent == tmp_path.resolve()
        assert seen["cwd"].name.startswith("qual_pipeline-run-")
        assert seen["inputs"] == tmp_path.resolve() / "inputs"
        assert Path.cwd() == tmp_path and os.listdir(tmp_path) == []
        # The local profile keeps the folder it was started in (its data folder is relative).
        run(None)
        assert seen["cwd"] == tmp_path
