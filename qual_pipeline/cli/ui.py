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
from typing import Annotated

import typer

from qual_pipeline import settings
from qual_pipeline.cli.options import SettingValues, takes_settings
from qual_pipeline.cli.render import out


@takes_settings("ui")
def ui(
    port: Annotated[int, typer.Option(help="Port of the Dagster UI.")] = 3000,
    workers: Annotated[int, typer.Option(min=10, help="Workers in the local data set.")] = 3000,
    types: Annotated[int, typer.Option(min=1, max=20, help="Qualification types.")] = 4,
    *,
    values: SettingValues,
) -> None:
    """Start a local MTurk and the Dagster UI (dagster dev) on dagster_home/ and workspace.yaml."""
    raise typer.Exit(
        run_ui(
            port=port,
            data_dir=Path(values[settings.DATA_DIR.name]).resolve(),
            workers=workers,
            types=types,
            api_concurrency=values[settings.API_CONCURRENCY.name],
        )
    )


def dagster_dev_command(port: int) -> list[str]:
    target = ["-w", "workspace.yaml"] if Path("workspace.yaml").is_file() else [
        "-m", "qual_pipeline.definitions"
    ]  # fmt: skip
    dagster = Path(sys.executable).with_name("dagster")
    return [str(dagster), "dev", *target, "-h", "127.0.0.1", "-p", str(port)]


def run_ui(*, port: int, data_dir: Path, workers: int, types: int, api_concurrency: int) -> int:
    from dagster import DagsterInstance

    from qual_pipeline.defs.pools import set_pool_limits
    from qual_pipeline.local_process import generate_data, local_mturk, requester_credentials

    os.environ.setdefault("DAGSTER_HOME", str(Path("dagster_home").resolve()))
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    dataset = data_dir / "local_mturk.json"
    if not dataset.exists():
        out.print(f"generating a local MTurk data set: {workers} workers, {types} types")
        generate_data(dataset, workers=workers, types=types, seed=2026)
    key, secret = requester_credentials(dataset)
    set_pool_limits(DagsterInstance.get(), api_concurrency)
    with local_mturk(data=dataset, state=data_dir / "local_mturk.sqlite") as server:
        env = {
            **os.environ,
            settings.ENDPOINT_URL.env: server.endpoint_url,
            "AWS_ACCESS_KEY_ID": key,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_DEFAULT_REGION": "us-east-1",
            settings.DATA_DIR.env: str(data_dir),
        }
        env.pop("AWS_PROFILE", None)
        out.print(f"local MTurk: {server.endpoint_url}")
        out.print(f"Dagster UI:  http://127.0.0.1:{port}  (Ctrl-C stops both)")
        try:
            return subprocess.run(dagster_dev_command(port), env=env).returncode
        except KeyboardInterrupt:
            return 0
