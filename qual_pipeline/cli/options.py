"""CLI options derived from `qual_pipeline.settings`: the same environment variable, default,
range and help as the setting declares, so a command and the Dagster resources never drift.

The option types below are shared by the commands that take them; a command module declares a
parameter as e.g. `data_dir: DataDir = DATA_DIR_DEFAULT`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from qual_pipeline import settings
from qual_pipeline.settings import Setting

if TYPE_CHECKING:
    from qual_pipeline.mturk_api.client import ApiStats


def option(setting: Setting[Any], **extra: Any) -> Any:
    """The typer option of `setting`: its flag, environment variable, range, choices and help."""
    if setting.flag is None:
        raise ValueError(f"setting {setting.name} has no CLI flag")
    kwargs: dict[str, Any] = {"envvar": setting.env, "help": setting.help}
    if setting.minimum is not None:
        kwargs["min"] = setting.minimum
    if setting.maximum is not None:
        kwargs["max"] = setting.maximum
    if setting.choices:
        kwargs["callback"] = _one_of(setting.choices)
    return typer.Option(setting.flag, **kwargs, **extra)


def _one_of(choices: tuple[str, ...]) -> Callable[[str | None], str | None]:
    def check(value: str | None) -> str | None:
        if value is not None and value not in choices:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}")
        return value

    return check


def given_on_command_line(ctx: typer.Context, names: list[str]) -> list[str]:
    """The flags among the parameters `names` that the user typed (not taken from the
    environment or the default)."""
    typed = []
    for param in ctx.command.params:
        if param.name in names:
            source = ctx.get_parameter_source(param.name)
            # By name: typer's click and the `click` package each have a ParameterSource.
            if source is not None and source.name == "COMMANDLINE":
                typed.append(param.opts[0])
    return typed


DataDir = Annotated[Path, option(settings.DATA_DIR, file_okay=False)]
DATA_DIR_DEFAULT = Path(settings.DATA_DIR.required_default)
InputsDir = Annotated[Path, option(settings.INPUTS_DIR, file_okay=False)]
INPUTS_DIR_DEFAULT = Path(settings.INPUTS_DIR.required_default)
WarehouseWait = Annotated[float, option(settings.WAREHOUSE_WAIT)]

# Where MTurk requests go and how they are retried.
Environment = Annotated[str, option(settings.ENVIRONMENT)]
EndpointUrl = Annotated[str | None, option(settings.ENDPOINT_URL)]
RetryMode = Annotated[str, option(settings.RETRY_MODE)]
MaxAttempts = Annotated[int, option(settings.MAX_ATTEMPTS)]
AwsProfile = Annotated[str | None, option(settings.AWS_PROFILE)]

# What a plan is built and judged with (recorded in the plan).
AllowGrants = Annotated[bool, option(settings.PUSH_ALLOW_GRANTS)]
AllowRevokes = Annotated[bool, option(settings.PUSH_ALLOW_REVOKES)]
MaxChanges = Annotated[int, option(settings.PUSH_MAX_CHANGES)]
MaxShare = Annotated[float, option(settings.PUSH_MAX_SHARE)]
MaxRevokes = Annotated[int, option(settings.PUSH_MAX_REVOKES)]
MaxRevokeShare = Annotated[float, option(settings.PUSH_MAX_REVOKE_SHARE)]
SkipRejected = Annotated[bool, option(settings.PUSH_SKIP_REJECTED)]
IgnoreCheck = Annotated[list[str] | None, option(settings.PUSH_IGNORE_CHECKS)]
PLAN_OPTIONS = [
    "allow_grants",
    "allow_revokes",
    "max_changes",
    "max_share",
    "max_revokes",
    "max_revoke_share",
    "skip_rejected",
    "ignore_check",
]
"""The parameter names of the plan options, as `plan` and `push --replan` take them."""


@dataclass(frozen=True)
class MTurkOptions:
    """The MTurk options of a command, turned into a boto3 client by `mturk_api`."""

    environment: str
    endpoint_url: str | None
    retry_mode: str
    max_attempts: int
    aws_profile: str | None

    def client(self, *, rate: float | None = None, stats: ApiStats | None = None) -> Any:
        """A client of these options, held to `rate` requests per second (None: no limit of
        its own) and to QUAL_PIPELINE_RATE when that is set (the process's shared limit)."""
        from qual_pipeline.mturk_api.client import RateLimiter, limit_rate, make_client

        client = make_client(
            environment=self.environment,
            endpoint_url=self.endpoint_url or None,
            retry_mode=self.retry_mode,  # type: ignore[arg-type]  # checked by its option
            max_attempts=self.max_attempts,
            rate_limiter=RateLimiter(rate) if rate else None,
            stats=stats,
            profile_name=self.aws_profile or None,
        )
        shared = settings.RATE.from_env()
        return limit_rate(client, RateLimiter(shared)) if shared else client
