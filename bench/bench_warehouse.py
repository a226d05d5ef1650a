"""Warehouse load and history-merge time and peak memory for 1,000,000 and 10,000,000 rows.

For each size, in a process of its own: synthetic lake snapshots over 10 qualification types
(generated vectorised with numpy and pyarrow), a first load into an empty warehouse, then a second
snapshot with about 5% of the rows changed (scores, revocations, locales, workers gone and new)
and the load that merges it into the history, then a reload of the same lake (must change
nothing). Every load runs as a refresh runs it, within a memory limit
(QUAL_PIPELINE_WAREHOUSE_MEMORY; the setting's default, 256MB, unless --memory-limit says
otherwise). Peak RSS is the process's
own over the three loads (its high-water mark is reset after each lake is written).
Targets: first load + merge of 1,000,000 rows under 5 s and of 10,000,000 under 20 s on 2 cores;
growth linear or better; peak RSS of the largest size at most 1.15x the smallest's.

Run: .venv/bin/python bench/bench_warehouse.py [--sizes 1000000 10000000] [--memory-limit 256MB]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from qual_pipeline import settings
from qual_pipeline.schema import WORKER_QUALIFICATIONS
from qual_pipeline.stores.profile import local_stores
from qual_pipeline.warehouse import LoadResult, load_warehouse

TYPES = 10
TARGETS_S = {1_000_000: 5.0, 10_000_000: 20.0}
MEMORY_TARGET = 1.15
MEMORY_LIMIT = settings.WAREHOUSE_MEMORY.default or "256MB"
COUNTRIES = np.array(["US", "IN", "GB", "DE", "CA"])
SUBDIVISIONS = np.array(["US-WA", "IN-KA", "GB-ENG", "DE-BE", "CA-ON"])
FIRST = datetime(2025, 1, 1, 6, tzinfo=UTC)
SECOND = FIRST + timedelta(days=1)


def _snapshot(
    type_index: int,
    workers: np.ndarray,
    scores: np.ndarray,
    revoked: np.ndarray,
    place: np.ndarray,
    extracted_at: datetime,
) -> pa.Table:
    n = len(workers)
    grant = np.datetime64("2024-06-01T00:00:00", "us") + (workers % 86_400).astype("timedelta64[s]")
    return pa.table(
        {
            "qualification_type_id": pa.array(np.full(n, f"3BENCHTYPE{type_index:010d}")),
            "worker_id": pa.array(np.char.add("A", np.char.zfill(workers.astype(str), 13))),
            "status": pa.array(np.where(revoked, "Revoked", "Granted")),
            "integer_value": pa.array(scores, pa.int32()),
            "country": pa.array(COUNTRIES[place]),
            "subdivision": pa.array(SUBDIVISIONS[place]),
            "country_name": pa.nulls(n, pa.string()),
            "subdivision_name": pa.nulls(n, pa.string()),
            "grant_time": pa.array(grant, pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC")),
            "extracted_at": pa.array([extracted_at] * n, pa.timestamp("us", tz="UTC")),
        },
        schema=WORKER_QUALIFICATIONS,
    )


def _write(data_dir: Path, table: pa.Table, type_index: int, at: datetime) -> None:
    lake = local_stores(data_dir).lake
    type_id = f"3BENCHTYPE{type_index:010d}"
    with lake.writer("worker_qualifications", WORKER_QUALIFICATIONS, type_id, snapshot_at=at) as w:
        w.write(table)
    assert w.snapshot is not None
    lake.delete_older(w.snapshot, grace_s=0)


def write_lake(data_dir: Path, rows: int, *, changed: bool, seed: int = 7) -> None:
    """rows over TYPES types; with changed=True, the second snapshot (about 5% different)."""
    rng = np.random.default_rng(seed)
    per_type = rows // TYPES
    for t in range(TYPES):
        workers = np.arange(per_type, dtype=np.int64) + t * 7
        scores = rng.integers(0, 101, per_type).astype(np.int32)
        revoked = rng.random(per_type) < 0.02
        place = rng.integers(0, len(COUNTRIES), per_type)
        at = FIRST
        if changed:
            at = SECOND
            change = np.random.default_rng(seed + 1 + t).random(per_type)
            scores = np.where(change < 0.03, (scores + 5) % 101, scores).astype(np.int32)
            revoked = np.where((change >= 0.03) & (change < 0.04), ~revoked, revoked)
            place = np.where((change >= 0.04) & (change < 0.045), (place + 1) % 5, place)
            keep = (change < 0.045) | (change >= 0.05)  # 0.5% gone, the changed rows kept
            workers, scores, revoked, place = (
                workers[keep],
                scores[keep],
                revoked[keep],
                place[keep],
            )
            new = np.arange(per_type // 200, dtype=np.int64) + 10_000_000 + t * 7  # 0.5% new
            workers = np.concatenate([workers, new])
            scores = np.concatenate([scores, np.full(len(new), 50, np.int32)])
            revoked = np.concatenate([revoked, np.zeros(len(new), bool)])
            place = np.concatenate([place, np.zeros(len(new), np.int64)])
        _write(data_dir, _snapshot(t, workers, scores, revoked, place, at), t, at)


def _timed_load(data_dir: Path, memory_limit: str) -> tuple[LoadResult, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = load_warehouse(local_stores(data_dir), memory_limit=memory_limit)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def _peak_rss_mb() -> float:
    """This process's peak resident memory since the last `_reset_peak_rss`, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM starts again from VmRSS


def measure(rows: int, root: Path, memory_limit: str) -> dict[str, float | int]:
    data_dir = root / f"rows_{rows}"
    shutil.rmtree(data_dir, ignore_errors=True)
    write_lake(data_dir, rows, changed=False)
    _reset_peak_rss()
    _, first_s, first_cpu = _timed_load(data_dir, memory_limit)
    first_peak = _peak_rss_mb()
    write_lake(data_dir, rows, changed=True)
    _reset_peak_rss()  # the loads' peak, not the synthetic lake's arrays
    second, merge_s, merge_cpu = _timed_load(data_dir, memory_limit)
    again, reload_s, _ = _timed_load(data_dir, memory_limit)
    if not again.up_to_date or again.history_rows != second.history_rows:
        raise SystemExit(
            "reloading the same lake changed the warehouse: the load is not idempotent"
        )
    return {
        "rows": rows,
        "memory_limit": memory_limit,
        "first_load_s": round(first_s, 3),
        "merge_load_s": round(merge_s, 3),
        "load_plus_merge_s": round(first_s + merge_s, 3),
        "load_plus_merge_cpu_s": round(first_cpu + merge_cpu, 3),
        "first_load_cpu_s": round(first_cpu, 3),
        "merge_load_cpu_s": round(merge_cpu, 3),
        "reload_s": round(reload_s, 3),
        "history_versions_changed": sum(second.changes.values()),
        "history_rows": second.history_rows,
        "peak_rss_mb": round(max(first_peak, _peak_rss_mb()), 1),
    }


def _measure_alone(rows: int, memory_limit: str) -> dict[str, float | int]:
    """`measure` in a fresh process (its own peak memory, nothing left from a smaller size)."""
    done = subprocess.run(
        [sys.executable, __file__, "--one", str(rows), "--memory-limit", memory_limit],
        capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"the {rows:,}-row measurement failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument(
        "--memory-limit",
        default=MEMORY_LIMIT,
        help=f"the loads' DuckDB memory limit, as {settings.WAREHOUSE_MEMORY.env} sets it "
        f"(default {MEMORY_LIMIT}, the setting's)",
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        root = Path(tempfile.mkdtemp(prefix="bench_warehouse_"))
        try:
            print(json.dumps(measure(args.one, root, args.memory_limit)))
        finally:
            shutil.rmtree(root, ignore_errors=True)
        return
    load_before = os.getloadavg()[0]
    results = [_measure_alone(rows, args.memory_limit) for rows in args.sizes]
    print(
        f"cores: {os.cpu_count()}, load average before: {load_before:.2f}, after: "
        f"{os.getloadavg()[0]:.2f}; memory limit {args.memory_limit}"
    )
    header = (
        "rows",
        "first load s",
        "merge load s",
        "load+merge s",
        "cpu s",
        "first cpu s",
        "merge cpu s",
        "reload s",
        "changes",
        "peak RSS MB",
    )
    print(" ".join(f"{h:>13}" for h in header))
    for r in results:
        keys = ("rows", "first_load_s", "merge_load_s", "load_plus_merge_s")
        keys += ("load_plus_merge_cpu_s", "first_load_cpu_s", "merge_load_cpu_s", "reload_s")
        keys += ("history_versions_changed", "peak_rss_mb")
        print(" ".join(f"{r[k]:>13}" for k in keys))
    summary: dict[str, object] = {"results": results, "memory_limit": args.memory_limit}
    missed = [
        f"{r['rows']:,} rows: {r['load_plus_merge_s']} s (target {TARGETS_S[r['rows']]:g} s)"
        for r in results
        if r["rows"] in TARGETS_S and r["load_plus_merge_s"] >= TARGETS_S[r["rows"]]
    ]
    if len(results) >= 2:
        small, big = results[0], results[-1]
        size_ratio = big["rows"] / small["rows"]
        time_ratio = big["load_plus_merge_s"] / small["load_plus_merge_s"]
        rss_ratio = big["peak_rss_mb"] / small["peak_rss_mb"]
        verdict = "linear or better" if time_ratio <= size_ratio else "worse than linear"
        summary.update(
            size_ratio=size_ratio, time_ratio=round(time_ratio, 2), rss_ratio=round(rss_ratio, 3)
        )
        print(
            f"{big['rows']:,} vs {small['rows']:,} rows: x{size_ratio:.0f} size, "
            f"x{time_ratio:.2f} load+merge time ({verdict}), x{rss_ratio:.3f} peak RSS "
            f"({big['peak_rss_mb']} vs {small['peak_rss_mb']} MB, target x{MEMORY_TARGET})"
        )
        if rss_ratio > MEMORY_TARGET:
            missed.append(f"peak RSS x{rss_ratio:.3f} (target x{MEMORY_TARGET})")
    summary["missed"] = missed
    print("targets met" if not missed else "TARGETS MISSED: " + "; ".join(missed))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "warehouse.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
