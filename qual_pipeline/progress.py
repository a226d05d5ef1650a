"""Progress of long work, reported to whoever listens in this process.

Assets call `report(...)` as pages arrive. The CLI, which runs the Dagster definitions in-process,
installs a listener that draws a progress bar; in the Dagster UI's run workers nobody listens and
the call costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    task: str  # e.g. "extract", "qualification_types" or "warehouse load"
    done: int  # pages, types or changes so far
    rows: int  # rows so far
    unit: str = "pages"  # "pages", "types", or the name of a step ("merge history: ...")
    total: int | None = None  # how many `unit` there are in all, when known
    failed: int = 0  # of `done`, how many failed
    stopped: int = 0  # of `done`, how many were not (or not wholly) done: the work was stopped
    recorded: int | None = None  # of the types extracted (done, not failed or stopped), how
    # many the caller has recorded (Dagster's events)
    seconds: float | None = None  # since the work itself began (rates), when the reporter knows

    @property
    def succeeded(self) -> int:
        """Of `done`, how many neither failed nor were stopped (types extracted, say)."""
        return self.done - self.failed - self.stopped


Listener = Callable[[Progress], None]
_listeners: list[Listener] = []


def report(progress: Progress) -> None:
    for listener in _listeners:
        listener(progress)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)
