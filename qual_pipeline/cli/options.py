"""CLI options derived from `qual_pipeline.settings`: the same environment variable, default,
range and help as the setting declares, so a command and the Dagster resources never drift."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from qual_pipeline import settings
from qual_pipeline.settings import ConfigurationError, Setting

if TYPE_CHECKING:
    from qual_pipeline.stores.profile import Stores


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


DataDir = Annotated[Path, option(settings.DATA_DIR, file_okay=False)]
DATA_DIR_DEFAULT = Path(settings.DATA_DIR.default or "data")

# The profile (local, or shared with QUAL_PIPELINE_STORAGE and QUAL_PIPELINE_CATALOG): the options
# of every command that opens the stores.
Storage = Annotated[str | None, option(settings.STORAGE)]
Catalog = Annotated[str | None, option(settings.CATALOG)]
Account = Annotated[str | None, option(settings.ACCOUNT)]
StorageProfile = Annotated[str | None, option(settings.STORAGE_PROFILE)]


def open_cli_stores(
    *,
    data_dir: Path,
    storage: str | None,
    catalog: str | None,
    account: str | None,
    storage_profile: str | None,
    environment: str,
    warehouse_wait_s: float = settings.WAREHOUSE_WAIT.default,
    aws_profile: str | None = None,
) -> Stores:
    """The stores of the profile these option values choose; ConfigurationError naming the
    setting that does not fit."""
    from qual_pipeline.mturk_api.client import requester_key_id
    from qual_pipeline.stores.profile import StoreConfigError, StoreSettings, open_stores

    try:
        return open_stores(
            StoreSettings(
                data_dir=Path(data_dir).expanduser().resolve(),
                storage=storage,
                catalog=catalog,
                account=account,
                storage_profile=storage_profile,
                environment=environment,
                warehouse_wait_s=warehouse_wait_s,
                snapshot_grace_s=settings.SNAPSHOT_GRACE.from_env() or 0.0,
                requester_key_id=lambda: requester_key_id(aws_profile),
            )
        )
    except StoreConfigError as exc:
        raise ConfigurationError(str(exc)) from None
