"""Give memory this process freed back to the system, so a refresh's peak does not grow with rows.

Memory a process frees is not necessarily returned: glibc's malloc keeps freed chunks in its
arenas (one per thread, up to eight per core) for reuse, and Arrow's memory pool (mimalloc or
jemalloc) keeps freed pages too. Both are reused within the process, but they stay in its
resident set. An extraction of millions of rows frees a lot in bursts (each de-duplicating sort
and the snapshot written from it), and what glibc kept grew with the rows: 98 MB at about 400,000
rows and 284 MB at about 4,000,000 in a refresh of 5 types (free in its arenas, by mallinfo2),
carried into the warehouse load that ran next in the same process.

`release_free_memory()` hands it back: Arrow's pool `release_unused()`, then glibc's
`malloc_trim(0)`, which returns the free pages of every arena, not only the top of the heap.
Both are cheap (milliseconds) and harmless to allocations in use; on a system without glibc
(macOS, musl) the second step does nothing.

`use_system_arrow_pool()` makes Arrow allocate through the C library's malloc instead of its bundled
mimalloc, which kept freed pages per thread; through malloc the trim above returns them. Measured on
a refresh of about 4,000,000 rows over 5 types (warehouse memory 128MB, one run each): peak RSS 596
MB with the system pool, 676-698 MB with mimalloc. A pool chosen by the user
(ARROW_DEFAULT_MEMORY_POOL) is kept.

`limit_malloc_arenas()` has the process's threads share two malloc arenas: with one per thread, each
kept some 40 MB resident that malloc_trim did not return, and a refresh of about 4,000,000 rows
carried 546 MB into its load against 348 MB with two arenas (peak 870 MB against 665 MB, warehouse
memory 256MB, one run each). A count chosen by the user (MALLOC_ARENA_MAX) is kept.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from functools import cache

_lock = threading.Lock()
M_ARENA_MAX = -8
"""mallopt's parameter number for the most arenas glibc's malloc creates (malloc.h)."""
MALLOC_ARENAS = 2
"""Arenas an extraction's threads share (glibc's default: eight per core, one per thread here)."""


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


@cache
def _malloc_trim() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    """glibc's malloc_trim, or None where the C library has none."""
    libc = _libc()
    try:
        trim = libc.malloc_trim if libc is not None else None
    except AttributeError:  # not glibc
        return None
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_memory() -> bool:
    """Return the memory this process freed (Arrow's pool, glibc's arenas) to the system.

    Returns True when glibc's malloc_trim ran (False where the C library is not glibc: Arrow's
    pool was still released). Safe to call from any thread at any time; calls are serialized.
    """
    import pyarrow as pa  # here, not at the top: the command line imports this module

    with _lock:
        pa.default_memory_pool().release_unused()
        trim = _malloc_trim()
        if trim is None:
            return False
        trim(0)
        return True


def use_system_arrow_pool() -> None:
    """Make the C library's malloc Arrow's default memory pool for this process, unless
    ARROW_DEFAULT_MEMORY_POOL chose one. Idempotent; call before the allocations it should
    cover (buffers already allocated stay in the pool that allocated them)."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    import pyarrow as pa

    system = pa.system_memory_pool()
    if pa.default_memory_pool().backend_name != system.backend_name:
        pa.set_memory_pool(system)


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Have glibc's malloc create at most `arenas` arenas from now on, unless MALLOC_ARENA_MAX
    chose a number. Threads then share arenas instead of keeping one each: a thread's arena kept
    pages resident that malloc_trim did not return, and eight extraction threads kept one each.
    The GIL serializes most allocations anyway. True when it was set."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None) if libc is not None else None
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))
