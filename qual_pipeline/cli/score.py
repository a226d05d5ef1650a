"""`qual-pipeline score`: one worker's score (GetQualificationScore), printed like
`aws mturk get-qualification-score`, with a clear message when it is revoked or missing.

Exit codes: 0 shown, 1 revoked, missing or refused (the message says which and what to check),
2 a malformed id or bad usage.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from qual_pipeline.cli import preflight
from qual_pipeline.cli.options import SettingValues, mturk_client, takes_settings
from qual_pipeline.cli.plan import check_output
from qual_pipeline.cli.render import failures, out, score_table


@takes_settings("score")
def score(
    type_id: Annotated[str, typer.Option("--type", help="Qualification type id.")],
    worker: Annotated[str, typer.Option("--worker", help="Worker id.")],
    output: Annotated[str, typer.Option(help="json or table.")] = "json",
    *,
    values: SettingValues,
) -> None:
    """Show one worker's score (GetQualificationScore), as `aws mturk get-qualification-score`
    does, with a clear message when the qualification is revoked or missing."""
    from qual_pipeline.push.score import check_ids, get_qualification_score

    check_output(output)
    preflight.check("score", values)
    try:
        check_ids(type_id, worker)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    with failures():
        result = get_qualification_score(mturk_client(values), type_id, worker)
    if output == "json":
        typer.echo(json.dumps(result, indent=4))
    else:
        out.print(score_table(result))
