"""Jobs: what one run does. Run tags feed the instance's run queue limits (dagster.yaml).

`extract_qualification_types` runs over a range of type partitions (the run tags
`dagster/asset_partition_range_start` and `_end`, see `partition_range_tags`): one run extracts
many types, concurrently, instead of one run per type.
"""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from qual_pipeline.defs.assets.lake import lake_qualification_types, lake_type_tables
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

extract_types_job = define_asset_job(
    "extract_qualification_types",
    selection=AssetSelection.assets(lake_qualification_types, lake_type_tables),
    tags={API_TAG: "extract"},
    description="Mirror the types' metadata and, for every type partition of the run (one key "
    "or a range), its workers and pending requests into the lake, many types at once.",
)

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def partition_range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags that make one run cover the partitions from `first` to `last`, in the order the
    instance keeps the dynamic partitions (the order they were added)."""
    return {RANGE_START_TAG: first, RANGE_END_TAG: last}


def contiguous_ranges(wanted: list[str], order: list[str]) -> list[tuple[str, str]]:
    """The fewest (first, last) ranges of `order` that cover exactly the keys of `wanted`."""
    chosen = set(wanted)
    ranges: list[tuple[str, str]] = []
    start: str | None = None
    previous: str | None = None
    for key in order:
        if key in chosen:
            start = key if start is None else start
            previous = key
        elif start is not None and previous is not None:
            ranges.append((start, previous))
            start = None
    if start is not None and previous is not None:
        ranges.append((start, previous))
    return ranges


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
