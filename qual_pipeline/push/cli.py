"""The push commands of the `qual-pipeline` CLI: plan (dry run), push, and score lookup.

`register(app)` adds them to the main typer app. Scores and pending-request decisions share the
commands: `--requests` switches plan and push from sql/desired_scores.sql to
sql/grant_decisions.sql.
Exit codes: 0 done, 1 refused or failed (the message says why and how to proceed), 2 bad usage.
"""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import duckdb
import typer
from botocore.exceptions import BotoCoreError, NoCredentialsError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from qual_pipeline.mturk_api.client import ApiStats, ConfigurationError, RateLimiter, make_client
from qual_pipeline.push.guard import (
    DEFAULT_MAX_CHANGES,
    DEFAULT_MAX_SHARE,
    GuardLimits,
    PushRefused,
    guard_violations,
)
from qual_pipeline.push.journal import JournalBusy
from qual_pipeline.push.plan import (
    SQL_DIR,
    Kind,
    PlanError,
    PlanSummary,
    build_request_plan,
    build_score_plan,
    plan_rows,
)
from qual_pipeline.push.runner import (
    PushFailed,
    PushInterrupted,
    PushReport,
    PushSettings,
    run_push,
)
from qual_pipeline.push.score import (
    ScoreLookupError,
    get_qualification_score,
    score_json,
    score_table,
)
from qual_pipeline.warehouse.connection import (
    WarehouseBusyError,
    WarehouseNotFoundError,
    warehouse_session,
)

out = Console()
err = Console(stderr=True)

DataDir = Annotated[
    Path,
    typer.Option(
        envvar="QUAL_PIPELINE_DATA_DIR",
        help="Data directory holding warehouse.duckdb and the push journal.",
    ),
]
InputsDir = Annotated[
    Path,
    typer.Option(
        envvar="QUAL_PIPELINE_INPUTS_DIR",
        help="Folder the shipped SQL models read their CSV from (desired_scores.csv, "
        "grant_decisions.csv).",
    ),
]
SqlDir = Annotated[
    Path, typer.Option(help="Folder holding desired_scores.sql, grant_decisions.sql, push_*.sql.")
]
Requests = Annotated[
    bool,
    typer.Option(
        "--requests",
        help="Plan decisions on pending qualification requests (sql/grant_decisions.sql: "
        "AcceptQualificationRequest / RejectQualificationRequest) instead of scores.",
    ),
]
AllowGrants = Annotated[
    bool,
    typer.Option(
        "--allow-grants",
        help="Also grant the type to workers who lack it or had it revoked "
        "(AssociateQualificationWithWorker). Off: those rows are rejected.",
    ),
]
MaxChanges = Annotated[
    int,
    typer.Option(min=0, help="Refuse a push that changes more workers than this, per type."),
]
MaxShare = Annotated[
    float,
    typer.Option(
        min=0.0,
        help="Refuse a push that changes more than this share of a type's current holders "
        "(0.10 = 10%; a type nobody holds counts as 100%).",
    ),
]
Environment = Annotated[
    str,
    typer.Option(envvar="MTURK_ENVIRONMENT", help="MTurk environment: sandbox or production."),
]
EndpointUrl = Annotated[
    str | None,
    typer.Option(
        envvar="MTURK_ENDPOINT_URL",
        help="MTurk endpoint to use instead of the environment's (e.g. the local MTurk).",
    ),
]
Rate = Annotated[
    float,
    typer.Option(
        min=0.01,
        envvar="QUAL_PIPELINE_RATE",
        help="Most MTurk requests per second this command sends (reads and writes together).",
    ),
]


def register(app: typer.Typer) -> None:
    """Add `plan`, `push` and `score` to the CLI."""
    app.command("plan")(plan_command)
    app.command("push")(push_command)
    app.command("score")(score_command)


def plan_command(
    requests: Requests = False,
    data_dir: DataDir = Path("data"),
    inputs_dir: InputsDir = Path("inputs"),
    sql_dir: SqlDir = SQL_DIR,
    allow_grants: AllowGrants = False,
    max_changes: MaxChanges = DEFAULT_MAX_CHANGES,
    max_share: MaxShare = DEFAULT_MAX_SHARE,
    rows: Annotated[int, typer.Option(min=0, help="Plan rows to list (changes first).")] = 50,
    output: Annotated[str, typer.Option(help="table or json.")] = "table",
) -> None:
    """Dry run: diff the desired scores (or request decisions) against the warehouse and print the
    plan with counts per action, rejected rows with their reason, and the guard's verdict.
    Sends nothing to MTurk."""
    _check_output(output)
    kind: Kind = "requests" if requests else "scores"
    with _failures():
        with _warehouse(data_dir)() as con:
            summary = _build(kind, con, inputs_dir, sql_dir, allow_grants)
            shown = _shown_rows(con, kind, rows)
        limits = GuardLimits(max_changes, max_share)
        if output == "json":
            out.print_json(
                json.dumps(
                    {
                        "kind": kind,
                        "counts": summary.counts,
                        "rejected": summary.rejected,
                        "per_type": [t.__dict__ for t in summary.per_type],
                        "guard": guard_violations(summary, limits),
                        "rows": shown,
                    },
                    default=str,
                )
            )
            return
        _print_plan(summary, shown, limits)


def push_command(
    requests: Requests = False,
    data_dir: DataDir = Path("data"),
    inputs_dir: InputsDir = Path("inputs"),
    sql_dir: SqlDir = SQL_DIR,
    environment: Environment = "sandbox",
    endpoint_url: EndpointUrl = None,
    allow_grants: AllowGrants = False,
    max_changes: MaxChanges = DEFAULT_MAX_CHANGES,
    max_share: MaxShare = DEFAULT_MAX_SHARE,
    skip_rejected: Annotated[
        bool, typer.Option("--skip-rejected", help="Push the valid rows even if some are rejected.")
    ] = False,
    send_notifications: Annotated[
        bool,
        typer.Option(
            "--send-notifications", help="Let MTurk e-mail each worker whose score changes."
        ),
    ] = False,
    allow_production: Annotated[
        bool, typer.Option("--allow-production", help="Required to push to production.")
    ] = False,
    rate: Rate = 5.0,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Calls in flight at once.")] = 4,
    crash_at: Annotated[str | None, typer.Option(hidden=True)] = None,
    batch_size: Annotated[int, typer.Option(hidden=True, min=1)] = 100,
) -> None:
    """Push the plan to MTurk: finish any interrupted push first, then plan, guard, journal, send
    (SendNotification=False unless asked), read every change back and record it in push_audit."""
    kind: Kind = "requests" if requests else "scores"
    stats = ApiStats()
    with _failures():
        client = make_client(
            environment=environment,
            endpoint_url=endpoint_url,
            rate_limiter=RateLimiter(rate),
            stats=stats,
        )
        settings = PushSettings(
            environment=environment,
            allow_production=allow_production,
            send_notifications=send_notifications,
            skip_rejected=skip_rejected,
            allow_grants=allow_grants,
            limits=GuardLimits(max_changes, max_share),
            concurrency=concurrency,
            batch_size=batch_size,
        )
        try:
            report = run_push(
                kind,
                client=client,
                data_dir=data_dir,
                connect_warehouse=_warehouse(data_dir),
                inputs_dir=inputs_dir,
                settings=settings,
                sql_dir=sql_dir,
                crash_hook=_crash_hook(crash_at),
            )
        except PushFailed as e:
            _print_report(e.report, stats)
            raise
        _print_report(report, stats)


def score_command(
    type_id: Annotated[str, typer.Option("--type", help="Qualification type id.")],
    worker: Annotated[str, typer.Option("--worker", help="Worker id.")],
    environment: Environment = "sandbox",
    endpoint_url: EndpointUrl = None,
    output: Annotated[str, typer.Option(help="json or table.")] = "json",
) -> None:
    """Show one worker's score (GetQualificationScore), as `aws mturk get-qualification-score`
    does, with a clear message when the qualification is revoked or missing."""
    _check_output(output)
    with _failures():
        client = make_client(environment=environment, endpoint_url=endpoint_url)
        try:
            result = get_qualification_score(client, type_id, worker)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from None
        if output == "json":
            typer.echo(score_json(result))
        else:
            out.print(score_table(result))


# helpers


def _check_output(output: str) -> None:
    if output not in ("json", "table"):
        raise typer.BadParameter(f"--output must be json or table, got {output!r}")


@contextmanager
def _failures() -> Iterator[None]:
    """Expected failures become one clear message and exit code 1, never a traceback."""
    try:
        yield
    except (
        PlanError,
        PushRefused,
        PushFailed,
        PushInterrupted,
        JournalBusy,
        ConfigurationError,
        ScoreLookupError,
        WarehouseNotFoundError,
        WarehouseBusyError,
    ) as e:
        _fail(str(e))
    except NoCredentialsError:
        _fail(
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
            "AWS_PROFILE (boto3's standard credential chain); they are never stored or logged"
        )
    except BotoCoreError as e:
        _fail(f"could not talk to MTurk: {e}")
    except duckdb.IOException as e:
        _fail(f"could not open the warehouse: {e}. Retry when the other process is done")


def _fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _warehouse(data_dir: Path) -> Callable[[], Any]:
    """A connection factory for the warehouse: opened per unit of work, closed right after."""
    return lambda: warehouse_session(data_dir)


def _build(
    kind: Kind, con: duckdb.DuckDBPyConnection, inputs_dir: Path, sql_dir: Path, grants: bool
) -> PlanSummary:
    if kind == "scores":
        return build_score_plan(con, inputs_dir=inputs_dir, sql_dir=sql_dir, allow_grants=grants)
    return build_request_plan(con, inputs_dir=inputs_dir, sql_dir=sql_dir)


def _shown_rows(con: duckdb.DuckDBPyConnection, kind: Kind, limit: int) -> list[dict[str, Any]]:
    changes = ("update", "grant") if kind == "scores" else ("accept", "reject")
    shown: list[dict[str, Any]] = []
    for actions in (changes, ("rejected",)):
        left = limit - len(shown)
        if left <= 0:
            break
        for batch in plan_rows(con, kind, actions=actions, limit=left):
            shown.extend(batch)
    return shown


def _print_plan(summary: PlanSummary, shown: list[dict[str, Any]], limits: GuardLimits) -> None:
    counts = Table(title=f"{summary.table}: counts per action")
    counts.add_column("action")
    counts.add_column("rows", justify="right")
    for action, n in summary.counts.items():
        counts.add_row(action, f"{n:,}")
    out.print(counts)
    if summary.per_type:
        types = Table(title="changes per qualification type (guard)")
        for column in ("type", "changes", "holders", "share"):
            types.add_column(column, justify="left" if column == "type" else "right")
        for t in summary.per_type:
            share = f"{t.share:.1%}"
            types.add_row(t.qualification_type_id, f"{t.changes:,}", f"{t.workers:,}", share)
        out.print(types)
    if summary.rejected:
        reasons = Table(title="rejected rows by reason")
        reasons.add_column("reason")
        reasons.add_column("rows", justify="right")
        for reason, n in summary.rejected.items():
            reasons.add_row(reason, f"{n:,}")
        out.print(reasons)
    if shown:
        table = Table(title=f"plan rows (first {len(shown)}, changes first)")
        columns = [c for c in shown[0] if c not in ("raw_value",)]
        for column in columns:
            table.add_column(column)
        for row in shown:
            table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
        out.print(table)
    problems = guard_violations(summary, limits)
    if summary.changes == 0:
        out.print("Nothing to push: MTurk already holds every valid desired value.")
    elif problems:
        listed = "\n- ".join(problems)
        out.print(f"[bold yellow]A push of this plan would be refused:[/]\n- {listed}")
    else:
        out.print(f"A push would send {summary.changes:,} change(s).")
    if summary.rejected_rows:
        out.print(
            f"{summary.rejected_rows:,} rejected row(s) stop a push unless you pass "
            "--skip-rejected."
        )
    out.print("Dry run: nothing was sent to MTurk.")


def _print_report(report: PushReport, stats: ApiStats) -> None:
    if not report.plans:
        out.print("Nothing to push: MTurk already holds every valid desired value.")
    for plan in report.plans:
        states = Counter(plan.states)
        label = "resumed" if plan.resumed else "pushed"
        out.print(
            f"{label} plan {plan.plan_id} ({plan.kind}): {plan.total:,} change(s), "
            + ", ".join(f"{s} {n:,}" for s, n in sorted(states.items()))
        )
    meta = stats.as_metadata()
    out.print(
        f"MTurk calls: {meta['api_calls']:,} ({meta['retries']:,} retries: "
        f"{meta['throttles']:,} throttled, {meta['service_faults']:,} faults). "
        f"Run {report.run_id}; every attempt is in push_audit."
    )


def _crash_hook(spec: str | None) -> Callable[[str], None] | None:
    """Test aid: `POINT:N` kills this process with SIGKILL the Nth time POINT is reached."""
    if not spec:
        return None
    point, _, count = spec.partition(":")
    target = int(count or "1")
    seen: Counter[str] = Counter()

    def hook(reached: str) -> None:
        if reached == point:
            seen[reached] += 1
            if seen[reached] >= target:
                os.kill(os.getpid(), signal.SIGKILL)

    return hook
