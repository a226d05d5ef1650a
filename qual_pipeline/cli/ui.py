"""`qual-pipeline ui` (what `make ui` runs): a local MTurk and the Dagster UI in front of it.

The local MTurk keeps its state in <data_dir>/local_mturk.sqlite, so what you push survives a
restart like on the real service. Dagster keeps its runs in DAGSTER_HOME (the project's
dagster_home/ unless set).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster import DagsterInstance
from rich.console import Console

from qual_pipeline.local_process import generate_data, local_mturk, requester_credentials

API_POOL_DEFAULT = 2


def set_pool_limits(instance: DagsterInstance, api_concurrency: int) -> None:
    """Extraction may run `api_concurrency` steps at once; the warehouse has one writer."""
    instance.event_log_storage.set_concurrency_slots("mturk_api", api_concurrency)
    instance.event_log_storage.set_concurrency_slots("warehouse", 1)


def dagster_dev_command(port: int) -> list[str]:
    target = ["-w", "workspace.yaml"] if Path("workspace.yaml").is_file() else [
        "-m", "qual_pipeline.definitions"
    ]  # fmt: skip
    dagster = Path(sys.executable).with_name("dagster")
    return [str(dagster), "dev", *target, "-h", "127.0.0.1", "-p", str(port)]


def run_ui(*, port: int, data_dir: Path, workers: int, types: int) -> int:
    console = Console()
    os.environ.setdefault("DAGSTER_HOME", str(Path("dagster_home").resolve()))
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    dataset = data_dir / "local_mturk.json"
    if not dataset.exists():
        console.print(f"generating a local MTurk data set: {workers} workers, {types} types")
        generate_data(dataset, workers=workers, types=types, seed=2026)
    key, secret = requester_credentials(dataset)
    api_concurrency = int(os.environ.get("QUAL_PIPELINE_API_CONCURRENCY", API_POOL_DEFAULT))
    set_pool_limits(DagsterInstance.get(), api_concurrency)
    with local_mturk(data=dataset, state=data_dir / "local_mturk.sqlite") as server:
        env = {
            **os.environ,
            "MTURK_ENDPOINT_URL": server.endpoint_url,
            "AWS_ACCESS_KEY_ID": key,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_DEFAULT_REGION": "us-east-1",
            "QUAL_PIPELINE_DATA_DIR": str(data_dir),
        }
        env.pop("AWS_PROFILE", None)
        console.print(f"local MTurk: {server.endpoint_url}")
        console.print(f"Dagster UI:  http://127.0.0.1:{port}  (Ctrl-C stops both)")
        try:
            return subprocess.run(dagster_dev_command(port), env=env).returncode
        except KeyboardInterrupt:
            return 0
