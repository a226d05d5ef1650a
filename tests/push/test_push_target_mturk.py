"""A warehouse records the MTurk it was refreshed from, and `plan` and `push` refuse another.

A newcomer refreshed from a local MTurk (environment sandbox) and planned with `--environment
production`: the plan was saved as pushable, so sandbox-derived scores could reach production.
Now each refresh records its environment and endpoint (never credentials) in warehouse_loads, and
a plan for another environment, or a push to another environment or endpoint, is refused with
exit 2 and one message naming both and the fix, before anything is planned or sent.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from push_helpers import write_desired
from support.mturk import make_data, qualification, qualification_type, type_id, worker_id

SCRIPT = Path(sys.executable).with_name("qual-pipeline")
T1 = type_id(61)
W = [worker_id(i) for i in range(6)]
ASSOCIATE = "AssociateQualificationWithWorker"


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "COLUMNS": "200"},
        timeout=180,
    )


@pytest.fixture
def refreshed(local_mturk: Any, mturk_env: Any, tmp_path: Path) -> dict[str, Any]:
    """A warehouse refreshed through the console script from a local MTurk, sandbox."""
    data = make_data(
        types=[qualification_type(T1, "Accuracy")],
        qualifications=[qualification(w, 10 + i, qual_type_id=T1) for i, w in enumerate(W)],
    )
    mturk = local_mturk(data=data)
    env = mturk_env(mturk)
    env.pop("DAGSTER_HOME", None)
    env["MTURK_ENVIRONMENT"] = "sandbox"
    data_dir = tmp_path / "data"
    done = run(env, "refresh", "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    write_desired(tmp_path / "inputs", [(T1, W[0], 99)])
    common = ["--data-dir", str(data_dir), "--inputs-dir", str(tmp_path / "inputs")]
    return {
        "mturk": mturk,
        "env": env,
        "common": common,
        "data": data_dir,
        "second": lambda: local_mturk(data=data),
    }


@pytest.mark.slow(30)
def test_plan_and_push_refuse_another_mturk_than_the_refreshed_one(
    refreshed: dict[str, Any],
) -> None:
    mturk, env, common = refreshed["mturk"], refreshed["env"], refreshed["common"]
    endpoint = env["MTURK_ENDPOINT_URL"]

    recorded = run(
        env,
        "sql",
        "SELECT mturk_environment, mturk_endpoint FROM warehouse_loads",
        "--data-dir",
        str(refreshed["data"]),
        "--output",
        "csv",
    )
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.splitlines()[1] == f"sandbox,{endpoint}"

    # plan for production on a sandbox warehouse: refused, nothing saved
    plan = run(env, "plan", *common, "--environment", "production")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    message = plan.stderr
    assert "refreshed from MTurk sandbox" in message and "targets production" in message
    assert "--environment sandbox" in message and "another --data-dir" in message
    assert "Traceback" not in message and "Saved as plan" not in plan.stdout
    assert env["AWS_SECRET_ACCESS_KEY"] not in message

    # push --replan to production (even through the same local endpoint): refused
    push = run(
        env,
        "push",
        *common,
        "--replan",
        "--max-share",
        "1",
        "--environment",
        "production",
        "--allow-production",
    )
    assert push.returncode == 2, push.stdout + push.stderr
    assert f"refreshed from MTurk sandbox ({endpoint})" in push.stderr
    assert "targets production" in push.stderr

    # a saved sandbox plan pushed to another endpoint (another local MTurk): refused before any
    # call to either
    saved = run(env, "plan", *common, "--max-share", "1")
    assert saved.returncode == 0, saved.stdout + saved.stderr
    second = refreshed["second"]()
    elsewhere = {**env, "MTURK_ENDPOINT_URL": second.endpoint_url}
    other = run(elsewhere, "push", *common)
    assert other.returncode == 2, other.stdout + other.stderr
    assert f"refreshed from MTurk sandbox ({endpoint})" in other.stderr
    assert f"targets sandbox ({second.endpoint_url})" in other.stderr
    assert f"--endpoint-url {endpoint}" in other.stderr
    assert mturk.call_counts().get(ASSOCIATE, 0) == 0
    assert second.call_counts().get(ASSOCIATE, 0) == 0

    # the MTurk it was refreshed from: pushed
    same = run(env, "push", *common)
    assert same.returncode == 0, same.stdout + same.stderr
    assert mturk.call_counts()[ASSOCIATE] == 1


@pytest.mark.slow(30)
def test_push_to_the_same_mturk_restarted_elsewhere_names_a_refresh_of_this_folder(
    refreshed: dict[str, Any],
) -> None:
    """The local MTurk restarted on another port: the refusal names a plain refresh of this data
    folder from the new endpoint, and following it (refresh, plan, push) lands the change."""
    env, common, data = refreshed["env"], refreshed["common"], refreshed["data"]
    old = env["MTURK_ENDPOINT_URL"]
    saved = run(env, "plan", *common, "--max-share", "1")
    assert saved.returncode == 0, saved.stdout + saved.stderr
    restarted = refreshed["second"]()
    new = {**env, "MTURK_ENDPOINT_URL": restarted.endpoint_url}

    refused = run(new, "push", *common)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    message = " ".join(refused.stderr.split())
    assert f"qual-pipeline refresh --endpoint-url {restarted.endpoint_url}" in message, message
    assert "into the same --data-dir" in message, message
    assert f"--endpoint-url {old}" in message and "into another --data-dir" in message
    assert "--account" not in message and "Traceback" not in message

    assert run(new, "refresh", "--data-dir", str(data)).returncode == 0
    assert run(new, "plan", *common, "--max-share", "1").returncode == 0
    pushed = run(new, "push", *common)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert restarted.call_counts()[ASSOCIATE] == 1
    assert refreshed["mturk"].call_counts().get(ASSOCIATE, 0) == 0


@pytest.mark.slow(40)
def test_shared_profile_refusal_names_account_and_storage(
    local_mturk: Any, s3_server: Any, s3_bucket: str, postgres_server: Any, tmp_path: Path
) -> None:
    """In the shared profile there is no --data-dir: another data folder is another --account or
    --storage, and the refresh that records the new endpoint is one with the same ones."""
    from support.mturk import REGION, REQUESTER
    from support.shared import clean_environ

    data = make_data(
        types=[qualification_type(T1, "Accuracy")],
        qualifications=[qualification(w, 10 + i, qual_type_id=T1) for i, w in enumerate(W)],
    )
    first, second = local_mturk(data=data), local_mturk(data=data)
    for folder in ("home", "tmp", "dagster_home"):
        (tmp_path / folder).mkdir()
    shared = {
        **clean_environ(),
        "QUAL_PIPELINE_STORAGE": f"s3://{s3_bucket}/team",
        "QUAL_PIPELINE_CATALOG": postgres_server.create_database(),
        **s3_server.env(),
        "AWS_ENDPOINT_URL_S3": s3_server.endpoint_url,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": REQUESTER.access_key_id,
        "AWS_SECRET_ACCESS_KEY": REQUESTER.secret_access_key,
        "MTURK_ENVIRONMENT": "sandbox",
        "MTURK_ENDPOINT_URL": first.endpoint_url,
        "HOME": str(tmp_path / "home"),
        "TMPDIR": str(tmp_path / "tmp"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    write_desired(tmp_path / "inputs", [(T1, W[0], 99)])
    inputs = ["--inputs-dir", str(tmp_path / "inputs")]
    assert run(shared, "refresh").returncode == 0
    assert run(shared, "plan", *inputs, "--max-share", "1").returncode == 0
    elsewhere = {**shared, "MTURK_ENDPOINT_URL": second.endpoint_url}
    refused = run(elsewhere, "push", *inputs)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    message = " ".join(refused.stderr.split())
    assert "--data-dir" not in message, message
    assert "with the same --storage and --account" in message, message
    assert "another --account (QUAL_PIPELINE_ACCOUNT) or --storage" in message, message
    assert f"qual-pipeline refresh --endpoint-url {second.endpoint_url}" in message, message
    assert second.call_counts().get(ASSOCIATE, 0) == 0


@pytest.mark.slow(20)
def test_push_to_an_unreachable_other_mturk_is_refused_as_the_wrong_mturk_first(
    refreshed: dict[str, Any],
) -> None:
    """After a refresh from a local MTurk (as the demo does), a push whose endpoint is another
    one, which cannot be reached (MTURK_ENDPOINT_URL unset: the real sandbox; or a port where
    nothing listens), is refused as the wrong MTurk (exit 2, read from the warehouse, no network)
    rather than as an endpoint that cannot be connected to (exit 1)."""
    env, common = refreshed["env"], refreshed["common"]
    endpoint = env["MTURK_ENDPOINT_URL"]
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{free.getsockname()[1]}"
    unset = {k: v for k, v in env.items() if k != "MTURK_ENDPOINT_URL"}
    for where in ({**env, "MTURK_ENDPOINT_URL": dead}, unset):
        pushed = subprocess.run(
            [str(SCRIPT), "push", *common],
            capture_output=True,
            text=True,
            env={**{k: v for k, v in os.environ.items() if k != "MTURK_ENDPOINT_URL"}, **where},
            timeout=180,
        )
        assert pushed.returncode == 2, pushed.stdout + pushed.stderr
        assert f"refreshed from MTurk sandbox ({endpoint})" in pushed.stderr, pushed.stderr
        assert f"--endpoint-url {endpoint}" in pushed.stderr
        assert "cannot connect" not in pushed.stderr
