"""The cost of `qual-pipeline refresh --retry-failed` after failures scattered over many types.

In one run, against the local MTurk served from this process (127.0.0.1): a refresh of `--types`
types (about 50 workers each, as `bench_refresh.py`) with a share of requests answered
ServiceFault (`--fault-rate`, seeded) and one attempt per request, so that types fail here and
there; then, with the faults off, `refresh --retry-failed`, timed, with the extraction runs it
made (the runs that only mark failed types failed are counted apart) and the requests MTurk
answered. With `--base DIR` (a checkout's `qual_pipeline` in DIR, e.g. `git archive main
qual_pipeline | tar -x -C DIR`) the same for that code and this tree, back to back, `--pairs`
times, each on a fresh Dagster instance and data folder. Failures land on different types in
each refresh (the extraction's threads take the types in no fixed order): the counts are
reported beside the times.

Run: .venv/bin/python bench/bench_retry.py [--types 300] [--fault-rate 0.06] [--base DIR]
     [--pairs N]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench_refresh import WORKERS_PER_TYPE, Server, _env, _generate, _imports_from  # noqa: E402
from common import report  # noqa: E402

EXTRACT_JOB = "extract_qualification_types"
FAILED_IN_RUN_TAG = "qual_pipeline/failed_in_run"
ATTEMPTS = 5
"""Refreshes tried (each with the next seed) until one fails some types and not discovery."""


def _refresh(
    server: Server, home: Path, data: Path, *args: str, tree: Path | None
) -> dict[str, Any]:
    """`qual-pipeline refresh` with `args` in a fresh process importing `tree`'s code (None:
    this tree); its output, wall and CPU seconds, and the load average before it."""
    env = {**_env(home), "MTURK_ENDPOINT_URL": server.url, "COLUMNS": "200"}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    script = Path(sys.executable).with_name("qual-pipeline")
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [str(script), "refresh", "--data-dir", str(data), *args],
        capture_output=True, text=True, env=env, cwd="/", timeout=7200,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"done": done, "seconds": seconds, "cpu_s": cpu, "load_before": load}


def _failed_types(stderr: str) -> int:
    """Types the refresh's output names as failed (one by one, then `N more type(s)`)."""
    named = len(set(re.findall(r"^failed: (3\w+):", stderr, re.MULTILINE)))
    more = re.search(r"^failed: ([\d,]+) more type\(s\)", stderr, re.MULTILINE)
    return named + (int(more[1].replace(",", "")) if more else 0)


def _runs(home: Path) -> tuple[int, int]:
    """(extraction runs, runs that only marked types failed) of the instance in `home`."""
    from dagster import DagsterInstance, RunsFilter

    os.environ["DAGSTER_HOME"] = str(home)
    with DagsterInstance.get() as instance:
        runs = instance.get_runs(filters=RunsFilter(job_name=EXTRACT_JOB))
    marking = sum(1 for r in runs if FAILED_IN_RUN_TAG in r.tags)
    return len(runs) - marking, marking


def retry_once(
    server: Server, scratch: Path, fault_rate: float, tree: Path | None
) -> dict[str, Any]:
    """A refresh with scattered failures, then its `--retry-failed` without faults."""
    from qual_pipeline.local_mturk.server import FaultConfig

    work = Path(tempfile.mkdtemp(dir=scratch, prefix="retry-"))
    home, data = work / "dagster_home", work / "data"
    home.mkdir()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    for seed in range(ATTEMPTS):
        server.mturk.set_faults(FaultConfig(fault_rate=fault_rate, seed=16 + seed))
        first = _refresh(server, home, data, "--max-attempts", "1", tree=tree)
        failed = _failed_types(first["done"].stderr)
        if first["done"].returncode == 1 and failed:
            break
    else:
        raise RuntimeError(f"no refresh failed some types:\n{first['done'].stderr[-3000:]}")
    server.mturk.set_faults(FaultConfig())
    runs, marking = _runs(home)
    server.clear()
    retry = _refresh(server, home, data, "--retry-failed", tree=tree)
    if retry["done"].returncode != 0:
        raise RuntimeError(f"the retry failed:\n{retry['done'].stderr[-3000:]}")
    retry_runs, _ = _runs(home)
    last = retry["done"].stderr.strip().splitlines()[-1]
    extracted = re.search(r"type\(s\), ([\d,]+) extracted", last)
    shutil.rmtree(work, ignore_errors=True)
    return {
        "failed_types": failed,
        "refresh_s": round(first["seconds"], 2),
        "refresh_cpu_s": round(first["cpu_s"], 2),
        "refresh_load_before": round(first["load_before"], 2),
        "refresh_marking_runs": marking,
        "retry_s": round(retry["seconds"], 2),
        "retry_cpu_s": round(retry["cpu_s"], 2),
        "retry_load_before": round(retry["load_before"], 2),
        "retry_extraction_runs": retry_runs - runs,
        "retry_extracted": int(extracted[1].replace(",", "")) if extracted else 0,
        "retry_requests": server.counts()["ok"],
        "retry_over_refresh": round(retry["seconds"] / first["seconds"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--types", type=int, default=300)
    parser.add_argument("--fault-rate", type=float, default=0.06)
    parser.add_argument("--base", type=Path, help="a checkout's qual_pipeline to compare with")
    parser.add_argument("--pairs", type=int, default=1)
    args = parser.parse_args()
    trees: list[tuple[str, Path | None]] = [("after", None)]
    if args.base is not None:
        trees = [("before", args.base.resolve()), ("after", ROOT)]
        for _, tree in trees:
            _imports_from(tree)
    scratch = Path(tempfile.mkdtemp(prefix="bench-retry-"))
    figures: dict[str, Any] = {}
    server = Server(_generate(scratch, WORKERS_PER_TYPE, args.types))
    try:
        for pair in range(args.pairs if args.base is not None else 1):
            for name, tree in trees:
                measured = retry_once(server, scratch, args.fault_rate, tree)
                print(f"{args.types} types, {name} #{pair}: {measured}", flush=True)
                figures |= {f"retry_{args.types}_{name}_{pair}_{k}": v for k, v in measured.items()}
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    report("retry", figures)


if __name__ == "__main__":
    main()
