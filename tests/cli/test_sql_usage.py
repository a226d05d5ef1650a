"""`qual-pipeline sql --help` names its argument as the README writes it (QUERY), not by the
Python parameter's name (before: `{query}`)."""

from __future__ import annotations

from typer.testing import CliRunner

from qual_pipeline.cli.app import app


def test_sql_usage_names_its_argument_query() -> None:
    result = CliRunner().invoke(app, ["sql", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    usage = next(line for line in result.output.splitlines() if line.startswith("Usage:"))
    assert usage.endswith("sql [OPTIONS] {QUERY}"), usage
