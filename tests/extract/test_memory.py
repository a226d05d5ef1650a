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
