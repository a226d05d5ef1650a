"""Local MTurk test support: fake requesters, terse seed data and boto3 clients.

Every test talks to a real local MTurk over HTTP on 127.0.0.1 with real boto3 clients. The
credentials below are fake and only valid against the local MTurk; never print them. The fixtures
that start servers (`local_mturk`, `mturk_env`) are in tests/conftest.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from qual_pipeline.local_mturk.server import LocalMTurk


@dataclass(frozen=True)
class Requester:
    access_key_id: str
    secret_access_key: str = ""

    def __repr__(self) -> str:  # keep secrets out of test output
        return f"Requester({self.access_key_id!r})"

    def record(self, balance: str = "10000.00") -> dict[str, str]:
        return {
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "AvailableBalance": balance,
        }


REQUESTER = Requester("LOCALTESTREQUESTER01", "local-mturk-test-secret-one")
OTHER_REQUESTER = Requester("LOCALTESTREQUESTER02", "local-mturk-test-secret-two")
REGION = "us-east-1"


def mturk_variables(endpoint_url: str, requester: Requester, folder: Path) -> dict[str, str]:
    """The variables that point boto3's standard credential chain and MTURK_ENDPOINT_URL at a
    local MTurk: `requester`'s keys, no config files (named in `folder`, never created), no
    instance metadata."""
    return {
        "AWS_ACCESS_KEY_ID": requester.access_key_id,
        "AWS_SECRET_ACCESS_KEY": requester.secret_access_key,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(folder / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(folder / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "MTURK_ENDPOINT_URL": endpoint_url,
    }


def type_id(n: int) -> str:
    """A 30-character id shaped like MTurk's custom type ids."""
    return f"3TESTTYPE{n:021d}"


TYPE_ID = type_id(1)  # owned by REQUESTER in make_data()
OTHER_TYPE_ID = type_id(2)


def worker_id(n: int) -> str:
    """A 14-character worker id shaped like MTurk's ('A' and 13 upper-case letters/digits)."""
    return f"AW{n:012d}"


def qualification_type(
    qual_type_id: str = TYPE_ID,
    name: str | None = None,
    owner: Requester = REQUESTER,
    **fields: Any,
) -> dict[str, Any]:
    """A qualification_types record (API field names plus Owner)."""
    return {
        "QualificationTypeId": qual_type_id,
        "Name": name or f"Test type {qual_type_id[-4:]}",
        "Description": "A qualification type for tests",
        "QualificationTypeStatus": "Active",
        "Owner": owner.access_key_id,
        **fields,
    }


def qualification(
    worker: str | int,
    value: int | None = 50,
    *,
    qual_type_id: str = TYPE_ID,
    status: str = "Granted",
    grant_time: float | str | None = 1_600_000_000.25,
    locale: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A qualifications record; `worker` may be a number (see worker_id) or an id."""
    record: dict[str, Any] = {
        "QualificationTypeId": qual_type_id,
        "WorkerId": worker_id(worker) if isinstance(worker, int) else worker,
        "Status": status,
    }
    if value is not None:
        record["IntegerValue"] = value
    if grant_time is not None:
        record["GrantTime"] = grant_time
    if locale is not None:
        record["LocaleValue"] = locale
    return record


def make_data(
    *,
    types: list[dict[str, Any]] | None = None,
    qualifications: list[dict[str, Any]] | None = None,
    requests: list[dict[str, Any]] | None = None,
    requesters: tuple[Requester, ...] = (REQUESTER, OTHER_REQUESTER),
) -> dict[str, Any]:
    """A --data document; by default both test requesters and one type (TYPE_ID) of REQUESTER."""
    return {
        "requesters": [r.record() for r in requesters],
        "qualification_types": types if types is not None else [qualification_type()],
        "qualifications": qualifications or [],
        "qualification_requests": requests or [],
    }


def workers_data(count: int, **kwargs: Any) -> dict[str, Any]:
    """TYPE_ID held by `count` workers with scores 0..99."""
    return make_data(qualifications=[qualification(i, i % 100, **kwargs) for i in range(count)])


_SESSION: boto3.session.Session | None = None


def mturk_client(
    mturk: LocalMTurk | str,
    requester: Requester = REQUESTER,
    *,
    max_attempts: int = 1,
    region: str = REGION,
    retry_mode: str = "standard",
) -> Any:
    """A boto3 mturk client with explicit credentials; `max_attempts` counts every attempt, so
    the default 1 means no retries."""
    global _SESSION
    if _SESSION is None:
        _SESSION = boto3.session.Session(region_name=REGION)
    url = mturk if isinstance(mturk, str) else mturk.endpoint_url
    return _SESSION.client(
        "mturk",
        region_name=region,
        endpoint_url=url,
        aws_access_key_id=requester.access_key_id,
        aws_secret_access_key=requester.secret_access_key,
        config=Config(retries={"mode": retry_mode, "total_max_attempts": max_attempts}),
    )
