"""CLI options derived from `qual_pipeline.settings`: the same environment variable, default,
range and help as the setting declares, so a command and the Dagster resources never drift."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from qual_pipeline import settings
from qual_pipeline.settings import Setting


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
