"""Dagster processes a test starts (`dagster dev`, the webserver, the daemon, `qual-pipeline ui`): a
free port, waiting for the UI to answer, stopping the process groups."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path


def wait_for_ui(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    """Poll `url`/server_info until it answers 200; AssertionError with the process's log when
    the process exits first or nothing answers within `timeout_s` seconds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"the UI exited with {proc.returncode}; its log:\n{log.read_text()}"
            )
        with (
            contextlib.suppress(urllib.error.URLError, OSError),
            urllib.request.urlopen(f"{url}/server_info", timeout=2) as answer,
        ):
            if answer.status == 200:
                return
        time.sleep(0.5)
    raise AssertionError(f"the UI did not answer at {url} within {timeout_s}s")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """`sig` to a process that leads its own group (`dagster dev`, the daemon), up to 30 s for it
    to shut its services down, then SIGKILL to whatever is left of the group (code server, runs)."""
    stop_groups([proc], sig)


def stop_groups(procs: list[subprocess.Popen[bytes]], sig: int = signal.SIGTERM) -> None:
    """`stop_group` of each process at once (the webserver and the daemon shut down side by
    side): `sig` to every one, up to 30 s in all for them to exit, then SIGKILL to each group."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(sig)
    deadline = time.monotonic() + 30
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
