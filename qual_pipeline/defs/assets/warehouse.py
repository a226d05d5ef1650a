"""The warehouse asset: the lake's single writer into DuckDB, with its data-quality checks.

One step (pool `warehouse`, size 1) loads every new snapshot in one transaction, which also runs the
checks and records them with the load's id. The asset checks report those recorded results: a
failed blocking check (severity ERROR) fails the run and makes `plan`/`push` refuse the types it
names; a warning (severity WARN) is shown and blocks nothing.
"""

import base64
import threading
from collections.abc import Iterator
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    AutomationCondition,
    Failure,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from qual_pipeline import interrupt, settings
from qual_pipeline.defs.assets.lake import lake_assets
from qual_pipeline.defs.metadata import warehouse_column_schema
from qual_pipeline.defs.pools import WAREHOUSE_POOL
from qual_pipeline.defs.resources import MTurkResource, PipelineConfig
from qual_pipeline.interrupt import Interrupted
from qual_pipeline.mturk_api.source import MTurkSource
from qual_pipeline.progress import Progress, report
from qual_pipeline.stores.warehouse import WarehouseStoreError, set_memory_limit
from qual_pipeline.warehouse import charts as charts_module
from qual_pipeline.warehouse.charts import OVER_TIME_PNG, SCORE_DISTRIBUTION_PNG, render_charts
from qual_pipeline.warehouse.checks import BLOCKING_CHECKS
from qual_pipeline.warehouse.columns import table_doc
from qual_pipeline.warehouse.load import WarehouseLoadError, load_warehouse

CHECKED_TABLE = AssetKey(["warehouse", "worker_qualifications"])

# Load when any lake snapshot is new and no extraction is still running; unlike `eager()` a type
# that was never extracted does not hold the others back.
LOAD_AFTER_EXTRACT = AutomationCondition.eager().without(~AutomationCondition.any_deps_missing())

TABLES = (
    "worker_qualifications",
    "worker_qualification_history",
    "qualification_types",
    "qualification_requests",
    "extract_runs",
)
"""The warehouse tables shown as assets; what each holds is read from its DDL (`table_doc`)."""
CHART_TITLES = {
    SCORE_DISTRIBUTION_PNG: "Score distribution per type",
    OVER_TIME_PNG: "Over time: changes per day, or grants per month before any change",
}

CHECKS: dict[str, str] = {
    "unique_worker_qualifications": "Blocking: one row per (qualification_type_id, worker_id).",
    "extraction_complete": "Blocking: every mirrored type has a complete snapshot loaded.",
    "row_count_not_dropping": "Blocking: no type lost more than the allowed share of its rows.",
    "scores_present": "Warning: integer_value is present where the type uses scores.",
    "locales_valid": "Warning: countries and subdivisions are valid ISO 3166 codes.",
    "grant_time_not_in_future": "Warning: no grant_time lies in the future (beyond clock skew).",
}


_PREPARING: list[threading.Thread] = []
_PREPARING_LOCK = threading.Lock()


def prepare_charts() -> None:
    """Start importing matplotlib for the charts in a daemon thread, once per process
    (`charts.prepare`): the charts drawn after the load then find it imported. The load step
    calls it before loading (DuckDB's queries release the GIL), `qual_pipeline.refresh` before
    the extraction (whose run mostly waits on the instance's storage). A failed import is left to
    the drawing, which raises it."""
    with _PREPARING_LOCK:
        if _PREPARING:
            return
        thread = threading.Thread(target=_prepare, name="prepare-charts", daemon=True)
        _PREPARING.append(thread)
        thread.start()


def _prepare() -> None:
    try:
        charts_module.prepare()
    except Exception:  # the drawing imports again and reports the error
        return


def chart_image(path: Path) -> MetadataValue:
    """A chart PNG as markdown metadata the Dagster UI shows as an image (a data URI)."""
    data = base64.b64encode(path.read_bytes()).decode()
    return MetadataValue.md(
        f"![{CHART_TITLES.get(path.name, path.stem)}](data:image/png;base64,{data})"
    )


def history_metadata(changes: dict[str, int]) -> dict[str, object]:
    """What this load did to the history: versions added, and changes by kind (a version that
    changed score and status counts once under each; `gone` closes a version, adds none)."""
    by_kind: dict[str, int] = {}
    for change, count in changes.items():
        for kind in change.split(","):
            by_kind[kind] = by_kind.get(kind, 0) + count
    added = sum(count for change, count in changes.items() if change != "gone")
    return {
        "versions_added": added,
        "changes_by_kind": MetadataValue.json(dict(sorted(by_kind.items()))),
    }


@multi_asset(
    specs=[
        AssetSpec(
            ["warehouse", table],
            description=table_doc(table).description,
            group_name="warehouse",
            kinds={"duckdb"},
            deps=[key for a in lake_assets for key in a.keys],
            automation_condition=LOAD_AFTER_EXTRACT,
            metadata={"dagster/column_schema": warehouse_column_schema(table)},
        )
        for table in TABLES
    ],
    check_specs=[
        AssetCheckSpec(
            name, asset=CHECKED_TABLE, description=description, blocking=name in BLOCKING_CHECKS
        )
        for name, description in CHECKS.items()
    ],
    pool=WAREHOUSE_POOL,
    can_subset=False,
)
def warehouse(
    context: AssetExecutionContext, pipeline: PipelineConfig, mturk: MTurkResource
) -> Iterator[MaterializeResult | AssetCheckResult]:
    def on_step(name: str) -> None:
        report(Progress(task="warehouse load", done=0, rows=0, unit=name))
        context.log.info(f"warehouse load: {name}")
        reason = interrupt.stopped()
        if reason is not None:  # raised inside the transaction: rolled back, nothing loaded
            raise Interrupted(f"the warehouse load was {reason} before it committed")

    stores = pipeline.stores(mturk)
    wait_s = pipeline.get(settings.WAREHOUSE_WAIT)

    def on_busy() -> None:
        context.log.info(
            f"the warehouse {stores.warehouse.describe()} is held by another writer; waiting up "
            f"to {wait_s} s"
        )

    def on_retry(attempt: int, error: BaseException) -> None:
        context.log.info(f"warehouse load: commit conflict ({error}); running it again")

    memory_limit = pipeline.get(settings.WAREHOUSE_MEMORY)
    prepare_charts()  # matplotlib's import alongside the load, not after it
    try:
        result = load_warehouse(
            stores,
            max_row_drop_share=pipeline.get(settings.MAX_ROW_DROP_SHARE),
            on_step=on_step,
            on_busy=on_busy,
            on_retry=on_retry,
            memory_limit=memory_limit,
            source=MTurkSource.of(
                mturk.get(settings.ENVIRONMENT), mturk.get(settings.ENDPOINT_URL)
            ),
        )
        # Counts and charts read the committed warehouse, as any reader does: no waiting on
        # DuckLake.
        con = stores.warehouse.connect(read_only=True)
    except (WarehouseLoadError, WarehouseStoreError, settings.ConfigurationError) as exc:
        # Our messages name the cause and the fix: shown as they are, without a class name.
        raise Failure(description=str(exc)) from exc
    # Within the same memory limit as the load: unlimited, DuckDB keeps every block it reads
    # cached (up to 80% of the machine), so the charts' scans grew with the rows.
    try:
        with stores.warehouse.reporting_damage():
            set_memory_limit(con, memory_limit)
            counts = {
                table: con.execute(f'SELECT count(*) FROM "{table}"').fetchall()[0][0]
                for table in TABLES
            }
            with stores.scratch() as folder:  # drawn here, published through the chart store
                paths = render_charts(con, folder)
                charts = {path.name: path.read_bytes() for path in paths}
                images = {path.stem: chart_image(path) for path in paths}
    except WarehouseStoreError as exc:  # a damaged file: its message names it and the fix
        raise Failure(description=str(exc)) from exc
    finally:
        con.close()
    published = [stores.charts.publish(name, png) for name, png in charts.items()]
    for table in TABLES:
        metadata: dict[str, object] = {
            "dagster/row_count": counts[table],
            "dagster/column_schema": warehouse_column_schema(table),
            "load_id": result.load_id or "",
        }
        if table == "worker_qualifications":
            metadata |= {
                "snapshots_loaded": len(result.loaded),
                "changes": MetadataValue.json(result.changes),
                "duration_s": round(result.duration_s, 3),
                "warehouse": str(result.warehouse),
                **images,
                "chart_files": MetadataValue.json(published),
            }
        if table == "worker_qualification_history":
            metadata |= history_metadata(result.changes)
        yield MaterializeResult(asset_key=AssetKey(["warehouse", table]), metadata=metadata)
    for check in result.checks:
        metadata = {
            k: MetadataValue.json(v) if isinstance(v, list | dict) else v
            for k, v in check.metadata.items()
        }
        yield AssetCheckResult(
            asset_key=CHECKED_TABLE,
            check_name=check.name,
            passed=check.passed,
            severity=AssetCheckSeverity.ERROR if check.blocking else AssetCheckSeverity.WARN,
            description=check.description,
            metadata={
                **metadata,
                "load_id": result.load_id or "",
                "failing_types": MetadataValue.json(check.by_type),
            },
        )
