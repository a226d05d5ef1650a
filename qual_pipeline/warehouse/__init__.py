"""The warehouse: the single-writer load, history, SQL models and data-quality checks.

Connections come from the warehouse store (`qual_pipeline.stores`): a DuckDB file or DuckLake.
"""

from qual_pipeline.stores.warehouse import WarehouseBusyError, WarehouseNotFoundError
from qual_pipeline.warehouse.charts import render_charts
from qual_pipeline.warehouse.checks import (
    BLOCKING_CHECKS,
    CHECK_ORDER,
    WARNING_CHECKS,
    CheckFailure,
    CheckResult,
    check_extraction_complete,
    check_failures,
    check_grant_time_not_in_future,
    check_locales_valid,
    check_row_count_drop,
    check_scores_present,
    check_unique_worker_qualifications,
    recorded_checks,
    run_checks,
)
from qual_pipeline.warehouse.load import (
    LoadedSnapshot,
    LoadResult,
    WarehouseLoadError,
    latest_load_id,
    load_warehouse,
)
from qual_pipeline.warehouse.pushed_changes import (
    PushedChange,
    apply_pushed_changes,
    record_pushed_changes,
)

__all__ = [
    "BLOCKING_CHECKS",
    "CHECK_ORDER",
    "WARNING_CHECKS",
    "CheckFailure",
    "CheckResult",
    "LoadResult",
    "LoadedSnapshot",
    "PushedChange",
    "WarehouseBusyError",
    "WarehouseLoadError",
    "WarehouseNotFoundError",
    "apply_pushed_changes",
    "check_extraction_complete",
    "check_failures",
    "check_grant_time_not_in_future",
    "check_locales_valid",
    "check_row_count_drop",
    "check_scores_present",
    "check_unique_worker_qualifications",
    "latest_load_id",
    "load_warehouse",
    "record_pushed_changes",
    "recorded_checks",
    "render_charts",
    "run_checks",
]
