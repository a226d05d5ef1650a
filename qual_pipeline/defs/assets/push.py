"""Reverse-ETL assets: the plans and the pushes that apply them to MTurk.

`push_plan` and `grant_plan` read the warehouse (read-only) and save a plan in the push journal; the
plan id, its verdict and its numbers are the materialization's metadata. `push` and `grants` apply
exactly the plan id their upstream plan asset's latest materialization recorded, under the guard,
the journal and read-back of `qual_pipeline.push`; they refuse it, sending nothing, when the
warehouse or the inputs moved since. They run only when asked (the CLI, the demo, or a click in the
UI), never on the refresh schedule.
"""

from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from qual_pipeline import settings
from qual_pipeline.defs.metadata import markdown_table
from qual_pipeline.defs.pools import WAREHOUSE_POOL
from qual_pipeline.defs.resources import MTurkResource, PipelineConfig
from qual_pipeline.push.journal import Journal
from qual_pipeline.push.plan import Kind
from qual_pipeline.push.runner import PushReport, PushSettings, run_push
from qual_pipeline.push.saved_plan import (
    PlanSettings,
    SavedPlan,
    ValueOf,
    read_only_warehouse,
    save_plan,
)

PLAN_DEPS = [
    AssetKey(["warehouse", "worker_qualifications"]),
    AssetKey(["warehouse", "qualification_types"]),
    AssetKey(["warehouse", "qualification_requests"]),
]
PLAN_ID = "plan_id"
"""The metadata key under which a plan asset records the plan its push asset applies."""


def setting_value(pipeline: PipelineConfig, mturk: MTurkResource) -> ValueOf:
    """A setting's value, from the resource that reads it."""
    return lambda setting: (mturk if setting.read_by == "mturk" else pipeline).get(setting)


def _plan_metadata(saved: SavedPlan) -> dict[str, Any]:
    summary, record = saved.summary, saved.record
    return {
        PLAN_ID: record.plan_id,
        "verdict": "refused" if record.verdict else "may be pushed",
        "refusals": MetadataValue.md(
            "\n".join(f"- {v}" for v in record.verdict) if record.verdict else "_(none)_"
        ),
        "load_id": record.load_id or "",
        "inputs_fingerprint": record.inputs_fingerprint or "",
        "inputs": summary.inputs.source,
        "ignored_checks": MetadataValue.json(list(record.ignored_checks)),
        "dagster/row_count": sum(summary.counts.values()),
        **{f"{action}": count for action, count in summary.counts.items()},
        "rejected_reasons": MetadataValue.json(summary.rejected),
        "changes_by_type": markdown_table(
            [
                {
                    "type": t.qualification_type_id,
                    "changes": t.changes,
                    "score changes": t.score_changes,
                    "revokes": t.revokes,
                    "workers": t.workers,
                }
                for t in summary.per_type
            ]
        ),
        "checks": markdown_table(
            [
                {
                    "check": f.check_name,
                    "type": f.qualification_type_id,
                    "blocking": f.blocking,
                    "offending": f.offending,
                }
                for f in saved.checks
            ]
        ),
        "preview": markdown_table(saved.preview),
    }


def _build_plan(
    kind: Kind, context: AssetExecutionContext, pipeline: PipelineConfig, mturk: MTurkResource
) -> MaterializeResult:
    stores = pipeline.stores(mturk)
    with Journal(stores.journal.connect()) as journal, journal.lock():
        saved = save_plan(
            kind,
            journal=journal,
            read_warehouse=read_only_warehouse(stores.warehouse),
            inputs_dir=pipeline.inputs_path,
            settings=PlanSettings.from_settings(setting_value(pipeline, mturk)),
            preview_rows=20,
            profile=stores.profile,
        )
    if saved.verdict:
        context.log.warning(
            f"plan {saved.plan_id} is saved, but a push of it will be refused: "
            + "; ".join(saved.verdict)
        )
    else:
        context.log.info(f"plan {saved.plan_id}: {saved.summary.changes} change(s) to push")
    return MaterializeResult(metadata=_plan_metadata(saved))


def planned_id(context: AssetExecutionContext, plan_key: AssetKey) -> str:
    """The plan id recorded by the latest materialization of the plan asset `plan_key`."""
    event = context.instance.get_latest_materialization_event(plan_key)
    materialization = event.asset_materialization if event is not None else None
    entry = materialization.metadata.get(PLAN_ID) if materialization is not None else None
    if entry is None:
        raise Failure(
            f"{plan_key.to_user_string()} has no materialization with a {PLAN_ID}: materialize "
            "it first (it saves the plan this asset applies)"
        )
    return str(entry.value)


def _push(
    kind: Kind,
    plan_key: AssetKey,
    context: AssetExecutionContext,
    pipeline: PipelineConfig,
    mturk: MTurkResource,
) -> MaterializeResult:
    def progress(done: int, total: int) -> None:
        if done == total or done % 100 == 0:
            context.log.info(f"{kind}: {done}/{total} changes sent")

    plan_id = planned_id(context, plan_key)
    context.log.info(f"applying plan {plan_id}, recorded by {plan_key.to_user_string()}")
    report: PushReport = run_push(
        kind,
        client=mturk.client(rate=pipeline.get(settings.PUSH_RATE)),
        stores=pipeline.stores(mturk),
        inputs_dir=pipeline.inputs_path,
        settings=PushSettings.from_settings(setting_value(pipeline, mturk)),
        plan_id=plan_id,
        progress=progress,
    )
    return MaterializeResult(
        metadata={
            PLAN_ID: plan_id,
            "run_id": report.run_id,
            "verified": report.verified,
            "plans": MetadataValue.json(
                [
                    {"plan_id": p.plan_id, "resumed": p.resumed, "total": p.total, **p.states}
                    for p in report.plans
                ]
            ),
        }
    )


def plan_and_push_assets(
    kind: Kind, plan_key: str, push_key: str, plan_description: str, push_description: str
) -> tuple[AssetsDefinition, AssetsDefinition]:
    """The plan asset of `kind` and the asset that applies the plan it saved, downstream of it."""

    @asset(
        key=plan_key,
        deps=PLAN_DEPS,
        group_name="push",
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        description=plan_description,
    )
    def plan_asset(
        context: AssetExecutionContext, pipeline: PipelineConfig, mturk: MTurkResource
    ) -> MaterializeResult:
        return _build_plan(kind, context, pipeline, mturk)

    @asset(
        key=push_key,
        deps=[plan_asset],
        group_name="push",
        pool=WAREHOUSE_POOL,
        kinds={"mturk"},
        description=push_description,
    )
    def push_asset(
        context: AssetExecutionContext, pipeline: PipelineConfig, mturk: MTurkResource
    ) -> MaterializeResult:
        return _push(kind, plan_asset.key, context, pipeline, mturk)

    return plan_asset, push_asset


push_plan, push = plan_and_push_assets(
    "scores",
    "push_plan",
    "push",
    "Plan the desired scores (sql/desired_scores.sql) against MTurk's state in the warehouse and "
    "save it in the push journal; the plan id is in the metadata. Sends nothing.",
    "Apply exactly the plan the latest push_plan materialization saved: guarded, journalled, "
    "read back; refused if the warehouse or the inputs changed since.",
)
grant_plan, grants = plan_and_push_assets(
    "requests",
    "grant_plan",
    "grants",
    "Plan the decisions on pending requests (sql/grant_decisions.sql) and save the plan.",
    "Accept (AcceptQualificationRequest) or reject pending requests, exactly as grant_plan saved.",
)

push_assets = [push_plan, push, grant_plan, grants]
