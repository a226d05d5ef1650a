"""The MTurk calls the push makes, and how their answers are read.

One function per thing the push does to or asks of MTurk, so the sender stays about journalling and
this module stays about the API: which operation carries which action, how GetQualificationScore
tells a revoked qualification from a missing one, and when a change has landed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from qual_pipeline.extract.type_selection import REFUSED_CALLER
from qual_pipeline.mturk_api.errors import describe, is_unknown_worker
from qual_pipeline.mturk_api.model import MAX_PAGE_SIZE
from qual_pipeline.push.journal import Change

MISSING_CODES = ("AWS.MechanicalTurk.QualificationDoesNotExist",)
REVOKED_CODES = ("AWS.MechanicalTurk.InvalidQualificationState",)
REVOKED_TEXT = "can be called with a status of: Granted"
# Error codes botocore's retry modes retry (throttling, server faults, timeouts; as in
# botocore.retries.standard): when one still comes back after the last attempt, MTurk could not be
# reached for now. It says nothing about the change itself, so the push stops and resumes later.
TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceFault",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalError",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
    }
)


@dataclass(frozen=True)
class Observed:
    """What GetQualificationScore says a worker holds: Granted with a value, Revoked or Missing;
    'Unreadable' (with `error`) when MTurk refused the read itself for good."""

    status: str  # 'Granted' | 'Revoked' | 'Missing' | 'Unreadable'
    value: int | None = None
    error: str | None = None

    @property
    def audit_status(self) -> str | None:
        """The status push_audit records: what MTurk holds, None when it could not be read."""
        return None if self.status == "Unreadable" else self.status


def is_transient(error: ClientError) -> bool:
    """True for errors botocore retries (throttling, 5xx faults, timeouts); after the last retry
    they mean "try again later", never "MTurk refused this change"."""
    code = error.response.get("Error", {}).get("Code", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return code in TRANSIENT_CODES or status >= 500


def refuses_caller(error: ClientError) -> bool:
    """True when MTurk refused the caller's credentials or signature (InvalidSignatureException,
    UnrecognizedClientException, AccessDenied...): a configuration problem that says nothing
    about any change, and fails every call alike."""
    return error.response.get("Error", {}).get("Code", "") in REFUSED_CALLER


def classify_score_error(error: ClientError) -> str | None:
    """'Missing' or 'Revoked' when GetQualificationScore failed for that reason, else None. A
    worker the environment does not know holds nothing there: 'Missing'."""
    turk = error.response.get("TurkErrorCode", "")
    message = error.response.get("Error", {}).get("Message", "")
    if turk in REVOKED_CODES or REVOKED_TEXT in message:
        return "Revoked"
    if turk in MISSING_CODES or "does not exist" in message or is_unknown_worker(error):
        return "Missing"
    return None


def read_score(client: Any, qualification_type_id: str, worker_id: str) -> Observed:
    """What MTurk holds for one worker and type now.

    Raises ClientError only for transient errors (is_transient) that outlived botocore's retries
    and for refused credentials (refuses_caller); any other refusal of the read comes back as
    Observed('Unreadable', error=...).
    """
    try:
        answer = client.get_qualification_score(
            QualificationTypeId=qualification_type_id, WorkerId=worker_id
        )
    except ClientError as e:
        if is_transient(e) or refuses_caller(e):
            raise
        status = classify_score_error(e)
        if status is None:
            return Observed("Unreadable", error=describe(e))
        return Observed(status)
    qualification = answer.get("Qualification", {})
    return Observed(qualification.get("Status", "Granted"), qualification.get("IntegerValue"))


def pending_request_ids(client: Any, qualification_type_id: str) -> set[str]:
    """Ids of the requests still pending for one type (every page of ListQualificationRequests)."""
    found: set[str] = set()
    paginator = client.get_paginator("list_qualification_requests")
    for page in paginator.paginate(
        QualificationTypeId=qualification_type_id, PaginationConfig={"PageSize": MAX_PAGE_SIZE}
    ):
        found.update(r["QualificationRequestId"] for r in page.get("QualificationRequests", []))
    return found


def send_change(client: Any, change: Change, *, send_notifications: bool) -> None:
    """The one call that applies a change: Associate for scores, Disassociate (with the reason
    the worker sees, if any) for revocations, Accept/Reject for requests."""
    if change.action in ("update", "grant"):
        client.associate_qualification_with_worker(
            QualificationTypeId=change.qualification_type_id,
            WorkerId=change.worker_id,
            IntegerValue=change.new_value,
            SendNotification=send_notifications,
        )
    elif change.action == "revoke":
        kwargs = {
            "QualificationTypeId": change.qualification_type_id,
            "WorkerId": change.worker_id,
        }
        if change.reject_reason:
            kwargs["Reason"] = change.reject_reason
        client.disassociate_qualification_from_worker(**kwargs)
    elif change.action == "accept":
        client.accept_qualification_request(
            QualificationRequestId=change.qualification_request_id,
            IntegerValue=change.new_value,
        )
    elif change.action == "reject":
        kwargs = {"QualificationRequestId": change.qualification_request_id}
        if change.reject_reason:
            kwargs["Reason"] = change.reject_reason
        client.reject_qualification_request(**kwargs)
    else:
        raise ValueError(f"journal holds an unknown action {change.action!r}")


def has_landed(change: Change, observed: Observed | None, still_pending: bool) -> bool:
    """Whether MTurk already reflects a change: the read-back that makes resume exactly-once.

    A revocation has landed when GetQualificationScore answers the revoked state (or that the
    worker holds nothing: either way the worker no longer holds the type).
    """
    if change.action == "reject":
        return not still_pending
    assert observed is not None
    if observed.status == "Unreadable":
        return False
    if change.action == "revoke":
        return observed.status in ("Revoked", "Missing")
    holds = observed.status == "Granted" and observed.value == change.new_value
    if change.action == "accept":
        return holds and not still_pending
    return holds
