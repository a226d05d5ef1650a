"""Type lifecycle, revokes, qualification requests, notifications, blocks, paging under change."""

from __future__ import annotations

import pytest
from support.mturk import (
    OTHER_REQUESTER,
    TYPE_ID,
    make_data,
    mturk_client,
    qualification,
    worker_id,
    workers_data,
)


def _turk_code(exc) -> str:
    return exc.value.response.get("TurkErrorCode")


def test_type_lifecycle_and_unique_names(local_mturk):
    mturk = local_mturk(make_data(types=[]))
    client = mturk_client(mturk)
    created = client.create_qualification_type(
        Name="Careful annotators",
        Description="Passed the annotation test",
        QualificationTypeStatus="Active",
        Keywords="annotation",
    )["QualificationType"]
    type_id = created["QualificationTypeId"]
    assert len(type_id) == 30 and type_id.isalnum() and type_id.isupper()
    assert created["IsRequestable"] is True and created["AutoGranted"] is False

    with pytest.raises(client.exceptions.RequestError) as exc:
        client.create_qualification_type(
            Name="Careful annotators", Description="again", QualificationTypeStatus="Active"
        )
    assert _turk_code(exc) == "AWS.MechanicalTurk.QualificationTypeAlreadyExists"
    # Names are unique per requester, not globally.
    mturk_client(mturk, OTHER_REQUESTER).create_qualification_type(
        Name="Careful annotators", Description="theirs", QualificationTypeStatus="Active"
    )

    updated = client.update_qualification_type(
        QualificationTypeId=type_id, Description="New text", QualificationTypeStatus="Inactive"
    )["QualificationType"]
    assert (updated["Description"], updated["QualificationTypeStatus"]) == ("New text", "Inactive")
    assert updated["Name"] == "Careful annotators"
    got = client.get_qualification_type(QualificationTypeId=type_id)["QualificationType"]
    assert got["Description"] == "New text"

    client.associate_qualification_with_worker(
        QualificationTypeId=type_id, WorkerId=worker_id(1), SendNotification=False
    )
    client.delete_qualification_type(QualificationTypeId=type_id)
    with pytest.raises(client.exceptions.RequestError) as exc:
        client.get_qualification_type(QualificationTypeId=type_id)
    assert _turk_code(exc) == "AWS.MechanicalTurk.QualificationTypeDoesNotExist"
    own = client.list_qualification_types(MustBeRequestable=False, MustBeOwnedByCaller=True)
    assert own["QualificationTypes"] == []
    with pytest.raises(client.exceptions.RequestError):
        client.get_qualification_score(QualificationTypeId=type_id, WorkerId=worker_id(1))


@pytest.mark.parametrize("name", ["", "   ", "\t"])
def test_a_type_needs_a_name(local_mturk, name):
    """A blank name is refused, as the seed data refuses it: nothing could find the type by
    name, and the website's worker CSV (UPDATE-<name>) could not name it."""
    mturk = local_mturk(make_data(types=[]))
    client = mturk_client(mturk)
    with pytest.raises(client.exceptions.ClientError) as exc:
        client.create_qualification_type(
            Name=name, Description="d", QualificationTypeStatus="Active"
        )
    error = exc.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Code"] == "ParameterValidationError"
    assert f'The value "{name}" is not valid for the parameter Name.' in error["Error"]["Message"]
    own = client.list_qualification_types(MustBeRequestable=False, MustBeOwnedByCaller=True)
    assert own["QualificationTypes"] == []


def test_test_requires_duration(local_mturk):
    client = mturk_client(local_mturk(make_data(types=[])))
    with pytest.raises(client.exceptions.RequestError) as exc:
        client.create_qualification_type(
            Name="n", Description="d", QualificationTypeStatus="Active", Test="<QuestionForm/>"
        )
    assert "TestDurationInSeconds" in exc.value.response["Error"]["Message"]


def test_revoke_then_regrant(local_mturk):
    mturk = local_mturk(workers_data(3))
    client = mturk_client(mturk)
    client.disassociate_qualification_from_worker(
        QualificationTypeId=TYPE_ID, WorkerId=worker_id(1), Reason="left the project"
    )
    revoked = client.list_workers_with_qualification_type(
        QualificationTypeId=TYPE_ID, Status="Revoked"
    )["Qualifications"]
    assert [q["WorkerId"] for q in revoked] == [worker_id(1)]
    with pytest.raises(client.exceptions.RequestError) as exc:
        client.disassociate_qualification_from_worker(
            QualificationTypeId=TYPE_ID, WorkerId=worker_id(1)
        )
    assert _turk_code(exc) == "AWS.MechanicalTurk.InvalidQualificationState"
    with pytest.raises(client.exceptions.RequestError) as exc:
        client.disassociate_qualification_from_worker(
            QualificationTypeId=TYPE_ID, WorkerId=worker_id(77)
        )
    assert _turk_code(exc) == "AWS.MechanicalTurk.QualificationDoesNotExist"
    client.associate_qualification_with_worker(
        QualificationTypeId=TYPE_ID, WorkerId=worker_id(1), IntegerValue=12, SendNotification=False
    )
    assert mturk.admin.get_qualification(TYPE_ID, worker_id(1))["Status"] == "Granted"


def test_qualification_requests_accept_and_reject(local_mturk):
    data = make_data(
        requests=[
            {"QualificationRequestId": "REQ1", "QualificationTypeId": TYPE_ID, "WorkerId": "AREQ1"},
            {"QualificationRequestId": "REQ2", "QualificationTypeId": TYPE_ID, "WorkerId": "AREQ2"},
            {"QualificationRequestId": "REQ3", "QualificationTypeId": TYPE_ID, "WorkerId": "AREQ3"},
        ]
    )
    mturk = local_mturk(data)
    client = mturk_client(mturk)
    listed = client.list_qualification_requests(QualificationTypeId=TYPE_ID)
    assert [r["QualificationRequestId"] for r in listed["QualificationRequests"]] == [
        "REQ1",
        "REQ2",
        "REQ3",
    ]
    paged = client.get_paginator("list_qualification_requests").paginate(
        PaginationConfig={"PageSize": 2}
    )
    assert sum(len(p["QualificationRequests"]) for p in paged) == 3
    assert (
        mturk_client(mturk, OTHER_REQUESTER).list_qualification_requests()["QualificationRequests"]
        == []
    )

    client.accept_qualification_request(QualificationRequestId="REQ1")
    client.accept_qualification_request(QualificationRequestId="REQ2", IntegerValue=70)
    client.reject_qualification_request(QualificationRequestId="REQ3", Reason="no")
    assert mturk.admin.get_qualification(TYPE_ID, "AREQ1")["IntegerValue"] == 1
    assert mturk.admin.get_qualification(TYPE_ID, "AREQ2")["IntegerValue"] == 70
    assert mturk.admin.get_qualification(TYPE_ID, "AREQ3") is None
    assert client.list_qualification_requests()["QualificationRequests"] == []
    with pytest.raises(client.exceptions.RequestError) as exc:
        client.accept_qualification_request(QualificationRequestId="REQ1")
    assert _turk_code(exc) == "AWS.MechanicalTurk.QualificationRequestDoesNotExist"


def test_admin_request_can_be_accepted_by_owner_only(local_mturk):
    mturk = local_mturk(workers_data(1))
    request_id = mturk.admin.add_qualification_request(
        {"QualificationTypeId": TYPE_ID, "WorkerId": "AWAITING1"}
    )
    with pytest.raises(Exception) as exc:
        mturk_client(mturk, OTHER_REQUESTER).accept_qualification_request(
            QualificationRequestId=request_id
        )
    assert _turk_code(exc) == "AWS.MechanicalTurk.PermissionDenied"
    mturk_client(mturk).accept_qualification_request(QualificationRequestId=request_id)
    assert mturk.admin.get_qualification(TYPE_ID, "AWAITING1")["Status"] == "Granted"


def test_notify_workers_records_mail_and_hard_failures(local_mturk):
    mturk = local_mturk(workers_data(2))
    client = mturk_client(mturk)
    result = client.notify_workers(
        Subject="New work", MessageText="Hello", WorkerIds=[worker_id(0), "ANOBODY", worker_id(1)]
    )
    failures = result["NotifyWorkersFailureStatuses"]
    assert [(f["WorkerId"], f["NotifyWorkersFailureCode"]) for f in failures] == [
        ("ANOBODY", "HardFailure")
    ]
    sent = mturk.notifications()
    assert [(n["WorkerId"], n["Subject"], n["MessageText"]) for n in sent] == [
        (worker_id(0), "New work", "Hello"),
        (worker_id(1), "New work", "Hello"),
    ]
    with pytest.raises(client.exceptions.RequestError):
        client.notify_workers(
            Subject="s", MessageText="m", WorkerIds=[worker_id(i) for i in range(101)]
        )


def test_worker_blocks_and_balance(local_mturk):
    data = make_data()
    data["requesters"][0]["AvailableBalance"] = "123.45"
    mturk = local_mturk(data)
    client = mturk_client(mturk)
    assert client.get_account_balance()["AvailableBalance"] == "123.45"
    for n in range(5):
        client.create_worker_block(WorkerId=worker_id(n), Reason=f"reason {n}")
    client.delete_worker_block(WorkerId=worker_id(2))
    blocks = [
        b
        for page in client.get_paginator("list_worker_blocks").paginate(
            PaginationConfig={"PageSize": 2}
        )
        for b in page["WorkerBlocks"]
    ]
    assert [b["WorkerId"] for b in blocks] == [worker_id(n) for n in (0, 1, 3, 4)]
    assert blocks[0]["Reason"] == "reason 0"
    assert mturk_client(mturk, OTHER_REQUESTER).list_worker_blocks()["WorkerBlocks"] == []


def test_workers_added_and_changed_while_paging(local_mturk):
    mturk = local_mturk(workers_data(300))
    client = mturk_client(mturk)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        kwargs = {"NextToken": token} if token else {}
        page = client.list_workers_with_qualification_type(
            QualificationTypeId=TYPE_ID, Status="Granted", MaxResults=50, **kwargs
        )
        seen += [q["WorkerId"] for q in page["Qualifications"]]
        pages += 1
        if pages == 2:
            # Behind the cursor, ahead of it, a rescore and a worker who vanishes.
            mturk.admin.put_qualification(qualification("AW000000000000A", 5))
            mturk.admin.put_qualification(qualification("AZZZZZZZZZZZZZ", 5))
            client.associate_qualification_with_worker(
                QualificationTypeId=TYPE_ID,
                WorkerId=worker_id(250),
                IntegerValue=1,
                SendNotification=False,
            )
            mturk.admin.remove_qualification(TYPE_ID, worker_id(260))
        token = page.get("NextToken")
        if not token:
            break
        assert pages < 20
    assert len(seen) == len(set(seen))
    assert "AZZZZZZZZZZZZZ" in seen and worker_id(250) in seen and worker_id(260) not in seen
    assert len(seen) == 300  # 300 - 1 removed + 1 added ahead of the cursor


def test_list_types_pages(local_mturk):
    client = mturk_client(local_mturk(make_data(types=[])))
    for n in range(7):
        client.create_qualification_type(
            Name=f"Type {n}", Description="d", QualificationTypeStatus="Active"
        )
    pages = list(
        client.get_paginator("list_qualification_types").paginate(
            MustBeRequestable=False, MustBeOwnedByCaller=True, PaginationConfig={"PageSize": 3}
        )
    )
    names = sorted(t["Name"] for p in pages for t in p["QualificationTypes"])
    assert names == [f"Type {n}" for n in range(7)]
    assert len(pages) == 3
