"""Every numeric setting declares its range (settings.py, with its unit) and every command refuses
a value outside it, or one that is not a number, before any work: one message naming the variable
or the option as it was given and the allowed range, exit 2, never a traceback. Huge values once
crashed deep inside (MTURK_CONNECT_TIMEOUT=1e12: `OverflowError: timestamp out of range`;
QUAL_PIPELINE_SNAPSHOT_GRACE=1e12 failed every type after publishing it;
QUAL_PIPELINE_PUSH_BATCH_SIZE=99999999999999999999 overflowed SQLite). Blank means unset for
every setting, as the README says.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qual_pipeline import settings
from qual_pipeline.cli.app import app
from qual_pipeline.settings import ConfigurationError, Setting

SCRIPT = Path(sys.executable).with_name("qual-pipeline")
NUMERIC = [s for s in settings.SETTINGS if s.kind in (int, float)]
BAD = {
    float: ("1e12", "1e308", "inf", "-inf", "nan", "-1e12"),
    int: ("99999999999999999999", "-99999999999999999999", "inf", "nan", "1e12"),
}


def command_of(setting: Setting[Any]) -> str:
    """A command that reads `setting`: the first one taking its option, else `refresh`."""
    return setting.commands[0] if setting.commands else "refresh"


def invoke(args: list[str], env: dict[str, str], tmp_path: Path) -> Any:
    base = {
        "QUAL_PIPELINE_DATA_DIR": str(tmp_path / "data"),
        "MTURK_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "not-a-secret",
        "COLUMNS": "400",
    }
    return CliRunner().invoke(app, args, env={**base, **env}, catch_exceptions=False)


def test_every_numeric_setting_declares_its_range() -> None:
    for setting in NUMERIC:
        assert setting.minimum is not None and setting.maximum is not None, setting.env
        assert setting.unit, setting.env
        assert setting.parse(repr(setting.maximum)) == setting.maximum
        assert setting.parse(repr(setting.minimum)) == setting.minimum


@pytest.mark.parametrize(
    ("setting", "text"),
    [(s, text) for s in NUMERIC for text in BAD[s.kind]],
    ids=lambda v: v.env if isinstance(v, Setting) else v,
)
def test_bad_number_in_the_environment_is_refused_up_front(
    setting: Setting[Any], text: str, tmp_path: Path
) -> None:
    result = invoke([command_of(setting)], {setting.env: text}, tmp_path)
    output = result.stdout + result.stderr
    assert result.exit_code == 2, output
    assert "Traceback" not in output and "OverflowError" not in output
    message = " ".join(output.split())
    assert f"{setting.env}={text!r}" in message, message
    assert f"use {setting.allowed}" in message, message
    if text == "nan" and setting.kind is float:
        assert "is not a number" in message, message
    assert not (tmp_path / "data").exists()  # refused before any work


@pytest.mark.parametrize(
    ("setting", "text"),
    [(s, text) for s in NUMERIC if s.flag for text in ("1e12", "nan", "-1")],
    ids=lambda v: v.env if isinstance(v, Setting) else v,
)
def test_bad_number_on_the_command_line_names_the_option(
    setting: Setting[Any], text: str, tmp_path: Path
) -> None:
    result = invoke([command_of(setting), f"{setting.flag}={text}"], {}, tmp_path)
    message = " ".join((result.stdout + result.stderr).split())
    assert result.exit_code == 2, message
    assert f"{setting.flag}={text!r}" in message, message
    assert f"use {setting.allowed}" in message, message


def test_allowed_range_reads_as_a_sentence() -> None:
    assert settings.CONNECT_TIMEOUT.allowed == "0.1 to 3600 seconds"
    assert settings.PUSH_MAX_SHARE.allowed == "0 to 100000000"
    assert settings.PUSH_MAX_REVOKE_SHARE.allowed == "0 to 1"
    assert settings.PUSH_MAX_CHANGES.allowed == "0 to 100000000 workers per type"


@pytest.mark.parametrize(
    "env",
    [
        {"MTURK_CONNECT_TIMEOUT": "1e12"},
        {"QUAL_PIPELINE_SNAPSHOT_GRACE": "99999999999"},
        {"QUAL_PIPELINE_PUSH_BATCH_SIZE": "99999999999999999999"},
    ],
)
def test_console_script_refuses_the_testers_values(env: dict[str, str], tmp_path: Path) -> None:
    """The reported values, through the console script as a user runs it."""
    command = "push" if "QUAL_PIPELINE_PUSH_BATCH_SIZE" in env else "refresh"
    result = subprocess.run(
        [str(SCRIPT), command, "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        env={**os.environ, "MTURK_ENDPOINT_URL": "http://127.0.0.1:9", **env},
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    (name,) = env
    assert name in result.stderr and " to " in result.stderr


@pytest.mark.parametrize(
    "name", ["QUAL_PIPELINE_WAREHOUSE_MEMORY", "QUAL_PIPELINE_STORAGE", "MTURK_CONNECT_TIMEOUT"]
)
def test_blank_means_unset(name: str, tmp_path: Path) -> None:
    """Spaces only: as if unset (the command goes on to its next check: the endpoint where
    nothing listens, exit 1), not a refusal of the value."""
    result = invoke(["refresh"], {name: "   "}, tmp_path)
    message = " ".join((result.stdout + result.stderr).split())
    assert result.exit_code == 1, message
    assert "cannot connect to MTurk" in message, message


def test_empty_aws_profile_means_unset(tmp_path: Path) -> None:
    """AWS_PROFILE='' once read `AWS_PROFILE=None names no profile`."""
    result = invoke(["refresh"], {"AWS_PROFILE": ""}, tmp_path)
    message = " ".join((result.stdout + result.stderr).split())
    assert "None" not in message and "names no profile" not in message, message
    assert "cannot connect to MTurk" in message, message


def test_a_bad_account_label_is_refused_in_the_local_profile_too(tmp_path: Path) -> None:
    """QUAL_PIPELINE_ACCOUNT=-1 was silently ignored in the local profile."""
    (tmp_path / "data").mkdir()
    result = invoke(["sql", "SELECT 1"], {"QUAL_PIPELINE_ACCOUNT": "-1"}, tmp_path)
    message = " ".join((result.stdout + result.stderr).split())
    assert result.exit_code == 2, message
    assert "'-1' is not valid" in message and "QUAL_PIPELINE_ACCOUNT" in message, message
    fine = invoke(["sql", "SELECT 1"], {"QUAL_PIPELINE_ACCOUNT": "acme-research"}, tmp_path)
    assert "QUAL_PIPELINE_ACCOUNT" not in fine.stdout + fine.stderr


@pytest.mark.parametrize("text", ["1_0", "\uff11\uff10", "1e8"])
def test_a_whole_number_is_written_in_plain_digits(text: str) -> None:
    # int() reads '1_0' and full-width digits as 10: a setting took them silently.
    with pytest.raises(ConfigurationError, match="is not a whole number; use 1 to 100 attempts"):
        settings.MAX_ATTEMPTS.parse(text)
    assert settings.MAX_ATTEMPTS.parse(" 10 ") == 10
