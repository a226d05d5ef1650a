"""The Dagster instance settings ship with the package (qual_pipeline/dagster_instance.yaml) and
are the project's own dagster_home/dagster.yaml, so a pip install gets the run limits the README
promises (at most 2 extraction runs, 1 warehouse load) and the two cannot drift apart."""

from __future__ import annotations

from pathlib import Path

import yaml

from qual_pipeline.cli.preflight import instance_yaml

REPO = Path(__file__).resolve().parents[2]


def test_project_dagster_home_holds_the_shipped_settings() -> None:
    shipped = yaml.safe_load(instance_yaml())
    assert yaml.safe_load((REPO / "dagster_home" / "dagster.yaml").read_text()) == shipped
    runs = shipped["concurrency"]["runs"]
    limits = {limit["key"]: limit["limit"] for limit in runs["tag_concurrency_limits"]}
    assert limits == {"qual_pipeline/api": 2, "qual_pipeline/warehouse": 1}
    assert shipped["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert shipped["telemetry"] == {"enabled": False}
