"""Jobs: what one run does. Run tags feed the instance's run queue limits (dagster.yaml)."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from qual_pipeline.defs.assets.lake import (
    lake_qualification_requests,
    lake_qualification_types,
    lake_worker_qualifications,
)
from qual_pipeline.defs.assets.push import grant_plan, grants, push, push_plan
from qual_pipeline.defs.assets.warehouse import warehouse

API_TAG = "qual_pipeline/api"
WAREHOUSE_TAG = "qual_pipeline/warehouse"

refresh_types_job = define_asset_job(
    "refresh_qualification_types",
    selection=AssetSelection.assets(lake_qualification_types),
    tags={API_TAG: "extract"},
    description="Snapshot the metadata of the mirrored qualification types.",
)

extract_type_job = define_asset_job(
    "extract_qualification_type",
    selection=AssetSelection.assets(lake_worker_qualifications, lake_qualification_requests),
    tags={API_TAG: "extract"},
    description="Mirror one qualification type's workers and pending requests into the lake.",
)

load_warehouse_job = define_asset_job(
    "load_warehouse",
    selection=AssetSelection.assets(warehouse),
    tags={WAREHOUSE_TAG: "load"},
    description="Load every new lake snapshot into DuckDB and run the data-quality checks.",
)

push_scores_job = define_asset_job(
    "push_scores",
    selection=AssetSelection.assets(push_plan, push),
    tags={API_TAG: "push", WAREHOUSE_TAG: "push"},
    description="Plan the desired scores against MTurk's state and push the real changes.",
)

grant_requests_job = define_asset_job(
    "grant_requests",
    selection=AssetSelection.assets(grant_plan, grants),
    tags={API_TAG: "push", WAREHOUSE_TAG: "push"},
    description="Plan the grant decisions on pending requests and apply them.",
)
