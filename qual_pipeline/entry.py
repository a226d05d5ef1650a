"""The `qual-pipeline` console script: signal handling first, then the command line.

A command imports what it needs (Dagster, DuckDB, boto3) when it starts: a second or more (the
command line alone, for --help or a usage error, imports none of them). A Ctrl-C or a SIGTERM
in that time used to end in a KeyboardInterrupt traceback, or silently. This module
imports only the standard library, so its handlers are in place as soon as Python has started
(before that, Python's own start, 0.14 s at load 18, is out of any package's reach). When the
command returns, the objects it leaves are frozen (`gc.freeze`), so that the interpreter's exit
does not walk them all in a last collection.

Wherever a command has not installed handlers of its own (refresh, plan, push and ui stop cleanly
with theirs), SIGINT or SIGTERM prints one line, `interrupted (SIGINT)` / `interrupted (SIGTERM)`,
and the exit code is 130 / 143: while the command line is imported (nothing has been done yet) the
process exits at once; after that SIGINT raises KeyboardInterrupt, as Python's own handler does,
so `finally` blocks still run (typer turns it into exit 130), and SIGTERM exits at once, as its
default disposition did, now with the line. (`python -m qual_pipeline.cli` imports the command
line before its `__main__` runs: it gets the handlers only once it is imported.)
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
from types import FrameType


def _say(signum: int) -> None:
    """The one line: `interrupted (SIGINT)` on stderr."""
    with contextlib.suppress(OSError):  # stderr closed: the exit code still says it
        os.write(2, f"interrupted ({signal.Signals(signum).name})\n".encode())


def _stop(signum: int, _frame: FrameType | None) -> None:
    """While the command line is imported, and for SIGTERM after: the line, exit 128 + signum."""
    _say(signum)
    os._exit(128 + signum)


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    """SIGINT once the command line is imported: the line, then KeyboardInterrupt (exit 130)."""
    _say(signum)
    raise KeyboardInterrupt


def main() -> None:
    """Install the handlers, then import and run the command line."""
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    from qual_pipeline.cli.app import main as run

    signal.signal(signal.SIGINT, _interrupt)
    try:
        run()
    finally:
        # The objects alive now (Dagster, DuckDB, pyarrow, boto3, matplotlib: several hundred
        # thousand after a refresh) are left out of the full garbage collection Python's
        # shutdown runs over them all: 1 to 4 s of a refresh's wall time on this machine
        # (bench/bench_refresh.py). They are freed at exit as before; exit handlers still run.
        gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
