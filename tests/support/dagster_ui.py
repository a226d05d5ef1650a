"""Waiting for a Dagster UI a test started (`dagster dev` or `qual-pipeline ui`) to answer."""

from __future__ import annotations

import contextlib
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
