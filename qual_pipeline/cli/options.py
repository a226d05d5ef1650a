"""CLI options derived from `qual_pipeline.settings`: the same environment variable, default,
range and help as the setting declares, so a command and the Dagster resources never drift.

A command takes its settings through `@takes_settings("name")`: every setting whose `commands`
lists the command becomes one of its options, in declaration order, and the command receives
their values as `values`, a dict by setting name in the form the Dagster resources take them
(text for folders, comma-separated text for lists, None for an empty optional value).
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from qual_pipeline import settings
from qual_pipeline.settings import Setting

if TYPE_CHECKING:
    from qual_pipeline.mturk_api.client import ApiStats
    from qual_pipeline.push.saved_plan import PlanSettings
    from qual_pipeline.stores.profile import Stores

CONTEXT = "settings_context"
"""The parameter `takes_settings` adds for typer's context when the command has none."""
_TYPED: ContextVar[frozenset[str]] = ContextVar("qual_pipeline_typed_settings", default=frozenset())
"""The flags of the settings the running command got on its command line."""
_NOT_READ: ContextVar[frozenset[str]] = ContextVar("qual_pipeline_not_read", default=frozenset())
"""The variables of the settings the running command got on its command line (by their own
options, not by another setting's flag of the same name: push's --rate is not refresh's)."""
SettingValues = dict[str, Any]
"""A command's setting values by setting name (`values[settings.DATA_DIR.name]`)."""
Command = TypeVar("Command", bound=Callable[..., None])


def option(setting: Setting[Any], **extra: Any) -> Any:
    """The typer option of `setting`: its flag, environment variable, range, choices and help."""
    if setting.flag is None:
        raise ValueError(f"setting {setting.name} has no CLI flag")
    kwargs: dict[str, Any] = {"envvar": setting.env, "help": setting.help}
    if setting.kind in (int, float, bool):  # a yes/no flag's value comes from its variable
        kwargs["parser"], kwargs["callback"] = _text, _number(setting)
    if setting.choices:
        kwargs["callback"] = _one_of(setting)
    if setting.folder:
        kwargs["file_okay"] = False
        kwargs["readable"] = False  # the command checks it, naming what it needs it for
    return typer.Option(setting.flag, **kwargs, **extra)


def _text(value: Any) -> Any:
    """An option's text as given (the setting's callback parses it, see `_number`)."""
    return value


def _from_env(ctx: typer.Context, param: typer.CallbackParam) -> bool:
    """Whether the option's value came from its environment variable (not the command line)."""
    origin = ctx.get_parameter_source(param.name or "")
    return origin is not None and origin.name == "ENVIRONMENT"


def _refused_variable(error: settings.ConfigurationError) -> typer.Exit:
    """A bad value of a setting's variable: one line naming it and what it takes, exit 2. The
    variable is no part of the command line, so click's usage line and `Try ... --help` (its
    form for a bad option, kept for those) would only be noise."""
    from qual_pipeline.cli.render import fail

    return fail(error, 2)


def _number(setting: Setting[Any]) -> Callable[..., Any]:
    """The callback of a numeric (or yes/no) setting's option: the text parsed and checked by
    the setting itself (`Setting.parse`: not a number, nan, infinite or outside the declared
    range is refused), so the option, its environment variable and the Dagster resources refuse
    the same values with the same words, naming the option or the variable as the user gave it:
    a bad option as click's usage error, a bad variable in one line (`_refused_variable`). A
    blank value (spaces only) means the default, as an empty one does."""

    def check(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if not value.strip():
            return setting.default
        from_env = _from_env(ctx, param)
        try:
            return setting.parse(value, source=setting.env if from_env else setting.flag)
        except settings.ConfigurationError as e:
            if from_env:
                raise _refused_variable(e) from None
            raise typer.BadParameter(str(e)) from None

    return check


def _one_of(setting: Setting[Any]) -> Callable[..., str | None]:
    """The callback of a setting with choices: a value not among them is refused, on the
    command line as click's usage error, from the variable in one line naming it and the
    choices (`Setting.check`'s words)."""

    def check(ctx: typer.Context, param: typer.CallbackParam, value: str | None) -> str | None:
        if value is None or value in setting.choices:
            return value
        if _from_env(ctx, param):
            try:
                setting.check(value)
            except settings.ConfigurationError as e:
                raise _refused_variable(e) from None
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(setting.choices)}")

    return check


def _parameter(setting: Setting[Any], panel: str | None) -> inspect.Parameter:
    """The command parameter of a setting: its Python type, its option (in the help's `panel`)
    and its default."""
    kind: Any
    if setting.repeatable:
        kind, default = list[str] | None, None
    elif setting.folder:
        kind, default = Path, Path(setting.required_default)
    else:
        kind = setting.kind if setting.default is not None else setting.kind | None
        default = setting.default
    return inspect.Parameter(
        setting.name,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[kind, option(setting, rich_help_panel=panel)],
    )


def _value(setting: Setting[Any], given: Any) -> Any:
    """An option's value in the form the resources take it."""
    if setting.repeatable:
        return ",".join(settings.names(given)) or None
    if setting.folder:
        return str(given)
    if isinstance(given, str) and not given.strip():
        return setting.default  # as in the environment: empty means the default (or unset)
    return given


def takes_settings(
    command: str, panels: dict[str, Iterable[Setting[Any]]] | None = None
) -> Callable[[Command], Command]:
    """Give the decorated function one option per setting that names `command` in its
    `commands`, after its own parameters; it is called with their values as `values`.

    panels: a help panel title -> the settings shown under it (the others: under Options).
    """
    taken = tuple(s for s in settings.SETTINGS if command in s.commands)
    panel_of = {s.name: title for title, listed in (panels or {}).items() for s in listed}

    def decorate(func: Command) -> Command:
        own = inspect.signature(func, eval_str=True)
        kept = [p for name, p in own.parameters.items() if name != "values"]
        context = next(
            (n for n, p in own.parameters.items() if p.annotation is typer.Context), None
        )
        if context is None:  # typer passes the context to a parameter of this type
            kept.append(
                inspect.Parameter(CONTEXT, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)
            )
        parameters = [*kept, *(_parameter(s, panel_of.get(s.name)) for s in taken)]

        @functools.wraps(func)
        def with_settings(**given: Any) -> None:
            ctx = given[context] if context else given.pop(CONTEXT)
            values = {s.name: _value(s, given.pop(s.name)) for s in taken}
            flags = frozenset(typed_on_command_line(ctx, taken))
            token = _TYPED.set(flags)
            not_read = _NOT_READ.set(frozenset(s.env for s in taken if (s.flag or s.name) in flags))
            try:
                check_environment()
                func(**given, values=values)
            finally:
                _NOT_READ.reset(not_read)
                _TYPED.reset(token)

        with_settings.__signature__ = own.replace(parameters=parameters)  # type: ignore[attr-defined]
        with_settings.__annotations__ = {p.name: p.annotation for p in parameters}
        return with_settings  # type: ignore[return-value]

    return decorate


def typed(setting: Setting[Any]) -> bool:
    """Whether the command running now got `setting` on its command line (not from the
    environment or the default); False outside a command (the demo's own calls)."""
    return (setting.flag or setting.name) in _TYPED.get()


def check_environment() -> None:
    """Every setting's variable checked, whichever command runs (`settings.check_environment`),
    but for the settings typed on this command's line (their variables are not read): a bad
    value, or a QUAL_PIPELINE_ variable that names no setting, is one line naming it and what it
    takes (typer.Exit(2))."""
    try:
        skipped = _NOT_READ.get()
        settings.check_environment(skip=[s for s in settings.SETTINGS if s.env in skipped])
    except settings.ConfigurationError as e:
        raise _refused_variable(e) from None


def named(setting: Setting[Any]) -> str:
    """How the user gave `setting` to the command running now: its option when typed, else its
    environment variable (what a message about its value should name)."""
    return (setting.flag or setting.env) if typed(setting) else setting.env


def as_given(message: str, *taken: Setting[Any]) -> str:
    """`message`, which names settings by their environment variable (as the domain's messages
    do), naming each of `taken` as the command running now got it: its option when typed (see
    `named`)."""
    for setting in taken:  # whole names only: QUAL_PIPELINE_STORAGE is not _STORAGE_PROFILE
        message = re.sub(rf"\b{re.escape(setting.env)}\b", named(setting), message)
    return message


def typed_on_command_line(ctx: typer.Context, taken: Iterable[Setting[Any]]) -> list[str]:
    """The flags of the settings `taken` that the user typed (not taken from the environment or
    the default)."""
    typed = []
    for setting in taken:
        source = ctx.get_parameter_source(setting.name)
        # By name: typer's click and the `click` package each have a ParameterSource.
        if source is not None and source.name == "COMMANDLINE":
            typed.append(setting.flag or setting.name)
    return typed


def plan_settings(values: SettingValues) -> PlanSettings:
    """The plan settings of a command's values; a bad value is one line naming it as it was given
    (typer.Exit(2))."""
    from qual_pipeline.cli.render import fail
    from qual_pipeline.push.saved_plan import PlanSettings

    try:
        return PlanSettings.from_settings(lambda setting: values[setting.name])
    except ValueError as e:
        raise fail(as_given(str(e), settings.PUSH_IGNORE_CHECKS), 2) from None


def mturk_client(
    values: SettingValues, *, rate: float | None = None, stats: ApiStats | None = None
) -> Any:
    """A boto3 MTurk client of a command's MTurk settings (environment, endpoint, retries,
    profile), held to `rate` requests per second (None: no limit of its own) and to
    QUAL_PIPELINE_RATE when that is set (the limit every request of one process shares)."""
    from qual_pipeline.mturk_api.client import RateLimiter, limit_rate, make_client

    client = make_client(
        environment=values[settings.ENVIRONMENT.name],
        endpoint_url=values[settings.ENDPOINT_URL.name],
        retry_mode=values[settings.RETRY_MODE.name],
        max_attempts=values[settings.MAX_ATTEMPTS.name],
        rate_limiter=RateLimiter(rate) if rate else None,
        stats=stats,
        profile_name=values[settings.AWS_PROFILE.name],
        connect_timeout=values[settings.CONNECT_TIMEOUT.name],
    )
    shared = settings.RATE.from_env()
    return limit_rate(client, RateLimiter(shared)) if shared else client


def _given(values: SettingValues, setting: Setting[Any]) -> Any:
    """A command's value of `setting`, or (for a setting the command does not take) its value in
    the environment or its default."""
    return values[setting.name] if setting.name in values else setting.from_env()


def shared_profile(values: SettingValues) -> bool:
    """Whether a command's values choose the shared profile (QUAL_PIPELINE_STORAGE or
    QUAL_PIPELINE_CATALOG set): then no local data folder is read, written or created."""
    return any(
        (_given(values, setting) or "").strip() for setting in (settings.STORAGE, settings.CATALOG)
    )


def open_cli_stores(values: SettingValues, *, warehouse_wait_s: float | None = None) -> Stores:
    """The stores of the profile a command's values choose (local, or shared with --storage and
    --catalog). Raises ConfigurationError naming a setting that does not fit (within
    `render.failures()`: exit 2).

    warehouse_wait_s: overrides QUAL_PIPELINE_WAREHOUSE_WAIT (e.g. 0 for a reader).
    """
    from qual_pipeline.mturk_api.client import requester_key_id
    from qual_pipeline.stores.profile import StoreConfigError, StoreSettings, open_stores

    aws_profile = _given(values, settings.AWS_PROFILE)
    wait_s = (
        _given(values, settings.WAREHOUSE_WAIT) if warehouse_wait_s is None else warehouse_wait_s
    )
    try:
        return open_stores(
            StoreSettings(
                data_dir=Path(_given(values, settings.DATA_DIR)).expanduser().resolve(),
                storage=_given(values, settings.STORAGE),
                catalog=_given(values, settings.CATALOG),
                account=_given(values, settings.ACCOUNT),
                storage_profile=_given(values, settings.STORAGE_PROFILE),
                environment=_given(values, settings.ENVIRONMENT),
                warehouse_wait_s=wait_s,
                snapshot_grace_s=settings.SNAPSHOT_GRACE.required_default
                if (grace := settings.SNAPSHOT_GRACE.from_env()) is None
                else grace,
                requester_key_id=lambda: requester_key_id(aws_profile),
            )
        )
    except StoreConfigError as exc:  # its messages name the settings by their variables
        message = as_given(
            str(exc), settings.STORAGE, settings.CATALOG, settings.ACCOUNT, settings.STORAGE_PROFILE
        )
        raise settings.ConfigurationError(message) from None
