"""Look up one worker's score, as `aws mturk get-qualification-score` shows it, minus the confusion.

GetQualificationScore answers a revoked qualification and a missing one with two different errors
that requesters often mix up (and a sandbox worker id used on production looks "missing"); this
module turns them into two error classes whose messages say what happened and what to check.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from qual_pipeline.mturk_api.errors import describe
from qual_pipeline.mturk_api.model import TYPE_ID, WORKER_ID
from qual_pipeline.push.calls import classify_score_error


class ScoreLookupError(LookupError):
    """GetQualificationScore could not return a score; the message says why."""


class QualificationRevoked(ScoreLookupError):
    pass


class QualificationMissing(ScoreLookupError):
    pass


def check_ids(qualification_type_id: str, worker_id: str) -> None:
    """Raise ValueError naming the id that fails MTurk's shape (botocore's model), before any
    call."""
    if not TYPE_ID.matches(qualification_type_id):
        raise ValueError(
            f"qualification type id {qualification_type_id!r} is not valid: MTurk type ids are "
            f"{TYPE_ID.min_length}-{TYPE_ID.max_length} upper-case letters and digits, e.g. "
            "3YJP8DI8F47JY6LPEKOFHXLJ1G0Q49"
        )
    if not WORKER_ID.matches(worker_id):
        raise ValueError(
            f"worker id {worker_id!r} is not valid: MTurk worker ids are A followed by upper-case "
            f"letters and digits, {WORKER_ID.min_length}-{WORKER_ID.max_length} characters, e.g. "
            "A143XRCI1YXAFE"
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
        raise ScoreLookupError(f"MTurk refused the lookup: {describe(e)}") from None
    qualification = dict(answer.get("Qualification", {}))
    grant_time = qualification.get("GrantTime")
    if isinstance(grant_time, datetime):
        qualification["GrantTime"] = grant_time.astimezone(UTC).isoformat()
    return {"Qualification": qualification}
