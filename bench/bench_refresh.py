"""The cost of a refresh of many types, its pace under an unknown rate limit, and its peak memory.

In one run, against the local MTurk served from this process (127.0.0.1), each measurement in a
fresh subprocess:
- time of `qual-pipeline refresh` (discovery, one extraction run over every type, the warehouse
  load; a fresh Dagster instance on disk) against a bare boto3 loop making the same calls
  (ListQualificationTypes, then Granted and Revoked workers and pending requests of every type,
  one after the other), at 5, 300 and 2,000 types of about 50 workers each
  (target: refresh / bare at most 2 at 300 and 2,000 types);
- a refresh of many types against `rate_limit` requests/s per requester with QUAL_PIPELINE_RATE
  unset (the limit is not told to the client): the achieved rate of answered requests as a share
  of the limit (the whole refresh, and its paging alone), and the share of requests throttled
  (targets: at least 0.9; under 0.05), also for the paging's first 10 s (the pace's slow start
  finding the limit) and the steady state after. 300 types (about 900 paging requests, 45 s at
  20/s) is a realistic run: a requester with hundreds of types; a run much shorter than the
  start weighs the start's dozen throttles more;
- peak RSS of a whole refresh (extraction and load) at about 400,000 and 4,000,000 rows over
  5 types (target: the larger at most 1.15x the smaller).

Run: .venv/bin/python bench/bench_refresh.py [--types 5,300,2000] [--rss-rows 400000,4000000]
     [--rate-types 300] [--skip types,rss]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from common import report  # noqa: E402

WORKERS_PER_TYPE = 80  # the first type is held by all, the others by 20-100%: ~50 on average
SPEED_TARGET = 2.0
RATE_TARGET = 0.9
THROTTLE_TARGET = 0.05
MEMORY_TARGET = 1.15
ROWS_PER_WORKER_5_TYPES = 3.4  # generate(types=5): 1 + 4 x ~0.6 qualifications per worker
PER_TYPE = ("ListWorkersWithQualificationType", "ListQualificationRequests")


def _env(home: Path | None = None) -> dict[str, str]:
    from qual_pipeline.local_mturk.generate import GENERATED_ACCESS_KEY_ID, GENERATED_SECRET

    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": GENERATED_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": GENERATED_SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    for name in ("QUAL_PIPELINE_RATE", "AWS_PROFILE", "DAGSTER_HOME"):
        env.pop(name, None)
    if home is not None:
        env["DAGSTER_HOME"] = str(home)
    return env


class Server:
    """The local MTurk in this process, recording when each request was answered and how."""

    def __init__(self, data: Path, rate_limit: float | None = None) -> None:
        from qual_pipeline.local_mturk.server import FaultConfig, LocalMTurk

        self.mturk = LocalMTurk(data=data, faults=FaultConfig(rate_limit=rate_limit))
        self.answers: list[tuple[float, int, str]] = []
        self._lock = threading.Lock()
        service = self.mturk._service  # the bench's own instrument: one answer, one record
        answer = service.answer

        def recorded(method: str, path: str, headers: Any, body: bytes) -> Any:
            result = answer(method, path, headers, body)
            status = result[0] if isinstance(result, tuple) else 0
            operation = (headers.get("x-amz-target") or "").rpartition(".")[2]
            with self._lock:
                self.answers.append((time.monotonic(), status, operation))
            return result

        service.answer = recorded  # type: ignore[method-assign]
        self.mturk.start()
        self.url = self.mturk.endpoint_url

    def clear(self) -> None:
        with self._lock:
            self.answers.clear()

    def counts(self) -> dict[str, Any]:
        """Requests answered since `clear`: ok, throttled (400), the span of the answered ones,
        and the same for the per-type paging alone (the extraction step, after discovery and
        the run's start)."""
        with self._lock:
            answers = list(self.answers)
        ok = [t for t, status, _ in answers if status == 200]
        paging = [t for t, status, op in answers if status == 200 and op in PER_TYPE]
        throttled = sum(1 for _, status, _ in answers if status == 400)
        return {
            "requests": len(answers),
            "ok": len(ok),
            "throttled": throttled,
            "span_s": (max(ok) - min(ok)) if len(ok) > 1 else 0.0,
            "paging_ok": len(paging),
            "paging_span_s": (max(paging) - min(paging)) if len(paging) > 1 else 0.0,
        }

    def stop(self) -> None:
        self.mturk.stop()


# The bare loop: the same calls, one after the other ---------------------------------------------


def bare_loop(url: str) -> dict[str, Any]:
    import boto3

    client = boto3.client("mturk", region_name="us-east-1", endpoint_url=url)
    start = time.perf_counter()
    type_ids: list[str] = []
    for page in client.get_paginator("list_qualification_types").paginate(
        MustBeRequestable=False, MustBeOwnedByCaller=True, PaginationConfig={"PageSize": 100}
    ):
        type_ids += [t["QualificationTypeId"] for t in page["QualificationTypes"]]
    rows = 0
    workers = client.get_paginator("list_workers_with_qualification_type")
    requests = client.get_paginator("list_qualification_requests")
    for type_id in type_ids:
        for status in ("Granted", "Revoked"):
            for page in workers.paginate(
                QualificationTypeId=type_id, Status=status, PaginationConfig={"PageSize": 100}
            ):
                rows += len(page["Qualifications"])
        for page in requests.paginate(
            QualificationTypeId=type_id, PaginationConfig={"PageSize": 100}
        ):
            rows += len(page["QualificationRequests"])
    return {"types": len(type_ids), "rows": rows, "seconds": time.perf_counter() - start}


# Measurements ------------------------------------------------------------------------------------


def _generate(scratch: Path, workers: int, types: int) -> Path:
    from qual_pipeline.local_mturk.generate import generate

    path = scratch / f"data-{workers}x{types}.json"
    generate(path, workers=workers, types=types, seed=16)
    return path


def _bare(server: Server) -> dict[str, Any]:
    server.clear()
    done = subprocess.run(
        [sys.executable, __file__, "--bare", server.url],
        capture_output=True, text=True, env=_env(), timeout=3600,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"bare loop failed:\n{done.stderr[-3000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), **server.counts()}


def _refresh(server: Server, scratch: Path, *extra: str) -> dict[str, Any]:
    """`qual-pipeline refresh` in a fresh process, on a fresh data folder and Dagster instance;
    its wall time, peak RSS (of the refresh process) and what the server answered."""
    work = Path(tempfile.mkdtemp(dir=scratch, prefix="refresh-"))
    home = work / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    server.clear()
    script = Path(sys.executable).with_name("qual-pipeline")
    command = [str(script), "refresh", "--data-dir", str(work / "data"), *extra]
    done = subprocess.run(
        [sys.executable, __file__, "--measure", json.dumps(command)],
        capture_output=True, text=True, env={**_env(home), "MTURK_ENDPOINT_URL": server.url},
        timeout=7200,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"refresh failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    shutil.rmtree(work, ignore_errors=True)
    return {**measured, **server.counts()}


def measure(command: list[str]) -> dict[str, Any]:
    """Run `command`, return its wall time and peak RSS (its own, as the only child)."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        raise SystemExit(done.returncode)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    return {"seconds": seconds, "peak_rss_mb": peak, "last_line": last}


def many_types(scratch: Path, sizes: list[int]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for types in sizes:
        server = Server(_generate(scratch, WORKERS_PER_TYPE, types))
        try:
            bare = _bare(server)
            ours = _refresh(server, scratch)
        finally:
            server.stop()
        print(f"{types} types: bare {bare}\n{types} types: refresh {ours}", flush=True)
        figures[f"types_{types}_rows"] = bare["rows"]
        figures[f"types_{types}_bare_s"] = round(bare["seconds"], 3)
        figures[f"types_{types}_refresh_s"] = round(ours["seconds"], 3)
        figures[f"types_{types}_refresh_over_bare"] = round(ours["seconds"] / bare["seconds"], 2)
        figures[f"types_{types}_calls_refresh_over_bare"] = round(ours["ok"] / bare["ok"], 3)
    figures["speed_target"] = SPEED_TARGET
    return figures


START_S = 10.0
"""The start of a rate-limited run, reported apart from the steady state after it (seconds from
the first answer of the extraction's paging)."""


def _start_and_steady(answers: list[tuple[float, int, str]]) -> dict[str, Any]:
    """Answered and throttled requests in the first START_S seconds of the paging, and after."""
    paging = [t for t, status, op in answers if op in PER_TYPE]
    if not paging:
        return {}
    start = min(paging) + START_S
    figures: dict[str, Any] = {}
    for part, keep in (("start", lambda t: t < start), ("steady", lambda t: t >= start)):
        ok = [t for t, status, _ in answers if status == 200 and keep(t)]
        throttled = sum(1 for t, status, _ in answers if status == 400 and keep(t))
        figures[f"rate_{part}_ok"] = len(ok)
        figures[f"rate_{part}_throttled"] = throttled
        figures[f"rate_{part}_throttled_share"] = round(throttled / max(len(ok) + throttled, 1), 4)
    steady = sorted(t for t, status, op in answers if status == 200 and t >= start)
    if len(steady) > 1:
        rate = (len(steady) - 1) / (steady[-1] - steady[0])
        figures["rate_steady_achieved_per_s"] = round(rate, 2)
    return figures


def rate_limited(scratch: Path, types: int, limit: float) -> dict[str, Any]:
    """A refresh of `types` types against a limit of `limit` requests/s it is not told: what the
    server answered, for the whole refresh, its paging alone, its first START_S seconds and the
    steady state after."""
    server = Server(_generate(scratch, WORKERS_PER_TYPE, types), rate_limit=limit)
    try:
        ours = _refresh(server, scratch)
        with server._lock:
            answers = list(server.answers)
    finally:
        server.stop()
    print(f"rate limit {limit}/s, {types} types: refresh {ours}", flush=True)
    achieved = (ours["ok"] - 1) / ours["span_s"] if ours["span_s"] else 0.0
    paging = (ours["paging_ok"] - 1) / ours["paging_span_s"] if ours["paging_span_s"] else 0.0
    split = _start_and_steady(answers)
    steady = split.get("rate_steady_achieved_per_s", 0.0)
    return {
        "rate_paging_achieved_per_s": round(paging, 2),
        "rate_paging_share_of_limit": round(paging / limit, 3),
        "rate_limit_per_s": limit,
        "rate_types": types,
        "rate_requests_ok": ours["ok"],
        "rate_requests_throttled": ours["throttled"],
        "rate_achieved_per_s": round(achieved, 2),
        "rate_share_of_limit": round(achieved / limit, 3),
        "rate_throttled_share": round(ours["throttled"] / max(ours["requests"], 1), 4),
        **split,
        "rate_steady_share_of_limit": round(steady / limit, 3),
        "rate_refresh_s": round(ours["seconds"], 2),
        "rate_target": RATE_TARGET,
        "throttle_target": THROTTLE_TARGET,
    }


def peak_memory(scratch: Path, sizes: list[int]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    peaks: list[float] = []
    for rows in sizes:
        workers = max(1, round(rows / ROWS_PER_WORKER_5_TYPES))
        data = _generate(scratch, workers, 5)
        server = Server(data)
        data.unlink()
        try:
            ours = _refresh(server, scratch)
        finally:
            server.stop()
        print(f"~{rows:,} rows: refresh {ours}", flush=True)
        figures[f"rss_rows_{rows}_refresh_s"] = round(ours["seconds"], 2)
        figures[f"rss_rows_{rows}_peak_rss_mb"] = round(ours["peak_rss_mb"], 1)
        figures[f"rss_rows_{rows}_summary"] = ours["last_line"]
        peaks.append(ours["peak_rss_mb"])
    figures["rss_largest_over_smallest"] = round(peaks[-1] / peaks[0], 3)
    figures["rss_target"] = MEMORY_TARGET
    return figures


def _sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--types", default="5,300,2000", help="type counts, comma-separated")
    parser.add_argument("--rate-types", type=int, default=300, help="types of the rate run")
    parser.add_argument("--rate-limit", type=float, default=20.0, help="requests/s per requester")
    parser.add_argument("--rss-rows", default="400000,4000000", help="row counts of the RSS runs")
    parser.add_argument("--skip", default="", help="parts to skip: types, rate, rss")
    parser.add_argument("--bare", help=argparse.SUPPRESS)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        print(json.dumps(bare_loop(args.bare)))
        return
    if args.measure:
        print(json.dumps(measure(json.loads(args.measure))))
        return
    skip = set(args.skip.split(","))
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-refresh-") as tmp:
        scratch = Path(tmp)
        if "types" not in skip:
            figures |= many_types(scratch, _sizes(args.types))
        if "rate" not in skip:
            figures |= rate_limited(scratch, args.rate_types, args.rate_limit)
        if "rss" not in skip:
            figures |= peak_memory(scratch, _sizes(args.rss_rows))
    report("refresh", figures)


if __name__ == "__main__":
    main()
