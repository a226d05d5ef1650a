"""Run the local MTurk as a child process, for `demo`, `ui` and tests that need a real server.

The pipeline talks to it only over HTTP, exactly as to MTurk: this module starts the `qual-pipeline
local-mturk serve` command and reads the endpoint URL it prints; it imports nothing from it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LocalMTurkProcess:
    endpoint_url: str
    pid: int


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "qual_pipeline.cli", *args]


def generate_data(out: Path, *, workers: int, types: int, seed: int) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = cli_command(
        "local-mturk", "generate", "--workers", str(workers), "--types", str(types),
        "--seed", str(seed), "--out", str(out),
    )  # fmt: skip
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def requester_credentials(data_file: Path) -> tuple[str, str]:
    """The first requester's key pair from a local MTurk data file (kept in memory, never shown)."""
    requester = json.loads(data_file.read_text())["requesters"][0]
    return requester["AccessKeyId"], requester["SecretAccessKey"]


@contextmanager
def local_mturk(
    *, data: Path | None = None, state: Path | None = None, extra: list[str] | None = None
) -> Iterator[LocalMTurkProcess]:
    args = ["local-mturk", "serve", "--port", "0"]
    if data is not None:
        args += ["--data", str(data)]
    if state is not None:
        args += ["--state", str(state)]
    proc = subprocess.Popen(cli_command(*args, *(extra or [])), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("http://"):
            proc.kill()
            raise RuntimeError(f"the local MTurk did not start (it printed {line!r})")
        # Keep reading what it prints, so a chatty server never blocks on a full pipe.
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        yield LocalMTurkProcess(endpoint_url=line, pid=proc.pid)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
