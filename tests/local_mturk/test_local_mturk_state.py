"""Persistent state, seed data errors, and the data set generator."""

from __future__ import annotations

import json

import pytest
from conftest import (
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
        (
            make_data(types=[{**qualification_type(), "Owner": "NOBODY"}]),
            "Owner(s) that are not in requesters",
        ),
        (
            make_data(types=[qualification_type(), qualification_type()]),
            "qualification_types[1] repeats",
        ),
        (
            make_data(types=[{**qualification_type(), "QualificationTypeStatus": "Gone"}]),
            "Member must satisfy enum value set: [Active, Inactive]",
        ),
    ],
)
def test_bad_records_name_the_record(data, fragment):
    with pytest.raises(DataError) as exc:
        LocalMTurk(data=data)
    assert fragment in str(exc.value)


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
