"""Sample a refresh's RSS over time from outside the process, with its phases marked.

Not part of `make bench`: a probe for finding where the peak of `qual-pipeline refresh` comes
from. For each row count, a local MTurk with 5 types (as bench_refresh's RSS part), then the
refresh in a subprocess whose /proc/PID/status VmRSS (and RssAnon) is read every `--interval`
seconds, each sample with its phase, told by the files the refresh leaves in its data folder:
`start` (imports, discovery: until the types' snapshot is published), `extract` (until the
warehouse file appears), `load` (until the charts folder appears), `charts`; during the
extraction, how many spilled sorts have bucket folders. Per phase: its peak and its last sample
(what the extraction hands to the load), of VmRSS and of RssAnon (the process's own memory,
without the pages of mapped files). Samples go to `--out` as JSON.

Each `--env K=V,...` is a variant run with those variables (QP_BIN=PATH runs that qual-pipeline
script instead, e.g. another worktree's, so two versions alternate in one run); `--repeat` runs
every variant again, interleaved.

`--keep-data DIR` keeps the generated MTurk data there (the same seed, so the same data) and
reuses it in the next run: generating 4,000,000 rows took minutes on a busy machine.

Run: .venv/bin/python bench/rss_probe.py --rows 400000,4000000 [--env K=V,...] [--repeat N]
     [--out FILE] [--keep-data DIR]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_refresh import ROWS_PER_WORKER_5_TYPES, Server, _env, _generate


def _rss_kb(pid: int) -> tuple[int, int, int]:
    """(VmRSS, VmHWM, RssAnon) in kB, 0 when gone. RssAnon leaves out the pages of mapped files
    (the shared libraries), whose count depends on the page cache, not on the process."""
    rss = hwm = anon = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
                elif line.startswith("RssAnon:"):
                    anon = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm, anon


def _phase(data: Path) -> tuple[str, int, int]:
    """(phase, spilled sorts running, worker_qualifications snapshots published) by the files
    the refresh leaves: `start` until the types' snapshot is published, `extract` until the
    warehouse file appears, `load` until the charts folder does, then `charts`."""
    if (data / "charts").exists():
        return "charts", 0, 0
    if (data / "warehouse.duckdb").exists():
        return "load", 0, 0
    if not (data / "lake" / "qualification_types").exists():
        return "start", 0, 0
    try:
        sorting = sum(1 for p in (data / ".staging").rglob("buckets") if p.is_dir())
    except OSError:
        sorting = 0
    try:
        published = sum(1 for _ in (data / "lake" / "worker_qualifications").glob("*/*.parquet"))
    except OSError:
        published = 0
    return "extract", sorting, published


def probe(server: Server, scratch: Path, env: dict[str, str], interval: float) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(dir=scratch, prefix="probe-"))
    env = dict(env)
    # QP_BIN in a variant: another checkout's qual-pipeline (e.g. main's, for an A/B in one run)
    script = Path(env.pop("QP_BIN", "") or Path(sys.executable).with_name("qual-pipeline"))
    data = work / "data"
    proc = subprocess.Popen(
        [str(script), "refresh", "--data-dir", str(data)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**_env(None), "MTURK_ENDPOINT_URL": server.url, **env},
    )  # fmt: skip
    start = time.perf_counter()
    samples: list[tuple[float, int, str, int, int, int]] = []
    hwm = anon_peak = 0
    while proc.poll() is None:
        rss, high, anon = _rss_kb(proc.pid)
        hwm, anon_peak = max(hwm, high), max(anon_peak, anon)
        phase, sorting, published = _phase(data)
        samples.append((time.perf_counter() - start, rss, phase, sorting, published, anon))
        time.sleep(interval)
    seconds = time.perf_counter() - start
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"refresh failed:\n{err[-3000:]}")
    out: dict[str, Any] = {"seconds": round(seconds, 2), "peak_mb": 0.0}
    for name in ("start", "extract", "load", "charts"):
        rows = [s for s in samples if s[2] == name]
        if rows:
            top = max(rows, key=lambda s: s[1])
            out[f"{name}_peak_mb"] = round(top[1] / 1024, 1)
            out[f"{name}_peak_at_s"] = round(top[0], 2)
            out[f"{name}_span_s"] = round(rows[-1][0] - rows[0][0], 2)
            out[f"{name}_end_mb"] = round(rows[-1][1] / 1024, 1)
            out[f"{name}_anon_peak_mb"] = round(max(s[5] for s in rows) / 1024, 1)
            out[f"{name}_anon_end_mb"] = round(rows[-1][5] / 1024, 1)
    sorts = [s for s in samples if s[2] == "extract" and s[3]]
    if sorts:
        out["peak_while_sorting_mb"] = round(max(s[1] for s in sorts) / 1024, 1)
        out["most_sorts_at_once"] = max(s[3] for s in sorts)
    out["peak_mb"] = round(max(s[1] for s in samples) / 1024, 1)
    out["hwm_mb"] = round(hwm / 1024, 1)
    out["anon_peak_mb"] = round(anon_peak / 1024, 1)
    out["samples"] = [
        (round(t, 2), round(r / 1024, 1), p, n, m, round(a / 1024, 1))
        for t, r, p, n, m, a in samples
    ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="400000,4000000")
    parser.add_argument("--env", action="append", default=[], help="K=V,... per variant")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--out", default="/tmp/rss_probe.json")
    parser.add_argument(
        "--keep-data", help="a folder keeping the generated MTurk data for the next run"
    )
    args = parser.parse_args()
    variants = [
        dict(kv.split("=", 1) for kv in spec.split(",") if kv) for spec in (args.env or [""])
    ]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="rss-probe-") as tmp:
        scratch = Path(tmp)
        for rows in [int(x) for x in args.rows.split(",")]:
            workers = max(1, round(rows / ROWS_PER_WORKER_5_TYPES))
            kept = Path(args.keep_data) / f"data-{workers}x5.json" if args.keep_data else None
            if kept is not None and kept.exists():  # generated with the same seed before
                data = kept
            else:
                data = _generate(scratch, workers, 5)
                if kept is not None:
                    kept.parent.mkdir(parents=True, exist_ok=True)
                    data = data.replace(kept)
            server = Server(data)
            if kept is None:
                data.unlink()
            try:
                for rep in range(args.repeat):
                    for env in variants:
                        load = os.getloadavg()[0]
                        got = probe(server, scratch, env, args.interval)
                        got |= {"rows": rows, "env": env, "rep": rep, "load_before": load,
                                "load_after": os.getloadavg()[0]}  # fmt: skip
                        results.append(got)
                        brief = {k: v for k, v in got.items() if k != "samples"}
                        print(json.dumps(brief), flush=True)
                        Path(args.out).write_text(json.dumps(results))
            finally:
                server.stop()


if __name__ == "__main__":
    main()
