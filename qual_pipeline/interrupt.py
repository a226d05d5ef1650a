"""The process-wide "stop" a signal handler raises: plain state, safe to set from a handler.

`qual-pipeline refresh` (and any command that wants to stop cleanly) calls `stop(reason)` from its
SIGINT / SIGTERM handler. From then on every MTurk client of the process refuses to send a request
(`mturk_api.client`), long work checks `stopped()` at its safe points (the warehouse load between
its steps, before anything is committed), and waits that honour it end early (`wait`).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_event = threading.Event()
_reason = ["stopped"]


def stop(reason: str = "interrupted") -> None:
    """Ask everything in this process to stop; `reason` is what refused work reports."""
    _reason[0] = reason
    _event.set()


def clear() -> None:
    """Forget a stop (a command that handled it and goes on, or a test)."""
    _event.clear()


def stopped() -> str | None:
    """The reason given to `stop`, or None while work may go on."""
    return _reason[0] if _event.is_set() else None


def wait(seconds: float) -> bool:
    """Sleep up to `seconds`, ending early on a stop; True when stopped."""
    return _event.wait(seconds)


class Interrupted(RuntimeError):
    """Work that was refused or abandoned because the process was told to stop."""


@contextmanager
def stopping_on_signals() -> Iterator[list[int]]:
    """Inside the block SIGINT and SIGTERM stop the work (`stop`) instead of killing the process;
    yields the list the caught signal numbers are appended to. A second signal ends the process at
    once with the conventional code (128 + the signal). Outside the main thread (a test runner's
    worker) nothing is installed. The stop is cleared when the block ends."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        if caught:
            os._exit(128 + signum)
        caught.append(signum)
        stop(f"interrupted by {signal.Signals(signum).name}")

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield caught
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        clear()
