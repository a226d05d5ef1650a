"""Extraction speed and memory against the local MTurk, with a bare paginator and dlt as yardsticks.

In one run, over generated data sets served by the local MTurk (its own process, 127.0.0.1):
- rows/s of `extract_worker_qualifications` (page, normalise, stage, de-duplicate, publish) against
  a bare boto3 paginator loop that only counts rows, on the same server (target: ratio >= 0.9);
- peak RSS (ru_maxrss) of the extraction at the small and the large size, each in a fresh process
  (target: large within 15% of small);
- a dlt pipeline doing the same job (a dlt resource over the same boto3 paginator, merged by
  (type, worker) into DuckDB): our time over theirs.
Every measurement runs in a fresh subprocess; bare and ours alternate `--reps` times and the best
of each is compared, which damps noise from the server sharing the machine.

Run: .venv/bin/python bench/bench_extract.py [--rows 1000000] [--reps 3] [--no-dlt]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "extract.json"
MEMORY_TARGET = 0.15
SPEED_TARGET = 0.9


# Workers: each runs in a fresh process and prints one JSON line ---------------------------------


def _client(url: str) -> Any:
    from qual_pipeline.mturk_api.client import make_client

    return make_client(endpoint_url=url)


def _worker_bare(url: str, type_id: str, out_dir: Path) -> dict[str, Any]:
    import boto3

    client = boto3.client("mturk", region_name="us-east-1", endpoint_url=url)
    start = time.perf_counter()
    rows = 0
    paginator = client.get_paginator("list_workers_with_qualification_type")
    for status in ("Granted", "Revoked"):
        for page in paginator.paginate(
            QualificationTypeId=type_id, Status=status, PaginationConfig={"PageSize": 100}
        ):
            rows += len(page["Qualifications"])
    return {"rows": rows, "seconds": time.perf_counter() - start}


def _worker_ours(url: str, type_id: str, out_dir: Path) -> dict[str, Any]:
    from qual_pipeline.extract import extract_worker_qualifications
    from qual_pipeline.mturk_api.client import ApiStats, make_client
    from qual_pipeline.stores.profile import local_stores

    stats = ApiStats()
    client = make_client(endpoint_url=url, stats=stats)
    start = time.perf_counter()
    result = extract_worker_qualifications(client, type_id, local_stores(out_dir), stats=stats)
    return {
        "rows": result.records_seen,
        "published_rows": result.rows,
        "seconds": time.perf_counter() - start,
    }


def _worker_dlt(url: str, type_id: str, out_dir: Path) -> dict[str, Any]:
    import boto3
    import dlt

    client = boto3.client("mturk", region_name="us-east-1", endpoint_url=url)

    @dlt.resource(
        name="worker_qualifications",
        primary_key=("QualificationTypeId", "WorkerId"),
        write_disposition="merge",
    )
    def worker_qualifications() -> Any:
        paginator = client.get_paginator("list_workers_with_qualification_type")
        for status in ("Granted", "Revoked"):
            for page in paginator.paginate(
                QualificationTypeId=type_id, Status=status, PaginationConfig={"PageSize": 100}
            ):
                yield page["Qualifications"]

    pipeline = dlt.pipeline(
        pipeline_name="bench_extract",
        pipelines_dir=str(out_dir / "dlt_pipelines"),
        destination=dlt.destinations.duckdb(str(out_dir / "dlt.duckdb")),
        dataset_name="mturk",
    )
    start = time.perf_counter()
    pipeline.run(worker_qualifications())
    seconds = time.perf_counter() - start
    with pipeline.sql_client() as sql:
        (rows,) = sql.execute_sql("SELECT count(*) FROM worker_qualifications")[0]
    return {"rows": rows, "seconds": seconds}


WORKERS = {"bare": _worker_bare, "ours": _worker_ours, "dlt": _worker_dlt}


def _run_worker(kind: str, url: str, type_id: str, out_dir: Path) -> dict[str, Any]:
    out = WORKERS[kind](url, type_id, out_dir)
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


# Orchestration ---------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    from qual_pipeline.local_mturk.generate import GENERATED_ACCESS_KEY_ID, GENERATED_SECRET

    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": GENERATED_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": GENERATED_SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "RUNTIME__DLTHUB_TELEMETRY": "false",  # dlt must not phone home
    }


class Server:
    """The local MTurk in its own process, serving one generated data set."""

    def __init__(self, data: Path, log: Path) -> None:
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from qual_pipeline.cli.local_mturk import app; app()",
             "serve", "--data", str(data)],
            stdout=subprocess.PIPE, stderr=self.log, text=True, env=_env(),
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"local MTurk did not start; see {log}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def _measure(kind: str, server: Server, type_id: str, scratch: Path) -> dict[str, Any]:
    out_dir = Path(tempfile.mkdtemp(dir=scratch, prefix=f"{kind}-"))
    done = subprocess.run(
        [sys.executable, __file__, "--worker", kind, "--url", server.url, "--type-id", type_id,
         "--out", str(out_dir)],
        capture_output=True, text=True, env=_env(), timeout=3600,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["rows_per_s"] = result["rows"] / result["seconds"]
    return result


def _owned_type(url: str) -> str:
    from qual_pipeline.extract import discover_owned_types

    os.environ.update({k: v for k, v in _env().items() if k.startswith("AWS_")})
    return discover_owned_types(_client(url))[0].qualification_type_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="large size (small = /10)")
    parser.add_argument("--reps", type=int, default=3, help="alternating bare/ours repetitions")
    parser.add_argument("--no-dlt", action="store_true", help="skip the dlt comparison")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--type-id", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_run_worker(args.worker, args.url, args.type_id, args.out)))
        return

    from qual_pipeline.local_mturk.generate import generate

    large = args.rows
    small = max(1_000, large // 10)
    with tempfile.TemporaryDirectory(prefix="bench-extract-") as tmp:
        scratch = Path(tmp)
        servers: dict[int, Server] = {}
        try:
            for size in (small, large):
                data = scratch / f"data-{size}.json"
                generate(data, workers=size, types=1, seed=1)
                servers[size] = Server(data, scratch / f"server-{size}.log")
            type_ids = {size: _owned_type(s.url) for size, s in servers.items()}
            runs: dict[str, list[dict[str, Any]]] = {"bare": [], "ours": [], "ours_small": []}
            for rep in range(args.reps):
                for kind in ("bare", "ours") if rep % 2 == 0 else ("ours", "bare"):
                    runs[kind].append(_measure(kind, servers[large], type_ids[large], scratch))
                    print(f"rep {rep + 1} {kind:4s} {runs[kind][-1]}", flush=True)
                runs["ours_small"].append(
                    _measure("ours", servers[small], type_ids[small], scratch)
                )
                print(f"rep {rep + 1} ours@{small} {runs['ours_small'][-1]}", flush=True)
            if not args.no_dlt:
                runs["dlt"] = [_measure("dlt", servers[large], type_ids[large], scratch)]
                print(f"dlt {runs['dlt'][-1]}", flush=True)
        finally:
            for server in servers.values():
                server.stop()

    best = {kind: max(r["rows_per_s"] for r in rs) for kind, rs in runs.items()}
    rss_small = statistics.median(r["max_rss_mb"] for r in runs["ours_small"])
    rss_large = statistics.median(r["max_rss_mb"] for r in runs["ours"])
    summary: dict[str, Any] = {
        "rows_small": small,
        "rows_large": large,
        "reps": args.reps,
        "bare_rows_per_s": round(best["bare"]),
        "ours_rows_per_s": round(best["ours"]),
        "speed_ratio_ours_over_bare": round(best["ours"] / best["bare"], 3),
        "speed_target": SPEED_TARGET,
        "ours_peak_rss_mb_small": round(rss_small, 1),
        "ours_peak_rss_mb_large": round(rss_large, 1),
        "bare_peak_rss_mb_large": round(statistics.median(r["max_rss_mb"] for r in runs["bare"])),
        "rss_growth_large_over_small": round(rss_large / rss_small - 1, 3),
        "rss_target": MEMORY_TARGET,
        "runs": runs,
    }
    if "dlt" in runs:
        ours_time = min(r["seconds"] for r in runs["ours"])
        summary["dlt_rows_per_s"] = round(best["dlt"])
        summary["time_ratio_ours_over_dlt"] = round(ours_time / runs["dlt"][0]["seconds"], 3)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    for key, value in summary.items():
        if key != "runs":
            print(f"{key:32s} {value}")
    print(f"written {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
