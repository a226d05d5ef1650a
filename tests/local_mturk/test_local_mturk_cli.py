"""The `serve` and `generate` commands as processes, and the real AWS CLI against the server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.mturk import TYPE_ID, mturk_client, worker_id, workers_data

AWS = Path(sys.executable).parent / "aws"
CLI = [sys.executable, "-c", "from qual_pipeline.cli.local_mturk import app; app()"]
QP = str(Path(sys.executable).with_name("qual-pipeline"))


def test_serve_prints_url_serves_and_stops_on_sigterm(tmp_path):
    data = tmp_path / "data.json"
    data.write_text(json.dumps(workers_data(15)))
    server = subprocess.Popen(
        [*CLI, "serve", "--port", "0", "--data", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        client = mturk_client(url)
        page = client.list_workers_with_qualification_type(QualificationTypeId=TYPE_ID)
        assert page["NumResults"] == 10
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=10)
    assert server.returncode == 0
    assert "loaded" in err and "15 qualifications" in err


def test_serve_rejects_a_broken_data_file(tmp_path):
    data = tmp_path / "broken.json"
    data.write_text('{"qualifications": [ {"WorkerId": ')
    result = subprocess.run(
        [*CLI, "serve", "--data", str(data)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert str(data) in result.stderr and "not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_names_a_folder_given_as_data(tmp_path):
    """A folder is not 'no such file' (what serve said before): it exists, and is the wrong
    kind of thing."""
    result = subprocess.run(
        [*CLI, "serve", "--data", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: --data {tmp_path}: is a folder; name the JSON seed data file in it"
    )


def test_serve_rejects_fault_rates_over_one():
    result = subprocess.run(
        [*CLI, "serve", "--throttle-rate", "0.7", "--fault-rate", "0.7"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "must not exceed 1" in result.stderr


def test_generate_command(tmp_path):
    out = tmp_path / "gen.json"
    result = subprocess.run(
        [*CLI, "generate", "--workers", "50", "--types", "2", "--seed", "1", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "qualifications" in result.stdout
    data = json.loads(out.read_text())
    assert len(data["qualification_types"]) == 2
    # Ready export lines for the data set's requester; the secret is read from the file when
    # they run, never printed.
    requester = data["requesters"][0]
    assert requester["SecretAccessKey"] not in result.stdout + result.stderr
    assert f"keys are in {out}" in result.stdout
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    script = "\n".join(line for line in lines if line.startswith(("export ", "# then")))
    shell = subprocess.run(
        ["bash", "-c", f"{script}\nenv"], capture_output=True, text=True, timeout=60
    )
    assert shell.returncode == 0, shell.stderr
    env = dict(line.split("=", 1) for line in shell.stdout.splitlines() if "=" in line)
    assert env["AWS_ACCESS_KEY_ID"] == requester["AccessKeyId"]
    assert env["AWS_SECRET_ACCESS_KEY"] == requester["SecretAccessKey"]
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_stopped_generate_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path, sig, code):
    """A stop mid-write leaves the data set that was there byte for byte, and no temporary file."""
    out = tmp_path / "keep.json"
    made = subprocess.run(
        [QP, "local-mturk", "generate", "--workers", "100", "--types", "2", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    before = out.read_bytes()
    big = subprocess.Popen(
        [QP, "local-mturk", "generate", "--workers", "2000000", "--types", "5", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        # Stop it once the temporary file has grown past 1 MB: mid-write for certain.
        while time.monotonic() < deadline:
            partials = [p for p in tmp_path.iterdir() if p.name != out.name]
            if partials and partials[0].stat().st_size > 1_000_000:
                break
            time.sleep(0.05)
        else:
            pytest.fail("generate wrote no temporary file within 60 s")
        big.send_signal(sig)
        _, err = big.communicate(timeout=30)
    finally:
        if big.poll() is None:
            big.kill()
            big.wait()
    assert big.returncode == code, err
    assert err.strip().splitlines() == [
        f"interrupted ({sig.name}): no data set was written; {out} is as it was"
    ]
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def _aws(*args: str) -> dict:
    result = subprocess.run(
        [str(AWS), "mturk", *args, "--output", "json"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_aws_cli_pages_and_reads_scores(local_mturk, mturk_env, tmp_path, monkeypatch):
    mturk = local_mturk(workers_data(130))
    mturk_env(mturk)
    monkeypatch.setenv("HOME", str(tmp_path))
    listed = _aws(
        "list-workers-with-qualification-type",
        "--qualification-type-id",
        TYPE_ID,
        "--status",
        "Granted",
        "--endpoint-url",
        mturk.endpoint_url,
    )
    workers = [q["WorkerId"] for q in listed["Qualifications"]]
    assert sorted(workers) == sorted(worker_id(i) for i in range(130))
    # Auto-pagination with the server's default page size of 10.
    assert mturk.call_counts()["ListWorkersWithQualificationType"] == 13

    score = _aws(
        "get-qualification-score",
        "--qualification-type-id",
        TYPE_ID,
        "--worker-id",
        worker_id(42),
        "--endpoint-url",
        mturk.endpoint_url,
    )
    assert score["Qualification"]["IntegerValue"] == 42
    assert score["Qualification"]["Status"] == "Granted"


def test_serve_rejects_an_unusable_state_path(tmp_path):
    state = tmp_path / "missing-dir" / "state.sqlite"
    result = subprocess.run(
        [*CLI, "serve", "--state", str(state)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "--state" in result.stderr and "Traceback" not in result.stderr
