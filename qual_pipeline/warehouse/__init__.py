"""The warehouse: the single-writer load, history, SQL models and data-quality checks.

Connections come from the warehouse store (`qual_pipeline.stores`): a DuckDB file or DuckLake.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_SOURCES: dict[str, str] = {
    "BLOCKING_CHECKS": "qual_pipeline.warehouse.checks",
    "CHECK_ORDER": "qual_pipeline.warehouse.checks",
    "CheckFailure": "qual_pipeline.warehouse.checks",
    "CheckResult": "qual_pipeline.warehouse.checks",
    "LoadResult": "qual_pipeline.warehouse.load",
    "LoadedSnapshot": "qual_pipeline.warehouse.load",
    "PushedChange": "qual_pipeline.warehouse.pushed_changes",
    "WARNING_CHECKS": "qual_pipeline.warehouse.checks",
    "WarehouseBusyError": "qual_pipeline.stores.warehouse",
    "WarehouseLoadError": "qual_pipeline.warehouse.load",
    "WarehouseNotFoundError": "qual_pipeline.stores.warehouse",
    "apply_pushed_changes": "qual_pipeline.warehouse.pushed_changes",
    "check_extraction_complete": "qual_pipeline.warehouse.checks",
    "check_failures": "qual_pipeline.warehouse.checks",
    "check_grant_time_not_in_future": "qual_pipeline.warehouse.checks",
    "check_locales_valid": "qual_pipeline.warehouse.checks",
    "check_row_count_drop": "qual_pipeline.warehouse.checks",
    "check_scores_present": "qual_pipeline.warehouse.checks",
    "check_unique_worker_qualifications": "qual_pipeline.warehouse.checks",
    "latest_load_id": "qual_pipeline.warehouse.load",
    "load_warehouse": "qual_pipeline.warehouse.load",
    "record_pushed_changes": "qual_pipeline.warehouse.pushed_changes",
    "recorded_checks": "qual_pipeline.warehouse.checks",
    "render_charts": "qual_pipeline.warehouse.charts",
    "run_checks": "qual_pipeline.warehouse.checks",
}
"""Each name below and the module it comes from: imported when first used (PEP 562), so importing
one light submodule (e.g. `sql_files` for the command line's `--sql-dir` default) does not import
DuckDB, pyarrow, matplotlib and boto3 through this package."""

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


def __getattr__(name: str) -> Any:
    """`name` from its module in `_SOURCES` on first use; AttributeError for any other name."""
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(source), name)
    globals()[name] = value
    return value
