"""Look up one worker's score, as `aws mturk get-qualification-score` shows it, minus the confusion.

GetQualificationScore answers a revoked qualification and a missing one with two different errors
that requesters often mix up (and a sandbox worker id used on production looks "missing"); this
module turns them into two error classes whose messages say what happened and what to check.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from rich.table import Table

from qual_pipeline.push.calls import classify_score_error, describe_error

TYPE_ID = re.compile(r"^[A-Z0-9]{1,64}$")
WORKER_ID = re.compile(r"^A[A-Z0-9]{1,63}$")


class ScoreLookupError(LookupError):
    """GetQualificationScore could not return a score; the message says why."""


class QualificationRevoked(ScoreLookupError):
    pass


class QualificationMissing(ScoreLookupError):
    pass


def check_ids(qualification_type_id: str, worker_id: str) -> None:
    """Raise ValueError naming the id that fails MTurk's pattern, before any call."""
    if not TYPE_ID.match(qualification_type_id):
        raise ValueError(
            f"qualification type id {qualification_type_id!r} is not valid: MTurk type ids are "
            "1-64 upper-case letters and digits, e.g. 3YJP8DI8F47JY6LPEKOFHXLJ1G0Q49"
        )
    if not WORKER_ID.match(worker_id):
        raise ValueError(
            f"worker id {worker_id!r} is not valid: MTurk worker ids are A followed by upper-case "
            "letters and digits, e.g. A143XRCI1YXAFE"
        )


def get_qualification_score(client: Any, qualification_type_id: str, worker_id: str) -> dict:
    """`{"Qualification": {...}}` as the AWS CLI prints it, GrantTime in ISO 8601 UTC.

    Raises QualificationRevoked, QualificationMissing, or ScoreLookupError for other refusals.
    """
    check_ids(qualification_type_id, worker_id)
    try:
        answer = client.get_qualification_score(
            QualificationTypeId=qualification_type_id, WorkerId=worker_id
        )
    except ClientError as e:
        kind = classify_score_error(e)
        if kind == "Revoked":
            raise QualificationRevoked(
                f"the qualification {qualification_type_id} of worker {worker_id} was revoked: "
                "MTurk keeps no score to show. Grant it again (push with --allow-grants) "
                "if the worker should hold it"
            ) from None
        if kind == "Missing":
            raise QualificationMissing(
                f"worker {worker_id} does not hold qualification {qualification_type_id} "
                "(or the type does not exist); check the worker id and that you use the right "
                "environment: sandbox and production ids differ"
            ) from None
        raise ScoreLookupError(f"MTurk refused the lookup: {describe_error(e)}") from None
    qualification = dict(answer.get("Qualification", {}))
    grant_time = qualification.get("GrantTime")
    if isinstance(grant_time, datetime):
        qualification["GrantTime"] = grant_time.astimezone(UTC).isoformat()
    return {"Qualification": qualification}


def score_json(result: dict) -> str:
    return json.dumps(result, indent=4)


def score_table(result: dict) -> Table:
    """A two-column table with the title the AWS CLI's table output uses."""
    table = Table(title="GetQualificationScore", show_header=True)
    table.add_column("Field")
    table.add_column("Value")
    for key, value in result["Qualification"].items():
        if isinstance(value, dict):
            for sub, inner in value.items():
                table.add_row(f"{key}.{sub}", str(inner))
        else:
            table.add_row(key, str(value))
    return table
