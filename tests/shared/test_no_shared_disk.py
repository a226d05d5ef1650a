"""The shared profile end to end with no shared disk: `refresh` on one machine, `plan` and `push` on
a second, that push killed with SIGKILL and resumed on a third, `sql` on a fourth. Each machine is
a child process with its own empty working folder, DAGSTER_HOME (the shipped PostgreSQL instance),
HOME and TMPDIR; all they share is the settings: object storage on moto's S3 server, PostgreSQL
for the DuckLake catalog, the journal, the push lock and the Dagster instance, and the local
MTurk. The warehouse ends up holding exactly the local MTurk's rows, every change is applied once,
and nothing is left in any machine's folders."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import boto3
import psycopg2
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.mturk import REGION, REQUESTER, make_data, qualification, qualification_type, type_id
from support.services import S3Server
from support.shared import Machine

from qual_pipeline.stores.namespace import default_account_label

T1, T2 = type_id(71), type_id(72)
WORKERS = 60
CHANGES = 30
ASSOCIATE = "AssociateQualificationWithWorker"
STORAGE_SECRET = "storage-profile-secret-4f1c"
CATALOG_PASSWORD = "catalog-password-9b2e"
INSTANCE_PASSWORD = "instance-password-7d3a"


def mturk_rows(mturk) -> set[tuple[str, str, str, int | None]]:
    """Every (type, worker, status, value) the local MTurk holds, listed through its API."""
    client = boto3.session.Session().client(
        "mturk",
        region_name=REGION,
        endpoint_url=mturk.endpoint_url,
        aws_access_key_id=REQUESTER.access_key_id,
        aws_secret_access_key=REQUESTER.secret_access_key,
    )
    rows = set()
    for t in (T1, T2):
        for status in ("Granted", "Revoked"):
            pages = client.get_paginator("list_workers_with_qualification_type").paginate(
                QualificationTypeId=t, Status=status
            )
            for page in pages:
                for q in page["Qualifications"]:
                    rows.add((t, q["WorkerId"], q["Status"], q.get("IntegerValue")))
    return rows


def csv_rows(output: str) -> set[tuple[str, str, str, int | None]]:
    lines = output.strip().splitlines()[1:]  # after the header
    found = set()
    for line in lines:
        t, w, status, value = line.split(",")
        found.add((t, w, status, int(value) if value else None))
    return found


def with_password(dsn: str, password: str) -> str:
    """The DSN with a password (the test server trusts any; the point is where it ends up)."""
    return dsn.replace("postgresql://postgres@", f"postgresql://postgres:{password}@", 1)


def database_text(dsn: str) -> str:
    """Every row of every table of the database (all schemas but PostgreSQL's own), as text."""
    con = psycopg2.connect(dsn)
    try:
        with con.cursor() as cur:
            cur.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
                "AND table_type = 'BASE TABLE'"
            )
            tables = cur.fetchall()
            assert tables, dsn
            chunks = []
            for schema, table in tables:
                cur.execute(f'SELECT t::text FROM "{schema}"."{table}" AS t')
                chunks.extend(row[0] for row in cur.fetchall())
            return "\n".join(chunks)
    finally:
        con.close()


def object_text(s3, bucket: str, key: str) -> str:
    """An object's bytes as text; a Parquet file's every value and footer entry besides."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    text = body.decode("latin-1")
    if key.endswith(".parquet"):
        parquet = pq.ParquetFile(pa.BufferReader(body))
        text += str(parquet.metadata.metadata) + str(parquet.read().to_pylist())
    return text


def journal_states(catalog: str, schema: str) -> dict[str, int]:
    con = psycopg2.connect(catalog)
    try:
        with con.cursor() as cur:
            cur.execute(f'SELECT state, count(*) FROM "{schema}".changes GROUP BY state')
            return dict(cur.fetchall())
    finally:
        con.close()


@pytest.mark.slow(70)
def test_refresh_plan_push_kill_resume_and_sql_on_four_machines(
    tmp_path: Path, local_mturk, s3_server: S3Server, s3_bucket, postgres_server
) -> None:
    data = make_data(
        types=[qualification_type(T1), qualification_type(T2)],
        qualifications=[qualification(i, i % 100, qual_type_id=T1) for i in range(WORKERS)]
        + [qualification(i, 7, qual_type_id=T2, status="Revoked") for i in range(5)]
        + [qualification(i, i, qual_type_id=T2) for i in range(5, 20)],
    )
    mturk = local_mturk(data=data)
    # Passwords in both URLs (the test server trusts any): no output or stored state may show them.
    catalog = with_password(postgres_server.create_database(), CATALOG_PASSWORD)
    instance = with_password(postgres_server.create_database(), INSTANCE_PASSWORD)
    # Storage keys in a profile of their own, apart from the requester's MTurk keys (moto takes
    # any key; the point is that the two are resolved separately).
    aws = tmp_path / "aws"
    aws.mkdir()
    (aws / "credentials").write_text(
        "[storage]\naws_access_key_id = QPSTORAGEPROFILE0001\n"
        f"aws_secret_access_key = {STORAGE_SECRET}\n"
    )
    shared = {
        "QUAL_PIPELINE_STORAGE": f"s3://{s3_bucket}/team",
        "QUAL_PIPELINE_CATALOG": catalog,
        "QUAL_PIPELINE_STORAGE_PROFILE": "storage",
        "AWS_ENDPOINT_URL_S3": s3_server.endpoint_url,
        "AWS_SHARED_CREDENTIALS_FILE": str(aws / "credentials"),
        "AWS_CONFIG_FILE": str(aws / "config"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": REQUESTER.access_key_id,
        "AWS_SECRET_ACCESS_KEY": REQUESTER.secret_access_key,
        "MTURK_ENDPOINT_URL": mturk.endpoint_url,
        "DAGSTER_POSTGRES_URL": instance.replace("postgresql://", "postgresql+psycopg2://"),
    }
    account = default_account_label(REQUESTER.access_key_id)
    machines = [Machine.new(tmp_path / f"machine{i}") for i in range(1, 5)]
    first, second, third, fourth = machines

    refreshed = first.run(shared, "refresh")
    assert refreshed.returncode == 0, refreshed.stdout + refreshed.stderr
    assert "refresh done: 2 type(s)" in refreshed.stderr

    inputs = tmp_path / "inputs"  # the user's own file, not the machine's state
    inputs.mkdir()
    desired = {f"AW{i:012d}": 200 + i for i in range(CHANGES)}
    (inputs / "desired_scores.csv").write_text(
        "qualification_type_id,worker_id,integer_value\n"
        + "".join(f"{T1},{w},{v}\n" for w, v in desired.items())
    )
    planned = second.run(shared, "plan", "--inputs-dir", str(inputs), "--max-share", "1")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert f"A push would send {CHANGES} change(s)." in planned.stdout

    # The push, slowed down, is killed once some of its changes went out (observed on MTurk).
    push = second.start(shared, "push", "--inputs-dir", str(inputs), "--rate", "8")
    try:
        deadline = time.monotonic() + 60
        while mturk.call_counts()[ASSOCIATE] < 8:
            assert push.poll() is None, push.communicate()
            assert time.monotonic() < deadline, "the push sent nothing"
            time.sleep(0.02)
        push.send_signal(signal.SIGKILL)
        assert push.wait(timeout=30) == -signal.SIGKILL
    finally:
        if push.poll() is None:
            push.kill()
        killed_output = "".join(push.communicate())
    sent_before = mturk.call_counts()[ASSOCIATE]
    assert sent_before < CHANGES
    states = journal_states(catalog, f"qp_sandbox_{account.replace('-', '_')}_journal")
    # The journal in PostgreSQL holds every change; the ones in flight are 'sending': their
    # outcome is unknown, so the resume reads them back before sending any again.
    assert sum(states.values()) == CHANGES and states.get("sending", 0) > 0, states

    # Another machine, without the inputs folder: it finishes the journalled plan.
    resumed = third.run(shared, "push", "--rate", "200")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resumed plan" in resumed.stdout
    assert mturk.call_counts()[ASSOCIATE] == CHANGES  # every change applied once
    assert mturk.notifications() == []

    queried = fourth.run(
        shared,
        "sql",
        "--output",
        "csv",
        "SELECT qualification_type_id, worker_id, status, integer_value "
        "FROM worker_qualifications ORDER BY ALL",
    )
    assert queried.returncode == 0, queried.stdout + queried.stderr
    expected = mturk_rows(mturk)
    assert {(t, w, s, v) for t, w, s, v in expected if w in desired and t == T1} == {
        (T1, w, "Granted", v) for w, v in desired.items()
    }
    assert csv_rows(queried.stdout) == expected
    audit = fourth.run(
        shared,
        "sql",
        "--output",
        "csv",
        "SELECT count(*), count(DISTINCT worker_id) FROM push_audit WHERE status = 'verified'",
    )
    assert audit.stdout.strip().splitlines()[1] == f"{CHANGES},{CHANGES}"

    for machine in machines:
        assert machine.left_behind() == [], machine.root
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=s3_bucket)["Contents"]]
    prefixes = {"/".join(k.split("/")[:4]) for k in keys}
    assert prefixes == {
        f"team/lake/sandbox/{account}",
        f"team/charts/sandbox/{account}",
    } | ({f"team/warehouse/sandbox/{account}"} if any("/warehouse/" in k for k in keys) else set())

    # No secret in any output, object or stored row: the requester's MTurk secret key, the
    # storage profile's secret key, the catalog's and the instance's passwords.
    secrets = (REQUESTER.secret_access_key, STORAGE_SECRET, CATALOG_PASSWORD, INSTANCE_PASSWORD)
    outputs = killed_output + "".join(
        run.stdout + run.stderr for run in (refreshed, planned, resumed, queried, audit)
    )
    s3 = s3_server.client()
    stored = {key: object_text(s3, s3_bucket, key) for key in keys}
    stored["catalog database"] = database_text(catalog)
    stored["Dagster instance database"] = database_text(instance)
    # The search sees what is stored: worker ids inside the lake's Parquet values, and the
    # refresh's runs in the instance database.
    assert any(
        key.endswith(".parquet") and "AW000000000059" in text for key, text in stored.items()
    )
    con = psycopg2.connect(instance)
    try:
        with con.cursor() as cur:
            cur.execute("SELECT count(*) FROM runs WHERE status = 'SUCCESS'")
            assert cur.fetchone()[0] >= 1
    finally:
        con.close()
    for secret in secrets:
        assert secret not in outputs
        assert [where for where, text in stored.items() if secret in text] == [], secret
