"""Small helpers shared by the benchmarks: process CPU and memory from /proc, result lines."""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a running process has used (Linux /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
    return (int(fields[11]) + int(fields[12])) / _TICKS


def process_peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a running process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def own_peak_rss_mb() -> float:
    """Peak resident memory of this process, in MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(name: str, figures: dict[str, Any]) -> Path:
    """Print one line per figure and write them to bench/results/<name>.json."""
    for key, value in figures.items():
        shown = f"{value:,.3f}" if isinstance(value, float) else f"{value}"
        print(f"{name}: {key} = {shown}", flush=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    return path


def holders_data(key: str, secret: str, type_id: str, name: str, workers: list[str]) -> dict:
    """A local MTurk data set (the `--data` document) of one requester owning one type, `name`,
    held by `workers` at score 1 each."""
    return {
        "requesters": [{"AccessKeyId": key, "SecretAccessKey": secret}],
        "qualification_types": [
            {
                "QualificationTypeId": type_id,
                "Name": name,
                "Description": "bench",
                "QualificationTypeStatus": "Active",
                "Owner": key,
            }
        ],
        "qualifications": [
            {"QualificationTypeId": type_id, "WorkerId": w, "Status": "Granted", "IntegerValue": 1}
            for w in workers
        ],
    }


def load_holders(data_dir: Path, type_id: str, workers: list[str]) -> None:
    """The local warehouse under `data_dir` as a refresh leaves it: lake snapshots of one type
    held by `workers` (score 1 each), then a load (with its load id)."""
    from datetime import UTC, datetime

    import pyarrow as pa

    from qual_pipeline.schema import QUALIFICATION_TYPES, WORKER_QUALIFICATIONS
    from qual_pipeline.stores.profile import local_stores
    from qual_pipeline.warehouse.load import load_warehouse

    stores = local_stores(data_dir)
    now = datetime.now(UTC)
    n = len(workers)
    snapshots = [
        (("qualification_types", None), QUALIFICATION_TYPES, {"qualification_type_id": [type_id]}),
        (
            ("worker_qualifications", type_id),
            WORKER_QUALIFICATIONS,
            {
                "qualification_type_id": [type_id] * n,
                "worker_id": workers,
                "status": ["Granted"] * n,
                "integer_value": [1] * n,
            },
        ),
    ]
    for (table, partition), schema, given in snapshots:
        rows = len(next(iter(given.values())))
        columns = {f.name: given.get(f.name, [None] * rows) for f in schema}
        columns["extracted_at"] = [now] * rows
        with stores.lake.writer(table, schema, partition, snapshot_at=now) as writer:
            writer.write(pa.Table.from_pydict(columns, schema=schema))
    load_warehouse(stores)
