"""The plan as an artefact: built once, saved in the journal, and pushed exactly as saved.

`save_plan` builds the plan on a read-only warehouse connection (nothing is written to the
warehouse), works out its verdict (rejected rows, the mass-change guard, blocking checks of the
warehouse load it is built on) and saves it whole in the journal with the load id and the inputs'
fingerprint.

`plan_to_push` and `confirm_unchanged` are what `push` asks before sending a saved plan: is it the
newest of its kind and not yet applied, was it made for this environment, has no other push run
since it was saved, does its verdict allow it, is the warehouse still at the same load, and do the
inputs still give the same rows. Any "no" refuses the push before a single MTurk call.

Why "another push ran since" is asked of the journal rather than of the warehouse: a push writes
read-back values into the warehouse batch by batch and decides requests whose trace is only in
push_audit, so recording each batch as a warehouse load would make loads without checks; the
journal knows exactly which plans were opened after this one was saved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from qual_pipeline import settings as declared
from qual_pipeline.mturk_api.source import MTurkSource
from qual_pipeline.push.basis import same_basis, warehouse_basis
from qual_pipeline.push.guard import GuardLimits, PushRefused, plan_refusals
from qual_pipeline.push.journal import Journal, PlanHeader, PlanRecord
from qual_pipeline.push.plan import (
    CHANGE_ACTIONS,
    SQL_DIR,
    InputFileError,
    Kind,
    PlanError,
    PlanSummary,
    build_request_plan,
    build_score_plan,
    inputs_fingerprint,
    out_of_memory,
    plan_rows,
    planner_version,
    prepare_model,
)
from qual_pipeline.stores.warehouse import WarehouseStore, set_memory_limit
from qual_pipeline.warehouse.checks import BLOCKING_CHECKS, CheckFailure, check_failures
from qual_pipeline.warehouse.load import latest_load_id

ReadWarehouse = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]
ValueOf = Callable[[declared.Setting[Any]], Any]
"""A setting's value where a front door holds it: a Dagster resource's, or a command's option."""
REFUSED = "push refused, nothing was sent: "


class TargetMismatch(declared.ConfigurationError):
    """The warehouse was refreshed from another MTurk (environment or endpoint) than the one a
    plan or push targets: bad usage (exit 2), refused before anything is planned or sent."""


def warehouse_source(con: duckdb.DuckDBPyConnection) -> MTurkSource | None:
    """The MTurk the newest warehouse load was refreshed from (`warehouse_loads.mturk_*`), or
    None when it records none (no load yet, a load not run by a refresh, or one written by an
    earlier version: such a warehouse is checked once a refresh records its source)."""
    present = con.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_catalog = "
        "current_database() AND table_schema = 'main' AND table_name = 'warehouse_loads' "
        "AND column_name IN ('mturk_environment', 'mturk_endpoint')"
    ).fetchall()[0][0]
    if present != 2:
        return None
    row = con.execute(
        "SELECT mturk_environment, mturk_endpoint FROM warehouse_loads ORDER BY seq DESC LIMIT 1"
    ).fetchall()
    if not row or row[0][0] is None:
        return None
    return MTurkSource(row[0][0], row[0][1] or "")


def check_target(
    con: duckdb.DuckDBPyConnection,
    *,
    environment: str,
    endpoint_url: str | None = None,
    command: str,
    profile: str = "local",
) -> None:
    """Refuse (TargetMismatch) a `command` ('plan' or 'push') whose MTurk differs from the one
    the warehouse was refreshed from: for `plan` the environment, for
    `push` the environment and the endpoint (`endpoint_url` None: the environment's service).
    `profile` ('local' or 'shared', as Stores.profile) only words the fix: another data folder
    is another --data-dir locally, another --account or --storage in the shared profile."""
    source = warehouse_source(con)
    if source is None:
        return
    target = MTurkSource.of(environment, endpoint_url)
    if source.environment == target.environment and (
        command == "plan" or source.endpoint == target.endpoint
    ):
        return
    shown = (
        (source.environment, target.environment)
        if command == "plan"
        else (source.describe(), target.describe())
    )
    if profile == "shared":
        another = (
            "under another --account (QUAL_PIPELINE_ACCOUNT) or --storage (QUAL_PIPELINE_STORAGE)"
        )
        same = "with the same --storage and --account"
    else:
        another = "into another --data-dir"
        same = "into the same --data-dir"
    if source.environment != target.environment:
        fix = (
            f"{command} with --environment {source.environment} (MTURK_ENVIRONMENT), or refresh "
            f"from {target.environment} {another} first (one data folder per MTurk environment)"
        )
    else:
        # The same environment at another endpoint: often the same MTurk (a local one) restarted
        # on another port, which a refresh of this data folder from it records.
        if source.endpoint == MTurkSource.of(source.environment, None).endpoint:
            back = (
                "unset MTURK_ENDPOINT_URL (and drop --endpoint-url) to push to the MTurk the "
                "warehouse was refreshed from"
            )
            refresh = f"qual-pipeline refresh --endpoint-url {target.endpoint}"
        else:
            back = (
                f"push with --endpoint-url {source.endpoint} (MTURK_ENDPOINT_URL), the MTurk the "
                "warehouse was refreshed from"
            )
            refresh = (
                "qual-pipeline refresh"
                if endpoint_url is None
                else f"qual-pipeline refresh --endpoint-url {target.endpoint}"
            )
        fix = (
            f"to push to {target.endpoint}, refresh from it {same} first (`{refresh}`, which "
            f"records it), then plan again and push; or {back}; or refresh from the other "
            f"endpoint {another} first"
        )
    raise TargetMismatch(
        f"the warehouse was refreshed from MTurk {shown[0]}, and this {command} targets "
        f"{shown[1]}: its scores and worker ids are not that MTurk's. {fix[0].upper()}{fix[1:]}"
    )


@dataclass(frozen=True)
class PlanSettings:
    """Everything a plan is built and judged with; recorded in the saved plan.

    environment: the MTurk environment the plan is for (a push to another one is refused).
    allow_grants: plan grants to workers who lack the type or had it revoked (else rejected).
    allow_revokes: plan revocations the inputs ask for (else rejected).
    limits: the mass-change guard. skip_rejected: rejected rows do not refuse the plan.
    ignore_checks: blocking checks whose failure does not refuse the plan (recorded and audited).
    memory_limit: DuckDB's memory limit while the plan is built and its inputs read again before
    a push (QUAL_PIPELINE_WAREHOUSE_MEMORY, e.g. '256MB'; beyond it DuckDB spills); None: no limit.
    """

    environment: str = "sandbox"
    allow_grants: bool = False
    allow_revokes: bool = False
    limits: GuardLimits = field(default_factory=GuardLimits)
    skip_rejected: bool = False
    ignore_checks: tuple[str, ...] = ()
    memory_limit: str | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.ignore_checks) - BLOCKING_CHECKS)
        if unknown:
            names = ", ".join(repr(name) for name in unknown)
            what = "is not a blocking check" if len(unknown) == 1 else "are not blocking checks"
            raise ValueError(
                f"{names} in {declared.PUSH_IGNORE_CHECKS.env} {what}: the blocking checks are "
                f"{', '.join(sorted(BLOCKING_CHECKS))}"
            )

    @classmethod
    def from_settings(cls, value: ValueOf) -> PlanSettings:
        """The plan settings as the declared settings (QUAL_PIPELINE_PUSH_*, MTURK_ENVIRONMENT)
        give them; ValueError for a value a plan cannot take."""
        return cls(
            environment=value(declared.ENVIRONMENT),
            allow_grants=value(declared.PUSH_ALLOW_GRANTS),
            allow_revokes=value(declared.PUSH_ALLOW_REVOKES),
            limits=GuardLimits(
                max_changes=value(declared.PUSH_MAX_CHANGES),
                max_share=value(declared.PUSH_MAX_SHARE),
                max_revokes=value(declared.PUSH_MAX_REVOKES),
                max_revoke_share=value(declared.PUSH_MAX_REVOKE_SHARE),
            ),
            skip_rejected=value(declared.PUSH_SKIP_REJECTED),
            ignore_checks=declared.names(value(declared.PUSH_IGNORE_CHECKS)),
            memory_limit=value(declared.WAREHOUSE_MEMORY),
        )

    def as_record(self) -> dict[str, Any]:
        record = asdict(self)
        record["ignore_checks"] = list(self.ignore_checks)
        return record


@dataclass(frozen=True)
class SavedPlan:
    """A plan just saved: its journal record, its numbers, its verdict and what `plan` shows."""

    record: PlanRecord
    summary: PlanSummary
    checks: list[CheckFailure]
    """Checks the plan's warehouse load failed for the types the plan changes."""
    preview: list[dict[str, Any]] = field(default_factory=list)

    @property
    def plan_id(self) -> str:
        return self.record.plan_id

    @property
    def verdict(self) -> tuple[str, ...]:
        return self.record.verdict


def read_only_warehouse(warehouse: WarehouseStore) -> ReadWarehouse:
    """A factory of read-only connections to the warehouse (closed when the block ends); a DuckDB
    file held by a writer is waited for up to the store's wait, DuckLake never waits. An error of
    the block that comes from a damaged warehouse file (a corrupt block a query reads) is raised
    as WarehouseUnreadableError, never blamed on the block's inputs."""

    @contextmanager
    def read() -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.reporting_damage(), closing(warehouse.connect(read_only=True)) as con:
            yield con

    return read


def save_plan(
    kind: Kind,
    *,
    journal: Journal,
    read_warehouse: ReadWarehouse,
    inputs_dir: Path,
    settings: PlanSettings,
    sql_dir: Path = SQL_DIR,
    preview_rows: int = 0,
    website_csv: Path | None = None,
    on_saved: Callable[[str], None] | None = None,
    profile: str = "local",
) -> SavedPlan:
    """Build the plan of `kind` read-only, judge it and save it in the journal (hold its lock).

    profile: 'local' or 'shared' (Stores.profile), for the wording of a refusal's fix only.

    on_saved: called with the plan id as soon as the plan is saved (before the journal is
    compacted, which may take seconds after a large plan is superseded).

    website_csv: build a scores plan from the requester website's worker CSV instead of
    sql/desired_scores.sql (recorded in the plan: a push re-reads the same file to check it).
    Raises PlanError when the plan cannot be built, or while an interrupted push is unfinished
    (its remaining changes would land after this plan was computed).
    """
    unfinished = journal.open_plans()
    if unfinished:
        raise PlanError(
            f"the push of plan {unfinished[0].plan_id} was interrupted and is unfinished: run "
            "`qual-pipeline push` to finish it first (it resumes before anything else), then "
            "plan again"
        )
    with read_warehouse() as con:
        try:
            saved = _save_plan(
                con,
                kind,
                journal,
                inputs_dir,
                settings,
                sql_dir,
                preview_rows,
                website_csv,
                profile,
            )
        except duckdb.OutOfMemoryException as e:
            source = str(website_csv) if website_csv else f"the {kind} inputs in {inputs_dir}"
            raise PlanError(out_of_memory(settings.memory_limit, source)) from e
    if on_saved is not None:
        on_saved(saved.plan_id)
    journal.compact()  # the superseded plan's rows were dropped: give their space back
    return saved


def _save_plan(
    con: duckdb.DuckDBPyConnection,
    kind: Kind,
    journal: Journal,
    inputs_dir: Path,
    settings: PlanSettings,
    sql_dir: Path,
    preview_rows: int,
    website_csv: Path | None,
    profile: str = "local",
) -> SavedPlan:
    """`save_plan` on the open read-only connection `con`."""
    if settings.memory_limit:
        set_memory_limit(con, settings.memory_limit)
    check_target(con, environment=settings.environment, command="plan", profile=profile)
    if kind == "scores":
        summary = build_score_plan(
            con,
            inputs_dir=inputs_dir,
            sql_dir=sql_dir,
            allow_grants=settings.allow_grants,
            allow_revokes=settings.allow_revokes,
            website_csv=website_csv,
        )
    elif website_csv is not None:
        raise PlanError("a website CSV holds scores and revocations, not request decisions")
    else:
        summary = build_request_plan(con, inputs_dir=inputs_dir, sql_dir=sql_dir)
    fingerprint = inputs_fingerprint(con, kind)
    load_id = latest_load_id(con)
    types = [t.qualification_type_id for t in summary.per_type]
    failures = check_failures(con, load_id, types) if load_id else []
    verdict = plan_refusals(summary, settings.limits, skip_rejected=settings.skip_rejected)
    verdict += _check_refusals(load_id, failures, settings.ignore_checks)
    header = PlanHeader(
        kind=kind,
        environment=settings.environment,
        load_id=load_id,
        inputs_fingerprint=fingerprint,
        settings={
            **settings.as_record(),
            "inputs_dir": str(Path(inputs_dir).resolve()),
            "website_csv": str(Path(website_csv).resolve()) if website_csv else None,
            # None: the package's own sql/ (a path there would not survive a reinstall)
            "sql_dir": None if _same_dir(sql_dir, SQL_DIR) else str(Path(sql_dir).resolve()),
            "planner": planner_version(kind, sql_dir),
            "warehouse_basis": warehouse_basis(con, kind, load_id),
        },
        summary=_summary_record(summary, failures),
        verdict=tuple(verdict),
        ignored_checks=tuple(sorted(settings.ignore_checks)),
    )
    record = journal.save_plan(
        header,
        changes=plan_rows(con, kind, actions=CHANGE_ACTIONS[kind]),
        rejections=plan_rows(con, kind, actions=("rejected",)),
    )
    preview = _preview(con, kind, preview_rows)
    return SavedPlan(record=record, summary=summary, checks=failures, preview=preview)


def plan_to_push(
    journal: Journal,
    *,
    kind: Kind,
    plan_id: str | None,
    environment: str,
    finished_now: set[str],
) -> PlanRecord | None:
    """The saved plan a push applies: `plan_id`, or the newest saved plan of `kind`.

    None when there is none, or when `plan_id` is one this run just finished resuming. Raises
    PushRefused when the plan cannot be pushed: superseded, already applied, of another kind or
    made for another environment.
    """
    flag = " --requests" if kind == "requests" else ""
    if plan_id is None:
        record = journal.newest_saved(kind)
        if record is None:
            return None
    else:
        found = journal.plan(plan_id)
        if found is None:
            raise PushRefused(
                f"{REFUSED}there is no plan {plan_id!r} in {journal.path}. Run "
                f"`qual-pipeline plan{flag}` and push the plan id it prints"
            )
        record = found
        if record.plan_id in finished_now:
            return None
    if record.kind != kind:
        flag = "with --requests" if record.kind == "requests" else "without --requests"
        raise PushRefused(
            f"{REFUSED}plan {record.plan_id} holds {record.kind}, not {kind}: push it {flag}"
        )
    if record.state == "superseded":
        newer = journal.newest_of_kind(kind)
        newest = f" ({newer.plan_id})" if newer is not None else ""
        raise PushRefused(
            f"{REFUSED}plan {record.plan_id} was superseded by a newer {kind} plan{newest}. "
            f"Push the newest plan (`qual-pipeline push{flag}`), or run "
            f"`qual-pipeline plan{flag}` again"
        )
    if record.state in ("open", "done"):
        raise PushRefused(
            f"{REFUSED}plan {record.plan_id} was already applied (state {record.state}). Run "
            f"`qual-pipeline plan{flag}` to plan the next changes"
        )
    if record.environment != environment:
        raise PushRefused(
            f"{REFUSED}plan {record.plan_id} was made for the {record.environment} environment "
            f"and this push targets {environment}. Plan again with --environment {environment} "
            "(MTURK_ENVIRONMENT), then push"
        )
    return record


def confirm_unchanged(
    journal: Journal,
    record: PlanRecord,
    *,
    read_warehouse: ReadWarehouse,
    inputs_dir: Path,
    sql_dir: Path = SQL_DIR,
) -> None:
    """Refuse (PushRefused) unless the saved plan is still exactly what would be planned now:
    no push ran since it was saved, its verdict lets it go, the warehouse is at the load it was
    built on, the inputs give the same rows (same fingerprint) and it was saved by this version's
    planner (`planner_version`: a plan saved before an upgrade is planned again).

    The inputs are the plan's own: the inputs folder, SQL folder and website CSV it recorded;
    `inputs_dir` and `sql_dir` are used only for a plan that recorded none (saved by an earlier
    version)."""
    recorded = record.settings
    if recorded.get("inputs_dir"):
        inputs_dir = Path(recorded["inputs_dir"])
    if recorded.get("sql_dir"):
        sql_dir = Path(recorded["sql_dir"])
    elif "sql_dir" in recorded:  # recorded as the package's own
        sql_dir = SQL_DIR
    flag = " --requests" if record.kind == "requests" else ""
    again = (
        f"Run `qual-pipeline plan{flag}` again and review the new plan "
        f"(or `qual-pipeline push{flag} --replan`)"
    )
    since = journal.opened_since(record)
    if since:
        raise PushRefused(
            f"{REFUSED}the push of plan {since[-1].plan_id} ran after plan {record.plan_id} was "
            "saved, so the warehouse values and guard counts of this plan are out of date. " + again
        )
    if record.verdict:
        listed = "\n- ".join(record.verdict)
        raise PushRefused(
            f"{REFUSED}plan {record.plan_id} was saved with a verdict that refuses it:\n- {listed}"
            "\nPlan again with the options named above (`qual-pipeline plan ...`), then push"
        )
    kind: Kind = "requests" if record.kind == "requests" else "scores"
    website_csv = record.settings.get("website_csv")
    with read_warehouse() as con:
        memory_limit = record.settings.get("memory_limit")
        if memory_limit:
            set_memory_limit(con, str(memory_limit))
        load_id = latest_load_id(con)
        if load_id != record.load_id and not same_basis(
            con, kind, load_id, record.settings.get("warehouse_basis")
        ):
            raise PushRefused(
                f"{REFUSED}the warehouse was reloaded since plan {record.plan_id} was saved "
                f"(load {record.load_id} then, {load_id} now) and the rows the plan read changed "
                "(current scores, types, pending requests or failed checks). " + again
            )
        try:
            planner = planner_version(kind, sql_dir)
            if planner != record.settings.get("planner"):
                raise PushRefused(
                    f"{REFUSED}plan {record.plan_id} was saved by another version of "
                    "qual_pipeline (or with another sql/"
                    f"{'push_plan' if kind == 'scores' else 'grant_plan'}.sql), which may plan the "
                    "same inputs otherwise. " + again
                )
            inputs = prepare_model(
                con,
                kind,
                inputs_dir=inputs_dir,
                sql_dir=sql_dir,
                allow_grants=bool(record.settings.get("allow_grants")),
                allow_revokes=bool(record.settings.get("allow_revokes")),
                website_csv=Path(website_csv) if website_csv else None,
            )
            fingerprint = inputs_fingerprint(con, kind)
        except InputFileError as e:
            raise _unreadable_input(record, e, website_csv) from None
        except PlanError as e:
            raise PushRefused(
                f"{REFUSED}the inputs of plan {record.plan_id} cannot be read again to check "
                f"that they did not change: {e}"
            ) from None
        except duckdb.OutOfMemoryException:
            raise PushRefused(
                f"{REFUSED}the inputs of plan {record.plan_id} cannot be read again to check "
                f"that they did not change: {out_of_memory(str(memory_limit or ''), 'its inputs')}"
            ) from None
    if fingerprint != record.inputs_fingerprint:
        raise PushRefused(
            f"{REFUSED}the inputs changed since plan {record.plan_id} was saved: "
            f"{inputs.source} now gives other rows ({_rows(fingerprint)} rows, fingerprint "
            f"{fingerprint}; the plan was built from {_rows(record.inputs_fingerprint)} rows, "
            f"{record.inputs_fingerprint}). " + again
        )


def _unreadable_input(
    record: PlanRecord, error: InputFileError, website_csv: str | None
) -> InputFileError:
    """The refusal of a saved plan whose input file cannot be read again (bad usage, exit 2):
    a file moved or deleted since the plan is named with the fixes a push has, since a push of
    a saved plan reads the paths the plan recorded and takes no --website-csv or inputs of its
    own."""
    if error.missing is None:
        return InputFileError(
            f"{REFUSED}the inputs of plan {record.plan_id} cannot be read again to check that "
            f"they did not change: {error}"
        )
    if website_csv:
        again = (
            "or plan the file where it is now (`qual-pipeline plan --website-csv NEW_PATH`), "
            "then push"
        )
        what = f"the website CSV {error.missing}"
    else:
        flag = " --requests" if record.kind == "requests" else ""
        again = (
            f"or plan it where it is now (`qual-pipeline plan{flag} --inputs-dir FOLDER`, the "
            "folder that holds it), then push"
        )
        what = str(error.missing)
    return InputFileError(
        f"{REFUSED}plan {record.plan_id} was made from {what}, which is no longer there (moved "
        f"or deleted), so the push cannot check that it did not change. Put it back at "
        f"{error.missing} and push again, {again}",
        error.missing,
    )


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def refused_message(record: PlanRecord) -> str:
    """What a push says when a plan it just built is refused by its own verdict."""
    listed = "\n- ".join(record.verdict)
    return f"{REFUSED}\n- {listed}\n(the refused plan is saved as {record.plan_id}, for the record)"


def _rows(fingerprint: str | None) -> str:
    return (fingerprint or "?").split("-", 1)[0]


def _check_refusals(
    load_id: str | None, failures: list[CheckFailure], ignored: tuple[str, ...]
) -> list[str]:
    if load_id is None:
        return [
            "the warehouse has no recorded load, so its data-quality checks are unknown: run "
            "`qual-pipeline refresh` (every load records its checks), then plan again"
        ]
    reasons = []
    for f in failures:
        if not f.blocking or f.check_name in ignored:
            continue
        where = f"type {f.qualification_type_id}" if f.qualification_type_id else "the warehouse"
        reasons.append(
            f"blocking check {f.check_name} failed for {where} in warehouse load {load_id} "
            f"({f.offending} offending): {f.description} The data under this plan cannot be "
            f"trusted: fix it and refresh, or, if you are sure, pass --ignore-check "
            f"{f.check_name}"
        )
    return reasons


def _summary_record(summary: PlanSummary, failures: list[CheckFailure]) -> dict[str, Any]:
    return {
        "counts": summary.counts,
        "rejected": summary.rejected,
        "rejected_examples": summary.rejected_examples,
        "per_type": [asdict(t) for t in summary.per_type],
        "checks": [asdict(f) for f in failures],
        "inputs": summary.inputs.source,
        "not_applied": list(summary.inputs.notes),
    }


def _preview(con: duckdb.DuckDBPyConnection, kind: Kind, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` plan rows: changes first, then rejected ones."""
    shown: list[dict[str, Any]] = []
    for actions in (CHANGE_ACTIONS[kind], ("rejected",)):
        left = limit - len(shown)
        if left <= 0:
            break
        for batch in plan_rows(con, kind, actions=actions, limit=left):
            shown.extend(batch)
    return shown
