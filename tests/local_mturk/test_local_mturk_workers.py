"""Workers that belong to an environment, the environment's own Masters type, and seed values the
API's shapes could never carry, as boto3, the seed loader and the CLI see them."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from typing import Any

import pytest
from botocore.exceptions import ClientError
from support.mturk import (
    TYPE_ID,
    Requester,
    make_data,
    mturk_client,
    qualification,
    worker_id,
)

from qual_pipeline.local_mturk.generate import GENERATED_ACCESS_KEY_ID, GENERATED_SECRET, generate
from qual_pipeline.local_mturk.server import LocalMTurk
from qual_pipeline.local_mturk.store import EnvironmentMismatch

CLI = [sys.executable, "-c", "from qual_pipeline.cli.local_mturk import app; app()"]
PRODUCTION_WORKER = "A143XRCI1YXAFE"  # a well-formed id the sandbox data set does not know
UNKNOWN = re.compile(
    r'^The value "A143XRCI1YXAFE" is not valid for the parameter WorkerId\. \(\d{13} s\)$'
)
SANDBOX_MASTERS = "2ARFPLSP75KLA8M8DH1HTEQVJT3SY6"
PRODUCTION_MASTERS = "2F1QJWKUDD8XADTFD2Q0G6UTO95ALH"


def sandbox_data(known: int = 6) -> dict[str, Any]:
    """Workers 0..known-1 are the environment's; 0..2 hold TYPE_ID."""
    data = make_data(qualifications=[qualification(n, 10 * n) for n in range(3)])
    data["workers"] = [{"WorkerId": worker_id(n)} for n in range(known)]
    return data


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int, str | None]:
    response = exc.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response.get("TurkErrorCode"),
    )


CALLS = {
    "get_qualification_score": {"QualificationTypeId": TYPE_ID},
    "associate_qualification_with_worker": {
        "QualificationTypeId": TYPE_ID,
        "IntegerValue": 5,
        "SendNotification": False,
    },
    "disassociate_qualification_from_worker": {"QualificationTypeId": TYPE_ID, "Reason": "r"},
    "create_worker_block": {"Reason": "r"},
    "delete_worker_block": {},
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_an_unknown_worker_is_a_parameter_validation_error(local_mturk, call):
    mturk = local_mturk(sandbox_data())
    client = mturk_client(mturk)
    with pytest.raises(ClientError) as exc:
        getattr(client, call)(WorkerId=PRODUCTION_WORKER, **CALLS[call])
    code, message, status, turk_code = _error(exc)
    assert (code, status, turk_code) == ("ParameterValidationError", 400, None)
    assert UNKNOWN.match(message), message
    assert mturk.admin.get_qualification(TYPE_ID, PRODUCTION_WORKER) is None
    assert mturk.call_counts() == {}


def test_known_workers_are_served_as_before(local_mturk):
    mturk = local_mturk(sandbox_data())
    client = mturk_client(mturk)
    holder, idle = worker_id(1), worker_id(5)  # idle: known, holds nothing
    assert (
        client.get_qualification_score(QualificationTypeId=TYPE_ID, WorkerId=holder)[
            "Qualification"
        ]["IntegerValue"]
        == 10
    )
    client.associate_qualification_with_worker(
        QualificationTypeId=TYPE_ID, WorkerId=idle, IntegerValue=7, SendNotification=False
    )
    assert mturk.admin.get_qualification(TYPE_ID, idle)["IntegerValue"] == 7
    with pytest.raises(client.exceptions.RequestError) as exc:
        client.get_qualification_score(QualificationTypeId=TYPE_ID, WorkerId=worker_id(4))
    assert exc.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.QualificationDoesNotExist"
    client.create_worker_block(WorkerId=idle, Reason="r")
    client.delete_worker_block(WorkerId=idle)


def test_notify_workers_reports_an_unknown_worker_without_raising(local_mturk):
    mturk = local_mturk(sandbox_data())
    answer = mturk_client(mturk).notify_workers(
        Subject="s", MessageText="m", WorkerIds=[worker_id(0), PRODUCTION_WORKER]
    )
    failures = answer["NotifyWorkersFailureStatuses"]
    assert [(f["WorkerId"], f["NotifyWorkersFailureCode"]) for f in failures] == [
        (PRODUCTION_WORKER, "HardFailure")
    ]
    assert [n["WorkerId"] for n in mturk.notifications()] == [worker_id(0)]


def test_without_a_workers_section_every_well_formed_id_is_known(local_mturk):
    data = sandbox_data()
    del data["workers"]
    mturk = local_mturk(data)
    client = mturk_client(mturk)
    client.associate_qualification_with_worker(
        QualificationTypeId=TYPE_ID, WorkerId=PRODUCTION_WORKER, SendNotification=False
    )
    assert mturk.admin.get_qualification(TYPE_ID, PRODUCTION_WORKER)["IntegerValue"] == 1


def test_workers_added_later_through_the_admin_are_known(local_mturk):
    mturk = local_mturk(sandbox_data())
    client = mturk_client(mturk)
    mturk.admin.load({"workers": [{"WorkerId": PRODUCTION_WORKER}]})
    client.create_worker_block(WorkerId=PRODUCTION_WORKER, Reason="now known")
    assert client.list_worker_blocks()["WorkerBlocks"] == [
        {"WorkerId": PRODUCTION_WORKER, "Reason": "now known"}
    ]


def test_odd_values_the_shape_allows_are_kept(local_mturk):
    odd = {"Country": "us", "Subdivision": "ka"}
    mturk = local_mturk(make_data(qualifications=[qualification(1, 2**31 - 1, locale=odd)]))
    q = mturk_client(mturk).get_qualification_score(
        QualificationTypeId=TYPE_ID, WorkerId=worker_id(1)
    )["Qualification"]
    assert (q["LocaleValue"], q["IntegerValue"]) == (odd, 2**31 - 1)


def test_duplicate_type_name_message_is_the_real_one(local_mturk):
    client = mturk_client(local_mturk(make_data()))
    fields = {"Name": "Same", "Description": "d", "QualificationTypeStatus": "Active"}
    client.create_qualification_type(**fields)
    with pytest.raises(client.exceptions.RequestError) as exc:
        client.create_qualification_type(**fields)
    message = exc.value.response["Error"]["Message"]
    assert re.fullmatch(
        r"You have already created a QualificationType with this name\. A QualificationType's "
        r"name must be unique among all of the QualificationTypes created by the same user\. "
        r"\(\d{13}\)",
        message,
    ), message


def _system_type_ids(mturk: LocalMTurk) -> set[str]:
    listed = mturk_client(mturk).list_qualification_types(MustBeRequestable=False, MaxResults=100)
    return {t["QualificationTypeId"] for t in listed["QualificationTypes"]}


def test_each_environment_lists_its_own_masters_type(tmp_path):
    with LocalMTurk(data=make_data()) as sandbox:
        assert sandbox.environment == "sandbox"
        ids = _system_type_ids(sandbox)
        assert SANDBOX_MASTERS in ids and PRODUCTION_MASTERS not in ids
    state = tmp_path / "production.sqlite"
    with LocalMTurk(data=make_data(), state_path=state, environment="production") as production:
        ids = _system_type_ids(production)
        assert PRODUCTION_MASTERS in ids and SANDBOX_MASTERS not in ids
    with LocalMTurk(state_path=state) as reopened:  # the state keeps its environment
        assert reopened.environment == "production"
        assert PRODUCTION_MASTERS in _system_type_ids(reopened)
    with pytest.raises(EnvironmentMismatch) as exc:
        LocalMTurk(state_path=state, environment="sandbox")
    assert "belongs to the production environment" in str(exc.value)


def test_serve_environment_option_and_a_mismatched_state(tmp_path):
    data = tmp_path / "data.json"
    data.write_text(json.dumps(make_data()))
    state = tmp_path / "state.sqlite"
    server = subprocess.Popen(
        [*CLI, "serve", "--data", str(data), "--state", str(state), "--environment", "production"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = server.stdout.readline().strip()
        get = mturk_client(url).get_qualification_type
        assert get(QualificationTypeId=PRODUCTION_MASTERS)["QualificationType"]["Name"] == (
            "Masters"
        )
        with pytest.raises(ClientError):
            get(QualificationTypeId=SANDBOX_MASTERS)
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=20)
    assert server.returncode == 0 and "environment production" in err
    for args, fragment in (
        (["--environment", "sandbox"], "belongs to the production environment"),
        (["--environment", "staging"], "use sandbox or production"),
    ):
        result = subprocess.run(
            [*CLI, "serve", "--state", str(state), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2
        assert fragment in result.stderr and "Traceback" not in result.stderr


def test_generated_data_lists_its_workers_and_knows_no_other(local_mturk, tmp_path):
    path = tmp_path / "data.json"
    counts = generate(path, workers=300, types=2, seed=5)
    data = json.loads(path.read_text())
    listed = [w["WorkerId"] for w in data["workers"]]
    assert len(listed) == len(set(listed)) == counts.known_workers == 300 + 3 + 3
    used = {q["WorkerId"] for q in data["qualifications"]}
    used |= {r["WorkerId"] for r in data["qualification_requests"]}
    idle = set(listed) - used
    assert used <= set(listed) and len(idle) == 3

    mturk = local_mturk(path)
    client = mturk_client(mturk, Requester(GENERATED_ACCESS_KEY_ID, GENERATED_SECRET))
    type_id = counts.type_ids[0]
    client.associate_qualification_with_worker(
        QualificationTypeId=type_id, WorkerId=sorted(idle)[0], SendNotification=False
    )
    with pytest.raises(ClientError) as exc:
        client.associate_qualification_with_worker(
            QualificationTypeId=type_id, WorkerId=PRODUCTION_WORKER, SendNotification=False
        )
    assert exc.value.response["Error"]["Code"] == "ParameterValidationError"


def test_client_timeout_must_be_positive():
    with pytest.raises(ValueError, match="client_timeout"):
        LocalMTurk(client_timeout=0)
