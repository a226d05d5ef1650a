"""Writers at once on the shared profile, each on a machine of its own (no shared disk): three
refreshes at the same time (two of one requester account, one of another) all land; while a push
of account A runs, a second push of A from another machine is refused and named, and a push of
account B runs to its end; every change is applied once and each account's warehouse holds only
its own types."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from support.mturk import (
    OTHER_REQUESTER,
    REGION,
    REQUESTER,
    Requester,
    make_data,
    qualification,
    qualification_type,
    type_id,
)
from support.services import S3Server
from support.shared import Machine

from qual_pipeline.stores.namespace import default_account_label

TA, TB = type_id(91), type_id(92)
CHANGES_A, CHANGES_B = 24, 6
ASSOCIATE = "AssociateQualificationWithWorker"


def settings_for(requester: Requester, common: dict[str, str], instance: str) -> dict[str, str]:
    """The common settings with the requester's MTurk keys and a Dagster instance: one per account
    (the qualification_type partitions are the instance's, so two accounts need two instances;
    they share the bucket and the catalog database)."""
    return {
        **common,
        "DAGSTER_POSTGRES_URL": instance.replace("postgresql://", "postgresql+psycopg2://"),
        "AWS_ACCESS_KEY_ID": requester.access_key_id,
        "AWS_SECRET_ACCESS_KEY": requester.secret_access_key,
    }


def write_desired(folder: Path, qual_type: str, scores: dict[str, int]) -> Path:
    folder.mkdir()
    (folder / "desired_scores.csv").write_text(
        "qualification_type_id,worker_id,integer_value\n"
        + "".join(f"{qual_type},{w},{v}\n" for w, v in scores.items())
    )
    return folder


@pytest.mark.slow(88)
def test_refreshes_at_once_land_and_one_pusher_per_account(
    tmp_path: Path, local_mturk, s3_server: S3Server, s3_bucket, postgres_server
) -> None:
    data = make_data(
        types=[qualification_type(TA), qualification_type(TB, owner=OTHER_REQUESTER)],
        qualifications=[qualification(i, 10, qual_type_id=TA) for i in range(CHANGES_A)]
        + [qualification(i, 20, qual_type_id=TB) for i in range(CHANGES_B)],
    )
    mturk = local_mturk(data=data)
    common = {
        "QUAL_PIPELINE_STORAGE": f"s3://{s3_bucket}/team",
        "QUAL_PIPELINE_CATALOG": postgres_server.create_database(),
        **s3_server.env(),
        "AWS_DEFAULT_REGION": REGION,
        "MTURK_ENDPOINT_URL": mturk.endpoint_url,
    }
    a_env = settings_for(REQUESTER, common, postgres_server.create_database())
    b_env = settings_for(OTHER_REQUESTER, common, postgres_server.create_database())
    a1, a2, b1 = (Machine.new(tmp_path / name) for name in ("a1", "a2", "b1"))

    # Three refreshes at once: two loads of account A's warehouse, one of B's.
    refreshes = [(m, m.start(env, "refresh")) for m, env in ((a1, a_env), (a2, a_env), (b1, b_env))]
    for machine, process in refreshes:
        out, err = process.communicate(timeout=240)
        assert process.returncode == 0, (machine.root.name, out + err)
        assert "refresh done: 1 type(s)" in err, err

    scores_a = {f"AW{i:012d}": 50 + i for i in range(CHANGES_A)}
    scores_b = {f"AW{i:012d}": 70 + i for i in range(CHANGES_B)}
    inputs_a = write_desired(tmp_path / "inputs_a", TA, scores_a)
    inputs_b = write_desired(tmp_path / "inputs_b", TB, scores_b)
    plans = [
        (m.start(env, "plan", "--inputs-dir", str(inputs), "--max-share", "1"), count)
        for m, env, inputs, count in (
            (a1, a_env, inputs_a, CHANGES_A),
            (b1, b_env, inputs_b, CHANGES_B),
        )
    ]
    for process, count in plans:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, out + err
        assert f"A push would send {count} change(s)." in out

    push_a = a1.start(a_env, "push", "--inputs-dir", str(inputs_a), "--rate", "2")
    others: list[subprocess.Popen[str]] = []
    try:
        deadline = time.monotonic() + 60
        while mturk.call_counts()[ASSOCIATE] < 2:
            assert push_a.poll() is None, push_a.communicate()
            assert time.monotonic() < deadline, "account A's push sent nothing"
            time.sleep(0.05)
        # The second pusher of A and B's push at the same time: both end while A's push runs
        # (one after the other they outlasted A's 12 s at load 20).
        others = [
            a2.start(a_env, "push", "--inputs-dir", str(inputs_a)),
            b1.start(b_env, "push", "--inputs-dir", str(inputs_b), "--rate", "50"),
        ]
        outputs = [p.communicate(timeout=180) for p in others]
        second_a, push_b = (
            subprocess.CompletedProcess(p.args, p.returncode, out, err)
            for p, (out, err) in zip(others, outputs, strict=True)
        )
        still_running = push_a.poll() is None
        out_a, err_a = push_a.communicate(timeout=120)
    finally:
        for process in (push_a, *others):
            if process.poll() is None:
                process.kill()
                process.communicate()

    label_a = default_account_label(REQUESTER.access_key_id)
    assert second_a.returncode == 1, second_a.stdout + second_a.stderr
    refused = second_a.stdout + second_a.stderr
    assert f"Another push of sandbox/{label_a} is running" in refused, refused
    assert "Traceback" not in refused
    assert push_b.returncode == 0, push_b.stdout + push_b.stderr
    assert still_running, "account B's push should have run while account A's was running"
    assert push_a.returncode == 0, out_a + err_a
    assert mturk.call_counts()[ASSOCIATE] == CHANGES_A + CHANGES_B  # each change once

    query = "SELECT qualification_type_id, worker_id, integer_value FROM worker_qualifications"
    queries = [
        (m.start(env, "sql", "--output", "csv", query), qual_type, scores)
        for m, env, qual_type, scores in ((a2, a_env, TA, scores_a), (b1, b_env, TB, scores_b))
    ]
    for process, qual_type, scores in queries:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, out + err
        rows = [line.split(",") for line in out.strip().splitlines()[1:]]
        assert {t for t, _, _ in rows} == {qual_type}  # only the account's own type
        assert len(rows) == len(scores)
    for machine in (a1, a2, b1):
        assert machine.left_behind() == [], machine.root
