"""The extraction of many types alone (`extract_types`, no Dagster) against a bare boto3 loop,
and optionally against the same extraction of another checkout, back to back in one run.

bench_refresh.py measures the extraction alone once beside the whole refresh; this bench runs
only that part, `--pairs` times (bare loop, then the extraction of this tree, then, with
`--base DIR`, the extraction of the checkout in DIR: its `qual_pipeline` imported first through
PYTHONPATH, e.g. `git archive <commit> qual_pipeline | tar -x -C DIR`), each in a fresh
subprocess against one local MTurk served from this process (127.0.0.1), at each `--types`
count of about 50 workers each. For each run: wall seconds, the client process's CPU seconds,
the local MTurk's CPU seconds (this process's, which only serves while it waits), the load
average (1 min) as the run ended; the ratio to the bare loop of the same pair. With
`--publish N`, also what publishing one small snapshot costs the file system, step by step, as
the local lake store does it (a new partition folder, the Parquet bytes of 50 rows without
dictionary encoding, and with it as before, the temporary file created and written, its fsync,
the link to its name and the temporary name removed, the folder's fsync), over N partitions:
CPU and wall milliseconds per step.

Not in `make bench` (bench_refresh.py runs the extraction alone there).
Run: .venv/bin/python bench/extract_ab.py [--types 300,2000] [--pairs 2] [--base DIR]
     [--publish 300]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench_refresh import WORKERS_PER_TYPE, Server, _env, _generate  # noqa: E402
from common import report  # noqa: E402

REFRESH_BENCH = ROOT / "bench" / "bench_refresh.py"


def _run(server: Server, mode: str, base: Path | None) -> dict[str, Any]:
    """One `--bare` or `--extract` run of bench_refresh.py in a fresh process (with `base` first
    on its import path); its figures, the server's CPU seconds meanwhile and the load average."""
    env = _env()
    if base is not None:
        env["PYTHONPATH"] = str(base)
    probe = "import qual_pipeline, sys; print(qual_pipeline.__file__)"
    where = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd="/"
    ).stdout.strip()
    expected = (base or ROOT) / "qual_pipeline"
    if not where.startswith(str(expected)):
        raise RuntimeError(f"the run would import {where}, not {expected}")
    server.clear()
    cpu = time.process_time()
    done = subprocess.run(
        [sys.executable, str(REFRESH_BENCH), mode, server.url],
        capture_output=True, text=True, env=env, timeout=3600, cwd="/",
    )  # fmt: skip
    server_cpu = time.process_time() - cpu
    if done.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return {**figures, **server.counts(), "server_cpu_s": server_cpu, "load": os.getloadavg()[0]}


def publish_steps(scratch: Path, partitions: int) -> dict[str, float]:
    """CPU and wall milliseconds per partition of each step of a small snapshot's publish."""
    import uuid
    from datetime import UTC, datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    from qual_pipeline.extract.normalise import qualifications_batch
    from qual_pipeline.schema import WORKER_QUALIFICATIONS

    records = [
        {"WorkerId": f"A{i:012d}", "Status": "Granted", "IntegerValue": i,
         "LocaleValue": {"Country": "US", "Subdivision": "WA"},
         "GrantTime": datetime.fromtimestamp(1.7e9 + i, UTC)}
        for i in range(50)
    ]  # fmt: skip
    now = datetime.now(UTC)
    batch = qualifications_batch(records, extracted_at=now, qualification_type_id="3BENCH")
    table = pa.Table.from_batches([batch], schema=WORKER_QUALIFICATIONS)
    cpu: dict[str, float] = {}
    wall: dict[str, float] = {}

    def step(name: str, fn: Any, *args: Any) -> Any:
        c, w = time.thread_time(), time.perf_counter()
        result = fn(*args)
        cpu[name] = cpu.get(name, 0.0) + time.thread_time() - c
        wall[name] = wall.get(name, 0.0) + time.perf_counter() - w
        return result

    def parquet(dictionary: bool) -> bytes:
        sink = pa.BufferOutputStream()
        options = {"compression": "snappy", "use_dictionary": dictionary}
        with pq.ParquetWriter(sink, table.schema, write_statistics=True, **options) as writer:
            writer.write_table(table)
        return sink.getvalue().to_pybytes()

    def fsync(path: str) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def write(path: str, data: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def link(temp: str, final: str) -> None:
        os.link(temp, final)
        os.unlink(temp)

    root = scratch / "publish" / "worker_qualifications"
    root.mkdir(parents=True)
    for n in range(partitions):
        folder = str(root / f"qualification_type_id=3BENCH{n:08d}")
        step("mkdir", os.mkdir, folder)
        step("parquet_dictionary", parquet, True)  # as a small snapshot was written before
        data = step("parquet", parquet, False)  # as the lake store writes one now
        temp = f"{folder}/.{uuid.uuid4().hex}.tmp"
        step("create_write", write, temp, data)
        step("fsync_file", fsync, temp)
        step("link", link, temp, f"{folder}/snapshot.parquet")
        step("fsync_folder", fsync, folder)
    figures = {}
    for name in cpu:
        figures[f"publish_{name}_cpu_ms"] = round(1000 * cpu[name] / partitions, 3)
        figures[f"publish_{name}_wall_ms"] = round(1000 * wall[name] / partitions, 3)
    figures["publish_load"] = round(os.getloadavg()[0], 2)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--types", default="300,2000", help="type counts, comma-separated")
    parser.add_argument("--pairs", type=int, default=2, help="runs of each, alternated")
    parser.add_argument("--base", type=Path, help="a checkout whose extraction runs beside")
    parser.add_argument("--publish", type=int, default=0, help="partitions of the publish steps")
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-extract-types-") as tmp:
        for types in [int(x) for x in args.types.split(",") if x]:
            server = Server(_generate(Path(tmp), WORKERS_PER_TYPE, types))
            try:
                for pair in range(1, args.pairs + 1):
                    runs = {"bare": _run(server, "--bare", None)}
                    variants = [("new", None)] + ([("base", args.base)] if args.base else [])
                    if pair % 2 == 0:
                        variants.reverse()  # neither always runs right after the bare loop
                    for name, base in variants:
                        runs[name] = _run(server, "--extract", base)
                    bare = runs["bare"]["seconds"]
                    for name, run in runs.items():
                        key = f"types_{types}_pair_{pair}_{name}"
                        print(f"{key}: {run}", flush=True)
                        figures[f"{key}_s"] = round(run["seconds"], 3)
                        figures[f"{key}_over_bare"] = round(run["seconds"] / bare, 2)
                        figures[f"{key}_cpu_s"] = round(run["cpu_s"], 3)
                        figures[f"{key}_server_cpu_s"] = round(run["server_cpu_s"], 3)
                        figures[f"{key}_load"] = round(run["load"], 2)
            finally:
                server.stop()
        if args.publish:
            figures |= publish_steps(Path(tmp), args.publish)
    report("extract_ab", figures)


if __name__ == "__main__":
    main()
