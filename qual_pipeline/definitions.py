"""The Dagster code location: every asset, check, job, sensor and schedule, and their resources.

`dagster dev` (via workspace.yaml), `qual-pipeline refresh` and the tests all load these same
definitions. The resources' fields are the settings of `qual_pipeline.settings`: a variable set when
the code location loads is resolved through `EnvVar` when each run launches; a setting that is not
set keeps its declared default. The schedule's cron is read once, here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import Definitions

from qual_pipeline import settings
from qual_pipeline.defs.assets.lake import lake_assets
from qual_pipeline.defs.assets.push import push_assets
from qual_pipeline.defs.assets.warehouse import warehouse
from qual_pipeline.defs.jobs import (
    extract_types_job,
    grant_requests_job,
    load_warehouse_job,
    push_scores_job,
    refresh_types_job,
)
from qual_pipeline.defs.resources import MTurkResource, PipelineConfig, resource_config
from qual_pipeline.defs.schedules import build_refresh_schedule
from qual_pipeline.defs.sensors import load_after_extract, qualification_type_discovery


def build_definitions(values: Mapping[str, Any] | None = None) -> Definitions:
    """The code location. `values` (by setting name, e.g. {"data_dir": "..."}) fixes settings
    for every run, as the CLI does with its options; the others come from the environment."""
    values = values or {}
    cron = values.get(settings.SCHEDULE_CRON.name) or settings.SCHEDULE_CRON.from_env()
    return Definitions(
        assets=[*lake_assets, warehouse, *push_assets],
        jobs=[
            refresh_types_job,
            extract_types_job,
            load_warehouse_job,
            push_scores_job,
            grant_requests_job,
        ],
        sensors=[qualification_type_discovery, load_after_extract],
        schedules=[build_refresh_schedule(cron)],
        resources={
            "mturk": MTurkResource(**resource_config("mturk", values)),
            "pipeline": PipelineConfig(**resource_config("pipeline", values)),
        },
    )


defs = build_definitions()
