"""Folders a child process cannot write (or read), for the configuration tests; a small disk
that fills up (a tmpfs).

The folder's mode does it: 0o555 (read, not write) or 0o000 (not even read). Permission bits do
not stop root, so when the tests run as root the child runs without the capabilities that let
root pass them (`setpriv --bounding-set=-dac_override,-dac_read_search`, util-linux). Either way
the child meets a real EACCES from the kernel, as a user with a read-only data folder does.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
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


@contextmanager
def small_disk(mount: Path, size: str = "2M") -> Iterator[Path]:
    """A tmpfs of `size` mounted at `mount` (created) for the block, then unmounted: a disk
    that fills up. Tests run as root (CI too)."""
    mount.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"these tests mount a tmpfs and run as root: {done.stderr}"
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def fill_disk(disk: Path, leave: int = 0) -> Path:
    """Fill the file system holding `disk` with one file, to its last byte or `leave` bytes
    short of it; returns the file (remove it to free the space)."""
    filler = disk / "filler.bin"
    chunk = b"\0" * 4096  # unbuffered: a write short of room writes what fits, the next fails
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(chunk)
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler
