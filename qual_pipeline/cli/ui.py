"""`qual-pipeline ui` (what `make ui` runs): a local MTurk and the Dagster UI in front of it.

The local MTurk keeps its state in <data_dir>/local_mturk.sqlite, so what you push survives a
restart like on the real service. Dagster keeps its runs in DAGSTER_HOME (the project's
dagster_home/ unless set).

Ctrl-C (SIGINT) and SIGTERM (what systemd or `docker stop` send) stop everything it started:
`dagster dev` runs in a process group of its own and is told to shut its webserver, daemon and code
server down; whatever of that group is still alive after DEV_STOP_TIMEOUT_S is killed; then the
local MTurk stops. The port is free when the command exits, with 130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import IO, Annotated, TextIO

import typer

from qual_pipeline import settings
from qual_pipeline.cli import preflight
from qual_pipeline.cli.options import SettingValues, takes_settings
from qual_pipeline.cli.render import err, out

DEV_STOP_TIMEOUT_S = 30.0
"""How long `dagster dev` may take to shut its services down before its process group is killed."""


@takes_settings("ui")
def ui(
    port: Annotated[int, typer.Option(help="Port of the Dagster UI.")] = 3000,
    workers: Annotated[int, typer.Option(min=10, help="Workers in the local data set.")] = 3000,
    types: Annotated[int, typer.Option(min=1, max=20, help="Qualification types.")] = 4,
    *,
    values: SettingValues,
) -> None:
    """Start a local MTurk and the Dagster UI (dagster dev) on dagster_home/ and workspace.yaml."""
    preflight.check_environment()  # e.g. QUAL_PIPELINE_SCHEDULE_CRON, which the UI's code reads
    raise typer.Exit(
        run_ui(
            port=port,
            data_dir=Path(values[settings.DATA_DIR.name]).resolve(),
            workers=workers,
            types=types,
            api_concurrency=values[settings.API_CONCURRENCY.name],
        )
    )


def dagster_dev_command(port: int) -> list[str]:
    target = ["-w", "workspace.yaml"] if Path("workspace.yaml").is_file() else [
        "-m", "qual_pipeline.definitions"
    ]  # fmt: skip
    dagster = Path(sys.executable).with_name("dagster")
    return [str(dagster), "dev", *target, "-h", "127.0.0.1", "-p", str(port)]


ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
"""A terminal control sequence (colour, cursor), as Dagster's coloured log lines carry them."""


def plain_copy(pipe: IO[bytes], stream: TextIO) -> threading.Thread:
    """A daemon thread copying `pipe` (a child's output) to `stream` line by line without
    terminal control sequences (ANSI), until the pipe closes."""

    def copy() -> None:
        target = getattr(stream, "buffer", None)
        with contextlib.suppress(OSError, ValueError):
            for line in pipe:
                plain = ANSI.sub(b"", line)
                if target is not None:
                    target.write(plain)
                    target.flush()
                else:
                    stream.write(plain.decode(errors="replace"))
                    stream.flush()

    thread = threading.Thread(target=copy, name="dagster-dev-output", daemon=True)
    thread.start()
    return thread


class Stopped(Exception):
    """SIGINT or SIGTERM arrived; `signum` is the signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # One stop at a time: the shutdown that follows is not interrupted by a second signal.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Stopped(signum)


def stop_process_group(proc: subprocess.Popen[bytes], timeout: float = DEV_STOP_TIMEOUT_S) -> None:
    """Stop `proc`, the leader of its own process group: SIGTERM to it (`dagster dev` then shuts
    its services down), up to `timeout` seconds to exit, then SIGKILL to whatever of the group is
    left (a run worker, a code server)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def run_ui(*, port: int, data_dir: Path, workers: int, types: int, api_concurrency: int) -> int:
    """Serve the UI until `dagster dev` exits or a signal stops it; the exit code: dagster dev's,
    or 128 + the signal (130 SIGINT, 143 SIGTERM) with every child process stopped."""
    handlers = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _serve(port=port, data_dir=data_dir, workers=workers, types=types,
                      api_concurrency=api_concurrency)  # fmt: skip
    except Stopped as stopped:
        err.print(f"interrupted ({stopped}): the Dagster UI and the local MTurk are stopped")
        return 128 + stopped.signum
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def _serve(*, port: int, data_dir: Path, workers: int, types: int, api_concurrency: int) -> int:
    from qual_pipeline.cli.preflight import check_dagster_home, open_dagster_instance
    from qual_pipeline.defs.pools import set_pool_limits
    from qual_pipeline.local_process import generate_data, local_mturk, requester_credentials

    default = Path("dagster_home").resolve()
    os.environ.setdefault("DAGSTER_HOME", str(default))
    check_dagster_home(
        create=True, unset=str(default)
    )  # a relative path, a file or a bad dagster.yaml: exit 2
    instance = open_dagster_instance(note_missing_limits=True)
    dataset = data_dir / "local_mturk.json"
    if not dataset.exists():
        out.print(f"generating a local MTurk data set: {workers} workers, {types} types")
        generate_data(dataset, workers=workers, types=types, seed=2026)
    key, secret = requester_credentials(dataset)
    set_pool_limits(instance, api_concurrency)
    with local_mturk(data=dataset, state=data_dir / "local_mturk.sqlite") as server:
        env = {
            **os.environ,
            settings.ENDPOINT_URL.env: server.endpoint_url,
            "AWS_ACCESS_KEY_ID": key,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_DEFAULT_REGION": "us-east-1",
            settings.DATA_DIR.env: str(data_dir),
        }
        env.pop("AWS_PROFILE", None)
        out.print(f"local MTurk: {server.endpoint_url}")
        out.print(f"Dagster UI:  http://127.0.0.1:{port}  (Ctrl-C or SIGTERM stops both)")
        # Its own session: a signal reaches it once, from here, and its group can be ended whole.
        # Off a terminal Dagster's own log lines pass through `plain_copy` (no colour codes).
        piped = {
            name: subprocess.PIPE if not stream.isatty() else None
            for name, stream in (("stdout", sys.stdout), ("stderr", sys.stderr))
        }
        dev = subprocess.Popen(dagster_dev_command(port), env=env, start_new_session=True, **piped)
        copies = [
            plain_copy(pipe, stream)
            for pipe, stream in ((dev.stdout, sys.stdout), (dev.stderr, sys.stderr))
            if pipe is not None
        ]
        try:
            return dev.wait()
        finally:
            stop_process_group(dev)
            for copy in copies:
                copy.join(timeout=5.0)
