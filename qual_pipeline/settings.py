"""Every setting of qual_pipeline, declared once: name, type, default, unit, environment variable,
CLI option and description.

Everything else is derived from these declarations: the Dagster resources' fields and their
descriptions (`defs/resources.py`), the CLI options of the commands each setting names in
`commands` (`cli/options.py` adds them to those commands: same environment variables, same
defaults), and the README's configuration table (`python -m qual_pipeline.settings` prints it; a
test keeps the README in step).

`read_by` says who reads a setting and when:
- `mturk` / `pipeline`: a field of that Dagster resource, resolved through `EnvVar` when a run
  launches (a variable set when the code location loads is read again at every launch); the CLI
  passes the values of its options instead.
- `code location`: read once when the Dagster definitions load (the schedule's cron).
- `ui`: read by `qual-pipeline ui` when it prepares the Dagster instance.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

T = TypeVar("T", str, int, float, bool)
ReadBy = Literal["mturk", "pipeline", "code location", "ui"]

TRUE = ("true", "1", "yes", "on")
FALSE = ("false", "0", "no", "off")


class ConfigurationError(ValueError):
    """A setting the user gave is wrong; the message names it and the fix."""


def number_text(value: float) -> str:
    """A range bound as a user types it back: whole numbers in digits (100000000, never 1e+08,
    which an integer setting refuses), others as Python writes them (0.1)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


PERCENT_PLAIN_DECIMALS = 12
"""A percentage with more decimals than this (a share below 1e-14) is written with an exponent:
`--max-share 5e-324` reads `5e-322%`, not `0.` and 321 more digits."""


def percent_text(share: float) -> str:
    """A share (a setting's value, e.g. a guard's limit) as a percentage with every digit it was
    given and no float noise: 0.02 -> '2%', 0.025 -> '2.5%', 0.07 -> '7%' (not 7.000000000000001),
    1e-9 -> '0.0000001%'; a tiny share, whose plain form would run to hundreds of digits, with an
    exponent (5e-324 -> '5e-322%'). Never rounded, so a limit never reads as another."""
    percent = (Decimal(repr(float(share))) * 100).normalize()
    if not percent.is_finite():
        return f"{percent}%"
    if percent.is_zero():
        return "0%"
    if percent.adjusted() < -PERCENT_PLAIN_DECIMALS:
        return f"{percent:e}%"
    return f"{percent:f}%"


def _plain_digits(text: str) -> str:
    """`text` stripped, for int()/float(): ValueError for what Python reads as a number but a
    user did not write as one (`1_0`, full-width digits)."""
    stripped = text.strip()
    if not stripped.isascii() or "_" in stripped:
        raise ValueError(stripped)
    return stripped


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One setting. `default` None means unset (the feature it controls is off or automatic)."""

    name: str
    """The Dagster resource field (and this declaration's name), e.g. `push_max_share`."""
    kind: type[T]
    default: T | None
    env: str
    description: str = ""
    read_by: ReadBy = "pipeline"
    flag: str | None = None
    """The CLI option, e.g. `--max-share`; None when no command takes one."""
    commands: tuple[str, ...] = ()
    """The `qual-pipeline` commands that take `flag` (their option defaults to `env`)."""
    unit: str = ""
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    folder: bool = False
    """The value names a folder (the CLI option takes a path that is not a file)."""
    repeatable: bool = False
    """A comma-separated list (the CLI option may be given once per item)."""
    valid: Callable[[Any], str | None] | None = None
    """A check of the value beyond choices and range: what is wrong with it (a phrase following
    the value, e.g. "is not a cron expression ..."), or None when it is fine."""

    def parse(self, text: str, *, source: str | None = None) -> T:
        """The typed value of `text` as written in the environment (or a config field).

        Raises ConfigurationError naming `source` (default: the environment variable) and the fix.
        """
        where = f"{source or self.env}={text!r}"
        value: Any
        if self.kind is bool:
            lowered = text.strip().lower()
            if lowered not in TRUE + FALSE:
                raise ConfigurationError(
                    f"{where} is not a yes/no value; use {', '.join(TRUE)} (yes) or "
                    f"{', '.join(FALSE)} (no), in any case"
                )
            value = lowered in TRUE
        elif self.kind is int:
            try:
                value = int(_plain_digits(text))
            except ValueError:
                raise ConfigurationError(
                    f"{where} is not a whole number; use {self.allowed}"
                ) from None
        elif self.kind is float:
            try:
                value = float(_plain_digits(text))
            except ValueError:
                raise ConfigurationError(f"{where} is not a number; use {self.allowed}") from None
            if math.isnan(value):
                raise ConfigurationError(f"{where} is not a number; use {self.allowed}")
        else:
            value = text
        return self.check(value, source=source, shown=text)

    @property
    def allowed(self) -> str:
        """The values a numeric setting takes, e.g. `0.1 to 3600 seconds` (its declared range and
        unit); for another setting, an example value."""
        if self.minimum is None and self.maximum is None:
            return f"e.g. {self.example()}"
        low = "any" if self.minimum is None else number_text(self.minimum)
        high = "any" if self.maximum is None else number_text(self.maximum)
        unit = self.unit.split(",")[0] if self.unit and not self.unit.startswith("share") else ""
        return f"{low} to {high}{f' {unit}' if unit else ''}"

    def check(self, value: T, *, source: str | None = None, shown: str | None = None) -> T:
        """`value` if it lies within the setting's choices and range, else ConfigurationError
        naming `source` (default: the environment variable), the value (`shown`: as written)
        and the allowed range."""
        where = f"{source or self.env}={value if shown is None else shown!r}"
        if self.choices and value not in self.choices:
            raise ConfigurationError(f"{where} is not known; use {' or '.join(self.choices)}")
        if isinstance(value, float) and math.isnan(value):
            raise ConfigurationError(f"{where} is not a number; use {self.allowed}")
        if self.minimum is not None and value < self.minimum:  # type: ignore[operator]
            raise ConfigurationError(
                f"{where} is below its minimum {number_text(self.minimum)}; use {self.allowed}"
            )
        if self.maximum is not None and value > self.maximum:  # type: ignore[operator]
            raise ConfigurationError(
                f"{where} is above its maximum {number_text(self.maximum)}; use {self.allowed}"
            )
        if self.valid is not None and (problem := self.valid(value)) is not None:
            raise ConfigurationError(f"{where} {problem}")
        return value

    def from_env(self, environ: Mapping[str, str] | None = None) -> T | None:
        """The value in the environment, or the default when the variable is unset or empty."""
        text = (os.environ if environ is None else environ).get(self.env, "")
        return self.parse(text) if text.strip() else self.default

    def as_text(self, value: T | None) -> str | None:
        """`value` written as the environment would hold it (None stays None)."""
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    @property
    def required_default(self) -> T:
        """The default of a setting that has one (ValueError for a setting unset by default)."""
        if self.default is None:
            raise ValueError(f"setting {self.name} has no default")
        return self.default

    def example(self) -> str:
        return self.as_text(self.default) or "1"

    @property
    def help(self) -> str:
        """The CLI help text: the description, with the unit when there is one."""
        ranged = (
            f"{number_text(self.minimum)} to {number_text(self.maximum)}"
            if self.minimum is not None and self.maximum is not None
            else ""
        )
        parts = [self.unit] if self.unit else []
        if ranged and ranged not in self.unit:  # a share's unit says its range already
            parts.append(ranged)
        about = ", ".join(parts)
        return f"{self.description}{f' ({about})' if about else ''}."


# MTurk: where requests go and how they are retried. Credentials are not settings: they come from
# boto3's standard chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or a profile) and never pass
# through qual_pipeline's configuration.
ENDPOINT_URL = Setting(
    "endpoint_url",
    str,
    None,
    "MTURK_ENDPOINT_URL",
    description="MTurk endpoint to use instead of the environment's, e.g. a local MTurk; unset "
    "means the real service of MTURK_ENVIRONMENT",
    read_by="mturk",
    flag="--endpoint-url",
    commands=("refresh", "push", "score"),
)
ENVIRONMENT = Setting(
    "environment",
    str,
    "sandbox",
    "MTURK_ENVIRONMENT",
    description="MTurk environment: sandbox or production",
    read_by="mturk",
    flag="--environment",
    commands=("refresh", "sql", "plan", "push", "score", "export"),
    choices=("sandbox", "production"),
)
RETRY_MODE = Setting(
    "retry_mode",
    str,
    "adaptive",
    "MTURK_RETRY_MODE",
    description="Retry mode: adaptive (botocore's standard retries, and every request of the "
    "process paced to the rate MTurk accepts, slower on a throttle and faster again, so an "
    "unknown rate limit is found by itself) or standard (retries only)",
    read_by="mturk",
    flag="--retry-mode",
    commands=("refresh", "push", "score"),
    choices=("standard", "adaptive"),
)
MAX_ATTEMPTS = Setting(
    "max_attempts",
    int,
    10,
    "MTURK_MAX_ATTEMPTS",
    description="Attempts per request, the first included, before a throttled, faulted or "
    "dropped request fails",
    read_by="mturk",
    flag="--max-attempts",
    commands=("refresh", "push", "score"),
    unit="attempts",
    minimum=1,
    maximum=100,
)
RATE = Setting(
    "requests_per_second",
    float,
    None,
    "QUAL_PIPELINE_RATE",
    description="Most MTurk requests per second one process sends, shared by all its "
    "extractions and pushes (`push` keeps within it too, at its own QUAL_PIPELINE_PUSH_RATE); "
    "unset means no fixed limit (the adaptive retry mode finds MTurk's)",
    read_by="mturk",
    flag="--rate",
    commands=("refresh",),
    unit="requests per second",
    minimum=0.01,
    maximum=10_000.0,
)
AWS_PROFILE = Setting(
    "aws_profile",
    str,
    None,
    "AWS_PROFILE",
    description="Profile of the AWS shared credentials file that holds the requester's keys; "
    "unset means boto3's standard credential chain",
    read_by="mturk",
    flag="--aws-profile",
    # plan, sql and export: in the shared profile without QUAL_PIPELINE_ACCOUNT, the requester's
    # access key id names the account's state.
    commands=("refresh", "sql", "plan", "push", "score", "export"),
)

CONNECT_TIMEOUT = Setting(
    "connect_timeout_s",
    float,
    5.0,
    "MTURK_CONNECT_TIMEOUT",
    description="How long to wait for a connection to the MTurk endpoint to open: the commands "
    "that call MTurk first check once that one opens (nothing listening, an unknown host or no "
    "answer is reported at once, naming the endpoint), and each request's attempt waits as long",
    read_by="mturk",
    flag="--connect-timeout",
    commands=("refresh", "push", "score"),
    unit="seconds",
    minimum=0.1,
    maximum=3_600.0,
)

# Where data lives and what is mirrored.
DATA_DIR = Setting(
    "data_dir",
    str,
    "data",
    "QUAL_PIPELINE_DATA_DIR",
    description="Folder of the lake, warehouse.duckdb and the push journal (local profile: "
    "QUAL_PIPELINE_STORAGE unset)",
    read_by="pipeline",
    flag="--data-dir",
    commands=("refresh", "sql", "plan", "push", "export", "ui"),
    folder=True,
)
# The shared profile: set QUAL_PIPELINE_STORAGE and QUAL_PIPELINE_CATALOG together.
STORE_COMMANDS = ("refresh", "sql", "plan", "push", "export")
"""The commands that open the stores, and so take the profile's options."""
STORAGE = Setting(
    "storage",
    str,
    None,
    "QUAL_PIPELINE_STORAGE",
    description="Shared profile: object storage for the lake (PREFIX/lake/), the warehouse's data "
    "files (PREFIX/warehouse/) and charts (PREFIX/charts/), as s3://BUCKET/PREFIX; the endpoint "
    "comes from AWS_ENDPOINT_URL_S3. Unset means the local profile (everything under "
    "QUAL_PIPELINE_DATA_DIR)",
    read_by="pipeline",
    flag="--storage",
    commands=STORE_COMMANDS,
)
CATALOG = Setting(
    "catalog",
    str,
    None,
    "QUAL_PIPELINE_CATALOG",
    description="Shared profile: the PostgreSQL database of the DuckLake catalog, the push "
    "journal and the push lock, as postgresql://USER@HOST:PORT/DB (the password from PGPASSWORD "
    "or ~/.pgpass); required with QUAL_PIPELINE_STORAGE",
    read_by="pipeline",
    flag="--catalog",
    commands=STORE_COMMANDS,
)
ACCOUNT = Setting(
    "account",
    str,
    None,
    "QUAL_PIPELINE_ACCOUNT",
    description="Shared profile: the requester account label that names this account's lake, "
    "warehouse, journal and push lock (1 to 40 lower-case letters, digits and inner hyphens); "
    "unset means key- and a salted hash of the requester's access key id; the local profile "
    "does not use it but refuses a label that is not valid",
    read_by="pipeline",
    flag="--account",
    commands=STORE_COMMANDS,
)
STORAGE_PROFILE = Setting(
    "storage_profile",
    str,
    None,
    "QUAL_PIPELINE_STORAGE_PROFILE",
    description="Shared profile: the AWS profile that holds the object storage's credentials "
    "(storage keys are usually not the requester's MTurk keys); unset means boto3's standard "
    "credential chain",
    read_by="pipeline",
    flag="--storage-profile",
    commands=STORE_COMMANDS,
)
SNAPSHOT_GRACE = Setting(
    "snapshot_grace_s",
    float,
    900.0,
    "QUAL_PIPELINE_SNAPSHOT_GRACE",
    description="How long a superseded lake snapshot stays readable before a later publish "
    "deletes it, so a load that listed it just before is not broken",
    read_by="pipeline",
    unit="seconds",
    minimum=0.0,
    maximum=604_800.0,
)
TYPES = Setting(
    "types",
    str,
    "owned",
    "QUAL_PIPELINE_TYPES",
    description="Qualification types to mirror: owned (every type your account created) or a "
    "list of type ids separated by commas, spaces or line breaks (a list with no id, such as "
    "`,`, is refused)",
    read_by="pipeline",
    flag="--types",
    commands=("refresh",),
)
INPUTS_DIR = Setting(
    "inputs_dir",
    str,
    "inputs",
    "QUAL_PIPELINE_INPUTS_DIR",
    description="Folder the shipped SQL models read desired_scores.csv and grant_decisions.csv "
    "from",
    read_by="pipeline",
    flag="--inputs-dir",
    commands=("plan", "push"),
    folder=True,
)
MAX_ROW_DROP_SHARE = Setting(
    "max_row_drop_share",
    float,
    0.5,
    "QUAL_PIPELINE_MAX_ROW_DROP_SHARE",
    description="Refuse a warehouse load when a type's new snapshot holds fewer than "
    "(1 - share) times the rows of its loaded one",
    read_by="pipeline",
    flag="--max-row-drop-share",
    commands=("refresh",),
    unit="share, 0 to 1",
    minimum=0.0,
    maximum=1.0,
)
EXTRACT_CONCURRENCY = Setting(
    "extract_concurrency",
    int,
    8,
    "QUAL_PIPELINE_EXTRACT_CONCURRENCY",
    description="Qualification types one extraction step pages at once (threads sharing one "
    "MTurk client, its pace and QUAL_PIPELINE_RATE)",
    read_by="pipeline",
    flag="--concurrency",
    commands=("refresh",),
    unit="types",
    minimum=1,
    maximum=64,
)
WAREHOUSE_LOAD_MEMORY_MINIMUM = "32MB"
"""The least QUAL_PIPELINE_WAREHOUSE_MEMORY a refresh (a warehouse load) accepts: a load of one
small type (296 rows) ran out of 12MB and fitted 16MB; one of 40 types and 7,566 rows needed
27-28MB with 2 to 32 DuckDB threads (24MB with one). Below it the refresh is refused (exit 2)
before it extracts anything, and `load_warehouse` before it opens the warehouse."""
WAREHOUSE_MEMORY = Setting(
    "warehouse_memory_limit",
    str,
    "256MB",
    "QUAL_PIPELINE_WAREHOUSE_MEMORY",
    description="Memory DuckDB may use for a warehouse load (and the counts and charts drawn "
    "after it), and for building a push plan, before it spills to a temp folder next to "
    "warehouse.duckdb, as DuckDB writes it, e.g. 256MB or 2GB; a plan of 10,000,000 desired "
    f"rows runs within 256MB; a refresh needs at least {WAREHOUSE_LOAD_MEMORY_MINIMUM}",
    read_by="pipeline",
    flag="--warehouse-memory",
    commands=("refresh", "plan", "push"),
)
WAREHOUSE_WAIT = Setting(
    "warehouse_wait_s",
    float,
    10.0,
    "QUAL_PIPELINE_WAREHOUSE_WAIT",
    description="How long a load or a push waits for the warehouse before it gives up: for "
    "another process (a query, a load) to release warehouse.duckdb, or in the shared profile for "
    "the account's current warehouse writer to finish",
    read_by="pipeline",
    flag="--warehouse-wait",
    commands=("refresh", "plan", "push", "export"),
    unit="seconds",
    minimum=0.0,
    maximum=86_400.0,
)

# The push's safety rails and pace. The plan's settings are recorded in the plan; `push` takes
# them only with --replan (it plans and applies in one step).
PLAN_COMMANDS = ("plan", "push")
PUSH_MAX_CHANGES = Setting(
    "push_max_changes",
    int,
    500,
    "QUAL_PIPELINE_PUSH_MAX_CHANGES",
    description="Guard: refuse a push that changes more workers than this, per qualification type",
    read_by="pipeline",
    flag="--max-changes",
    commands=PLAN_COMMANDS,
    unit="workers per type",
    minimum=0,
    maximum=100_000_000,
)
PUSH_MAX_SHARE = Setting(
    "push_max_share",
    float,
    0.10,
    "QUAL_PIPELINE_PUSH_MAX_SHARE",
    description="Guard: refuse a push that changes more than this share of a type's current "
    "holders (a type nobody holds counts as 100%; grants to new workers count, so a share can "
    "be over 1: 2 = 200%)",
    read_by="pipeline",
    flag="--max-share",
    commands=PLAN_COMMANDS,
    unit="share, 0.10 = 10%",
    minimum=0.0,
    # As many changes as PUSH_MAX_CHANGES allows against one holder.
    maximum=100_000_000.0,
)
PUSH_ALLOW_GRANTS = Setting(
    "push_allow_grants",
    bool,
    False,
    "QUAL_PIPELINE_PUSH_ALLOW_GRANTS",
    description="Also grant the type to workers who lack it or had it revoked "
    "(AssociateQualificationWithWorker); off, those rows are rejected",
    read_by="pipeline",
    flag="--allow-grants",
    commands=PLAN_COMMANDS,
)
PUSH_ALLOW_REVOKES = Setting(
    "push_allow_revokes",
    bool,
    False,
    "QUAL_PIPELINE_PUSH_ALLOW_REVOKES",
    description="Allow the revocations the desired state asks for "
    "(DisassociateQualificationFromWorker); off, those rows are rejected",
    read_by="pipeline",
    flag="--allow-revokes",
    commands=PLAN_COMMANDS,
)
PUSH_MAX_REVOKES = Setting(
    "push_max_revokes",
    int,
    50,
    "QUAL_PIPELINE_PUSH_MAX_REVOKES",
    description="Guard: refuse a push that revokes more workers than this, per qualification type",
    read_by="pipeline",
    flag="--max-revokes",
    commands=PLAN_COMMANDS,
    unit="workers per type",
    minimum=0,
    maximum=100_000_000,
)
PUSH_MAX_REVOKE_SHARE = Setting(
    "push_max_revoke_share",
    float,
    0.02,
    "QUAL_PIPELINE_PUSH_MAX_REVOKE_SHARE",
    description="Guard: refuse a push that revokes more than this share of a type's current "
    "holders",
    read_by="pipeline",
    flag="--max-revoke-share",
    commands=PLAN_COMMANDS,
    unit="share, 0.02 = 2%",
    minimum=0.0,
    maximum=1.0,
)
PUSH_ALLOW_PRODUCTION = Setting(
    "push_allow_production",
    bool,
    False,
    "QUAL_PIPELINE_PUSH_ALLOW_PRODUCTION",
    description="Allow a push to the production marketplace",
    read_by="pipeline",
    flag="--allow-production",
    commands=("push",),
)
PUSH_SEND_NOTIFICATIONS = Setting(
    "push_send_notifications",
    bool,
    False,
    "QUAL_PIPELINE_PUSH_SEND_NOTIFICATIONS",
    description="Let MTurk e-mail each worker whose score a push changes (MTurk's own default "
    "is to e-mail)",
    read_by="pipeline",
    flag="--send-notifications",
    commands=("push",),
)
PUSH_SKIP_REJECTED = Setting(
    "push_skip_rejected",
    bool,
    False,
    "QUAL_PIPELINE_PUSH_SKIP_REJECTED",
    description="Push the valid rows even when some desired rows are rejected",
    read_by="pipeline",
    flag="--skip-rejected",
    commands=PLAN_COMMANDS,
)
PUSH_IGNORE_CHECKS = Setting(
    "push_ignore_checks",
    str,
    None,
    "QUAL_PIPELINE_PUSH_IGNORE_CHECKS",
    description="Blocking data-quality checks whose failure may not refuse a plan, "
    "comma-separated (recorded in the plan and in push_audit); unset means every blocking "
    "check refuses",
    read_by="pipeline",
    flag="--ignore-check",
    commands=PLAN_COMMANDS,
    repeatable=True,
)
PUSH_RATE = Setting(
    "push_rate",
    float,
    None,
    "QUAL_PIPELINE_PUSH_RATE",
    description="Most MTurk requests per second a push sends, reads and writes together (within "
    "QUAL_PIPELINE_RATE too, when that is set); unset means no fixed limit of its own (the "
    "adaptive retry mode finds MTurk's)",
    read_by="pipeline",
    flag="--rate",
    commands=("push",),
    unit="requests per second",
    minimum=0.01,
    maximum=10_000.0,
)
PUSH_CONCURRENCY = Setting(
    "push_concurrency",
    int,
    4,
    "QUAL_PIPELINE_PUSH_CONCURRENCY",
    description="MTurk calls a push keeps in flight at once",
    read_by="pipeline",
    flag="--concurrency",
    commands=("push",),
    unit="calls",
    minimum=1,
    maximum=64,
)
PUSH_BATCH_SIZE = Setting(
    "push_batch_size",
    int,
    100,
    "QUAL_PIPELINE_PUSH_BATCH_SIZE",
    description="Changes a push journals, sends and reads back together; a push stopped mid-way "
    "reads back at most one batch before it goes on",
    read_by="pipeline",
    flag="--batch-size",
    commands=("push",),
    unit="changes",
    minimum=1,
    maximum=10_000,
)

PLAN_SETTINGS: tuple[Setting[Any], ...] = (
    PUSH_MAX_CHANGES,
    PUSH_MAX_SHARE,
    PUSH_ALLOW_GRANTS,
    PUSH_ALLOW_REVOKES,
    PUSH_MAX_REVOKES,
    PUSH_MAX_REVOKE_SHARE,
    PUSH_SKIP_REJECTED,
    PUSH_IGNORE_CHECKS,
)
"""What a plan is built and judged with, recorded in it: `plan` takes them, `push` only with
--replan (a saved plan is pushed as it was judged)."""


# Orchestration.
def cron_problem(cron: str) -> str | None:
    """What Dagster finds wrong with `cron` as the refresh schedule's cron expression, or None.

    Dagster's own check, through its public API: the ScheduleDefinition it would build refuses
    what Dagster refuses (not 5 fields, a field out of range such as minute 61, February 30).
    """
    from dagster import DagsterInvalidDefinitionError, ScheduleDefinition

    try:
        ScheduleDefinition(name="schedule_cron_check", cron_schedule=cron, job_name="check")
    except DagsterInvalidDefinitionError:
        return (
            "is not a cron expression Dagster runs; use 5 fields, minute hour day-of-month "
            "month day-of-week, e.g. '0 6 * * *' (06:00 UTC every day)"
        )
    return None


SCHEDULE_CRON = Setting(
    "schedule_cron",
    str,
    "0 6 * * *",
    "QUAL_PIPELINE_SCHEDULE_CRON",
    description="When the refresh_every_type schedule runs, as a cron expression in UTC",
    read_by="code location",
    valid=cron_problem,
)
API_CONCURRENCY = Setting(
    "api_concurrency",
    int,
    2,
    "QUAL_PIPELINE_API_CONCURRENCY",
    description="Extraction steps that may call MTurk at once (the Dagster pool mturk_api)",
    read_by="ui",
    flag="--api-concurrency",
    commands=("ui", "dagster-home"),
    unit="steps",
    minimum=1,
    maximum=64,
)

SETTINGS: tuple[Setting[Any], ...] = (
    ENDPOINT_URL,
    ENVIRONMENT,
    RETRY_MODE,
    MAX_ATTEMPTS,
    RATE,
    AWS_PROFILE,
    CONNECT_TIMEOUT,
    DATA_DIR,
    STORAGE,
    CATALOG,
    ACCOUNT,
    STORAGE_PROFILE,
    SNAPSHOT_GRACE,
    TYPES,
    INPUTS_DIR,
    MAX_ROW_DROP_SHARE,
    EXTRACT_CONCURRENCY,
    WAREHOUSE_MEMORY,
    WAREHOUSE_WAIT,
    PUSH_MAX_CHANGES,
    PUSH_MAX_SHARE,
    PUSH_ALLOW_GRANTS,
    PUSH_ALLOW_REVOKES,
    PUSH_MAX_REVOKES,
    PUSH_MAX_REVOKE_SHARE,
    PUSH_ALLOW_PRODUCTION,
    PUSH_SEND_NOTIFICATIONS,
    PUSH_SKIP_REJECTED,
    PUSH_IGNORE_CHECKS,
    PUSH_RATE,
    PUSH_CONCURRENCY,
    PUSH_BATCH_SIZE,
    SCHEDULE_CRON,
    API_CONCURRENCY,
)
"""Every setting, in the order the README lists them."""


def drop_blank_variables(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Remove every setting's environment variable that is empty or only spaces from `environ`
    (default: this process's environment), so that blank means unset for every setting, for
    this process and every process it starts (boto3 reads AWS_PROFILE itself: an empty one would
    name a profile called ''). Returns the variables removed."""
    environ = os.environ if environ is None else environ
    blank = [s.env for s in SETTINGS if s.env in environ and not environ[s.env].strip()]
    for name in blank:
        del environ[name]
    return blank


PREFIX = "QUAL_PIPELINE_"
"""The prefix of qual_pipeline's own variables: every variable with it names a setting (a name
that names none is a typo, refused by `check_environment`). The MTURK_ and AWS_ variables it
reads are settings too, but their prefixes are not its own."""


def unknown_variable(name: str) -> str:
    """The message for a QUAL_PIPELINE_ variable that names no setting: the setting whose name
    is closest, when one is close (a typo, or an MTURK_ setting under this prefix), else where
    the settings are listed."""
    # By name after the prefix: QUAL_PIPELINE_MAX_ATTEMPTS is MTURK_MAX_ATTEMPTS misplaced.
    own = {s.env.removeprefix(PREFIX).removeprefix("MTURK_"): s.env for s in SETTINGS}
    close = difflib.get_close_matches(name[len(PREFIX) :].upper(), own, n=1, cutoff=0.75)
    if close:
        return (
            f"{name} is not a variable qual_pipeline reads: did you mean {own[close[0]]}? "
            f"Rename it, or unset {name}"
        )
    return (
        f"{name} is not a variable qual_pipeline reads (the README's Configuration table lists "
        f"those it reads): correct its name, or unset {name}"
    )


def check_environment(
    environ: Mapping[str, str] | None = None, *, skip: Iterable[Setting[Any]] = ()
) -> None:
    """Every setting's variable in `environ` (default: this process's environment) read and
    checked as the setting reads it, whichever command runs (a push setting in a refresh's
    environment too), except those of `skip` (settings given on the command line: their
    variables are not read); and no variable with qual_pipeline's PREFIX that names no setting.
    Raises ConfigurationError, naming the variable and what it takes, at the first mistake
    (unknown names first, in name order; then the settings in declaration order). A blank
    variable is unset, whatever its name."""
    environ = os.environ if environ is None else environ
    known = {s.env for s in SETTINGS}
    for name in sorted(environ):
        if name.startswith(PREFIX) and name not in known and environ[name].strip():
            raise ConfigurationError(unknown_variable(name))
    skipped = {s.env for s in skip}
    for setting in SETTINGS:
        if setting.env not in skipped:
            setting.from_env(environ)


def names(values: str | Iterable[str] | None) -> tuple[str, ...]:
    """The names a list setting holds: comma-separated text (its environment form) or the items
    of a repeated CLI option (each may itself hold commas); stripped, empty ones dropped."""
    items = [values] if isinstance(values, str) else list(values or ())
    return tuple(n.strip() for item in items for n in item.split(",") if n.strip())


def read_by(reader: ReadBy) -> Iterator[Setting[Any]]:
    """The settings one reader takes, in declaration order."""
    return (s for s in SETTINGS if s.read_by == reader)


READERS: dict[str, str] = {
    "mturk": "resource `mturk`, each run",
    "pipeline": "resource `pipeline`, each run",
    "code location": "code location load",
    "ui": "`qual-pipeline ui`",
}


def markdown_table() -> str:
    """The README's configuration table, one row per setting, in declaration order."""
    lines = [
        "| variable | CLI option | default | unit | range | read by | meaning |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in SETTINGS:
        default = "unset" if s.default is None else f"`{s.as_text(s.default)}`"
        option = f"`{s.flag}` ({', '.join(s.commands)})" if s.commands else ""
        allowed = (
            f"{number_text(s.minimum)} to {number_text(s.maximum)}"
            if s.minimum is not None and s.maximum is not None
            else " or ".join(f"`{c}`" for c in s.choices)
        )
        lines.append(
            f"| `{s.env}` | {option} | {default} | {s.unit} | {allowed} | {READERS[s.read_by]} "
            f"| {s.description} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
