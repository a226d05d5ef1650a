"""End to end over real HTTP: three refreshes against the local MTurk, extracted with boto3 into the
lake and loaded into the warehouse, produce exactly the expected history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.mturk import TYPE_ID, make_data, mturk_client, qualification, worker_id
from support.stores import read_warehouse, stores_of

from qual_pipeline.extract import (
    extract_qualification_requests,
    extract_qualification_types,
    extract_worker_qualifications,
)
from qual_pipeline.local_mturk.server import LocalMTurk
from qual_pipeline.stores.lake import SnapshotExistsError
from qual_pipeline.warehouse import LoadResult, load_warehouse, run_checks

T1 = datetime(2025, 6, 1, 12, tzinfo=UTC)
T2 = T1 + timedelta(days=1)
T3 = T2 + timedelta(days=1)
W1, W2, W3, W4 = (worker_id(n) for n in range(1, 5))


def refresh(client: Any, data_dir: Path, at: datetime) -> LoadResult:
    stores = stores_of(data_dir)
    extract_qualification_types(client, stores, extracted_at=at)
    extract_worker_qualifications(client, TYPE_ID, stores, extracted_at=at)
    extract_qualification_requests(client, TYPE_ID, stores, extracted_at=at)
    return load_warehouse(stores)


def test_three_refreshes_against_the_local_mturk(
    local_mturk: Callable[..., LocalMTurk], tmp_path: Path
) -> None:
    server = local_mturk(
        data=make_data(
            qualifications=[
                qualification(1, 10, locale={"Country": "US", "Subdivision": "WA"}),
                qualification(2, 20),
                qualification(3, 30),
                qualification(4, 40),
            ]
        )
    )
    client = mturk_client(server)
    data_dir = tmp_path / "data"

    assert refresh(client, data_dir, T1).changes == {"new": 4}

    client.associate_qualification_with_worker(
        QualificationTypeId=TYPE_ID, WorkerId=W1, IntegerValue=15, SendNotification=False
    )
    client.disassociate_qualification_from_worker(
        QualificationTypeId=TYPE_ID, WorkerId=W2, Reason="Quality below threshold"
    )
    assert refresh(client, data_dir, T2).changes == {"score": 1, "status": 1}

    client.associate_qualification_with_worker(
        QualificationTypeId=TYPE_ID, WorkerId=W2, IntegerValue=20, SendNotification=False
    )
    assert server.admin.remove_qualification(TYPE_ID, W3)
    assert refresh(client, data_dir, T3).changes == {"status": 1, "gone": 1}
    assert load_warehouse(stores_of(data_dir)).up_to_date  # the same snapshots again: nothing
    with pytest.raises(SnapshotExistsError):  # a snapshot of that name is never overwritten
        extract_worker_qualifications(client, TYPE_ID, stores_of(data_dir), extracted_at=T3)

    con = read_warehouse(data_dir)
    history = con.execute(
        "SELECT worker_id, status, integer_value, country, subdivision, valid_from, valid_to, "
        "change, end_reason FROM worker_qualification_history ORDER BY worker_id, valid_from"
    ).fetchall()
    runs = con.execute(
        "SELECT snapshot, row_count, pages, granted, revoked, started_at IS NOT NULL "
        "FROM extract_runs WHERE lake_table = 'worker_qualifications' ORDER BY extracted_at"
    ).fetchall()
    checks = {r.name: r.passed for r in run_checks(con)}
    con.close()

    assert history == [
        (W1, "Granted", 10, "US", "US-WA", T1, T2, "new", "superseded"),
        (W1, "Granted", 15, "US", "US-WA", T2, None, "score", None),
        (W2, "Granted", 20, None, None, T1, T2, "new", "superseded"),
        (W2, "Revoked", 20, None, None, T2, T3, "status", "superseded"),
        (W2, "Granted", 20, None, None, T3, None, "status", None),
        (W3, "Granted", 30, None, None, T1, T3, "new", "gone"),
        (W4, "Granted", 40, None, None, T1, None, "new", None),
    ]
    # extract_runs carries the extraction's own figures from the snapshot metadata.
    assert [run[1:] for run in runs] == [(4, 2, 4, 0, True), (4, 2, 3, 1, True), (3, 2, 3, 0, True)]
    assert checks == {
        "unique_worker_qualifications": True,
        "extraction_complete": True,
        "scores_present": True,
        "row_count_not_dropping": True,
        "locales_valid": True,
        "grant_time_not_in_future": True,
    }
