"""Folders a child process cannot write (or read), for the configuration tests.

The folder's mode does it: 0o555 (read, not write) or 0o000 (not even read). Permission bits do
not stop root, so when the tests run as root the child runs without the capabilities that let
root pass them (`setpriv --bounding-set=-dac_override,-dac_read_search`, util-linux). Either way
the child meets a real EACCES from the kernel, as a user with a read-only data folder does.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

AS_A_USER = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


@contextmanager
def locked_folder(readable: bool) -> Iterator[tuple[Path, list[str]]]:
    """(a folder the child may read but not write, or neither; the words to put before the
    child's command so that the folder's mode binds it); removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="qual-pipeline-locked-"))
    folder = base / "data"
    folder.mkdir()
    (folder / "notes.txt").write_text("a file a user keeps here\n")
    folder.chmod(0o555 if readable else 0o000)
    try:
        yield folder, AS_A_USER if os.geteuid() == 0 else []
    finally:
        folder.chmod(stat.S_IRWXU)
        shutil.rmtree(base)
