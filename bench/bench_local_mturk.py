"""The local MTurk under one boto3 client paging a million qualifications.

In one run: generate a data set (`--rows` workers, one type), serve it with
`local-mturk serve` in its own process, and page every qualification (Granted and Revoked,
100-row pages) through boto3's own paginator. Reported:
- rows/s and pages/s the client reached, and the client's CPU share of the wall time: near 1.0
  means the client is limited by its own parsing, not by waiting on the server;
- the server's CPU share (its CPU seconds over the wall time of the paging), and both sides' CPU
  per page, which other load on the machine does not distort;
- the page time over the first and the last 1,000 pages (keyset paging: a page at row 1,000,000
  should cost what a page at row 1 costs);
- the server's peak RSS holding the data set, and the time to generate and to load it.

Run: .venv/bin/python bench/bench_local_mturk.py [--rows 1000000] [--seed 1]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import process_cpu_seconds, process_peak_rss_mb, report

CLI = [sys.executable, "-c", "from qual_pipeline.cli.local_mturk import app; app()"]
WINDOW = 1000  # pages at the start and at the end whose times are compared


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="qualifications to serve")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    import boto3
    from botocore.config import Config

    from qual_pipeline.local_mturk.generate import (
        GENERATED_ACCESS_KEY_ID,
        GENERATED_SECRET,
        generate,
    )

    with tempfile.TemporaryDirectory(prefix="bench-local-mturk-") as tmp:
        data = Path(tmp) / "data.json"
        started = time.perf_counter()
        counts = generate(data, workers=args.rows, types=1, seed=args.seed)
        generate_s = time.perf_counter() - started

        started = time.perf_counter()
        server = subprocess.Popen(
            [*CLI, "serve", "--port", "0", "--data", str(data)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            if not url:
                raise SystemExit("the local MTurk did not start")
            load_s = time.perf_counter() - started
            type_id = counts.type_ids[0]
            client = boto3.session.Session().client(
                "mturk",
                region_name="us-east-1",
                endpoint_url=url,
                aws_access_key_id=GENERATED_ACCESS_KEY_ID,
                aws_secret_access_key=GENERATED_SECRET,
                config=Config(retries={"mode": "standard", "total_max_attempts": 3}),
            )
            paginator = client.get_paginator("list_workers_with_qualification_type")
            client.get_account_balance()  # connection up, model loaded

            page_times: list[float] = []
            rows = 0
            server_cpu0, own_cpu0 = process_cpu_seconds(server.pid), _own_cpu()
            wall0 = last = time.perf_counter()
            for status in ("Granted", "Revoked"):
                for page in paginator.paginate(
                    QualificationTypeId=type_id,
                    Status=status,
                    PaginationConfig={"PageSize": 100},
                ):
                    rows += len(page["Qualifications"])
                    now = time.perf_counter()
                    page_times.append(now - last)
                    last = now
            wall = time.perf_counter() - wall0
            server_cpu = process_cpu_seconds(server.pid) - server_cpu0
            own_cpu = _own_cpu() - own_cpu0
            peak_rss = process_peak_rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)

    if rows != counts.qualifications:
        raise SystemExit(f"paged {rows} rows, expected {counts.qualifications}")
    window = min(WINDOW, len(page_times) // 2)
    first = sum(page_times[:window]) / window
    final = sum(page_times[-window:]) / window
    figures: dict[str, Any] = {
        "rows": rows,
        "pages": len(page_times),
        "client_rows_per_s": rows / wall,
        "client_pages_per_s": len(page_times) / wall,
        "client_cpu_share": own_cpu / wall,
        "server_cpu_share": server_cpu / wall,
        # Per page CPU, independent of other load on the machine: who limits whom.
        "client_cpu_ms_per_page": own_cpu / len(page_times) * 1000,
        "server_cpu_ms_per_page": server_cpu / len(page_times) * 1000,
        "server_over_client_cpu": server_cpu / own_cpu,
        "first_pages_ms": first * 1000,
        "last_pages_ms": final * 1000,
        "last_over_first_page_time": final / first,
        "server_peak_rss_mb": peak_rss,
        "generate_s": generate_s,
        "load_s": load_s,
    }
    report("local_mturk", figures)


if __name__ == "__main__":
    main()
