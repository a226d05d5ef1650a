"""`qual-pipeline export --website-csv` names what is wrong with a path that is no file path: an
empty value says the option needs one (it used to say "file '' is a directory"), a folder says to
name a file in it; exit 2, before the warehouse is read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("qual-pipeline")


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("", "the option needs a file path, not an empty value: e.g. --website-csv workers.csv"),
        ("  ", "the option needs a file path, not an empty value: e.g. --website-csv workers.csv"),
        ("{folder}", "'{folder}' is a folder: name a file, e.g. {folder}/workers.csv"),
    ],
)
def test_an_empty_or_folder_path_is_named(tmp_path: Path, value: str, said: str) -> None:
    value, said = value.format(folder=tmp_path), said.format(folder=tmp_path)
    done = subprocess.run(
        [str(SCRIPT), "export", "--website-csv", value, "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
        timeout=60,
    )
    assert done.returncode == 2
    assert f"Error: Invalid value for '--website-csv': {said}\n" in done.stderr
    assert "Traceback" not in done.stderr
    assert "is a directory" not in done.stderr
