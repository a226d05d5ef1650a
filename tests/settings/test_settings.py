"""Every setting is declared once, in qual_pipeline/settings.py, and everything else follows from
that declaration: the Dagster resources' fields, the CLI options, the README's table. The values
reach a run when it launches, floats and booleans included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from dagster import MaterializeResult, asset, materialize

from qual_pipeline import settings
from qual_pipeline.cli.app import app
from qual_pipeline.defs.resources import MTurkResource, PipelineConfig
from qual_pipeline.extract.type_selection import parse_type_setting
from qual_pipeline.settings import SETTINGS, ConfigurationError

README = Path(__file__).resolve().parents[2] / "README.md"
RESOURCES = {"mturk": MTurkResource, "pipeline": PipelineConfig}


def commands() -> dict[str, Any]:
    """Every `qual-pipeline` command (typer's click Command) by name; 'group sub' for subs."""
    root: Any = typer.main.get_command(app)
    found: dict[str, Any] = {}
    for name, command in root.commands.items():
        found[name] = command
        for sub, inner in getattr(command, "commands", {}).items():
            found[f"{name} {sub}"] = inner
    return found


def options(command: Any) -> dict[str, Any]:
    """A command's options by each of their names (`--data-dir`)."""
    return {
        opt: param
        for param in command.params
        if param.param_type_name == "option"
        for opt in param.opts
    }


def test_every_setting_has_one_declaration_a_variable_and_a_description() -> None:
    names = [s.name for s in SETTINGS]
    variables = [s.env for s in SETTINGS]
    assert len(set(names)) == len(names), "a setting is declared twice"
    assert len(set(variables)) == len(variables), "two settings share an environment variable"
    for s in SETTINGS:
        assert s.env and s.env == s.env.upper(), s.name
        assert len(s.description) > 20, f"{s.name} has no real description"
        assert s.kind in (str, int, float, bool), s.name
        assert s.default is None or isinstance(s.default, s.kind), s.name
        assert not s.commands or s.flag, f"{s.name} names commands but no flag"
        if s.kind in (int, float) and s.default is not None:
            assert s.unit, f"{s.name} is a number without a unit"


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.commands], ids=lambda s: s.name)
def test_each_command_that_takes_a_setting_has_its_option(setting: settings.Setting[Any]) -> None:
    found = commands()
    for name in setting.commands:
        option = options(found[name]).get(setting.flag or "")
        assert option is not None, f"`{name}` has no {setting.flag}"
        assert option.envvar == setting.env, f"`{name} {setting.flag}` reads {option.envvar}"
        default = option.default
        expected = setting.default
        if isinstance(default, Path):
            default = str(default)
        assert default == expected, f"`{name} {setting.flag}` defaults to {default!r}"
        assert setting.description in (option.help or ""), f"`{name} {setting.flag}` help"


def test_every_option_that_reads_a_variable_is_a_declared_setting() -> None:
    by_env = {s.env: s for s in SETTINGS}
    for name, command in commands().items():
        for option in {id(o): o for o in options(command).values()}.values():
            if option.envvar is None:
                continue
            setting = by_env.get(str(option.envvar))
            assert setting is not None, f"`{name}` reads {option.envvar}, declared nowhere"
            assert setting.flag in option.opts, f"`{name}` reads {setting.env} as {option.opts}"


@pytest.mark.parametrize("reader", ["mturk", "pipeline"])
def test_resource_fields_are_the_settings_with_their_descriptions(reader: str) -> None:
    fields = RESOURCES[reader].model_fields
    declared = {s.name: s for s in settings.read_by(reader)}  # type: ignore[arg-type]
    assert set(fields) == set(declared)
    for name, setting in declared.items():
        assert fields[name].description == setting.help
        default = fields[name].default
        if setting.kind in (float, bool) and default is not None:
            default = setting.parse(default)  # carried as text, parsed when read
        assert default == setting.default, name


def test_every_setting_has_a_row_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    assert settings.markdown_table() in text, "run `python tests/docs/readme_blocks.py`"
    for s in SETTINGS:
        assert f"| `{s.env}` |" in text


def test_values_are_read_when_a_run_launches_floats_and_booleans_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("QUAL_PIPELINE_PUSH_MAX_SHARE", "0.25")
    monkeypatch.setenv("QUAL_PIPELINE_PUSH_ALLOW_GRANTS", "true")
    monkeypatch.setenv("QUAL_PIPELINE_PUSH_MAX_CHANGES", "7")
    monkeypatch.setenv("QUAL_PIPELINE_DATA_DIR", str(tmp_path / "first"))
    from qual_pipeline.definitions import build_definitions

    resources = build_definitions().resources  # the code location loads here
    seen: dict[str, Any] = {}

    @asset
    def probe(pipeline: PipelineConfig) -> MaterializeResult:
        seen.update(
            share=pipeline.get(settings.PUSH_MAX_SHARE),
            grants=pipeline.get(settings.PUSH_ALLOW_GRANTS),
            changes=pipeline.get(settings.PUSH_MAX_CHANGES),
            data=pipeline.data_path,
        )
        return MaterializeResult()

    # The variables change after the code location loaded: the run sees the new values.
    monkeypatch.setenv("QUAL_PIPELINE_PUSH_MAX_SHARE", "0.5")
    monkeypatch.setenv("QUAL_PIPELINE_PUSH_ALLOW_GRANTS", "no")
    monkeypatch.setenv("QUAL_PIPELINE_PUSH_MAX_CHANGES", "9")
    monkeypatch.setenv("QUAL_PIPELINE_DATA_DIR", str(tmp_path / "second"))
    assert materialize([probe], resources={"pipeline": resources["pipeline"]}).success
    assert seen == {"share": 0.5, "grants": False, "changes": 9, "data": tmp_path / "second"}

    # A value that is not a yes/no fails the run with the variable's name, never reads as true.
    monkeypatch.setenv("QUAL_PIPELINE_PUSH_ALLOW_GRANTS", "maybe")
    with pytest.raises(ConfigurationError, match="QUAL_PIPELINE_PUSH_ALLOW_GRANTS='maybe'"):
        materialize([probe], resources={"pipeline": resources["pipeline"]})


def test_an_empty_variable_keeps_the_default_in_a_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the README says of a variable left empty: a run reads the default, not ''.
    for setting in (settings.WAREHOUSE_MEMORY, settings.PUSH_MAX_CHANGES):
        monkeypatch.setenv(setting.env, "")
    from qual_pipeline.definitions import build_definitions

    resources = build_definitions().resources
    seen: dict[str, Any] = {}

    @asset
    def probe(pipeline: PipelineConfig) -> MaterializeResult:
        seen.update(
            memory=pipeline.get(settings.WAREHOUSE_MEMORY),
            changes=pipeline.get(settings.PUSH_MAX_CHANGES),
        )
        return MaterializeResult()

    assert materialize([probe], resources={"pipeline": resources["pipeline"]}).success
    assert seen == {
        "memory": settings.WAREHOUSE_MEMORY.default,
        "changes": settings.PUSH_MAX_CHANGES.default,
    }


def test_values_the_cli_passes_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUAL_PIPELINE_MAX_ROW_DROP_SHARE", "0.9")
    from qual_pipeline.definitions import build_definitions

    pipeline = build_definitions({"max_row_drop_share": 0.2}).resources["pipeline"]
    assert pipeline.get(settings.MAX_ROW_DROP_SHARE) == 0.2


@pytest.mark.parametrize(
    ("setting", "text", "message"),
    [
        (settings.PUSH_MAX_SHARE, "ten percent", "QUAL_PIPELINE_PUSH_MAX_SHARE='ten percent'"),
        (settings.MAX_ROW_DROP_SHARE, "1.5", "above its maximum 1"),
        (settings.ENVIRONMENT, "staging", "use sandbox or production"),
        (settings.PUSH_SEND_NOTIFICATIONS, "off please", "yes/no"),
        (settings.MAX_ATTEMPTS, "0", "below its minimum 1"),
    ],
)
def test_a_bad_value_names_the_variable_and_the_fix(
    setting: settings.Setting[Any], text: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        setting.parse(text)


def test_one_type_selection_semantics() -> None:
    for text in ("", "  ", "owned", "OWNED"):
        assert parse_type_setting(text) is None
        assert PipelineConfig(types=text).type_ids() is None
    listed = "3TESTTYPE000000000000000000001, 3TESTTYPE000000000000000000002"
    assert PipelineConfig(types=listed).type_ids() == parse_type_setting(listed)
