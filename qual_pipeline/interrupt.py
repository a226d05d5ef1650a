"""The process-wide "stop" a signal handler raises: plain state, safe to set from a handler.

`qual-pipeline refresh` (and any command that wants to stop cleanly) calls `stop(reason)` from its
SIGINT / SIGTERM handler. From then on every MTurk client of the process refuses to send a request
(`mturk_api.client`), long work checks `stopped()` at its safe points (the warehouse load between
its steps, before anything is committed), and waits that honour it end early (`wait`).
"""

from __future__ import annotations

import threading

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
