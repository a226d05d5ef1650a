"""The normaliser: ISO 3166 columns, UTC grant times whatever the machine's TZ, counters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest

from qual_pipeline.extract.normalise import (
    MalformedRecordError,
    normalise_qualification_requests,
    normalise_qualification_types,
    normalise_qualifications,
    resolve_locale,
    to_utc_micros,
)
from qual_pipeline.schema import (
    QUALIFICATION_REQUESTS,
    QUALIFICATION_TYPES,
    WORKER_QUALIFICATIONS,
)

TYPE = "3TESTTYPE000000000000000000001"
EXTRACTED_AT = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


@pytest.mark.parametrize(
    ("country", "subdivision", "expected"),
    [
        ("US", "WA", ("US", "US-WA", "United States", "Washington", True)),
        ("US", None, ("US", None, "United States", None, True)),
        ("GB", "ENG", ("GB", "GB-ENG", "United Kingdom", "England", True)),
        ("IN", "KA", ("IN", "IN-KA", "India", "Karnātaka", True)),
        ("US", "US-WA", ("US", "US-WA", "United States", "Washington", True)),
        # Not ISO: kept as given, null names, not valid.
        ("us", None, ("us", None, None, None, False)),
        ("us", "WA", ("us", "us-WA", None, None, False)),
        ("XX", None, ("XX", None, None, None, False)),
        ("ZZ", "AB", ("ZZ", "ZZ-AB", None, None, False)),
        ("UK", None, ("UK", None, None, None, False)),
        ("US", "ZZ", ("US", "US-ZZ", "United States", None, False)),
        ("GB", "WA", ("GB", "GB-WA", "United Kingdom", None, False)),
        ("US", "wa", ("US", "US-wa", "United States", None, False)),
        (None, "WA", (None, "WA", None, None, False)),
        (None, None, (None, None, None, None, True)),
    ],
)
def test_resolve_locale(country, subdivision, expected):
    assert tuple(resolve_locale(country, subdivision)) == expected


def test_page_becomes_typed_batch_with_counts():
    page = [
        {
            "QualificationTypeId": TYPE,
            "WorkerId": "AW000000000001",
            "Status": "Granted",
            "IntegerValue": 87,
            "LocaleValue": {"Country": "US", "Subdivision": "WA"},
            "GrantTime": datetime(2023, 3, 12, 10, 0, 0, 123456, tzinfo=UTC),
        },
        {
            "QualificationTypeId": TYPE,
            "WorkerId": "AW000000000002",
            "Status": "Revoked",
            "LocaleValue": {"Country": "XX"},
        },
        {"WorkerId": "AW000000000003", "IntegerValue": 0},  # type and status filled in
    ]
    batch, counts = normalise_qualifications(
        page, extracted_at=EXTRACTED_AT, qualification_type_id=TYPE, status="Granted"
    )
    assert batch.schema == WORKER_QUALIFICATIONS
    assert batch.to_pylist() == [
        {
            "qualification_type_id": TYPE,
            "worker_id": "AW000000000001",
            "status": "Granted",
            "integer_value": 87,
            "country": "US",
            "subdivision": "US-WA",
            "country_name": "United States",
            "subdivision_name": "Washington",
            "grant_time": datetime(2023, 3, 12, 10, 0, 0, 123456, tzinfo=UTC),
            "extracted_at": EXTRACTED_AT,
        },
        {
            "qualification_type_id": TYPE,
            "worker_id": "AW000000000002",
            "status": "Revoked",
            "integer_value": None,
            "country": "XX",
            "subdivision": None,
            "country_name": None,
            "subdivision_name": None,
            "grant_time": None,
            "extracted_at": EXTRACTED_AT,
        },
        {
            "qualification_type_id": TYPE,
            "worker_id": "AW000000000003",
            "status": "Granted",
            "integer_value": 0,
            "country": None,
            "subdivision": None,
            "country_name": None,
            "subdivision_name": None,
            "grant_time": None,
            "extracted_at": EXTRACTED_AT,
        },
    ]
    assert counts.as_dict() == {
        "rows": 3,
        "granted": 2,
        "revoked": 1,
        "null_scores": 1,
        "missing_locales": 1,
        "invalid_locales": 1,
    }


def test_empty_page_gives_empty_batch():
    batch, counts = normalise_qualifications([], extracted_at=EXTRACTED_AT)
    assert batch.num_rows == 0 and batch.schema == WORKER_QUALIFICATIONS
    assert counts.rows == 0


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"QualificationTypeId": TYPE, "Status": "Granted"}, "without WorkerId"),
        ({"QualificationTypeId": "3OTHER", "WorkerId": "AW1", "Status": "Granted"}, "expected"),
        ({"QualificationTypeId": TYPE, "WorkerId": "AW1", "Status": "Bogus"}, "Status 'Bogus'"),
        (
            {"WorkerId": "AW1", "Status": "Granted", "GrantTime": datetime(2024, 1, 1)},
            "no time zone",
        ),
    ],
)
def test_malformed_records_are_refused_with_the_record_named(record, message):
    with pytest.raises(MalformedRecordError, match=message):
        normalise_qualifications([record], extracted_at=EXTRACTED_AT, qualification_type_id=TYPE)


def test_utc_micros_of_any_zone_and_of_epoch_numbers():
    instant = datetime(2024, 3, 10, 7, 30, 0, 999999, tzinfo=UTC)
    kolkata = timezone(timedelta(hours=5, minutes=30))
    expected = 1710055800_999999
    assert to_utc_micros(instant) == expected
    assert to_utc_micros(instant.astimezone(kolkata)) == expected
    assert to_utc_micros(1710055800.999999) == expected
    assert to_utc_micros(1710055800) == 1710055800_000000
    assert to_utc_micros(None) is None


# Instants around DST changes, parsed by botocore itself (into the machine's local zone) in a
# child process with TZ set: the UTC result must not depend on TZ. 2023-11-05 05:30:00.25Z and
# 06:30:00.75Z are both 01:30 local time in New York (the repeated hour).
_EPOCHS = [1699162200.25, 1699165800.75, 1678606200.5, 1711846800.000001, 0.0, 1600000000.25]
_EXPECTED_UTC = [
    "2023-11-05T05:30:00.250000+00:00",
    "2023-11-05T06:30:00.750000+00:00",
    "2023-03-12T07:30:00.500000+00:00",
    "2024-03-31T01:00:00.000001+00:00",
    "1970-01-01T00:00:00+00:00",
    "2020-09-13T12:26:40.250000+00:00",
]
_CHILD = """
import json, sys
from botocore.utils import parse_timestamp
from qual_pipeline.extract.normalise import normalise_qualifications
from datetime import datetime, UTC
page = [
    {"QualificationTypeId": "T", "WorkerId": f"AW{i}", "Status": "Granted",
     "GrantTime": parse_timestamp(epoch)}
    for i, epoch in enumerate(json.loads(sys.argv[1]))
]
batch, _ = normalise_qualifications(page, extracted_at=datetime.now(UTC))
local = [str(q["GrantTime"].tzinfo) + " " + q["GrantTime"].isoformat() for q in page]
print(json.dumps({
    "utc": [t.isoformat() for t in batch.column("grant_time").to_pylist()],
    "local": local,
}))
"""


@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata", "America/New_York", "Europe/London"])
def test_grant_time_is_the_same_utc_instant_whatever_the_machine_tz(tz):
    env = {**os.environ, "TZ": tz}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(_EPOCHS)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout)
    assert result["utc"] == _EXPECTED_UTC
    if tz == "America/New_York":
        # Proves the child really ran in that zone: both instants read 01:30 local.
        assert result["local"][0].endswith("2023-11-05T01:30:00.250000-04:00")
        assert result["local"][1].endswith("2023-11-05T01:30:00.750000-05:00")


def test_qualification_types_and_requests_batches():
    created = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    types = normalise_qualification_types(
        [
            {
                "QualificationTypeId": TYPE,
                "Name": "Skill",
                "QualificationTypeStatus": "Active",
                "CreationTime": created,
                "IsRequestable": True,
                "AutoGranted": False,
                "RetryDelayInSeconds": 3600,
                "Test": "<QuestionForm/>",
                "AnswerKey": "<AnswerKey/>",
            }
        ],
        extracted_at=EXTRACTED_AT,
    )
    assert types.schema == QUALIFICATION_TYPES
    row = types.to_pylist()[0]
    assert row["creation_time"] == created and row["has_test"] is True
    assert row["retry_delay_in_seconds"] == 3600 and row["auto_granted_value"] is None
    assert "answer_key" not in row
    requests = normalise_qualification_requests(
        [{"QualificationRequestId": "R1", "WorkerId": "AW1", "SubmitTime": created}],
        extracted_at=EXTRACTED_AT,
        qualification_type_id=TYPE,
    )
    assert requests.schema == QUALIFICATION_REQUESTS
    assert requests.to_pylist()[0]["qualification_type_id"] == TYPE
    with pytest.raises(MalformedRecordError, match="expected"):
        normalise_qualification_requests(
            [{"QualificationRequestId": "R1", "WorkerId": "AW1", "QualificationTypeId": "X"}],
            extracted_at=EXTRACTED_AT,
            qualification_type_id=TYPE,
        )
