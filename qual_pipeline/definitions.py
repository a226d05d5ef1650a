"""The Dagster code location: every asset, check, job, sensor and schedule, and their resources.

`dagster dev` (via workspace.yaml), `qual-pipeline refresh` and the tests all load these same
definitions. Settings come from environment variables through `EnvVar`, resolved by Dagster when a
run starts; a setting that is not set keeps the default written here.
"""

from __future__ import annotations

import os
from typing import Any

from dagster import Definitions, EnvVar

from qual_pipeline.defs.assets.lake import lake_assets
from qual_pipeline.defs.assets.push import push_assets
from qual_pipeline.defs.assets.warehouse import warehouse
from qual_pipeline.defs.jobs import (
    extract_type_job,
    grant_requests_job,
    load_warehouse_job,
    push_scores_job,
    refresh_types_job,
)
from qual_pipeline.defs.resources import MTurkResource, PipelineConfig
from qual_pipeline.defs.schedules import DEFAULT_CRON, build_refresh_schedule
from qual_pipeline.defs.sensors import load_after_extract, qualification_type_discovery
from qual_pipeline.mturk_api.client import ConfigurationError

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


def env_float(name: str) -> float:
    """Dagster's EnvVar carries strings and ints only: floats are read here, at assembly."""
    value = os.environ[name]
    try:
        return float(value)
    except ValueError:
        raise ConfigurationError(f"{name}={value!r} is not a number; set it to e.g. 0.5") from None


def env_bool(name: str) -> bool:
    value = os.environ[name].strip().lower()
    if value in TRUE | FALSE:
        return value in TRUE
    raise ConfigurationError(
        f"{name}={os.environ[name]!r} is not a yes/no value; use true or false"
    )


# Setting name -> (resource field, how to read it).
MTURK_SETTINGS: dict[str, tuple[str, Any]] = {
    "MTURK_ENDPOINT_URL": ("endpoint_url", EnvVar),
    "MTURK_ENVIRONMENT": ("environment", EnvVar),
    "MTURK_RETRY_MODE": ("retry_mode", EnvVar),
    "MTURK_MAX_ATTEMPTS": ("max_attempts", EnvVar.int),
    "QUAL_PIPELINE_RATE": ("requests_per_second", env_float),
    "AWS_PROFILE": ("aws_profile", EnvVar),
}
PIPELINE_SETTINGS: dict[str, tuple[str, Any]] = {
    "QUAL_PIPELINE_DATA_DIR": ("data_dir", EnvVar),
    "QUAL_PIPELINE_TYPES": ("types", EnvVar),
    "QUAL_PIPELINE_INPUTS_DIR": ("inputs_dir", EnvVar),
    "QUAL_PIPELINE_MAX_ROW_DROP_SHARE": ("max_row_drop_share", env_float),
    "QUAL_PIPELINE_PUSH_MAX_CHANGES": ("push_max_changes", EnvVar.int),
    "QUAL_PIPELINE_PUSH_MAX_SHARE": ("push_max_share", env_float),
    "QUAL_PIPELINE_PUSH_ALLOW_GRANTS": ("push_allow_grants", env_bool),
    "QUAL_PIPELINE_PUSH_ALLOW_REVOKES": ("push_allow_revokes", env_bool),
    "QUAL_PIPELINE_PUSH_MAX_REVOKES": ("push_max_revokes", EnvVar.int),
    "QUAL_PIPELINE_PUSH_MAX_REVOKE_SHARE": ("push_max_revoke_share", env_float),
    "QUAL_PIPELINE_PUSH_ALLOW_PRODUCTION": ("push_allow_production", env_bool),
    "QUAL_PIPELINE_PUSH_SEND_NOTIFICATIONS": ("push_send_notifications", env_bool),
    "QUAL_PIPELINE_PUSH_SKIP_REJECTED": ("push_skip_rejected", env_bool),
    "QUAL_PIPELINE_PUSH_IGNORE_CHECKS": ("push_ignore_checks", EnvVar),
}


def _configured(settings: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    """EnvVar references for the settings that are set; the rest keep the resource defaults."""
    return {field: read(name) for name, (field, read) in settings.items() if os.environ.get(name)}


def build_definitions() -> Definitions:
    cron = os.environ.get("QUAL_PIPELINE_SCHEDULE_CRON") or DEFAULT_CRON
    return Definitions(
        assets=[*lake_assets, warehouse, *push_assets],
        jobs=[
            refresh_types_job,
            extract_type_job,
            load_warehouse_job,
            push_scores_job,
            grant_requests_job,
        ],
        sensors=[qualification_type_discovery, load_after_extract],
        schedules=[build_refresh_schedule(cron)],
        resources={
            "mturk": MTurkResource(**_configured(MTURK_SETTINGS)),
            "pipeline": PipelineConfig(**_configured(PIPELINE_SETTINGS)),
        },
    )


defs = build_definitions()
