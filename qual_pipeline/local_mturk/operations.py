"""MTurk's qualification operations with the real service's semantics.

Input has already passed the service model's validation; each function adds what MTurk itself
enforces (ownership, states, uniqueness) and answers in the API's field names. `OPERATIONS` maps
an operation name to its function; every other operation of the model is not implemented here.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from typing import Any

from qual_pipeline.local_mturk import paging
from qual_pipeline.local_mturk.errors import (
    does_not_exist_qualification,
    does_not_exist_type,
    invalid_parameter,
    permission_denied,
    request_error,
    unknown_worker,
)
from qual_pipeline.local_mturk.store import GRANTED, REVOKED, STATUS_CODES, Store, now

Params = dict[str, Any]
Operation = Callable[[Store, str, Params], dict[str, Any]]

ID_ALPHABET = string.ascii_uppercase + string.digits
NOTIFY_MAX_WORKERS = 100
ASSIGNED_SUBJECT = "You have been granted a Qualification"


def new_id(length: int = 30) -> str:
    """An id shaped like MTurk's: upper-case letters and digits, starting with a digit."""
    return "3" + "".join(secrets.choice(ID_ALPHABET) for _ in range(length - 1))


def _owned_type(store: Store, caller: str, type_id: str) -> dict[str, Any]:
    qual_type = store.get_type(type_id)
    if qual_type is None:
        raise does_not_exist_type(type_id)
    if qual_type.get("Owner") != caller:
        raise permission_denied(type_id)
    return qual_type


def _known_worker(store: Store, worker_id: str) -> str:
    """The id itself when this environment knows the worker; else MTurk's
    ParameterValidationError (the production-id-on-the-sandbox mistake)."""
    if not store.worker_exists(worker_id):
        raise unknown_worker(worker_id)
    return worker_id


def _public(qual_type: dict[str, Any], caller: str) -> dict[str, Any]:
    """A type as the API shows it: no owner field, and the answer key only to its owner."""
    out = {k: v for k, v in qual_type.items() if k != "Owner"}
    if qual_type.get("Owner") != caller:
        out.pop("AnswerKey", None)
    return out


def _page_size(params: Params) -> int:
    return int(params.get("MaxResults") or paging.DEFAULT_PAGE_SIZE)


def _check_test_fields(fields: Params) -> None:
    if fields.get("Test") is not None and fields.get("TestDurationInSeconds") is None:
        raise request_error(
            "TestDurationInSeconds is required when Test is specified.", "ParameterValidationError"
        )
    if fields.get("Test") is not None and fields.get("AutoGranted"):
        raise request_error(
            "AutoGranted cannot be true when Test is specified.", "ParameterValidationError"
        )


# Qualification types ----------------------------------------------------------------------------


def create_qualification_type(store: Store, caller: str, params: Params) -> dict[str, Any]:
    if not params["Name"].strip():
        # *choice*: a type needs a name to be found by (MTurk's answer to it is undocumented);
        # the seed data refuses it too.
        raise invalid_parameter("Name", params["Name"])
    _check_test_fields(params)
    with store.transaction():
        if store.type_name_taken(caller, params["Name"]):
            raise request_error(
                "You have already created a QualificationType with this name. A "
                "QualificationType's name must be unique among all of the QualificationTypes "
                "created by the same user.",
                "QualificationTypeAlreadyExists",
            )
        type_id = new_id()
        store.insert_type(
            {
                **params,
                "QualificationTypeId": type_id,
                "Owner": caller,
                "CreationTime": now(),
                "IsRequestable": True,
                "AutoGranted": bool(params.get("AutoGranted", False)),
            }
        )
        created = store.get_type(type_id) or {}
    return {"QualificationType": _public(created, caller)}


def get_qualification_type(store: Store, caller: str, params: Params) -> dict[str, Any]:
    qual_type = store.get_type(params["QualificationTypeId"])
    if qual_type is None:
        raise does_not_exist_type(params["QualificationTypeId"])
    return {"QualificationType": _public(qual_type, caller)}


def update_qualification_type(store: Store, caller: str, params: Params) -> dict[str, Any]:
    type_id = params["QualificationTypeId"]
    with store.transaction():
        current = _owned_type(store, caller, type_id)
        changes = {k: v for k, v in params.items() if k != "QualificationTypeId"}
        _check_test_fields({**current, **changes})
        store.update_type(type_id, changes)
        updated = store.get_type(type_id) or {}
    return {"QualificationType": _public(updated, caller)}


def delete_qualification_type(store: Store, caller: str, params: Params) -> dict[str, Any]:
    type_id = params["QualificationTypeId"]
    with store.transaction():
        _owned_type(store, caller, type_id)
        store.delete_type(type_id)
    return {}


def list_qualification_types(store: Store, caller: str, params: Params) -> dict[str, Any]:
    owned_only = bool(params.get("MustBeOwnedByCaller", False))
    requestable_only = bool(params["MustBeRequestable"])
    query = params.get("Query")
    filters = (caller, owned_only, requestable_only, query)
    after = paging.decode(params.get("NextToken"), "ListQualificationTypes", filters)
    limit = _page_size(params)
    types = store.page_types(
        caller,
        owned_only=owned_only,
        requestable_only=requestable_only,
        query=query,
        after=str(after) if after is not None else None,
        limit=limit + 1,
    )
    out: dict[str, Any] = {
        "NumResults": min(len(types), limit),
        "QualificationTypes": [_public(t, caller) for t in types[:limit]],
    }
    if len(types) > limit:
        last = types[limit - 1]["QualificationTypeId"]
        out["NextToken"] = paging.encode("ListQualificationTypes", filters, last)
    return out


# Qualifications ---------------------------------------------------------------------------------


def list_workers_with_qualification_type(
    store: Store, caller: str, params: Params
) -> dict[str, Any]:
    type_id = params["QualificationTypeId"]
    _owned_type(store, caller, type_id)
    # MTurk does not document the default; the legacy API listed Granted qualifications.
    status_name = params.get("Status", "Granted")
    filters = (type_id, status_name)
    after = paging.decode(params.get("NextToken"), "ListWorkersWithQualificationType", filters)
    limit = _page_size(params)
    rows = store.page_qualifications(
        type_id, STATUS_CODES[status_name], str(after) if after is not None else None, limit + 1
    )
    out: dict[str, Any] = {"NumResults": min(len(rows), limit), "Qualifications": rows[:limit]}
    if len(rows) > limit:
        last = rows[limit - 1]["WorkerId"]
        out["NextToken"] = paging.encode("ListWorkersWithQualificationType", filters, last)
    return out


def get_qualification_score(store: Store, caller: str, params: Params) -> dict[str, Any]:
    type_id, worker_id = params["QualificationTypeId"], _known_worker(store, params["WorkerId"])
    qual_type = store.get_type(type_id)
    if qual_type is None:
        raise does_not_exist_qualification()
    if qual_type.get("Owner") != caller:
        raise permission_denied(type_id)
    found = store.get_qualification(type_id, worker_id)
    if found is None:
        raise does_not_exist_qualification()
    if found["Status"] != "Granted":
        raise request_error(
            f"The Qualification of type {type_id} for worker {worker_id} is "
            f"{found['Status']}. This operation can be called with a status of: Granted",
            "InvalidQualificationState",
        )
    return {"Qualification": found}


def associate_qualification_with_worker(
    store: Store, caller: str, params: Params
) -> dict[str, Any]:
    type_id, worker_id = params["QualificationTypeId"], _known_worker(store, params["WorkerId"])
    value = params.get("IntegerValue", 1)
    with store.transaction():
        _owned_type(store, caller, type_id)
        current = store.get_qualification(type_id, worker_id)
        # A rescore keeps the grant time; a new grant or a regrant after a revoke starts it anew.
        regranted = current is None or current["Status"] != "Granted"
        store.set_qualification(
            type_id,
            worker_id,
            status=GRANTED,
            integer_value=value,
            grant_time=now() if regranted else None,
        )
        if params.get("SendNotification", True):
            qual_type = store.get_type(type_id) or {}
            store.record_notifications(
                "AssociateQualificationWithWorker",
                [worker_id],
                ASSIGNED_SUBJECT,
                f"You have been granted the Qualification '{qual_type.get('Name')}' "
                f"with a value of {value}.",
            )
    return {}


def disassociate_qualification_from_worker(
    store: Store, caller: str, params: Params
) -> dict[str, Any]:
    type_id, worker_id = params["QualificationTypeId"], _known_worker(store, params["WorkerId"])
    with store.transaction():
        _owned_type(store, caller, type_id)
        current = store.get_qualification(type_id, worker_id)
        if current is None:
            raise does_not_exist_qualification()
        if current["Status"] != "Granted":
            raise request_error(
                f"The Qualification of type {type_id} for worker {worker_id} is already "
                "Revoked. This operation can be called with a status of: Granted",
                "InvalidQualificationState",
            )
        store.set_status(type_id, worker_id, REVOKED)
    return {}


# Qualification requests -------------------------------------------------------------------------


def list_qualification_requests(store: Store, caller: str, params: Params) -> dict[str, Any]:
    type_id = params.get("QualificationTypeId")
    if type_id is not None:
        _owned_type(store, caller, type_id)
    filters = (caller, type_id)
    after = paging.decode(params.get("NextToken"), "ListQualificationRequests", filters)
    if after is not None and not isinstance(after, int):
        after = None
    limit = _page_size(params)
    pairs = store.page_requests(caller, type_id, after, limit + 1)
    out: dict[str, Any] = {
        "NumResults": min(len(pairs), limit),
        "QualificationRequests": [r for _, r in pairs[:limit]],
    }
    if len(pairs) > limit:
        out["NextToken"] = paging.encode("ListQualificationRequests", filters, pairs[limit - 1][0])
    return out


def _owned_request(store: Store, caller: str, request_id: str) -> dict[str, Any]:
    request = store.get_request(request_id)
    if request is None:
        raise request_error(
            f"QualificationRequest {request_id} does not exist.",
            "QualificationRequestDoesNotExist",
        )
    _owned_type(store, caller, request["QualificationTypeId"])
    return request


def accept_qualification_request(store: Store, caller: str, params: Params) -> dict[str, Any]:
    with store.transaction():
        request = _owned_request(store, caller, params["QualificationRequestId"])
        store.set_qualification(
            request["QualificationTypeId"],
            request["WorkerId"],
            status=GRANTED,
            integer_value=params.get("IntegerValue", 1),
            grant_time=now(),
        )
        store.delete_request(request["QualificationRequestId"])
    return {}


def reject_qualification_request(store: Store, caller: str, params: Params) -> dict[str, Any]:
    with store.transaction():
        request = _owned_request(store, caller, params["QualificationRequestId"])
        store.delete_request(request["QualificationRequestId"])
    return {}


# Workers and account ----------------------------------------------------------------------------


def notify_workers(store: Store, caller: str, params: Params) -> dict[str, Any]:
    worker_ids: list[str] = params["WorkerIds"]
    if len(worker_ids) > NOTIFY_MAX_WORKERS:
        raise request_error(
            f"WorkerIds lists {len(worker_ids)} workers; NotifyWorkers takes at most "
            f"{NOTIFY_MAX_WORKERS} per call.",
            "ParameterValidationError",
        )
    failures = []
    reached = []
    for worker_id in dict.fromkeys(worker_ids):
        # NotifyWorkers does not raise for a worker it cannot reach, unknown ones included.
        if store.worker_exists(worker_id) and store.worker_known(worker_id):
            reached.append(worker_id)
        else:
            failures.append(
                {
                    "NotifyWorkersFailureCode": "HardFailure",
                    "NotifyWorkersFailureMessage": f"Cannot send notification to {worker_id}: "
                    "the worker has not worked for you.",
                    "WorkerId": worker_id,
                }
            )
    store.record_notifications("NotifyWorkers", reached, params["Subject"], params["MessageText"])
    return {"NotifyWorkersFailureStatuses": failures}


def get_account_balance(store: Store, caller: str, params: Params) -> dict[str, Any]:
    return {"AvailableBalance": store.balance(caller)}


def create_worker_block(store: Store, caller: str, params: Params) -> dict[str, Any]:
    store.put_block(caller, _known_worker(store, params["WorkerId"]), params["Reason"])
    return {}


def delete_worker_block(store: Store, caller: str, params: Params) -> dict[str, Any]:
    store.delete_block(caller, _known_worker(store, params["WorkerId"]))
    return {}


def list_worker_blocks(store: Store, caller: str, params: Params) -> dict[str, Any]:
    filters = (caller,)
    after = paging.decode(params.get("NextToken"), "ListWorkerBlocks", filters)
    limit = _page_size(params)
    blocks = store.page_blocks(caller, str(after) if after is not None else None, limit + 1)
    out: dict[str, Any] = {"NumResults": min(len(blocks), limit), "WorkerBlocks": blocks[:limit]}
    if len(blocks) > limit:
        out["NextToken"] = paging.encode("ListWorkerBlocks", filters, blocks[limit - 1]["WorkerId"])
    return out


OPERATIONS: dict[str, Operation] = {
    "CreateQualificationType": create_qualification_type,
    "GetQualificationType": get_qualification_type,
    "UpdateQualificationType": update_qualification_type,
    "DeleteQualificationType": delete_qualification_type,
    "ListQualificationTypes": list_qualification_types,
    "ListWorkersWithQualificationType": list_workers_with_qualification_type,
    "GetQualificationScore": get_qualification_score,
    "AssociateQualificationWithWorker": associate_qualification_with_worker,
    "DisassociateQualificationFromWorker": disassociate_qualification_from_worker,
    "ListQualificationRequests": list_qualification_requests,
    "AcceptQualificationRequest": accept_qualification_request,
    "RejectQualificationRequest": reject_qualification_request,
    "NotifyWorkers": notify_workers,
    "GetAccountBalance": get_account_balance,
    "CreateWorkerBlock": create_worker_block,
    "DeleteWorkerBlock": delete_worker_block,
    "ListWorkerBlocks": list_worker_blocks,
}
