"""Memory an extraction frees goes back to the system (qual_pipeline.memory), in fresh processes:
the Arrow pool is process-wide state."""

from __future__ import annotations

import json
import os
import subprocess
import sys

CHILD = """
import json, os, sys
import pyarrow as pa
from qual_pipeline.memory import release_free_memory, use_system_arrow_pool

def rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024

use_system_arrow_pool()
report = {"pool": pa.default_memory_pool().backend_name}
if sys.argv[1] == "release":
    # 200 MB in 100,000 Arrow buffers of 2 KB (malloc's heap, not mmap), the last kept: the
    # freed space lies below a live allocation, where freeing alone returns nothing.
    buffers = [pa.allocate_buffer(2048) for _ in range(100_000)]
    kept = buffers.pop()
    held = rss_mb()
    del buffers
    freed = rss_mb()
    report["trimmed"] = release_free_memory()
    report |= {"held": held, "freed": freed, "released": rss_mb(), "kept": kept.size}
print(json.dumps(report))
"""


def _child(mode: str, **env: str) -> dict:
    base = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode],
        capture_output=True, text=True, env={**base, **env}, timeout=120, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_arrow_allocates_through_malloc_so_freed_buffers_can_be_returned():
    assert _child("pool")["pool"] == "system"


def test_an_arrow_pool_the_user_chose_is_kept():
    assert _child("pool", ARROW_DEFAULT_MEMORY_POOL="mimalloc")["pool"] == "mimalloc"


def test_freed_arrow_buffers_below_a_live_one_go_back_to_the_system():
    report = _child("release")
    assert report["trimmed"] is True  # glibc: malloc_trim ran
    grown = report["held"] - report["released"]
    # Most of the ~200 MB the buffers held is resident no more once released, though freeing
    # them alone kept it (the kept buffer lies above them).
    assert grown > 150, report
    assert report["freed"] - report["released"] > 100, report


ARENAS_CHILD = """
import ctypes, ctypes.util, json, os, sys, tempfile, threading
from qual_pipeline.memory import limit_malloc_arenas

limited = limit_malloc_arenas() if sys.argv[1] == "limit" else None

def allocate():
    kept = [bytes(4096) for _ in range(1000)]  # through malloc, in this thread's arena
    done.wait()

done = threading.Event()
threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads:
    thread.start()
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.fopen.restype = ctypes.c_void_p
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
path = tempfile.mktemp()
stream = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, stream)
libc.fclose(stream)
done.set()
for thread in threads:
    thread.join()
with open(path) as info:
    arenas = info.read().count("<heap nr=")
os.unlink(path)
print(json.dumps({"limited": limited, "arenas": arenas}))
"""


def _arenas(mode: str, **env: str) -> dict:
    base = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run(
        [sys.executable, "-c", ARENAS_CHILD, mode],
        capture_output=True, text=True, env={**base, **env}, timeout=120, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_threads_share_a_few_malloc_arenas_instead_of_one_each():
    unlimited = _arenas("none")
    limited = _arenas("limit")
    assert limited["limited"] is True
    assert unlimited["arenas"] >= 8, unlimited  # glibc's default: one per thread here
    assert limited["arenas"] <= 3, limited  # MALLOC_ARENAS, and the main arena


def test_a_malloc_arena_count_the_user_chose_is_kept():
    assert _arenas("limit", MALLOC_ARENA_MAX="6")["limited"] is False
