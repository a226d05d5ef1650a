"""The core qualification operations, through boto3 over real HTTP."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.exceptions import ClientError
from support.mturk import (
    OTHER_REQUESTER,
    OTHER_TYPE_ID,
    TYPE_ID,
    make_data,
    mturk_client,
    qualification,
    qualification_type,
    worker_id,
    workers_data,
)


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, str | None, int]:
    response = exc.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response.get("TurkErrorCode"),
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def test_paginator_pages_1050_workers_once_each(local_mturk):
    mturk = local_mturk(workers_data(1050))
    client = mturk_client(mturk)
    paginator = client.get_paginator("list_workers_with_qualification_type")
    pages = list(
        paginator.paginate(
            QualificationTypeId=TYPE_ID, Status="Granted", PaginationConfig={"PageSize": 100}
        )
    )
    workers = [q["WorkerId"] for page in pages for q in page["Qualifications"]]
    assert len(pages) == 11
    assert sorted(workers) == sorted(worker_id(i) for i in range(1050))
    assert [p["NumResults"] for p in pages] == [100] * 10 + [50]
    tokens = [p["NextToken"] for p in pages[:-1]]
    assert len(set(tokens)) == 10
    assert "NextToken" not in pages[-1]
    assert mturk.call_counts()["ListWorkersWithQualificationType"] == 11


def test_default_page_size_is_ten(local_mturk):
    client = mturk_client(local_mturk(workers_data(25)))
    page = client.list_workers_with_qualification_type(QualificationTypeId=TYPE_ID)
    assert page["NumResults"] == 10
    assert "NextToken" in page


def test_status_filters_granted_and_revoked(local_mturk):
    data = make_data(
        qualifications=[
            qualification(1, 10),
            qualification(2, 20, status="Revoked"),
            qualification(3, 30),
        ]
    )
    client = mturk_client(local_mturk(data))
    granted = client.list_workers_with_qualification_type(
        QualificationTypeId=TYPE_ID, Status="Granted"
    )
    revoked = client.list_workers_with_qualification_type(
        QualificationTypeId=TYPE_ID, Status="Revoked"
    )
    assert [q["WorkerId"] for q in granted["Qualifications"]] == [worker_id(1), worker_id(3)]
    assert [(q["WorkerId"], q["Status"]) for q in revoked["Qualifications"]] == [
        (worker_id(2), "Revoked")
    ]


def test_qualification_fields_round_trip(local_mturk):
    data = make_data(
        qualifications=[
            qualification(
                7, 88, grant_time=1_631_094_715.163, locale={"Country": "US", "Subdivision": "WA"}
            ),
            qualification(8, None, grant_time="2021-09-08T09:51:55.5Z", locale={"Country": "xx"}),
        ]
    )
    client = mturk_client(local_mturk(data))
    got = client.get_qualification_score(QualificationTypeId=TYPE_ID, WorkerId=worker_id(7))
    q = got["Qualification"]
    assert q["IntegerValue"] == 88
    assert q["LocaleValue"] == {"Country": "US", "Subdivision": "WA"}
    assert q["Status"] == "Granted"
    assert q["GrantTime"].astimezone(dt.UTC) == dt.datetime(
        2021, 9, 8, 9, 51, 55, 163000, tzinfo=dt.UTC
    )
    odd = client.get_qualification_score(QualificationTypeId=TYPE_ID, WorkerId=worker_id(8))
    assert odd["Qualification"]["LocaleValue"] == {"Country": "xx"}
    assert "IntegerValue" not in odd["Qualification"]
    assert odd["Qualification"]["GrantTime"].astimezone(dt.UTC) == dt.datetime(
        2021, 9, 8, 9, 51, 55, 500000, tzinfo=dt.UTC
    )


def test_get_score_missing_worker_and_unknown_type(local_mturk):
    client = mturk_client(local_mturk(workers_data(2)))
    for type_id, worker in ((TYPE_ID, worker_id(99)), (OTHER_TYPE_ID, worker_id(1))):
        with pytest.raises(client.exceptions.RequestError) as exc:
            client.get_qualification_score(QualificationTypeId=type_id, WorkerId=worker)
        code, message, turk, status = _error(exc)
        assert code == "RequestError"
        assert message.startswith("You requested a Qualification that does not exist.")
        assert turk == "AWS.MechanicalTurk.QualificationDoesNotExist"
        assert status == 400


def test_get_score_on_revoked_is_not_missing(local_mturk):
    client = mturk_client(
        local_mturk(make_data(qualifications=[qualification(1, status="Revoked")]))
    )
    with pytest.raises(client.exceptions.RequestError) as exc:
        client.get_qualification_score(QualificationTypeId=TYPE_ID, WorkerId=worker_id(1))
    _, message, turk, _ = _error(exc)
    assert "This operation can be called with a status of: Granted" in message
    assert turk == "AWS.MechanicalTurk.InvalidQualificationState"


def test_associate_overwrites_regrants_and_defaults_to_one(local_mturk):
    data = make_data(
        qualifications=[
            qualification(1, 40, grant_time=1_500_000_000.0),
            qualification(2, 5, status="Revoked"),
        ]
    )
    mturk = local_mturk(data)
    client = mturk_client(mturk)
    client.associate_qualification_with_worker(
        QualificationTypeId=TYPE_ID, WorkerId=worker_id(1), IntegerValue=77, SendNotification=False
    )
    rescored = mturk.admin.get_qualification(TYPE_ID, worker_id(1))
    assert rescored["IntegerValue"] == 77
    assert rescored["GrantTime"] == 1_500_000_000.0  # a rescore keeps the grant time

    client.associate_qualification_with_worker(
        QualificationTypeId=TYPE_ID, WorkerId=worker_id(2), SendNotification=False
    )
    regranted = client.get_qualification_score(QualificationTypeId=TYPE_ID, WorkerId=worker_id(2))
    assert regranted["Qualification"]["Status"] == "Granted"
    assert regranted["Qualification"]["IntegerValue"] == 1

    client.associate_qualification_with_worker(
        QualificationTypeId=TYPE_ID, WorkerId=worker_id(3), IntegerValue=9, SendNotification=False
    )
    assert mturk.admin.get_qualification(TYPE_ID, worker_id(3))["IntegerValue"] == 9
    assert mturk.notifications() == []


def test_send_notification_defaults_to_true(local_mturk):
    mturk = local_mturk(workers_data(1))
    client = mturk_client(mturk)
    client.associate_qualification_with_worker(
        QualificationTypeId=TYPE_ID, WorkerId=worker_id(0), IntegerValue=3
    )
    sent = mturk.notifications()
    assert [(n["Operation"], n["WorkerId"]) for n in sent] == [
        ("AssociateQualificationWithWorker", worker_id(0))
    ]
    assert "3" in sent[0]["MessageText"]


def test_only_the_owner_may_touch_a_type(local_mturk):
    mturk = local_mturk(workers_data(3))
    other = mturk_client(mturk, OTHER_REQUESTER)
    calls = [
        lambda: other.list_workers_with_qualification_type(QualificationTypeId=TYPE_ID),
        lambda: other.get_qualification_score(QualificationTypeId=TYPE_ID, WorkerId=worker_id(1)),
        lambda: other.associate_qualification_with_worker(
            QualificationTypeId=TYPE_ID, WorkerId=worker_id(1), SendNotification=False
        ),
        lambda: other.disassociate_qualification_from_worker(
            QualificationTypeId=TYPE_ID, WorkerId=worker_id(1)
        ),
        lambda: other.update_qualification_type(QualificationTypeId=TYPE_ID, Description="x"),
        lambda: other.delete_qualification_type(QualificationTypeId=TYPE_ID),
        lambda: other.list_qualification_requests(QualificationTypeId=TYPE_ID),
    ]
    for call in calls:
        with pytest.raises(other.exceptions.RequestError) as exc:
            call()
        assert _error(exc)[2] == "AWS.MechanicalTurk.PermissionDenied"
    assert mturk.admin.get_qualification(TYPE_ID, worker_id(1))["Status"] == "Granted"
    # Reading the type itself is public.
    got = other.get_qualification_type(QualificationTypeId=TYPE_ID)
    assert got["QualificationType"]["QualificationTypeId"] == TYPE_ID


def test_list_qualification_types_owned_and_requestable(local_mturk):
    data = make_data(
        types=[
            qualification_type(TYPE_ID, "Mine"),
            qualification_type(OTHER_TYPE_ID, "Theirs", owner=OTHER_REQUESTER),
        ]
    )
    client = mturk_client(local_mturk(data))
    own = client.list_qualification_types(MustBeRequestable=False, MustBeOwnedByCaller=True)
    assert [t["QualificationTypeId"] for t in own["QualificationTypes"]] == [TYPE_ID]
    every = client.list_qualification_types(MustBeRequestable=False, MaxResults=100)
    ids = {t["QualificationTypeId"] for t in every["QualificationTypes"]}
    assert {TYPE_ID, OTHER_TYPE_ID, "00000000000000000071"} <= ids
    requestable = client.list_qualification_types(MustBeRequestable=True, MaxResults=100)
    ids = {t["QualificationTypeId"] for t in requestable["QualificationTypes"]}
    assert ids == {TYPE_ID, OTHER_TYPE_ID}
    found = client.list_qualification_types(MustBeRequestable=True, Query="theirs")
    assert [t["Name"] for t in found["QualificationTypes"]] == ["Theirs"]
