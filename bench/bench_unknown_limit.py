"""Extraction and push against a rate limit they are not told: the pace finds it by itself.

In one run, against the local MTurk served from this process (127.0.0.1) with `--rate-limit`
requests/s per requester (default 20, a bucket of one second's requests: beyond it
`ThrottlingException`, as MTurk answers) and QUAL_PIPELINE_RATE and QUAL_PIPELINE_PUSH_RATE unset,
the product's defaults otherwise (the adaptive retry mode):
1. Extraction: `qual-pipeline refresh` of `--types` types of about 50 workers in a fresh process
   (bench_refresh.py's rate part, the same code).
2. Push: a saved plan of `--changes` score changes (default 400: 800 calls, an
   AssociateQualificationWithWorker and a GetQualificationScore read-back each) pushed with
   `run_push` at the push's default concurrency and no rate of its own.
Reported for each: the rate of answered requests as a share of the limit (over the span of the
answers; for the extraction, of its paging: the refresh's discovery and the run's start before it
send nothing), the share of attempts throttled (targets: at least 0.9; under 0.05), the same for the
first 10 s (the pace's slow start finding the limit) and after; for the push, that nothing was
lost: MTurk ends holding every desired value, each change associated exactly once and read back.

Run: .venv/bin/python bench/bench_unknown_limit.py [--rate-limit 20] [--types 300]
     [--changes 400] [--skip extract,push]
Figures are printed and written to bench/results/unknown_limit.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import bench_refresh  # noqa: E402
from common import holders_data, load_holders, report  # noqa: E402

RATE_TARGET = 0.9
THROTTLE_TARGET = 0.05
START_S = bench_refresh.START_S
PUSH_CALLS = ("AssociateQualificationWithWorker", "GetQualificationScore")
KEY = "BENCHUNKNOWNLIMIT001"
SECRET = "local-mturk-bench-secret"  # valid only against the local MTurk started here
TYPE_ID = "3BENCHUNKNOWNLIMIT000000000001"


def _share(answers: list[tuple[float, int, str]], limit: float) -> dict[str, Any]:
    """Answered requests a second as a share of `limit`, and the share throttled, over
    `answers` (time, HTTP status, operation)."""
    ok = sorted(t for t, status, _ in answers if status == 200)
    throttled = sum(1 for _, status, _ in answers if status == 400)
    rate = (len(ok) - 1) / (ok[-1] - ok[0]) if len(ok) > 1 else 0.0
    return {
        "ok": len(ok),
        "throttled": throttled,
        "achieved_per_s": round(rate, 2),
        "share_of_limit": round(rate / limit, 3),
        "throttled_share": round(throttled / max(len(ok) + throttled, 1), 4),
    }


def _world(root: Path, changes: int) -> tuple[dict[str, Any], Any, Path, list[str]]:
    """A local MTurk data set of one type held by `changes` workers at 1, the warehouse as a
    refresh of it leaves it, and desired scores changing every worker's value."""

    from qual_pipeline.stores.profile import local_stores

    workers = [f"A{i:013d}" for i in range(changes)]
    data = holders_data(KEY, SECRET, TYPE_ID, "bench unknown limit", workers)
    load_holders(root / "push-data", TYPE_ID, workers)
    stores = local_stores(root / "push-data")
    inputs = root / "push-inputs"
    inputs.mkdir()
    with (inputs / "desired_scores.csv").open("w") as f:
        f.write("qualification_type_id,worker_id,integer_value\n")
        f.writelines(f"{TYPE_ID},{w},{100 + i}\n" for i, w in enumerate(workers))
    return data, stores, inputs, workers


def push(root: Path, changes: int, limit: float) -> dict[str, Any]:
    """Push `changes` score changes against `limit` requests/s, no rate configured."""
    from qual_pipeline.mturk_api.client import ApiStats, make_client
    from qual_pipeline.push.guard import GuardLimits
    from qual_pipeline.push.runner import PushSettings, run_push
    from qual_pipeline.push.saved_plan import PlanSettings

    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    for name in ("QUAL_PIPELINE_RATE", "QUAL_PIPELINE_PUSH_RATE", "AWS_PROFILE"):
        os.environ.pop(name, None)
    data, stores, inputs, workers = _world(root, changes)
    server = bench_refresh.Server(data, rate_limit=limit)  # type: ignore[arg-type]
    try:
        stats = ApiStats()
        client = make_client(endpoint_url=server.url, stats=stats)  # no rate: the pace alone
        server.clear()
        start = time.perf_counter()
        result = run_push(
            "scores",
            client=client,
            stores=stores,
            inputs_dir=inputs,
            settings=PushSettings(),
            replan=PlanSettings(limits=GuardLimits(max_changes=changes, max_share=1.0)),
        )
        seconds = time.perf_counter() - start
        with server._lock:
            answers = [a for a in server.answers if a[2] in PUSH_CALLS]
        counts = server.mturk.call_counts()
        held = [server.mturk.admin.get_qualification(TYPE_ID, w) for w in workers]
    finally:
        server.stop()
    lost = sum(
        1
        for i, q in enumerate(held)
        if q is None or q["Status"] != "Granted" or q.get("IntegerValue") != 100 + i
    )
    first = min(t for t, _, _ in answers) + START_S
    whole = _share(answers, limit)
    early = _share([a for a in answers if a[0] < first], limit)
    steady = _share([a for a in answers if a[0] >= first], limit)
    return {
        "push_changes": changes,
        "push_seconds": round(seconds, 2),
        "push_calls_ok": whole["ok"],
        "push_throttled": whole["throttled"],
        "push_achieved_per_s": whole["achieved_per_s"],
        "push_share_of_limit": whole["share_of_limit"],
        "push_throttled_share": whole["throttled_share"],
        "push_start_throttled": early["throttled"],
        "push_start_throttled_share": early["throttled_share"],
        "push_steady_share_of_limit": steady["share_of_limit"],
        "push_steady_throttled_share": steady["throttled_share"],
        "push_client_throttles": stats.throttles,
        "push_verified": result.verified,
        "push_associate_calls": counts["AssociateQualificationWithWorker"],
        "push_lost": lost,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate-limit", type=float, default=20.0, help="requests/s per requester")
    parser.add_argument("--types", type=int, default=300, help="types of the extraction run")
    parser.add_argument("--changes", type=int, default=400, help="score changes pushed")
    parser.add_argument("--skip", default="", help="parts to skip: extract, push")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    figures: dict[str, Any] = {"rate_limit_per_s": args.rate_limit}
    with tempfile.TemporaryDirectory(prefix="bench-unknown-limit-") as tmp:
        scratch = Path(tmp)
        if "extract" not in skip:
            extract = bench_refresh.rate_limited(scratch, args.types, args.rate_limit)
            figures |= {
                f"extract_{k.removeprefix('rate_')}": v
                for k, v in extract.items()
                if k not in ("rate_limit_per_s", "rate_target", "throttle_target")
            }
        if "push" not in skip:
            figures |= push(scratch, args.changes, args.rate_limit)
    figures["rate_target"] = RATE_TARGET
    figures["throttle_target"] = THROTTLE_TARGET
    report("unknown_limit", figures)
    # The extraction's rate is its paging's (the refresh's discovery and the run's start before
    # it send nothing); throttles are counted over the whole refresh.
    shares = {"extract": "extract_paging_share_of_limit", "push": "push_share_of_limit"}
    met = all(
        figures[share] >= RATE_TARGET and figures[f"{part}_throttled_share"] < THROTTLE_TARGET
        for part, share in shares.items()
        if share in figures
    )
    lost = figures.get("push_lost", 0) or (
        "push_associate_calls" in figures
        and figures["push_associate_calls"] != figures["push_changes"]
    )
    print("targets met" if met and not lost else "TARGETS MISSED")


if __name__ == "__main__":
    main()
