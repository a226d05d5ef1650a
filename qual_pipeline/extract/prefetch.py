"""Fetch the next API page while the current one is normalised and staged.

Paging is sequential (each request needs the previous NextToken), but a page's network wait, the
time the server takes to answer, does not have to be idle: a background thread runs the paginator
a few pages ahead, so extraction costs about what a bare paginator loop costs. The thread is
stopped when the consumer stops, and its exception, if any, is raised in the consumer.

The thread starts only after the first `after` items, read in the caller's thread, and only when
another request is due (`pending`, when the caller can tell): a small partition (one or two pages,
most of them when a requester owns thousands of types) costs no thread at all. The thread runs
in a copy of the caller's context, so per-extraction API counters (`mturk_api.client.
counting_into`) see its calls.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
DEFAULT_DEPTH = 2
_DONE = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(
    items: Iterable[T],
    depth: int = DEFAULT_DEPTH,
    after: int = 0,
    pending: Callable[[], bool] | None = None,
) -> Iterator[T]:
    """Iterate `items`: the first `after` in the caller's thread, the rest from a background
    thread at most `depth` items ahead of the consumer. `pending`, when given, tells whether
    iterating further waits on anything (another request): when it does not after the first
    `after` items, the rest are read in the caller's thread too, with no thread started."""
    items = iter(items)
    for _ in range(after):
        try:
            first = next(items)
        except StopIteration:
            return
        yield first
    if pending is not None and not pending():
        yield from items  # nothing left to wait for: a thread would cost more than it saves
        return
    buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as error:  # handed to the consumer, raised there
            put(_Failure(error))
            return
        put(_DONE)

    context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run, args=(produce,), name="page-prefetch", daemon=True
    )
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()
