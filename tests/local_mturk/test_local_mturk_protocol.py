"""Wire protocol, authentication, validation and protocol errors, as boto3 and raw HTTP see them."""

from __future__ import annotations

import http.client
import json

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from support.mturk import (
    REQUESTER,
    TYPE_ID,
    Requester,
    mturk_client,
    worker_id,
    workers_data,
)

TARGET = "MTurkRequesterServiceV20170117."


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = exc.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def _raw(
    mturk,
    body: bytes,
    target: str | None = TARGET + "GetAccountBalance",
    *,
    sign: bool = True,
    region: str = "us-east-1",
    service: str = "mturk-requester",
    conn: http.client.HTTPConnection | None = None,
) -> tuple[int, dict[str, str], dict]:
    """POST a hand-made request, signed with botocore's signer, and parse the JSON answer."""
    headers = {"Content-Type": "application/x-amz-json-1.1", "Host": mturk.endpoint_url[7:]}
    if target is not None:
        headers["X-Amz-Target"] = target
    request = AWSRequest(method="POST", url=mturk.endpoint_url + "/", data=body, headers=headers)
    if sign:
        credentials = Credentials(REQUESTER.access_key_id, REQUESTER.secret_access_key)
        SigV4Auth(credentials, service, region).add_auth(request)
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", mturk.port, timeout=10)
    conn.request("POST", "/", body=body, headers=dict(request.headers.items()))
    response = conn.getresponse()
    payload = json.loads(response.read())
    result = response.status, {k.lower(): v for k, v in response.getheaders()}, payload
    if own:
        conn.close()
    return result


def test_success_headers_and_epoch_timestamps(local_mturk):
    mturk = local_mturk(workers_data(1))
    body = json.dumps({"QualificationTypeId": TYPE_ID, "WorkerId": worker_id(0)}).encode()
    status, headers, payload = _raw(mturk, body, TARGET + "GetQualificationScore")
    assert status == 200
    assert headers["content-type"] == "application/x-amz-json-1.1"
    assert len(headers["x-amzn-requestid"]) == 36
    assert payload["Qualification"]["GrantTime"] == 1_600_000_000.25  # epoch number on the wire


def test_keep_alive_serves_many_requests_on_one_connection(local_mturk):
    mturk = local_mturk(workers_data(1))
    conn = http.client.HTTPConnection("127.0.0.1", mturk.port, timeout=10)
    for _ in range(3):
        status, _, payload = _raw(mturk, b"{}", conn=conn)
        assert (status, payload) == (200, {"AvailableBalance": "10000.00"})
    conn.close()


def test_unknown_access_key(local_mturk):
    mturk = local_mturk(workers_data(1))
    client = mturk_client(mturk, Requester("LOCALUNKNOWNKEY00001", "whatever"))
    with pytest.raises(ClientError) as exc:
        client.get_account_balance()
    assert _code(exc) == (
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
        400,
    )


def test_wrong_secret(local_mturk):
    mturk = local_mturk(workers_data(1))
    client = mturk_client(mturk, Requester(REQUESTER.access_key_id, "not-the-secret"))
    with pytest.raises(ClientError) as exc:
        client.get_account_balance()
    code, message, status = _code(exc)
    assert (code, status) == ("InvalidSignatureException", 400)
    assert message.startswith("The request signature we calculated does not match")


def test_tampered_body_fails_the_signature(local_mturk):
    mturk = local_mturk(workers_data(1))
    client = mturk_client(mturk)

    def tamper(request, **_):
        request.body = request.body.replace(b'"Granted"', b'"Revoked"')

    client.meta.events.register_last("before-send.mturk", tamper)
    with pytest.raises(ClientError) as exc:
        client.list_workers_with_qualification_type(QualificationTypeId=TYPE_ID, Status="Granted")
    assert _code(exc)[0] == "InvalidSignatureException"


def test_sandbox_scope_is_accepted_other_regions_are_not(local_mturk):
    mturk = local_mturk(workers_data(1))
    sandbox = mturk_client(mturk, region="sandbox")
    assert sandbox.get_account_balance()["AvailableBalance"] == "10000.00"
    with pytest.raises(ClientError) as exc:
        mturk_client(mturk, region="eu-west-1").get_account_balance()
    code, message, _ = _code(exc)
    assert code == "InvalidSignatureException"
    assert "valid region" in message
    status, _, payload = _raw(mturk, b"{}", service="s3")
    assert (status, payload["__type"]) == (400, "InvalidSignatureException")
    assert "mturk-requester" in payload["Message"]


def test_missing_authentication(local_mturk):
    mturk = local_mturk(workers_data(1))
    status, _, payload = _raw(mturk, b"{}", sign=False)
    assert (status, payload["__type"]) == (400, "MissingAuthenticationTokenException")


def test_unknown_and_missing_operation(local_mturk):
    mturk = local_mturk(workers_data(1))
    for target in (TARGET + "GetEverything", "SomethingElse.GetAccountBalance", None):
        status, _, payload = _raw(mturk, b"{}", target)
        assert (status, payload["__type"]) == (400, "UnknownOperationException")
        assert "X-Amz-Target" in payload["Message"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_malformed_body_is_a_clear_400(local_mturk, body, fragment):
    status, _, payload = _raw(local_mturk(workers_data(1)), body)
    assert (status, payload["__type"]) == (400, "SerializationException")
    assert fragment in payload["Message"]


def test_operation_not_implemented(local_mturk):
    client = mturk_client(local_mturk(workers_data(1)))
    with pytest.raises(client.exceptions.RequestError) as exc:
        client.list_hits()
    assert "does not implement ListHITs" in exc.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"QualificationTypeId": TYPE_ID, "MaxResults": 1000},
            "1 validation error detected: Value '1000' at 'maxResults' failed to satisfy "
            "constraint: Member must have value less than or equal to 100",
        ),
        (
            {"QualificationTypeId": "3abc"},
            "1 validation error detected: Value '3abc' at 'qualificationTypeId' failed to "
            "satisfy constraint: Member must satisfy regular expression pattern: ^[A-Z0-9]+$",
        ),
        (
            {"QualificationTypeId": TYPE_ID, "Status": "Bogus"},
            "1 validation error detected: Value 'Bogus' at 'status' failed to satisfy "
            "constraint: Member must satisfy enum value set: [Granted, Revoked]",
        ),
        (
            {"QualificationTypeId": "x" * 65, "Status": "Bogus"},
            "3 validation errors detected: ",
        ),
    ],
)
def test_server_side_validation_wording(local_mturk, params, expected):
    client = mturk_client(local_mturk(workers_data(1)))
    with pytest.raises(ClientError) as exc:
        client.list_workers_with_qualification_type(**params)
    code, message, status = _code(exc)
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith(expected)


def test_validation_of_nested_lists_and_required_members(local_mturk):
    mturk = local_mturk(workers_data(1))
    body = json.dumps({"Subject": "s", "WorkerIds": ["AGOOD1", "bad"]}).encode()
    status, _, payload = _raw(mturk, body, TARGET + "NotifyWorkers")
    assert (status, payload["__type"]) == (400, "ValidationException")
    assert payload["Message"].startswith("2 validation errors detected: ")
    assert (
        "Value null at 'messageText' failed to satisfy constraint: Member must not be null"
        in (payload["Message"])
    )
    assert "Value 'bad' at 'workerIds.2.member'" in payload["Message"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ten", "STRING_VALUE can not be converted to an Integer (at 'maxResults')."),
        (True, "BOOLEAN_VALUE can not be converted to an Integer (at 'maxResults')."),
        (2.5, "NUMBER_VALUE can not be converted to an Integer (at 'maxResults')."),
        (2**31, "NUMBER_VALUE can not be converted to an Integer (at 'maxResults')."),
        ([10], "Start of list found where not expected (at 'maxResults')."),
        ({"n": 10}, "Start of structure or map found where not expected (at 'maxResults')."),
    ],
)
def test_a_value_of_the_wrong_json_type_is_a_serialization_exception(local_mturk, value, message):
    """Coral cannot deserialise it, so it answers SerializationException, not a validation."""
    mturk = local_mturk(workers_data(1))
    body = json.dumps({"QualificationTypeId": TYPE_ID, "MaxResults": value}).encode()
    status, _, payload = _raw(mturk, body, TARGET + "ListWorkersWithQualificationType")
    assert (status, payload) == (400, {"__type": "SerializationException", "Message": message})


def test_bad_next_token_is_a_clear_400(local_mturk):
    mturk = local_mturk(workers_data(30))
    client = mturk_client(mturk)
    with pytest.raises(ClientError) as exc:
        client.list_workers_with_qualification_type(QualificationTypeId=TYPE_ID, NextToken="zz!")
    code, message, status = _code(exc)
    assert (code, status) == ("ValidationException", 400)
    assert "NextToken" in message
    granted = client.list_workers_with_qualification_type(QualificationTypeId=TYPE_ID)
    with pytest.raises(ClientError) as exc:
        client.list_workers_with_qualification_type(
            QualificationTypeId=TYPE_ID, Status="Revoked", NextToken=granted["NextToken"]
        )
    assert "another ListWorkersWithQualificationType request" in _code(exc)[1]


def test_oversized_body_is_refused(local_mturk):
    mturk = local_mturk(workers_data(1))
    conn = http.client.HTTPConnection("127.0.0.1", mturk.port, timeout=10)
    conn.putrequest("POST", "/")
    conn.putheader("Content-Length", str(50 << 20))
    conn.endheaders()
    response = conn.getresponse()
    payload = json.loads(response.read())
    assert (response.status, payload["__type"]) == (400, "SerializationException")
    assert "Content-Length" in payload["Message"]
    conn.close()
