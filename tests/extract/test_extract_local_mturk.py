"""Extraction against the local MTurk over real HTTP: exact rows, faults, failure, duplicates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from support.lake_data import footer_figures as read_extract_metadata
from support.mturk import (
    OTHER_REQUESTER,
    OTHER_TYPE_ID,
    REQUESTER,
    TYPE_ID,
    make_data,
    qualification,
    qualification_type,
    type_id,
    worker_id,
    workers_data,
)

from qual_pipeline.extract import (
    ExtractionError,
    TypeSelectionError,
    discover_owned_types,
    extract_qualification_requests,
    extract_qualification_types,
    extract_worker_qualifications,
    resolve_type_ids,
)
from qual_pipeline.extract import staging as staging_module
from qual_pipeline.extract import tables as tables_module
from qual_pipeline.extract.many import extract_types
from qual_pipeline.extract.tables import WORKER_QUALIFICATIONS_SPEC, _Pages
from qual_pipeline.lake.layout import snapshot_name
from qual_pipeline.local_mturk.server import FaultConfig
from qual_pipeline.mturk_api.client import ApiStats, make_client
from qual_pipeline.schema import WORKER_QUALIFICATIONS
from qual_pipeline.stores.profile import local_stores

EXTRACTED_AT = datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
THIRD_TYPE_ID = type_id(3)
SEED = 6  # owned by OTHER_REQUESTER


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def ugly_data() -> dict:
    """Revoked grants, missing and invalid locales, subdivisions, DST-change and fractional grant
    times, null scores, and a worker holding several types."""
    q = qualification
    return make_data(
        types=[
            qualification_type(TYPE_ID),
            qualification_type(OTHER_TYPE_ID),
            qualification_type(THIRD_TYPE_ID, owner=OTHER_REQUESTER),
        ],
        qualifications=[
            # 01:30 New York time, first pass (EDT) and second pass (EST) of the repeated hour.
            q(1, 87, grant_time=1699162200.25, locale={"Country": "US", "Subdivision": "WA"}),
            q(2, 12, grant_time=1699165800.75, locale={"Country": "GB"}),
            q(3, 40, status="Revoked", grant_time=1678606200.5, locale={"Country": "IN"}),
            q(4, None, grant_time=1711846800.000001),  # null score, no locale, EU DST change
            q(5, 5, grant_time=1600000000.123456, locale={"Country": "us"}),
            q(6, 0, status="Revoked", grant_time=1600000000, locale={"Country": "XX"}),
            q(7, 100, grant_time=1700000000.5, locale={"Country": "US", "Subdivision": "ZZ"}),
            q(8, 3, grant_time=None, locale={"Country": "ZZ", "Subdivision": "AB"}),
            q(1, 99, qual_type_id=OTHER_TYPE_ID, grant_time=1650000000.0),
            q(2, 1, qual_type_id=THIRD_TYPE_ID),
        ],
    )


def _row(n, status, score, country, sub, cname, sname, grant):
    return {
        "qualification_type_id": TYPE_ID,
        "worker_id": worker_id(n),
        "status": status,
        "integer_value": score,
        "country": country,
        "subdivision": sub,
        "country_name": cname,
        "subdivision_name": sname,
        "grant_time": grant,
        "extracted_at": EXTRACTED_AT,
    }


EXPECTED_ROWS = [
    _row(1, "Granted", 87, "US", "US-WA", "United States", "Washington",
         _utc(2023, 11, 5, 5, 30, 0, 250000)),
    _row(2, "Granted", 12, "GB", None, "United Kingdom", None,
         _utc(2023, 11, 5, 6, 30, 0, 750000)),
    _row(3, "Revoked", 40, "IN", None, "India", None, _utc(2023, 3, 12, 7, 30, 0, 500000)),
    _row(4, "Granted", None, None, None, None, None, _utc(2024, 3, 31, 1, 0, 0, 1)),
    _row(5, "Granted", 5, "us", None, None, None, _utc(2020, 9, 13, 12, 26, 40, 123456)),
    _row(6, "Revoked", 0, "XX", None, None, None, _utc(2020, 9, 13, 12, 26, 40)),
    _row(7, "Granted", 100, "US", "US-ZZ", "United States", None,
         _utc(2023, 11, 14, 22, 13, 20, 500000)),
    _row(8, "Granted", 3, "ZZ", "ZZ-AB", None, None, None),
]  # fmt: skip

_CHILD = """
import json, sys
from datetime import datetime
from qual_pipeline.extract import extract_worker_qualifications
from qual_pipeline.mturk_api.client import make_client
from qual_pipeline.stores.profile import local_stores
endpoint, type_id, data_dir, at = sys.argv[1:5]
client = make_client(endpoint_url=endpoint, max_attempts=1)
result = extract_worker_qualifications(
    client, type_id, local_stores(data_dir), extracted_at=datetime.fromisoformat(at), page_size=3
)
print(json.dumps({"path": result.location, "meta": result.as_metadata()}))
"""


@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata", "America/New_York"])
def test_lake_holds_exactly_the_expected_rows_whatever_the_tz(local_mturk, mturk_env, tmp_path, tz):
    mturk = local_mturk(ugly_data())
    env = {**os.environ, **mturk_env(mturk), "TZ": tz}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, mturk.endpoint_url, TYPE_ID, str(tmp_path),
         EXTRACTED_AT.isoformat()],
        env=env, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    child = json.loads(out.stdout)
    path = Path(child["path"])
    assert (
        path.parent == tmp_path / "lake/worker_qualifications" / f"qualification_type_id={TYPE_ID}"
    )
    table = pq.read_table(path)
    assert table.schema.remove_metadata() == WORKER_QUALIFICATIONS
    assert table.to_pylist() == EXPECTED_ROWS
    meta = read_extract_metadata(path)
    assert meta == child["meta"]
    assert {k: meta[k] for k in ("rows", "records_seen", "duplicates", "granted", "revoked")} == {
        "rows": 8,
        "records_seen": 8,
        "duplicates": 0,
        "granted": 6,
        "revoked": 2,
    }
    # us, XX, US-ZZ, ZZ-AB are not ISO; worker 4 has no locale; worker 4 has no score.
    assert (meta["invalid_locales"], meta["missing_locales"], meta["null_scores"]) == (4, 1, 1)
    assert meta["pages"] == 3  # Granted: 3+3, Revoked: 2 (page size 3)
    assert meta["extracted_at"] == EXTRACTED_AT.isoformat()
    assert REQUESTER.secret_access_key not in out.stdout + out.stderr


def _extract(mturk, data_dir, stats=None, **kwargs):
    stats = stats if stats is not None else ApiStats()
    client = make_client(
        endpoint_url=mturk.endpoint_url, max_attempts=kwargs.pop("max_attempts", 1), stats=stats
    )
    kwargs.setdefault("extracted_at", EXTRACTED_AT)
    return extract_worker_qualifications(
        client, TYPE_ID, local_stores(data_dir), stats=stats, **kwargs
    )


def test_throttles_faults_and_resets_give_exactly_the_fault_free_rows(
    local_mturk, mturk_env, tmp_path
):
    data = workers_data(450)
    for n in range(0, 450, 7):  # some revoked, some without a score, some with a locale
        data["qualifications"][n]["Status"] = "Revoked"
    for n in range(0, 450, 11):
        data["qualifications"][n].pop("IntegerValue")
        data["qualifications"][n]["LocaleValue"] = {"Country": "US", "Subdivision": "WA"}
    clean = local_mturk(data)
    mturk_env(clean)
    expected = pq.read_table(_extract(clean, tmp_path / "clean", page_size=20).location)
    assert expected.num_rows == 450
    faults = FaultConfig(throttle_rate=0.2, fault_rate=0.05, reset_rate=0.02, seed=SEED)
    flaky = local_mturk(data, faults=faults)
    stats = ApiStats()
    result = _extract(flaky, tmp_path / "flaky", stats, max_attempts=12, page_size=20)
    assert pq.read_table(result.location).equals(expected)
    assert result.rows == 450 and result.duplicates == 0
    # The seed makes every kind of fault happen at least once in this run.
    assert stats.throttles > 0 and stats.faults > 0 and stats.connection_errors > 0
    assert result.throttles == stats.throttles and result.retries == stats.retries
    assert read_extract_metadata(result.location)["retries"] == result.retries


def test_partition_failing_halfway_leaves_the_previous_snapshot_complete(
    local_mturk, mturk_env, tmp_path
):
    mturk = local_mturk(workers_data(350))
    mturk_env(mturk)
    previous = _extract(mturk, tmp_path)
    before = Path(previous.location).read_bytes()
    mturk.admin.put_qualification(qualification(0, 77))  # a change the failed run would carry

    def break_after_two_pages(pages: int, rows: int) -> None:
        if pages == 2:
            mturk.set_faults(FaultConfig(fault_rate=1.0))

    with pytest.raises(ExtractionError) as failure:
        _extract(
            mturk,
            tmp_path,
            max_attempts=2,
            on_page=break_after_two_pages,
            extracted_at=datetime.now(UTC),
        )
    message = str(failure.value)
    assert TYPE_ID in message and "ListWorkersWithQualificationType" in message
    assert "ServiceFault" in message and "previous snapshot is unchanged" in message
    assert failure.value.error_code == "ServiceFault"
    assert REQUESTER.secret_access_key not in message
    part = tmp_path / "lake/worker_qualifications" / f"qualification_type_id={TYPE_ID}"
    assert sorted(p.name for p in part.iterdir()) == [previous.snapshot.name]  # no temp file
    assert Path(previous.location).read_bytes() == before
    assert pq.read_table(previous.location).num_rows == 350
    assert not (tmp_path / ".staging").exists()  # no scratch space left, not even empty


def test_worker_changed_between_pages_is_one_row_with_the_last_observation(
    local_mturk, mturk_env, tmp_path
):
    mturk = local_mturk(workers_data(250))
    mturk_env(mturk)
    seen_first: list[str] = []

    def revoke_a_seen_worker_and_rescore_an_unseen_one(pages: int, rows: int) -> None:
        if pages == 1:
            # Worker 5 was on page 1 as Granted; now revoked, it shows up again on the Revoked
            # pages. Worker 240 is on a later page: only its new score is ever seen.
            mturk.admin.put_qualification(qualification(5, 66, status="Revoked"))
            mturk.admin.put_qualification(qualification(240, 1234))
            seen_first.append(worker_id(5))

    result = _extract(mturk, tmp_path, on_page=revoke_a_seen_worker_and_rescore_an_unseen_one)
    assert seen_first
    rows = {r["worker_id"]: r for r in pq.read_table(result.location).to_pylist()}
    assert len(rows) == result.rows == 250
    assert (rows[worker_id(5)]["status"], rows[worker_id(5)]["integer_value"]) == ("Revoked", 66)
    assert rows[worker_id(240)]["integer_value"] == 1234
    assert (result.records_seen, result.duplicates) == (251, 1)
    assert (result.granted, result.revoked) == (249, 1)
    assert read_extract_metadata(result.location)["duplicates"] == 1


def test_on_page_reports_cumulative_progress(local_mturk, mturk_env, tmp_path):
    mturk = local_mturk(workers_data(205))
    mturk_env(mturk)
    calls: list[tuple[int, int]] = []
    result = _extract(mturk, tmp_path, on_page=lambda p, r: calls.append((p, r)))
    assert calls == [(1, 100), (2, 200), (3, 205), (4, 205)]  # last: the empty Revoked page
    assert result.pages == 4


def test_pages_tell_whether_another_request_is_due(local_mturk, mturk_env):
    """After the last page of the last call no request is due: the extraction starts no prefetch
    thread for what is not there (most types of a requester with thousands hold one page)."""
    mturk = local_mturk(workers_data(205))
    mturk_env(mturk)
    client = make_client(endpoint_url=mturk.endpoint_url, max_attempts=1)
    spec = WORKER_QUALIFICATIONS_SPEC
    stream = _Pages(client, spec.operation, spec.calls(TYPE_ID), 100)
    assert stream.pending()
    seen = [(params["Status"], len(records), stream.pending()) for params, records in stream]
    # Granted: 100, 100, 5; then the one (empty) Revoked page, after which nothing is due.
    assert seen == [
        ("Granted", 100, True),
        ("Granted", 100, True),
        ("Granted", 5, True),
        ("Revoked", 0, False),
    ]
    assert not stream.pending()


def test_a_small_type_takes_no_scratch_folder_a_large_one_does(
    local_mturk, mturk_env, tmp_path, monkeypatch
):
    """Pages that fit in memory are sorted there: the extraction creates and removes no scratch
    folder (on a busy disk that cost a small type more than its paging). With `.staging` made
    unusable (a file in its place), a small type still lands; one that spills fails, naming it
    (a disk problem: `extract_types` reports it as that type's failure)."""
    mturk = local_mturk(workers_data(120))
    mturk_env(mturk)
    (tmp_path / ".staging").write_text("not a folder")
    result = _extract(mturk, tmp_path, page_size=50)
    assert result.rows == 120 and pq.read_table(result.location).num_rows == 120
    monkeypatch.setattr(staging_module, "STAGING_ROW_GROUP_ROWS", 50)  # now it spills
    with pytest.raises(OSError) as failed:
        _extract(mturk, tmp_path, page_size=50, extracted_at=datetime.now(UTC))
    message = str(failed.value)  # one sentence: the folder, the reason, the fix
    assert f"scratch folder under {tmp_path / '.staging'}" in message
    assert "Remove or rename what is at" in message and "QUAL_PIPELINE_DATA_DIR" in message


def test_a_small_snapshot_is_compressed_with_snappy_a_large_one_with_zstd(
    local_mturk, mturk_env, tmp_path, monkeypatch
):
    # A small snapshot is also stored without dictionary encoding (plain values, cheaper to
    # write); a large one keeps it. Every reader gets the same rows from both.
    mturk = local_mturk(workers_data(120))
    mturk_env(mturk)
    small = _extract(mturk, tmp_path / "small")
    monkeypatch.setattr(tables_module, "SMALL_SNAPSHOT_ROWS", 119)
    large = _extract(mturk, tmp_path / "large")
    for result, codec, dictionary in ((small, "SNAPPY", False), (large, "ZSTD", True)):
        footer = pq.read_metadata(result.location)
        assert footer.num_rows == 120
        group = footer.row_group(0)
        columns = [group.column(c) for c in range(group.num_columns)]
        assert {column.compression for column in columns} == {codec}
        status = next(c for c in columns if c.path_in_schema == "status")
        assert status.has_dictionary_page is dictionary
    assert pq.read_table(small.location).equals(pq.read_table(large.location))
    read = "SELECT * FROM read_parquet($path) ORDER BY worker_id"
    assert (
        duckdb.sql(read, params={"path": small.location}).fetchall()
        == duckdb.sql(read, params={"path": large.location}).fetchall()
    )


def test_the_snapshots_own_rows_pick_its_codec_not_the_records_read(
    local_mturk, mturk_env, tmp_path, monkeypatch
):
    """At the threshold: a snapshot of exactly SMALL_SNAPSHOT_ROWS rows whose pages held one more
    record (a worker revoked while paging, seen on both lists) is a small snapshot (Snappy); one
    more worker makes it a large one (Zstandard). It was zstd: the records read decided."""
    monkeypatch.setattr(tables_module, "SMALL_SNAPSHOT_ROWS", 60)
    mturk = local_mturk(workers_data(60))
    mturk_env(mturk)

    def revoke_a_seen_worker(pages: int, rows: int) -> None:
        if pages == 1:
            mturk.admin.put_qualification(qualification(3, 66, status="Revoked"))

    small = _extract(mturk, tmp_path / "small", page_size=25, on_page=revoke_a_seen_worker)
    mturk.admin.put_qualification(qualification(60, 1))
    large = _extract(mturk, tmp_path / "large", page_size=25)
    for result, rows, seen, codec in ((small, 60, 61, "SNAPPY"), (large, 61, 61, "ZSTD")):
        footer = pq.read_metadata(result.location)
        assert (footer.num_rows, result.rows, result.records_seen) == (rows, rows, seen)
        columns = footer.row_group(0).num_columns
        assert {footer.row_group(0).column(c).compression for c in range(columns)} == {codec}


def test_unknown_or_foreign_type_fails_with_type_operation_and_code(
    local_mturk, mturk_env, tmp_path
):
    mturk = local_mturk(ugly_data())
    mturk_env(mturk)
    client = make_client(endpoint_url=mturk.endpoint_url, max_attempts=1)
    with pytest.raises(ExtractionError, match=THIRD_TYPE_ID) as failure:
        extract_worker_qualifications(client, THIRD_TYPE_ID, local_stores(tmp_path))
    assert "ListWorkersWithQualificationType failed: RequestError" in str(failure.value)
    assert local_stores(tmp_path).lake.partitions("worker_qualifications") == []
    with pytest.raises(TypeSelectionError, match="malformed"):
        extract_worker_qualifications(client, "../../etc", local_stores(tmp_path))


def test_qualification_types_and_requests_are_extracted(local_mturk, mturk_env, tmp_path):
    data = ugly_data()
    data["qualification_requests"] = [
        {
            "QualificationRequestId": "3REQUEST0000000000000000000001",
            "QualificationTypeId": TYPE_ID,
            "WorkerId": worker_id(20),
            "Answer": "<QuestionFormAnswers/>",
            "SubmitTime": 1700000000.5,
        },
        {
            "QualificationRequestId": "3REQUEST0000000000000000000002",
            "QualificationTypeId": OTHER_TYPE_ID,
            "WorkerId": worker_id(21),
        },
    ]
    mturk = local_mturk(data)
    mturk_env(mturk)
    client = make_client(endpoint_url=mturk.endpoint_url, max_attempts=1)
    stores = local_stores(tmp_path)
    owned = extract_qualification_types(client, stores, extracted_at=EXTRACTED_AT)
    ids = pq.read_table(owned.location, columns=["qualification_type_id"]).column(0).to_pylist()
    assert ids == [TYPE_ID, OTHER_TYPE_ID]  # not the other requester's type
    chosen = extract_qualification_types(client, stores, [OTHER_TYPE_ID])
    assert pq.read_table(chosen.location).column("name").to_pylist() == ["Test type 0002"]
    # The superseded snapshot stays readable for the grace period; the newest is current.
    assert stores.lake.snapshots("qualification_types") == [owned.snapshot, chosen.snapshot]
    assert stores.lake.current_snapshot("qualification_types") == chosen.snapshot
    requests = extract_qualification_requests(client, TYPE_ID, stores)
    assert stores.lake.current_snapshots("qualification_requests") == {TYPE_ID: requests.snapshot}
    got = pq.read_table(requests.location).to_pylist()
    assert [(r["qualification_request_id"], r["worker_id"], r["submit_time"]) for r in got] == [
        ("3REQUEST0000000000000000000001", worker_id(20), _utc(2023, 11, 14, 22, 13, 20, 500000))
    ]
    assert read_extract_metadata(requests.location)["table"] == "qualification_requests"


def test_type_selection_owned_list_and_errors_naming_each_bad_id(local_mturk, mturk_env):
    mturk = local_mturk(ugly_data())
    mturk_env(mturk)
    client = make_client(endpoint_url=mturk.endpoint_url, max_attempts=1)
    assert {t.qualification_type_id for t in discover_owned_types(client)} == {
        TYPE_ID,
        OTHER_TYPE_ID,
    }
    assert resolve_type_ids(client, "owned") == sorted([TYPE_ID, OTHER_TYPE_ID])
    assert resolve_type_ids(client, f" {OTHER_TYPE_ID}, {TYPE_ID},") == [OTHER_TYPE_ID, TYPE_ID]
    # A type just created may lag in ListQualificationTypes; ownership is then probed directly.
    unknown = type_id(9)
    with pytest.raises(TypeSelectionError) as bad:
        resolve_type_ids(client, f"{TYPE_ID},abc,3lower,{unknown}")
    message = str(bad.value)
    # Malformed ids are all reported before any request is made.
    assert bad.value.problems == {"abc": "malformed", "3lower": "malformed"}
    assert "'abc' in QUAL_PIPELINE_TYPES is malformed" in message
    assert "set it to 'owned'" in message
    with pytest.raises(TypeSelectionError) as foreign:
        resolve_type_ids(client, f"{TYPE_ID},{unknown},{THIRD_TYPE_ID}")
    assert foreign.value.problems == {unknown: "unknown", THIRD_TYPE_ID: "not_owned"}
    text = str(foreign.value)
    assert f"'{unknown}' in QUAL_PIPELINE_TYPES does not exist" in text
    assert f"'{THIRD_TYPE_ID}' in QUAL_PIPELINE_TYPES is not owned" in text


def test_a_type_whose_second_publish_fails_keeps_the_previous_snapshot_of_both_tables(
    local_mturk, mturk_env, tmp_path
):
    """A type lands both its tables or neither: when its qualification_requests snapshot cannot
    be published (its name already taken) after its worker_qualifications one was, that one is
    withdrawn and the previous snapshot of each table stays current."""
    mturk = local_mturk(workers_data(5))
    mturk_env(mturk)
    client = make_client(endpoint_url=mturk.endpoint_url, max_attempts=1)
    stores = local_stores(tmp_path)
    [first] = list(extract_types(client, stores, [TYPE_ID], extracted_at=EXTRACTED_AT))
    assert first.ok and [r.table for r in first.results] == [
        "worker_qualifications",
        "qualification_requests",
    ]
    later = datetime(2025, 6, 2, tzinfo=UTC)
    lake = tmp_path / "lake"
    requests = lake / "qualification_requests" / f"qualification_type_id={TYPE_ID}"
    (requests / snapshot_name(later)).write_bytes(b"taken")  # the next requests snapshot's name
    [second] = list(extract_types(client, stores, [TYPE_ID], extracted_at=later))
    assert not second.ok and second.results == ()
    assert TYPE_ID in second.error and "already exists" in second.error, second.error
    workers = lake / "worker_qualifications" / f"qualification_type_id={TYPE_ID}"
    assert sorted(p.name for p in workers.iterdir()) == [first.results[0].snapshot.name]
    current = stores.lake.current_snapshots("worker_qualifications")[TYPE_ID]
    assert current == first.results[0].snapshot
    assert pq.read_table(current.location).num_rows == 5
    assert sorted(p.name for p in requests.iterdir()) == sorted(
        [first.results[1].snapshot.name, snapshot_name(later)]  # no temp file left
    )
