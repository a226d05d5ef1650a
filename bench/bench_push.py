"""Push plan time at 1,000,000 and 10,000,000 rows, and push throughput under a rate limit.

1. Plan, for each size N (--plan-rows, default 1,000,000 and 10,000,000), in a process of its own:
   a warehouse with N current worker_qualifications over 10 types and a desired-scores CSV of N
   rows (about 10% changed values, 1% new workers, a few bad rows), planned with the shipped
   sql/desired_scores.sql + sql/push_plan.sql on a read-only connection within a memory limit
   (--memory-limit, as QUAL_PIPELINE_WAREHOUSE_MEMORY sets it; 512MB unless given). Targets: under
   3 s at 1,000,000 rows, under 10 s at 10,000,000. Also timed: the whole `plan` (build, inputs
   fingerprint, verdict, and saving the changed and rejected rows in the journal; unchanged rows
   are only counted). Peak RSS of the process over both (its high-water mark reset once the
   warehouse and the CSV are written), and the largest size's over the smallest's.
2. Push: a local MTurk limiting the requester to --rate-limit requests/s (default 20), the client
   holding the same rate; every score update costs one GetQualificationScore before it (the
   worker's score must still be the plan's, else the update is refused, never sent), one
   AssociateQualificationWithWorker and one GetQualificationScore read-back. Target: API calls/s
   at least 95% of the allowed rate, and MTurk ends holding every desired value (no change lost).
   With --ab the same push runs first without the read before each update (the code before it),
   then as shipped, back to back: the read's cost in calls and time.

Run: .venv/bin/python bench/bench_push.py [--plan-rows N,N] [--memory-limit 512MB] [--no-push]
     [--push-seconds S] [--rate-limit R] [--ab]
Figures are printed and written to bench/results/push.json.
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

from common import holders_data, load_holders  # bench/, this script's folder

from qual_pipeline import settings
from qual_pipeline.local_mturk.server import FaultConfig, LocalMTurk
from qual_pipeline.mturk_api.client import ApiStats, RateLimiter, make_client
from qual_pipeline.push import runner
from qual_pipeline.push.guard import GuardLimits
from qual_pipeline.push.journal import Journal
from qual_pipeline.push.plan import build_score_plan
from qual_pipeline.push.runner import READ_BEFORE, PushSettings, run_push
from qual_pipeline.push.saved_plan import PlanSettings, read_only_warehouse, save_plan
from qual_pipeline.stores.profile import local_stores
from qual_pipeline.stores.warehouse import set_memory_limit
from qual_pipeline.warehouse.sql_files import ensure_schema

TYPES = 10
PLAN_TARGETS_S = {1_000_000: 3.0, 10_000_000: 10.0}
MEMORY_LIMIT = "512MB"
BENCH_KEY = "BENCHPUSHREQUESTER01"
BENCH_SECRET = "local-mturk-bench-secret"  # valid only against the local MTurk started here


def type_id(i: int) -> str:
    return f"3BENCHPUSHTYPE{i:016d}"


def bench_plan(root: Path, rows: int, memory_limit: str) -> dict[str, Any]:
    data, inputs = root / "plan-data", root / "plan-inputs"
    inputs.mkdir(parents=True)
    stores = local_stores(data)
    con = stores.warehouse.connect()
    ensure_schema(stores.warehouse, con)
    types = ", ".join(f"('{type_id(i)}', now())" for i in range(TYPES))
    con.execute(
        f"INSERT INTO qualification_types (qualification_type_id, extracted_at) VALUES {types}"
    )
    con.execute(
        "INSERT INTO worker_qualifications (qualification_type_id, worker_id, status, "
        "integer_value, extracted_at) "
        "SELECT '3BENCHPUSHTYPE' || lpad((i % $types)::VARCHAR, 16, '0'), "
        "'A' || lpad(i::VARCHAR, 13, '0'), 'Granted', (i % 100)::INTEGER, now() "
        "FROM range($rows) t(i)",
        {"types": TYPES, "rows": rows},
    )
    # desired: same keys, 10% changed, 1% of keys replaced by new workers, 0.01% bad values
    con.execute(
        "COPY (SELECT '3BENCHPUSHTYPE' || lpad((i % $types)::VARCHAR, 16, '0') "
        "AS qualification_type_id, "
        "'A' || lpad((CASE WHEN i % 100 = 7 THEN i + $rows ELSE i END)::VARCHAR, 13, '0') "
        "AS worker_id, "
        "CASE WHEN i % 10000 = 3 THEN 'n/a' "
        "WHEN i % 10 = 1 THEN ((i % 100) + 1)::VARCHAR ELSE (i % 100)::VARCHAR END "
        "AS integer_value FROM range($rows) t(i)) TO '" + str(inputs / "desired_scores.csv") + "'",
        {"types": TYPES, "rows": rows},
    )
    con.close()
    Path("/proc/self/clear_refs").write_text("5")  # Linux: the peak RSS starts again from here
    con = stores.warehouse.connect(read_only=True)  # as `plan` opens it
    try:
        set_memory_limit(con, memory_limit)
        start, cpu = time.perf_counter(), time.process_time()
        summary = build_score_plan(con, inputs_dir=inputs)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        con.close()
    with Journal(stores.journal.connect()) as journal, journal.lock():
        start = time.perf_counter()
        saved = save_plan(
            "scores",
            journal=journal,
            read_warehouse=read_only_warehouse(stores.warehouse),
            inputs_dir=inputs,
            settings=PlanSettings(
                allow_grants=True, limits=GuardLimits(rows, 1.0), memory_limit=memory_limit
            ),
        )
        save_seconds = time.perf_counter() - start
    target = PLAN_TARGETS_S.get(rows, 3.0 * rows / 1_000_000)
    return {
        "desired_rows": rows,
        "current_rows": rows,
        "plan_seconds": round(seconds, 3),
        "plan_cpu_seconds": round(cpu, 3),  # all DuckDB threads; tells a busy machine apart
        "threads": os.cpu_count(),
        "target_seconds": target,
        "ratio_to_target": round(seconds / target, 3),
        "counts": summary.counts,
        "saved_plan_seconds": round(save_seconds, 3),
        "saved_changes": saved.record.total,
        "saved_rejected": saved.summary.rejected_rows,
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "memory_limit": memory_limit,
    }


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def bench_plan_alone(rows: int, memory_limit: str) -> dict[str, Any]:
    """`bench_plan` in a fresh process: its own peak memory, nothing left from another size."""
    done = subprocess.run(
        [sys.executable, __file__, "--plan-one", str(rows), "--memory-limit", memory_limit],
        capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"the {rows:,}-row plan failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_plans(plans: list[dict[str, Any]]) -> dict[str, Any]:
    """One line per plan size, and the largest over the smallest (time, peak RSS)."""
    for plan in plans:
        print(
            f"plan: {plan['desired_rows']:,} desired vs {plan['current_rows']:,} current in "
            f"{plan['plan_seconds']} s (target {plan['target_seconds']:g} s, ratio "
            f"{plan['ratio_to_target']}; {plan['plan_cpu_seconds']} s CPU on {plan['threads']} "
            f"cores); {plan['counts']}; the whole saved plan ({plan['saved_changes']:,} changes, "
            f"{plan['saved_rejected']:,} rejected rows journalled) in "
            f"{plan['saved_plan_seconds']} s; peak RSS {plan['peak_rss_mb']} MB"
        )
    growth: dict[str, Any] = {}
    if len(plans) >= 2:
        small, big = plans[0], plans[-1]
        growth = {
            "size_ratio": big["desired_rows"] / small["desired_rows"],
            "time_ratio": round(big["plan_seconds"] / small["plan_seconds"], 2),
            "rss_ratio": round(big["peak_rss_mb"] / small["peak_rss_mb"], 3),
        }
        print(
            f"plan: {big['desired_rows']:,} vs {small['desired_rows']:,} rows: "
            f"x{growth['time_ratio']} time, x{growth['rss_ratio']} peak RSS "
            f"({big['peak_rss_mb']} vs {small['peak_rss_mb']} MB)"
        )
    return growth


def bench_push(root: Path, seconds: float, rate: float, read_before: bool = True) -> dict[str, Any]:
    # three calls per change: the read before, associate, read-back (two without the read)
    changes = int(seconds * rate / 3)
    if not read_before:  # the code before: no read before an update (accepts only)
        runner.READ_BEFORE = ("accept",)
    workers = [f"A{i:013d}" for i in range(changes)]
    t = type_id(0)
    data_doc = holders_data(BENCH_KEY, BENCH_SECRET, t, "bench push", workers)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": BENCH_KEY,
            "AWS_SECRET_ACCESS_KEY": BENCH_SECRET,
            "AWS_CONFIG_FILE": str(root / "no-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(root / "no-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    data, inputs = root / "push-data", root / "push-inputs"
    inputs.mkdir(parents=True)
    # The warehouse as a refresh leaves it: lake snapshots, then a load (with its load id).
    load_holders(data, t, workers)
    stores = local_stores(data)
    with (inputs / "desired_scores.csv").open("w") as f:
        f.write("qualification_type_id,worker_id,integer_value\n")
        f.writelines(f"{t},{w},{100 + i}\n" for i, w in enumerate(workers))

    with LocalMTurk(data=data_doc, faults=FaultConfig(rate_limit=rate)) as mturk:
        stats = ApiStats()
        client = make_client(
            endpoint_url=mturk.endpoint_url, rate_limiter=RateLimiter(rate), stats=stats
        )
        start = time.perf_counter()
        report = run_push(
            "scores",
            client=client,
            stores=stores,
            inputs_dir=inputs,
            settings=PushSettings(concurrency=8),
            replan=PlanSettings(limits=GuardLimits(max_changes=changes, max_share=1.0)),
        )
        elapsed = time.perf_counter() - start
        runner.READ_BEFORE = READ_BEFORE
        counts = mturk.call_counts()
        held = [mturk.admin.get_qualification(t, w) for w in workers]
    lost = sum(
        1
        for i, q in enumerate(held)
        if q is None or q["Status"] != "Granted" or q.get("IntegerValue") != 100 + i
    )
    calls = counts["AssociateQualificationWithWorker"] + counts["GetQualificationScore"]
    return {
        "rate_limit": rate,
        "changes": changes,
        "seconds": round(elapsed, 2),
        "successful_calls": calls,
        "calls_per_second": round(calls / elapsed, 2),
        "share_of_allowed_rate": round(calls / elapsed / rate, 3),
        "changes_per_second": round(changes / elapsed, 2),
        "verified": report.verified,
        "lost": lost,
        "throttled_retries": stats.throttles,
        "associate_calls": counts["AssociateQualificationWithWorker"],
        "read_calls": counts["GetQualificationScore"],
        "read_before_update": read_before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--plan-rows",
        default="1000000,10000000",
        help="plan sizes, comma-separated (empty: the push alone)",
    )
    parser.add_argument("--plan-one", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--memory-limit",
        default=MEMORY_LIMIT,
        help=f"the plan's DuckDB memory limit, as {settings.WAREHOUSE_MEMORY.env} sets it "
        f"(default {MEMORY_LIMIT}, as the earlier figures were measured; the setting's default "
        f"is {settings.WAREHOUSE_MEMORY.default})",
    )
    parser.add_argument(
        "--no-push", action="store_true", help="measure the plan only (no push under a limit)"
    )
    parser.add_argument("--push-seconds", type=float, default=40.0)
    parser.add_argument("--rate-limit", type=float, default=20.0)
    parser.add_argument(
        "--ab",
        action="store_true",
        help="run the push without the read before each update first, then as shipped",
    )
    args = parser.parse_args()
    if args.plan_one:
        with tempfile.TemporaryDirectory(prefix="bench-push-plan-") as tmp:
            print(json.dumps(bench_plan(Path(tmp), args.plan_one, args.memory_limit)))
        return
    print(f"load average before: {os.getloadavg()[0]:.2f}; memory limit {args.memory_limit}")
    plans = [bench_plan_alone(int(n), args.memory_limit) for n in args.plan_rows.split(",") if n]
    growth = print_plans(plans)
    print(f"load average after the plans: {os.getloadavg()[0]:.2f}")
    plan = plans[0] if plans else None
    if args.no_push:
        print(
            "plan targets met"
            if all(p["plan_seconds"] < p["target_seconds"] for p in plans)
            else "PLAN TARGETS MISSED"
        )
        return
    with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp:
        root = Path(tmp)
        runs = []
        if args.ab:
            runs.append(bench_push(root / "before", args.push_seconds, args.rate_limit, False))
        runs.append(bench_push(root / "shipped", args.push_seconds, args.rate_limit))
        for push in runs:
            print(
                f"push{'' if push['read_before_update'] else ' without the read before'}: "
                f"{push['changes']} changes in {push['seconds']} s, {push['successful_calls']} "
                f"calls ({push['read_calls']} reads), "
                f"{push['calls_per_second']} calls/s = {push['share_of_allowed_rate']:.1%} of the "
                f"allowed {push['rate_limit']:g}/s (target 95%); {push['changes_per_second']} "
                f"changes/s; verified {push['verified']}, lost {push['lost']}, "
                f"throttled {push['throttled_retries']}; load average {os.getloadavg()[0]:.2f}"
            )
        if args.ab:
            print(
                "the read before each update: "
                f"{runs[1]['successful_calls'] / runs[0]['successful_calls']:.2f}x the calls, "
                f"{runs[1]['seconds'] / runs[0]['seconds']:.2f}x the time"
            )
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "push.json").write_text(
        json.dumps({"plan": plan, "plans": plans, "plan_growth": growth, "push": push}, indent=2)
        + "\n"
    )
    ok = (
        all(p["plan_seconds"] < p["target_seconds"] for p in plans)
        and push["share_of_allowed_rate"] >= 0.95
        and push["lost"] == 0
        and push["associate_calls"] == push["changes"]
    )
    print("targets met" if ok else "TARGETS MISSED")


if __name__ == "__main__":
    main()
