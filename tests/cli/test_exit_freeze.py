"""The console script leaves the objects a command built out of the interpreter's last garbage
collection (`qual_pipeline.entry`: `gc.freeze` once the command returns), whatever the command's
exit code; the exit code itself is unchanged."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import atexit, gc, sys
atexit.register(lambda: print("frozen", gc.get_freeze_count(), flush=True))
sys.argv = ["qual-pipeline", *sys.argv[1:]]
from qual_pipeline.entry import main
main()
"""


@pytest.mark.parametrize(("args", "code"), [(["--help"], 0), (["no-such-command"], 2)])
def test_the_objects_left_at_exit_are_frozen_and_the_exit_code_kept(
    args: list[str], code: int
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == code, done.stderr
    frozen = [line for line in done.stdout.splitlines() if line.startswith("frozen ")]
    assert len(frozen) == 1, done.stdout
    assert int(frozen[0].split()[1]) > 10_000, frozen
