"""The page prefetcher keeps order, hands errors to the consumer and stops with it."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from qual_pipeline.extract.prefetch import prefetched


def test_items_arrive_in_order() -> None:
    assert list(prefetched(range(50), depth=3)) == list(range(50))


def test_an_error_in_the_producer_is_raised_in_the_consumer_after_the_good_items() -> None:
    def pages() -> Iterator[int]:
        yield 1
        yield 2
        raise ConnectionError("dropped")

    seen: list[int] = []
    with pytest.raises(ConnectionError, match="dropped"):
        for item in prefetched(pages()):
            seen.append(item)
    assert seen == [1, 2]


def test_stopping_early_stops_the_producer_within_depth() -> None:
    produced: list[int] = []

    def pages() -> Iterator[int]:
        for i in range(1000):
            produced.append(i)
            yield i

    for item in prefetched(pages(), depth=2):
        if item == 5:
            break
    assert not [t for t in threading.enumerate() if t.name == "page-prefetch"]
    assert len(produced) <= 5 + 1 + 2 + 1  # consumed, plus at most the buffer and one in hand


def test_the_first_items_come_from_the_callers_thread_and_a_short_list_starts_no_thread() -> None:
    threads: list[str] = []

    def pages(n: int) -> Iterator[int]:
        for i in range(n):
            threads.append(threading.current_thread().name)
            yield i

    before = threading.active_count()
    assert list(prefetched(pages(2), after=2)) == [0, 1]
    assert threads == [threading.current_thread().name] * 2
    assert threading.active_count() == before
    threads.clear()
    assert list(prefetched(pages(5), after=2)) == [0, 1, 2, 3, 4]
    assert threads[:2] == [threading.current_thread().name] * 2
    assert set(threads[2:]) == {"page-prefetch"}


def test_no_thread_starts_when_nothing_more_is_pending_after_the_first_items() -> None:
    """A type of one page per call: the caller can tell nothing more is due, so the rest (the
    end of the iterator) is read in its own thread, and no thread is started."""
    threads: list[str] = []
    state = {"left": 0}

    def pages(n: int) -> Iterator[int]:
        state["left"] = n
        for i in range(n):
            state["left"] -= 1
            threads.append(threading.current_thread().name)
            yield i

    started: list[str] = []
    original = threading.Thread.start

    def recording_start(self: threading.Thread) -> None:
        started.append(self.name)
        original(self)

    threading.Thread.start = recording_start  # type: ignore[method-assign]
    try:
        assert list(prefetched(pages(2), after=1, pending=lambda: state["left"] > 0)) == [0, 1]
        assert started == ["page-prefetch"]  # one more page was due after the first: a thread
        started.clear()
        threads.clear()
        assert list(prefetched(pages(2), after=2, pending=lambda: state["left"] > 0)) == [0, 1]
        assert started == []  # both read, nothing pending: no thread
        assert threads == [threading.current_thread().name] * 2
    finally:
        threading.Thread.start = original  # type: ignore[method-assign]
