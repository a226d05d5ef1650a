"""Reverse-ETL assets: the dry-run plans and the pushes that apply them to MTurk.

`push_plan` and `grant_plan` only read MTurk's mirror in the warehouse and write their plan tables;
`push` and `grants` send, under the guard, the journal and read-back of `qual_pipeline.push`. They
run only when asked (the CLI, the demo, or a click in the UI), never on the refresh schedule.
"""

from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from qual_pipeline import settings
from qual_pipeline.defs.metadata import markdown_table
from qual_pipeline.defs.pools import WAREHOUSE_POOL
from qual_pipeline.defs.resources import MTurkResource, PipelineConfig
from qual_pipeline.push.guard import GuardLimits
from qual_pipeline.push.plan import (
    Kind,
    PlanSummary,
    build_request_plan,
    build_score_plan,
    plan_rows,
)
from qual_pipeline.push.runner import PushReport, PushSettings, run_push

PLAN_DEPS = [
    AssetKey(["warehouse", "worker_qualifications"]),
    AssetKey(["warehouse", "qualification_types"]),
    AssetKey(["warehouse", "qualification_requests"]),
]


def push_settings(pipeline: PipelineConfig, mturk: MTurkResource) -> PushSettings:
    return PushSettings(
        environment=mturk.get(settings.ENVIRONMENT),
        allow_production=pipeline.get(settings.PUSH_ALLOW_PRODUCTION),
        send_notifications=pipeline.get(settings.PUSH_SEND_NOTIFICATIONS),
        skip_rejected=pipeline.get(settings.PUSH_SKIP_REJECTED),
        allow_grants=pipeline.get(settings.PUSH_ALLOW_GRANTS),
        limits=GuardLimits(
            max_changes=pipeline.get(settings.PUSH_MAX_CHANGES),
            max_share=pipeline.get(settings.PUSH_MAX_SHARE),
        ),
        concurrency=pipeline.get(settings.PUSH_CONCURRENCY),
    )


def _plan_metadata(summary: PlanSummary, preview: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "dagster/row_count": sum(summary.counts.values()),
        **{f"{action}": count for action, count in summary.counts.items()},
        "rejected_reasons": MetadataValue.json(summary.rejected),
        "changes_by_type": markdown_table(
            [
                {"type": t.qualification_type_id, "changes": t.changes, "workers": t.workers}
                for t in summary.per_type
            ]
        ),
        "preview": markdown_table(preview),
    }


def _build_plan(kind: Kind, pipeline: PipelineConfig) -> MaterializeResult:
    with pipeline.warehouse_session() as con:
        if kind == "scores":
            summary = build_score_plan(
                con,
                inputs_dir=pipeline.inputs_path,
                allow_grants=pipeline.get(settings.PUSH_ALLOW_GRANTS),
                temporary=False,
            )
        else:
            summary = build_request_plan(con, inputs_dir=pipeline.inputs_path, temporary=False)
        preview = next(plan_rows(con, kind, limit=20), [])
    return MaterializeResult(metadata=_plan_metadata(summary, preview))


def _push(
    kind: Kind, context: AssetExecutionContext, pipeline: PipelineConfig, mturk: MTurkResource
) -> MaterializeResult:
    def progress(done: int, total: int) -> None:
        if done == total or done % 100 == 0:
            context.log.info(f"{kind}: {done}/{total} changes sent")

    report: PushReport = run_push(
        kind,
        client=mturk.client(rate=pipeline.get(settings.PUSH_RATE)),
        data_dir=pipeline.data_path,
        connect_warehouse=pipeline.warehouse_session,
        inputs_dir=pipeline.inputs_path,
        settings=push_settings(pipeline, mturk),
        progress=progress,
    )
    return MaterializeResult(
        metadata={
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
    """The dry-run plan asset of `kind` and the asset that sends it, downstream of the plan."""

    @asset(
        key=plan_key,
        deps=PLAN_DEPS,
        group_name="push",
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        description=plan_description,
    )
    def plan_asset(pipeline: PipelineConfig) -> MaterializeResult:
        return _build_plan(kind, pipeline)

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
        return _push(kind, context, pipeline, mturk)

    return plan_asset, push_asset


push_plan, push = plan_and_push_assets(
    "scores",
    "push_plan",
    "push",
    "Dry run: desired scores (sql/desired_scores.sql) diffed against MTurk's state.",
    "Send the planned score changes to MTurk: guarded, journalled, read back.",
)
grant_plan, grants = plan_and_push_assets(
    "requests",
    "grant_plan",
    "grants",
    "Dry run: decisions on pending requests (sql/grant_decisions.sql).",
    "Accept (AcceptQualificationRequest) or reject pending requests, as planned.",
)

push_assets = [push_plan, push, grant_plan, grants]
