"""The push commands of the `qual-pipeline` CLI: plan (saves a plan, sends nothing), push (applies a
saved plan), score lookup, and export of the requester website's worker CSV.

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
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Annotated, Literal, NoReturn

import duckdb
import psycopg2
import typer
from botocore.exceptions import BotoCoreError, NoCredentialsError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from qual_pipeline import settings as declared
from qual_pipeline.cli.options import (
    Account,
    Catalog,
    Storage,
    StorageProfile,
    open_cli_stores,
)
from qual_pipeline.mturk_api.client import ApiStats, ConfigurationError, RateLimiter, make_client
from qual_pipeline.push.guard import (
    DEFAULT_MAX_CHANGES,
    DEFAULT_MAX_REVOKE_SHARE,
    DEFAULT_MAX_REVOKES,
    DEFAULT_MAX_SHARE,
    GuardLimits,
    PushRefused,
)
from qual_pipeline.push.journal import Journal, JournalBusy
from qual_pipeline.push.plan import SQL_DIR, Kind, PlanError
from qual_pipeline.push.runner import (
    RESUME_HINT,
    PushFailed,
    PushInterrupted,
    PushReport,
    PushSettings,
    run_push,
)
from qual_pipeline.push.saved_plan import (
    PlanSettings,
    SavedPlan,
    read_only_warehouse,
    save_plan,
)
from qual_pipeline.push.score import (
    ScoreLookupError,
    get_qualification_score,
    score_json,
    score_table,
)
from qual_pipeline.stores.journal import JournalStoreError
from qual_pipeline.stores.locks import LockError
from qual_pipeline.stores.object_storage import StorageError
from qual_pipeline.stores.postgres import first_line
from qual_pipeline.stores.profile import Stores
from qual_pipeline.stores.warehouse import WarehouseStoreError
from qual_pipeline.warehouse.export import ExportError, export_website_csv

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
AllowRevokes = Annotated[
    bool,
    typer.Option(
        "--allow-revokes",
        help="Revoke the qualifications the inputs ask to revoke "
        "(DisassociateQualificationFromWorker). Off: those rows are rejected.",
    ),
]
WebsiteCsv = Annotated[
    Path | None,
    typer.Option(
        "--website-csv",
        dir_okay=False,
        help="Plan the requester website's worker CSV (Manage > Workers > Download CSV, or "
        "`qual-pipeline export --website-csv`): its UPDATE-<type name> cells, a whole number "
        "or Revoke, instead of sql/desired_scores.sql.",
    ),
]
MaxRevokes = Annotated[
    int,
    typer.Option(min=0, help="Refuse a push that revokes more workers than this, per type."),
]
MaxRevokeShare = Annotated[
    float,
    typer.Option(
        min=0.0,
        help="Refuse a push that revokes more than this share of a type's current holders "
        "(0.02 = 2%).",
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
SkipRejected = Annotated[
    bool,
    typer.Option("--skip-rejected", help="Let the valid rows go even if some are rejected."),
]
IgnoreCheck = Annotated[
    list[str] | None,
    typer.Option(
        "--ignore-check",
        help="A blocking data-quality check whose failure may not refuse the plan (repeatable; "
        "recorded in the plan and in push_audit).",
    ),
]
MaxAttempts = Annotated[
    int,
    typer.Option(
        "--max-attempts",
        min=declared.MAX_ATTEMPTS.minimum,
        envvar=declared.MAX_ATTEMPTS.env,
        help=declared.MAX_ATTEMPTS.help,
    ),
]
RetryMode = Annotated[
    str,
    typer.Option("--retry-mode", envvar=declared.RETRY_MODE.env, help=declared.RETRY_MODE.help),
]


def register(app: typer.Typer) -> None:
    """Add `plan`, `push` and `score` to the CLI."""
    app.command("plan")(plan_command)
    app.command("push")(push_command)
    app.command("score")(score_command)
    app.command("export")(export_command)


def plan_command(
    requests: Requests = False,
    data_dir: DataDir = Path("data"),
    inputs_dir: InputsDir = Path("inputs"),
    sql_dir: SqlDir = SQL_DIR,
    environment: Environment = "sandbox",
    allow_grants: AllowGrants = False,
    allow_revokes: AllowRevokes = False,
    website_csv: WebsiteCsv = None,
    max_changes: MaxChanges = DEFAULT_MAX_CHANGES,
    max_share: MaxShare = DEFAULT_MAX_SHARE,
    max_revokes: MaxRevokes = DEFAULT_MAX_REVOKES,
    max_revoke_share: MaxRevokeShare = DEFAULT_MAX_REVOKE_SHARE,
    skip_rejected: SkipRejected = False,
    ignore_check: IgnoreCheck = None,
    rows: Annotated[int, typer.Option(min=0, help="Plan rows to list (changes first).")] = 50,
    output: Annotated[str, typer.Option(help="table or json.")] = "table",
    storage: Storage = None,
    catalog: Catalog = None,
    account: Account = None,
    storage_profile: StorageProfile = None,
) -> None:
    """Plan: diff the desired scores (or request decisions) against the warehouse, opened
    read-only, and save the plan in the journal under the id it prints, with its verdict.
    `push` then applies exactly that plan. Sends nothing to MTurk and writes nothing to the
    warehouse. Exit 1 when a push of the plan would be refused (the reasons are printed)."""
    _check_output(output)
    kind: Kind = "requests" if requests else "scores"
    _check_website_csv(website_csv, requests)
    settings = _plan_settings(
        environment,
        allow_grants,
        GuardLimits(max_changes, max_share, max_revokes, max_revoke_share),
        skip_rejected,
        ignore_check,
        allow_revokes,
    )
    stores = _stores(data_dir, environment, storage, catalog, account, storage_profile)
    with _failures():
        stores.warehouse.require()  # before the journal is created (next to it, locally)
        with Journal(stores.journal.connect(), sql_dir) as journal, journal.lock():
            saved = save_plan(
                kind,
                journal=journal,
                read_warehouse=read_only_warehouse(stores.warehouse),
                inputs_dir=inputs_dir,
                settings=settings,
                sql_dir=sql_dir,
                preview_rows=rows,
                website_csv=website_csv,
            )
        if output == "json":
            record = saved.record
            out.print_json(
                json.dumps(
                    {
                        "plan_id": record.plan_id,
                        "kind": kind,
                        "environment": record.environment,
                        "load_id": record.load_id,
                        "inputs_fingerprint": record.inputs_fingerprint,
                        "inputs": saved.summary.inputs.source,
                        "not_applied": list(saved.summary.inputs.notes),
                        "counts": saved.summary.counts,
                        "rejected": saved.summary.rejected,
                        "rejected_examples": saved.summary.rejected_examples,
                        "per_type": [t.__dict__ for t in saved.summary.per_type],
                        "checks": [f.__dict__ for f in saved.checks],
                        "ignored_checks": list(record.ignored_checks),
                        "verdict": list(record.verdict),
                        "rows": saved.preview,
                    },
                    default=str,
                )
            )
        else:
            _print_plan(saved)
        if saved.verdict:
            raise typer.Exit(1)


def push_command(
    requests: Requests = False,
    plan: Annotated[
        str | None,
        typer.Option("--plan", help="The saved plan to apply (default: the newest saved one)."),
    ] = None,
    replan: Annotated[
        bool,
        typer.Option(
            "--replan",
            help="Plan and apply in one step (unattended use): every guard and check still "
            "applies, and the plan is saved in the journal like any other.",
        ),
    ] = False,
    data_dir: DataDir = Path("data"),
    inputs_dir: InputsDir = Path("inputs"),
    sql_dir: SqlDir = SQL_DIR,
    environment: Environment = "sandbox",
    endpoint_url: EndpointUrl = None,
    allow_grants: Annotated[
        bool | None,
        typer.Option("--allow-grants", help="With --replan: as `plan --allow-grants`."),
    ] = None,
    allow_revokes: Annotated[
        bool | None,
        typer.Option("--allow-revokes", help="With --replan: as `plan --allow-revokes`."),
    ] = None,
    website_csv: Annotated[
        Path | None,
        typer.Option(
            "--website-csv", dir_okay=False, help="With --replan: as `plan --website-csv`."
        ),
    ] = None,
    max_changes: Annotated[
        int | None, typer.Option(min=0, help="With --replan: as `plan --max-changes`.")
    ] = None,
    max_share: Annotated[
        float | None, typer.Option(min=0.0, help="With --replan: as `plan --max-share`.")
    ] = None,
    max_revokes: Annotated[
        int | None, typer.Option(min=0, help="With --replan: as `plan --max-revokes`.")
    ] = None,
    max_revoke_share: Annotated[
        float | None,
        typer.Option(min=0.0, help="With --replan: as `plan --max-revoke-share`."),
    ] = None,
    skip_rejected: Annotated[
        bool | None,
        typer.Option("--skip-rejected", help="With --replan: as `plan --skip-rejected`."),
    ] = None,
    ignore_check: Annotated[
        list[str] | None,
        typer.Option("--ignore-check", help="With --replan: as `plan --ignore-check`."),
    ] = None,
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
    max_attempts: MaxAttempts = declared.MAX_ATTEMPTS.default,
    retry_mode: RetryMode = declared.RETRY_MODE.default,
    crash_at: Annotated[str | None, typer.Option(hidden=True)] = None,
    batch_size: Annotated[int, typer.Option(hidden=True, min=1)] = 100,
    storage: Storage = None,
    catalog: Catalog = None,
    account: Account = None,
    storage_profile: StorageProfile = None,
) -> None:
    """Push a saved plan to MTurk: finish any interrupted push first, then apply exactly the
    newest saved plan (or --plan ID), refusing it if the warehouse was reloaded, the inputs
    changed or another push ran since it was saved; send (SendNotification=False unless asked),
    read every change back and record it in push_audit. --replan plans and applies in one step."""
    kind: Kind = "requests" if requests else "scores"
    if plan is not None and replan:
        raise typer.BadParameter("pass either --plan ID (a saved plan) or --replan, not both")
    _check_website_csv(website_csv, requests)
    plan_flags = {
        "--allow-grants": allow_grants,
        "--allow-revokes": allow_revokes,
        "--website-csv": website_csv,
        "--max-changes": max_changes,
        "--max-share": max_share,
        "--max-revokes": max_revokes,
        "--max-revoke-share": max_revoke_share,
        "--skip-rejected": skip_rejected,
        "--ignore-check": ignore_check or None,
    }
    given = [flag for flag, value in plan_flags.items() if value is not None]
    if given and not replan:
        raise typer.BadParameter(
            f"{', '.join(given)} belong(s) to the plan: pass them to `qual-pipeline plan` (then "
            "push the plan it saves), or use `qual-pipeline push --replan` to plan and push in "
            "one step"
        )
    replan_settings = (
        _plan_settings(
            environment,
            bool(allow_grants),
            GuardLimits(
                DEFAULT_MAX_CHANGES if max_changes is None else max_changes,
                DEFAULT_MAX_SHARE if max_share is None else max_share,
                DEFAULT_MAX_REVOKES if max_revokes is None else max_revokes,
                DEFAULT_MAX_REVOKE_SHARE if max_revoke_share is None else max_revoke_share,
            ),
            bool(skip_rejected),
            ignore_check,
            bool(allow_revokes),
        )
        if replan
        else None
    )
    stats = ApiStats()
    stores = _stores(data_dir, environment, storage, catalog, account, storage_profile)
    with _failures():
        client = make_client(
            environment=environment,
            endpoint_url=endpoint_url,
            retry_mode=_retry_mode(retry_mode),
            max_attempts=max_attempts,
            rate_limiter=RateLimiter(rate),
            stats=stats,
        )
        settings = PushSettings(
            environment=environment,
            allow_production=allow_production,
            send_notifications=send_notifications,
            concurrency=concurrency,
            batch_size=batch_size,
        )
        try:
            report = run_push(
                kind,
                client=client,
                stores=stores,
                inputs_dir=inputs_dir,
                settings=settings,
                plan_id=plan,
                replan=replan_settings,
                sql_dir=sql_dir,
                crash_hook=_crash_hook(crash_at),
                website_csv=website_csv,
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


def export_command(
    website_csv: Annotated[
        Path,
        typer.Option(
            "--website-csv",
            dir_okay=False,
            help="File to write in the requester website's worker CSV layout: Worker ID, then "
            "CURRENT-<type name> and an empty UPDATE-<type name> per mirrored type.",
        ),
    ],
    data_dir: DataDir = Path("data"),
    environment: Environment = "sandbox",
    storage: Storage = None,
    catalog: Catalog = None,
    account: Account = None,
    storage_profile: StorageProfile = None,
) -> None:
    """Export the warehouse as the requester website's worker CSV: type a score or Revoke in an
    UPDATE- cell, then `qual-pipeline plan --website-csv FILE`. Revoked and missing
    qualifications are blank, as on the website. Reads the warehouse only."""
    stores = _stores(data_dir, environment, storage, catalog, account, storage_profile)
    with _failures():
        with closing(stores.warehouse.connect(read_only=True)) as con:
            written = export_website_csv(con, website_csv)
        names = ", ".join(name for _, name in written.types) or "none"
        _say(
            f"Wrote {written.workers:,} worker(s) x {len(written.types)} qualification type(s) "
            f"({names}) to {written.path}."
        )
        if written.skipped:
            _say(
                "[yellow]not exported:[/] types named "
                + ", ".join(escape(repr(n)) for n in written.skipped)
                + " (several of your types share each name, and the website layout names types;"
                " plan those with desired_scores.csv and type ids)"
            )
        _say(
            "Type a new score or Revoke in an UPDATE- cell (blank cells leave the worker "
            f"untouched), then `qual-pipeline plan --website-csv {written.path}`."
        )


# helpers


def _check_website_csv(website_csv: Path | None, requests: bool) -> None:
    if website_csv is not None and requests:
        raise typer.BadParameter(
            "--website-csv holds scores and revocations, not request decisions: drop --requests"
        )


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
        ExportError,
        WarehouseStoreError,
        JournalStoreError,
        LockError,
        StorageError,
    ) as e:
        _fail(str(e))
    except NoCredentialsError:
        _fail(
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
            "AWS_PROFILE (boto3's standard credential chain); they are never stored or logged"
        )
    except BotoCoreError as e:
        _fail(f"could not talk to MTurk: {e}")
    except psycopg2.Error as e:  # the shared profile's journal or lock database went away
        _fail(f"the PostgreSQL catalog failed: {first_line(e)}. {RESUME_HINT}")
    except duckdb.IOException as e:
        _fail(f"could not open the warehouse: {e}. Retry when the other process is done")


def _fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _stores(
    data_dir: Path,
    environment: str,
    storage: str | None,
    catalog: str | None,
    account: str | None,
    storage_profile: str | None,
) -> Stores:
    """The stores of the profile the options choose; exit 2 naming a setting that does not fit."""
    try:
        return open_cli_stores(
            data_dir=data_dir,
            storage=storage,
            catalog=catalog,
            account=account,
            storage_profile=storage_profile,
            environment=environment,
        )
    except ConfigurationError as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _plan_settings(
    environment: str,
    allow_grants: bool,
    limits: GuardLimits,
    skip_rejected: bool,
    ignore_check: list[str] | None,
    allow_revokes: bool,
) -> PlanSettings:
    try:
        return PlanSettings(
            environment=environment,
            allow_grants=allow_grants,
            allow_revokes=allow_revokes,
            limits=limits,
            skip_rejected=skip_rejected,
            ignore_checks=tuple(ignore_check or ()),
        )
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None


def _retry_mode(mode: str) -> Literal["standard", "adaptive"]:
    if mode == "standard":
        return "standard"
    if mode == "adaptive":
        return "adaptive"
    raise typer.BadParameter(f"--retry-mode {mode!r} is not known; use standard or adaptive")


def _say(text: str) -> None:
    """A message line: never wrapped mid-sentence, so logs and greps see it whole."""
    out.print(text, highlight=False, soft_wrap=True)


def _print_plan(saved: SavedPlan) -> None:
    summary, record = saved.summary, saved.record
    counts = Table(title=f"{summary.table}: counts per action")
    counts.add_column("action")
    counts.add_column("rows", justify="right")
    for action, n in summary.counts.items():
        counts.add_row(action, f"{n:,}")
    out.print(counts)
    if summary.per_type:
        types = Table(title="changes per qualification type (guard)")
        columns = ("type", "changes", "score changes", "revokes", "holders", "share")
        for column in columns:
            types.add_column(column, justify="left" if column == "type" else "right")
        for t in summary.per_type:
            types.add_row(
                t.qualification_type_id,
                f"{t.changes:,}",
                f"{t.score_changes:,}",
                f"{t.revokes:,}",
                f"{t.workers:,}",
                f"{t.share:.1%}",
            )
        out.print(types)
    if summary.rejected:
        reasons = Table(title="rejected rows by reason")
        reasons.add_column("reason")
        reasons.add_column("rows", justify="right")
        reasons.add_column("first at")
        for reason, n in summary.rejected.items():
            example = summary.rejected_examples.get(reason, "")
            reasons.add_row(escape(reason), f"{n:,}", escape(example))
        out.print(reasons)
    shown = saved.preview
    if shown:
        table = Table(title=f"plan rows (first {len(shown)}, changes first)")
        # Where a row comes from and its value as written; optional columns only when used.
        optional = ("source_column", "revoke_reason", "reject_reason")
        columns = [
            c
            for c in shown[0]
            if c != "explicit_value"
            and (c not in optional or any(row[c] is not None for row in shown))
        ]
        for column in columns:
            table.add_column(PREVIEW_HEADERS.get(column, column))
        for row in shown:
            table.add_row(*("" if row[c] is None else escape(str(row[c])) for c in columns))
        out.print(table)
    _say(f"Inputs: {escape(summary.inputs.source)}")
    for note in summary.inputs.notes:
        _say(f"[yellow]{escape(note)}[/]")
    for f in saved.checks:
        where = f"type {f.qualification_type_id}" if f.qualification_type_id else "the warehouse"
        if not f.blocking:
            label = "[yellow]warning:[/]"
        elif f.check_name in record.ignored_checks:
            label = "[yellow]ignored (--ignore-check):[/]"
        else:
            label = "[bold red]blocking check failed:[/]"
        _say(
            f"{label} {escape(f.check_name)} for {where} ({f.offending:,} offending) in "
            f"warehouse load {record.load_id}",
        )
    if record.verdict:
        listed = "\n- ".join(escape(v) for v in record.verdict)
        _say(f"[bold yellow]A push of this plan would be refused:[/]\n- {listed}")
    elif summary.changes == 0:
        _say("Nothing to push: MTurk already holds every valid desired value.")
    else:
        _say(f"A push would send {summary.changes:,} change(s).")
    if summary.rejected_rows and not record.verdict:
        _say(f"{summary.rejected_rows:,} rejected row(s) are left out (--skip-rejected).")
    _say(
        f"Saved as plan [bold]{record.plan_id}[/] (warehouse load {record.load_id}, inputs "
        f"{record.inputs_fingerprint}); nothing was sent to MTurk.",
    )
    if not record.verdict and summary.changes:
        flag = " --requests" if summary.kind == "requests" else ""
        _say(
            f"`qual-pipeline push{flag}` applies exactly this plan, and refuses it if the "
            "warehouse is reloaded or the inputs change before then.",
        )


PREVIEW_HEADERS = {
    "raw_value": "as written",
    "source_line": "line",
    "source_column": "column",
}


def _print_report(report: PushReport, stats: ApiStats) -> None:
    for plan in report.plans:
        states = Counter(plan.states)
        label = "resumed" if plan.resumed else "pushed"
        _say(
            f"{label} plan {plan.plan_id} ({plan.kind}): {plan.total:,} change(s), "
            + ", ".join(f"{s} {n:,}" for s, n in sorted(states.items()))
        )
    if report.plan_id is not None and report.plan_id not in {p.plan_id for p in report.plans}:
        _say(
            f"Nothing to push: plan {report.plan_id} has no changes "
            "(MTurk already holds every valid desired value)."
        )
    elif report.plan_id is None and report.plans:
        _say("No saved plan left to push; run `qual-pipeline plan` to plan new changes.")
    meta = stats.as_metadata()
    _say(
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
