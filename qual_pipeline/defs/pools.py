"""Dagster pools: which steps may run at once, across runs.

`mturk_api` holds the steps that call MTurk (extraction and push), so a backfill of many types does
not flood the API; `warehouse` holds the single DuckDB writer (the load and the push path). A pool
Dagster has no limit for runs one step at a time (`pools.default_limit` in dagster.yaml).
"""

from __future__ import annotations

from dagster import DagsterInstance

API_POOL = "mturk_api"
WAREHOUSE_POOL = "warehouse"


def set_pool_limits(instance: DagsterInstance, api_concurrency: int) -> None:
    """Extraction may run `api_concurrency` steps at once; the warehouse has one writer."""
    instance.event_log_storage.set_concurrency_slots(API_POOL, api_concurrency)
    instance.event_log_storage.set_concurrency_slots(WAREHOUSE_POOL, 1)
