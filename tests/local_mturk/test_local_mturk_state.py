"""Persistent state, seed data errors, and the data set generator."""

from __future__ import annotations

import json

import pytest
from support.mturk import (
    TYPE_ID,
    Requester,
    make_data,
    mturk_client,
    qualification,
    qualification_type,
    worker_id,
    workers_data,
)

from qual_pipeline.local_mturk.generate import GENERATED_ACCESS_KEY_ID, GENERATED_SECRET, generate
from qual_pipeline.local_mturk.seed import DataError
from qual_pipeline.local_mturk.server import LocalMTurk

OUTSIDER = "A143XRCI1YXAFE"  # a worker id the environment below does not list


def with_workers(
    qualifications: list[dict] | None = None, requests: list[dict] | None = None, *extra: object
) -> dict:
    """Seed data whose environment knows workers 0..5 (and `extra` records in workers)."""
    data = make_data(qualifications=qualifications, requests=requests)
    data["workers"] = [{"WorkerId": worker_id(n)} for n in range(6)] + list(extra)
    return data


def locale_of(locale: dict) -> dict:
    return make_data(qualifications=[qualification(1, locale=locale)])


def test_state_file_survives_a_restart(local_mturk, tmp_path):
    state = tmp_path / "state.sqlite"
    first = local_mturk(workers_data(3), state_path=state)
    client = mturk_client(first)
    client.associate_qualification_with_worker(
        QualificationTypeId=TYPE_ID, WorkerId=worker_id(1), IntegerValue=99
    )
    client.create_worker_block(WorkerId=worker_id(2), Reason="spam")
    first.stop()

    # The data given again is not reloaded over the state: the change made by the API stays.
    second = local_mturk(workers_data(3), state_path=state)
    assert second.seeded is None
    client = mturk_client(second)
    score = client.get_qualification_score(QualificationTypeId=TYPE_ID, WorkerId=worker_id(1))
    assert score["Qualification"]["IntegerValue"] == 99
    assert [b["WorkerId"] for b in client.list_worker_blocks()["WorkerBlocks"]] == [worker_id(2)]
    assert [n["WorkerId"] for n in second.notifications()] == [worker_id(1)]


def test_data_file_is_streamed_from_disk(local_mturk, tmp_path):
    path = tmp_path / "data.json"
    path.write_text(json.dumps(workers_data(120), indent=2))
    mturk = local_mturk(path)
    assert mturk.seeded["qualifications"] == 120
    assert mturk.admin.count_qualifications(TYPE_ID) == 120


def test_sections_in_any_order(local_mturk, tmp_path):
    data = workers_data(5)
    reordered = {k: data[k] for k in reversed(list(data))}
    path = tmp_path / "data.json"
    path.write_text(json.dumps(reordered))
    assert local_mturk(path).admin.count_qualifications() == 5


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"requesters": [', "not valid JSON at line 1"),
        ('{"qualifications": {"a": 1}}', "must be a JSON list"),
        ('{"hits": []}', "unknown section 'hits'"),
        ("[]", "expected '{'"),
    ],
)
def test_bad_data_files_name_the_file_and_problem(tmp_path, text, fragment):
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(DataError) as exc:
        LocalMTurk(data=path)
    assert str(path) in str(exc.value)
    assert fragment in str(exc.value)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (make_data(qualifications=[qualification("a-lower")]), "qualifications[0]: WorkerId"),
        (
            make_data(qualifications=[qualification(1), {**qualification(2), "Score": 3}]),
            "qualifications[1]: unknown field(s) Score",
        ),
        (
            make_data(qualifications=[qualification(1, qual_type_id="3NOSUCHTYPE")]),
            "3NOSUCHTYPE",
        ),
        (make_data(qualifications=[qualification(1, status="Pending")]), "Granted or Revoked"),
        (make_data(qualifications=[qualification(1, grant_time="yesterday")]), "not a time"),
        # Times the API could carry but no client could read (botocore fails on them).
        (
            make_data(qualifications=[qualification(1, grant_time=1e300)]),
            "qualifications[0].GrantTime: 1e+300 is outside the times the API can carry",
        ),
        (
            make_data(qualifications=[qualification(1, grant_time=-1e12)]),
            "qualifications[0].GrantTime: -1000000000000.0 is outside",
        ),
        (
            make_data(qualifications=[qualification(1, grant_time="0001-01-01T00:00:00")]),
            "qualifications[0].GrantTime: '0001-01-01T00:00:00' is outside",
        ),
        (
            make_data(types=[qualification_type(CreationTime=32503680000)]),
            "qualification_types[0].CreationTime: 32503680000 is outside",
        ),
        (
            make_data(
                requests=[
                    {"QualificationTypeId": TYPE_ID, "WorkerId": worker_id(1), "SubmitTime": 1e19}
                ]
            ),
            "qualification_requests[0].SubmitTime: 1e+19 is outside",
        ),
        (
            make_data(types=[{**qualification_type(), "Owner": "NOBODY"}]),
            "Owner(s) that are not in requesters",
        ),
        (
            make_data(types=[{**qualification_type(), "Name": " "}]),
            "qualification_types[0]: missing required field(s) Name",
        ),
        (
            make_data(types=[qualification_type(), qualification_type()]),
            "qualification_types[1] repeats",
        ),
        (
            make_data(types=[{**qualification_type(), "QualificationTypeStatus": "Gone"}]),
            "Member must satisfy enum value set: [Active, Inactive]",
        ),
        # Workers that belong to the environment: listed, well formed, covering the data.
        (
            with_workers([qualification(OUTSIDER)]),
            f"name worker(s) {OUTSIDER} that the workers section does not list",
        ),
        (
            with_workers([], [{"QualificationTypeId": TYPE_ID, "WorkerId": OUTSIDER}]),
            f"name worker(s) {OUTSIDER} that the workers section does not list",
        ),
        (
            with_workers([], [], {"WorkerId": "a-lower"}),
            "workers[6]: WorkerId 'a-lower' must match ^A[A-Z0-9]+$",
        ),
        (with_workers([], [], {"WorkerId": "A1\n"}), "workers[6]: WorkerId 'A1\\n' must match"),
        (with_workers([], [], "A1"), "workers[6]: a worker must be"),
        (with_workers([], [], {"WorkerId": "A1", "Name": "x"}), "workers[6]: a worker must be"),
        # Values the API's shapes could never carry.
        (
            locale_of({"Country": "US", "Subdivision": ""}),
            "qualifications[0]: LocaleValue.Subdivision '' must be exactly 2 characters",
        ),
        (
            locale_of({"Country": "US", "Subdivision": "US-WA"}),
            "qualifications[0]: LocaleValue.Subdivision 'US-WA' must be exactly 2 characters",
        ),
        (
            locale_of({"Country": "USA"}),
            "qualifications[0]: LocaleValue.Country 'USA' must be exactly 2 characters",
        ),
        (locale_of({"Subdivision": "WA"}), "LocaleValue.Country None"),
        (
            locale_of({"Country": "US", "Region": "x"}),
            "qualifications[0]: LocaleValue must be an object with Country",
        ),
        (locale_of({"Country": "\ud800\ud800"}), "qualifications[0]: LocaleValue.Country"),
        (
            make_data(qualifications=[qualification(1, 2**31)]),
            "qualifications[0]: IntegerValue 2147483648 must be",
        ),
        (
            make_data(qualifications=[qualification(1, -(2**31) - 1)]),
            "IntegerValue -2147483649 must be",
        ),
        (
            make_data(requesters=(Requester("KEY/WITH/SLASHES", "s"),), types=[]),
            "requesters[0]: AccessKeyId 'KEY/WITH/SLASHES' must be 1-128 letters",
        ),
        (
            make_data(requesters=(Requester("KEY,COMMA", "s"),), types=[]),
            "AccessKeyId 'KEY,COMMA'",
        ),
        (
            make_data(requesters=(Requester("LOCALKEY", "secret\ud800"),), types=[]),
            "requesters[0]: SecretAccessKey is not valid Unicode",
        ),
        (
            make_data(types=[qualification_type(name="Bad \udfff name")]),
            "qualification_types[0]: Name is not valid Unicode",
        ),
        (
            make_data(types=[qualification_type(AutoGrantedValue=2**40)]),
            "qualification_types[0]: Value '1099511627776' at 'autoGrantedValue' failed to "
            "satisfy constraint: Member must be an Integer",
        ),
        (
            make_data(
                requests=[{"QualificationTypeId": TYPE_ID, "WorkerId": worker_id(1), "Answer": 5}]
            ),
            "qualification_requests[0]: Value '5' at 'answer'",
        ),
    ],
)
def test_bad_records_name_the_record(data, fragment):
    with pytest.raises(DataError) as exc:
        LocalMTurk(data=data)
    assert fragment in str(exc.value)


def test_seed_times_at_the_edges_of_the_range_load_and_clients_read_them(local_mturk):
    earliest, latest = 0, 32_503_679_999.5  # 1970-01-01 and just before 3000-01-01 (UTC)
    mturk = local_mturk(
        make_data(
            qualifications=[
                qualification(1, grant_time=earliest),
                qualification(2, grant_time=latest),
            ]
        )
    )
    page = mturk_client(mturk).list_workers_with_qualification_type(QualificationTypeId=TYPE_ID)
    times = sorted(q["GrantTime"].timestamp() for q in page["Qualifications"])
    assert times == [earliest, latest]


def test_failed_seed_leaves_no_half_state(tmp_path):
    state = tmp_path / "state.sqlite"
    with pytest.raises(DataError):
        LocalMTurk(data=make_data(qualifications=[qualification("bad id")]), state_path=state)
    assert not state.exists()


def test_generate_is_deterministic_and_loads(local_mturk, tmp_path):
    first, again, other = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    counts = generate(first, workers=400, types=3, seed=11)
    generate(again, workers=400, types=3, seed=11)
    generate(other, workers=400, types=3, seed=12)
    assert first.read_bytes() == again.read_bytes()
    assert first.read_bytes() != other.read_bytes()
    assert 400 < counts.qualifications <= 1200
    assert 0 < counts.revoked < counts.qualifications * 0.15
    assert counts.requests == 3 * 4

    mturk = local_mturk(first)
    assert mturk.admin.count_qualifications() == counts.qualifications
    data = json.loads(first.read_text())
    workers = [q["WorkerId"] for q in data["qualifications"]]
    assert all(13 <= len(w) <= 14 and w.startswith("A") for w in workers)
    assert all(len(t["QualificationTypeId"]) == 30 for t in data["qualification_types"])
    countries = {q["LocaleValue"]["Country"] for q in data["qualifications"] if "LocaleValue" in q}
    assert {"US", "IN"} <= countries

    client = mturk_client(mturk, Requester(GENERATED_ACCESS_KEY_ID, GENERATED_SECRET))
    own = client.list_qualification_types(MustBeRequestable=False, MustBeOwnedByCaller=True)
    assert own["NumResults"] == 3
    assert len(client.list_qualification_requests(MaxResults=100)["QualificationRequests"]) == 12
