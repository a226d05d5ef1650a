"""Configuration mistakes are caught once, up front, through the console script as a user runs it:
one line naming the setting as it was given (option or variable) and the fix, exit 2, no
traceback, and not one request at the local MTurk (its arrivals are counted). An endpoint where
nothing listens is reported within seconds, naming it; a second refresh of one data folder refuses
at once while the first runs on.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support import folders
from support.folders import locked_folder
from support.mturk import make_data, qualification, qualification_type, type_id
from support.prepared import cli_world_data, copy_of, refreshed_folder
from support.stores import warehouse_rows

from qual_pipeline.local_mturk.faults import FaultConfig
from qual_pipeline.mturk_api.errors import NO_CREDENTIALS

T1 = type_id(61)
SCRIPT = Path(sys.executable).with_name("qual-pipeline")
# Beyond the console script's own start (`start_seconds`); the whole command took ~12 s before.
REFUSED_WITHIN_S = 5.0


def run(
    *args: str, env: dict[str, str], prefix: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(prefix or []), str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "COLUMNS": "200"},
        timeout=120,
    )


def one_error_line(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The one line a refused command prints (asserted: its exit code, no traceback)."""
    assert result.returncode == code, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


def start_seconds(env: dict[str, str]) -> float:
    """How long the console script takes here, now, to refuse a command before any connection (a
    malformed endpoint URL, exit 2): Python's and the CLI's start under the machine's current load
    (4 test workers on 2 cores), which each timed command pays too."""
    started = time.monotonic()
    one_error_line(run(*COMMAND_ARGS["score"], "--endpoint-url", "127.0.0.1:1", env=env))
    return time.monotonic() - started


def world_data() -> dict[str, Any]:
    """One type of ours, 5 workers."""
    return make_data(
        types=[qualification_type(T1, "Accuracy")],
        qualifications=[qualification(i, 50 + i, qual_type_id=T1) for i in range(5)],
    )


@pytest.fixture
def mturk(local_mturk: Any, mturk_env: Any) -> tuple[Any, dict[str, str]]:
    server = local_mturk(data=world_data())
    env = mturk_env(server)
    env.pop("DAGSTER_HOME", None)
    return server, env


COMMAND_ARGS = {
    "refresh": ["refresh"],
    "push": ["push"],
    "score": ["score", "--type", T1, "--worker", "AW000000000001"],
}


@pytest.mark.parametrize(
    ("command", "given"), [("refresh", "environment"), ("push", "environment"), ("score", "option")]
)
def test_endpoint_without_scheme(command: str, given: str, mturk: Any, tmp_path: Path) -> None:
    server, env = mturk
    bare = server.endpoint_url.removeprefix("http://")  # 127.0.0.1:PORT: what users type
    args = [*COMMAND_ARGS[command]]
    if command != "score":
        args += ["--data-dir", str(tmp_path / "data")]
    if given == "option":
        args += ["--endpoint-url", bare]
        env = {**env, "MTURK_ENDPOINT_URL": server.endpoint_url}
    else:
        env = {**env, "MTURK_ENDPOINT_URL": bare}
    line = one_error_line(run(*args, env=env))
    named = f"--endpoint-url {bare}" if given == "option" else f"MTURK_ENDPOINT_URL='{bare}'"
    assert line.startswith(f"error: {named} is not a URL MTurk can be reached at"), line
    assert f"e.g. http://{bare}" in line
    assert server.requests_after(0.0) == 0


@pytest.mark.parametrize("command", ["refresh", "push", "plan"])
def test_data_folder_not_writable(command: str, mturk: Any) -> None:
    server, env = mturk
    with locked_folder(readable=True) as (folder, prefix):
        result = run(command, "--data-dir", str(folder), env=env, prefix=prefix)
        assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]  # nothing written
    line = one_error_line(result)
    assert line.startswith(f"error: --data-dir {folder} is not writable (Permission denied): ")
    assert "or point --data-dir at a folder you can write" in line
    assert server.requests_after(0.0) == 0


@pytest.mark.parametrize("command", ["sql", "export"])
def test_data_folder_not_readable(command: str, mturk: Any, tmp_path: Path) -> None:
    _, env = mturk
    args = {"sql": ["sql", "SELECT 1"], "export": ["export", "--website-csv", "/tmp/x.csv"]}
    with locked_folder(readable=False) as (folder, prefix):
        result = run(
            *args[command], env={**env, "QUAL_PIPELINE_DATA_DIR": str(folder)}, prefix=prefix
        )
    line = one_error_line(result)
    assert line.startswith(
        f"error: QUAL_PIPELINE_DATA_DIR={folder} is not readable (Permission denied): "
        f"{command} reads warehouse.duckdb there"
    ), line


@pytest.mark.parametrize("command", list(COMMAND_ARGS))
def test_missing_credentials(command: str, mturk: Any, tmp_path: Path) -> None:
    server, env = mturk
    args = [*COMMAND_ARGS[command]]
    if command != "score":
        args += ["--data-dir", str(tmp_path / "data")]
    without = {k: v for k, v in env.items() if not k.startswith("AWS_ACCESS_KEY_ID")}
    without = {k: v for k, v in without.items() if k != "AWS_SECRET_ACCESS_KEY"}
    child_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_ACCESS", "AWS_SECRET"))
    }
    result = subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env={**child_env, **without, "COLUMNS": "200"},
        timeout=120,
    )
    line = one_error_line(result)
    assert line == f"error: {NO_CREDENTIALS}"
    assert line.startswith(
        "error: no usable AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
        "AWS_PROFILE"
    )
    assert server.requests_after(0.0) == 0


def test_incomplete_credentials_and_unknown_profile(mturk: Any) -> None:
    server, env = mturk
    score = COMMAND_ARGS["score"]
    half = {k: v for k, v in os.environ.items() if k != "AWS_SECRET_ACCESS_KEY"}
    result = subprocess.run(
        [str(SCRIPT), *score],
        capture_output=True,
        text=True,
        env={**half, **{k: v for k, v in env.items() if k != "AWS_SECRET_ACCESS_KEY"}},
        timeout=120,
    )
    line = one_error_line(result)
    assert line.startswith("error: incomplete AWS credentials (")
    assert "missing: AWS_SECRET_ACCESS_KEY" in line
    profile = one_error_line(run(*score, env={**env, "AWS_PROFILE": "nope"}))
    assert profile.startswith("error: AWS_PROFILE='nope' names no profile in the AWS credentials")
    flag = one_error_line(run(*score, "--aws-profile", "nope", env=env))
    assert flag.startswith("error: --aws-profile nope names no profile")
    assert server.requests_after(0.0) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("command", list(COMMAND_ARGS))
def test_nothing_listening_is_reported_within_seconds(
    command: str, mturk: Any, tmp_path: Path
) -> None:
    _, env = mturk
    nowhere = f"http://127.0.0.1:{free_port()}"
    args = [*COMMAND_ARGS[command], "--endpoint-url", nowhere]
    if command != "score":
        args += ["--data-dir", str(tmp_path / "data")]
    start = start_seconds(env)
    started = time.monotonic()
    result = run(*args, env=env)
    seconds = time.monotonic() - started
    line = one_error_line(result, code=1)
    assert line == (
        f"error: cannot connect to MTurk at {nowhere} (--endpoint-url): nothing listens there; "
        "check --endpoint-url (is the local MTurk running? `qual-pipeline local-mturk serve` "
        "prints its URL)"
    )
    assert seconds < start + REFUSED_WITHIN_S, f"took {seconds:.1f} s (its start: {start:.1f} s)"


def test_unknown_host_and_no_answer(mturk: Any, tmp_path: Path) -> None:
    """A host name that does not resolve; a port whose listener never accepts (its queue is full,
    so the kernel drops further connection attempts unanswered): each reported at once."""
    _, env = mturk
    score = COMMAND_ARGS["score"]
    unknown = one_error_line(
        run(*score, env={**env, "MTURK_ENDPOINT_URL": "http://no-such-host.invalid:8443"}), code=1
    )
    assert unknown.startswith(
        "error: cannot connect to MTurk at http://no-such-host.invalid:8443: unknown host ("
    )
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        queued = []
        for _ in range(4):  # fill the accept queue
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(listener.getsockname())
            queued.append(sock)
        time.sleep(0.2)
        try:
            start = start_seconds(env)
            started = time.monotonic()
            silent = one_error_line(
                run(*score, "--connect-timeout", "1", "--endpoint-url", url, env=env), code=1
            )
            seconds = time.monotonic() - started
        finally:
            for sock in queued:
                sock.close()
    assert silent == (
        f"error: cannot connect to MTurk at {url} (--endpoint-url): no answer within 1 s "
        "(MTURK_CONNECT_TIMEOUT); check --endpoint-url (is the local MTurk running? "
        "`qual-pipeline local-mturk serve` prints its URL)"
    )
    assert seconds < start + REFUSED_WITHIN_S, f"took {seconds:.1f} s (its start: {start:.1f} s)"


def test_types_errors_name_the_option_or_the_variable(mturk: Any, tmp_path: Path) -> None:
    server, env = mturk
    data = str(tmp_path / "data")
    flag = one_error_line(run("refresh", "--data-dir", data, "--types", "nope", env=env))
    assert (
        "qualification type 'nope' in --types is malformed" in flag
        and "fix --types or set it to 'owned'" in flag
    )
    assert "QUAL_PIPELINE_TYPES" not in flag
    variable = one_error_line(
        run("refresh", "--data-dir", data, env={**env, "QUAL_PIPELINE_TYPES": "nope"})
    )
    assert "in QUAL_PIPELINE_TYPES is malformed" in variable
    assert server.requests_after(0.0) == 0


def type_names(folder: Path) -> tuple[int, int]:
    """(rows, rows with a type name) of score_distribution, read from the warehouse file (a
    `qual-pipeline sql` child process each was ~1.2 CPU-s; `sql` has tests of its own)."""
    ((rows, named),) = warehouse_rows(
        folder, "SELECT count(*), count(qualification_type_name) FROM score_distribution"
    )
    return int(rows), int(named)


@pytest.mark.slow(15)
def test_type_list_with_no_id_or_only_unknown_ids_keeps_the_warehouse(
    local_mturk: Any, mturk_env: Any, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`,,` (the variable) or `,` (the option) lists no type: refused up front, naming the
    setting and the fix, before any MTurk call; a list of only unknown ids is refused too. Either
    way the warehouse keeps every type's name (it was replaced by none: 5 rows, 0 names).

    The refreshed data folder is a copy of the session's `cli_world` one (support.prepared), with
    a local MTurk of the same world: its own refresh was ~8 CPU-s."""
    made = refreshed_folder(tmp_path_factory, "cli_world", cli_world_data())
    assert made["returncode"] == 0, made["stderr"]
    server = local_mturk(data=cli_world_data())
    env = mturk_env(server)
    env.pop("DAGSTER_HOME", None)
    folder = copy_of(made["data_dir"], tmp_path / "data")
    named = type_names(folder)
    assert named[0] > 0 and named[1] == named[0], named  # every row has its type's name
    variable = one_error_line(
        run("refresh", "--data-dir", str(folder), env={**env, "QUAL_PIPELINE_TYPES": ",,"})
    )
    assert "QUAL_PIPELINE_TYPES=',,' lists no qualification type id" in variable
    assert "leave QUAL_PIPELINE_TYPES out (or set it to 'owned')" in variable
    flag = one_error_line(run("refresh", "--data-dir", str(folder), "--types", ",", env=env))
    assert "--types=',' lists no qualification type id" in flag
    assert "leave --types out" in flag and "QUAL_PIPELINE_TYPES" not in flag
    assert server.requests_after(0.0) == 0  # refused before any MTurk request
    assert type_names(folder) == named
    unknown = one_error_line(
        run("refresh", "--data-dir", str(folder), "--types", type_id(99), env=env)
    )
    assert f"qualification type '{type_id(99)}' in --types does not exist" in unknown
    assert type_names(folder) == named


@pytest.mark.slow(20)
def test_bad_dagster_home_is_one_line_naming_it(mturk: Any, tmp_path: Path) -> None:
    """A relative DAGSTER_HOME, a missing folder, a file or a dagster.yaml Dagster cannot read:
    `refresh` (with or without --retry-failed) and `ui` print one line naming DAGSTER_HOME, what
    is wrong and the fix, exit 2 (it was Dagster's traceback, exit 1), before any MTurk request
    and, for `ui`, before it starts anything."""
    server, env = mturk
    data = str(tmp_path / "data")
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    bad_yaml = tmp_path / "bad-yaml"
    bad_yaml.mkdir()
    (bad_yaml / "dagster.yaml").write_text("run_coordinator: [\n")
    relative = "relative/x"
    cases = {
        relative: f"e.g. DAGSTER_HOME={Path.cwd() / relative}, or unset it for a throw-away one",
        str(tmp_path / "missing"): "does not exist",
        str(a_file): "is a file, not a folder",
        str(bad_yaml): f"cannot be opened (while parsing a flow node, fix {bad_yaml}/dagster.yaml",
    }
    for home, wrong in cases.items():
        line = one_error_line(run("refresh", "--data-dir", data, env={**env, "DAGSTER_HOME": home}))
        assert f"DAGSTER_HOME='{home}'" in line, line
        assert all(part in line for part in wrong.split(", ")), line
    for home in (relative, str(tmp_path / "missing")):
        retry = run(
            "refresh", "--data-dir", data, "--retry-failed", env={**env, "DAGSTER_HOME": home}
        )
        line = one_error_line(retry)
        assert f"DAGSTER_HOME='{home}'" in line
        assert "point it at the folder of the Dagster instance the failed refresh used" in line
    assert server.requests_after(0.0) == 0
    for home, wrong in (("relative/x", "is not an absolute path"), (str(bad_yaml), "cannot be")):
        ui = one_error_line(run("ui", "--port", "0", env={**env, "DAGSTER_HOME": home}))
        assert f"DAGSTER_HOME='{home}'" in ui and wrong in ui, ui
    assert not (Path.cwd() / "relative").exists()


@pytest.mark.slow(18)
def test_fresh_dagster_home_gets_telemetry_off(mturk: Any, tmp_path: Path) -> None:
    """An empty DAGSTER_HOME (no dagster.yaml): Dagster would turn telemetry on and print its
    banner mid-progress; the refresh writes a dagster.yaml with telemetry off, says so once, and
    Dagster prints no banner. A folder that has a dagster.yaml keeps it as it was.

    The dagster.yaml is written (or kept) when the refresh opens the instance, before its first
    MTurk request: after the first whole refresh, the others are refreshes of a type MTurk does
    not have, which stop at MTurk's type check (exit 2) with the instance opened (each whole
    refresh here cost ~8 CPU-s)."""
    _, env = mturk
    unknown = ["--types", type_id(99)]

    def stopped_at_the_type_check(done: subprocess.CompletedProcess[str]) -> None:
        assert done.returncode == 2, done.stderr
        assert f"qualification type '{type_id(99)}' in --types does not exist" in done.stderr
        assert "Traceback" not in done.stderr

    home = tmp_path / "home"
    home.mkdir()
    env = {**env, "DAGSTER_HOME": str(home)}
    first = run("refresh", "--data-dir", str(tmp_path / "data"), env=env)
    assert first.returncode == 0, first.stderr
    assert (
        "Telemetry" not in first.stderr and "No dagster instance configuration" not in first.stderr
    )
    assert (
        f"wrote {home / 'dagster.yaml'}: qual_pipeline's Dagster instance settings" in first.stderr
    )
    assert "telemetry:\n  enabled: false\n" in (home / "dagster.yaml").read_text()
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:  # the run limits of the README
        queue = instance.get_concurrency_config().run_queue_config
        assert queue is not None and queue.max_concurrent_runs == 4
    (home / "dagster.yaml").write_text("# the user's own\n")
    second = run("refresh", "--data-dir", str(tmp_path / "data"), *unknown, env=env)
    stopped_at_the_type_check(second)
    assert "wrote" not in second.stderr
    assert (home / "dagster.yaml").read_text() == "# the user's own\n"
    # An empty (0-byte) dagster.yaml sets nothing: Dagster would turn telemetry on. It is
    # written like a missing one (before: left as it was, and Dagster printed its banner).
    (home / "dagster.yaml").write_bytes(b"")
    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.telemetry_enabled  # what an empty dagster.yaml means to Dagster
    third = run("refresh", "--data-dir", str(tmp_path / "data"), *unknown, env=env)
    stopped_at_the_type_check(third)
    assert "Telemetry" not in third.stderr
    assert (
        f"wrote {home / 'dagster.yaml'}: qual_pipeline's Dagster instance settings" in third.stderr
    )
    assert "(its dagster.yaml set nothing)" in third.stderr
    assert "telemetry:\n  enabled: false\n" in (home / "dagster.yaml").read_text()
    # Whitespace only sets nothing either (it was left as it was: telemetry on, Dagster's banner
    # in the refresh's output).
    (home / "dagster.yaml").write_text("\n  \n")
    fourth = run("refresh", "--data-dir", str(tmp_path / "data"), *unknown, env=env)
    stopped_at_the_type_check(fourth)
    assert "Telemetry" not in fourth.stderr and "(its dagster.yaml set nothing)" in fourth.stderr
    assert "telemetry:\n  enabled: false\n" in (home / "dagster.yaml").read_text()
    # A link to nowhere is the user's mistake, not a missing file: it was replaced by a file.
    (home / "dagster.yaml").unlink()
    (home / "dagster.yaml").symlink_to(tmp_path / "nowhere.yaml")
    fifth = run("refresh", "--data-dir", str(tmp_path / "data"), env=env)
    assert fifth.returncode == 2, fifth.stderr
    assert f"is a link to {tmp_path / 'nowhere.yaml'}, which does not exist" in fifth.stderr
    assert (home / "dagster.yaml").is_symlink() and not (tmp_path / "nowhere.yaml").exists()


def test_a_dagster_home_on_a_full_disk_is_left_without_an_empty_dagster_yaml(
    mturk: Any, tmp_path: Path
) -> None:
    """The telemetry-off dagster.yaml cannot be written on a full disk: one line, exit 2, and no
    empty dagster.yaml left behind (which Dagster would read as its defaults, telemetry on)."""
    _, env = mturk
    with folders.small_disk(tmp_path / "disk") as disk:
        home = disk / "home"
        home.mkdir()
        filler = folders.fill_disk(disk)
        line = one_error_line(
            run(
                "refresh",
                "--data-dir",
                str(tmp_path / "data"),
                env={**env, "DAGSTER_HOME": str(home)},
            )
        )
        assert line == (
            f"error: DAGSTER_HOME='{home}' has no dagster.yaml and it cannot be written there "
            "(No space left on device): create one with `telemetry: {enabled: false}`, or point "
            "DAGSTER_HOME at a folder you can write"
        ), line
        assert list(home.iterdir()) == []
        filler.unlink()


@pytest.mark.slow(44)
def test_second_refresh_of_one_data_folder_refuses_at_once(
    local_mturk: Any, mturk_env: Any, tmp_path: Path
) -> None:
    """The first refresh pages a local MTurk that answers after a second (so it is still running
    when the second starts); the second, pointed at another local MTurk, refuses before sending it
    anything; then the first is let finish and does, normally."""
    data = make_data(
        types=[qualification_type(T1, "Accuracy")],
        qualifications=[qualification(i, 50 + i % 50, qual_type_id=T1) for i in range(300)],
    )
    slow = local_mturk(data=data, faults=FaultConfig(latency_ms=1000))
    other = local_mturk(data=data)
    env = mturk_env(slow)
    env.pop("DAGSTER_HOME", None)
    folder = tmp_path / "data"
    first = subprocess.Popen(
        [str(SCRIPT), "refresh", "--data-dir", str(folder)],
        env={**os.environ, **env, "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while slow.requests_after(0.0) < 1:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first refresh never called MTurk"
            time.sleep(0.02)
        second = run(
            "refresh",
            "--data-dir",
            str(folder),
            env={**env, "MTURK_ENDPOINT_URL": other.endpoint_url},
        )
        still_running = first.poll() is None
        slow.set_faults(FaultConfig())
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    line = one_error_line(second, code=1)
    assert line.startswith(
        f"error: another refresh of {folder} is running (pid {first.pid}, started 20"
    )
    assert "this one stopped before any MTurk request" in line
    assert other.requests_after(0.0) == 0
    assert still_running
    assert first.returncode == 0, out + err
    assert "refresh done: 1 type(s)" in err

    # The lock is free again: a refresh gets past it (taken before any MTurk request) to the
    # type list it checks at MTurk, where an unknown type stops it (exit 2; with the lock held,
    # it is refused as above, exit 1). A whole refresh of the 300 workers here cost ~8 CPU-s.
    again = one_error_line(
        run("refresh", "--data-dir", str(folder), "--types", type_id(99), env=env)
    )
    assert f"qualification type '{type_id(99)}' in --types does not exist" in again, again


def test_connect_timeout_reaches_every_client(mturk: Any) -> None:
    """MTURK_CONNECT_TIMEOUT is each request's connect timeout too: in the CLI's clients and in
    the Dagster resource's."""
    from qual_pipeline import settings
    from qual_pipeline.cli.options import mturk_client
    from qual_pipeline.defs.resources import MTurkResource

    server, _ = mturk
    values = {s.name: s.default for s in settings.SETTINGS}
    values[settings.ENDPOINT_URL.name] = server.endpoint_url
    values[settings.CONNECT_TIMEOUT.name] = 2.5
    assert mturk_client(values).meta.config.connect_timeout == 2.5
    resource = MTurkResource(endpoint_url=server.endpoint_url, connect_timeout_s="1.5")
    assert resource.client().meta.config.connect_timeout == 1.5
    assert server.requests_after(0.0) == 0


@pytest.mark.parametrize("command", ["sql", "refresh"])
def test_catalog_named_as_given(command: str, mturk: Any, tmp_path: Path) -> None:
    server, env = mturk
    args = ["sql", "SELECT 1"] if command == "sql" else ["refresh"]
    args += ["--data-dir", str(tmp_path / "data")]
    flag = one_error_line(
        run(*args, "--storage", "s3://team-bucket/lake", "--catalog", "nope", env=env)
    )
    assert "--catalog is not of the form postgresql://USER@HOST:PORT/DB" in flag
    assert "QUAL_PIPELINE_CATALOG" not in flag
    variable = one_error_line(
        run(
            *args,
            env={
                **env,
                "QUAL_PIPELINE_STORAGE": "s3://team-bucket/lake",
                "QUAL_PIPELINE_CATALOG": "nope",
            },
        )
    )
    assert "QUAL_PIPELINE_CATALOG is not of the form postgresql://USER@HOST:PORT/DB" in variable
    alone = one_error_line(run(*args, "--catalog", "postgresql://me@db:5432/lake", env=env))
    assert "--catalog is set but QUAL_PIPELINE_STORAGE is not" in alone
    assert server.requests_after(0.0) == 0


@pytest.mark.parametrize("command", ["sql", "plan"])
def test_no_warehouse_names_the_data_folder_as_given(command: str, tmp_path: Path) -> None:
    data = tmp_path / "empty"
    data.mkdir()
    args = ["sql", "SELECT 1"] if command == "sql" else ["plan"]
    env = {"QUAL_PIPELINE_INPUTS_DIR": str(tmp_path / "inputs")}
    flag = one_error_line(run(*args, "--data-dir", str(data), env=env), code=1)
    assert f"No warehouse at {data / 'warehouse.duckdb'}" in flag
    assert "point --data-dir at the data directory" in flag
    assert "QUAL_PIPELINE_DATA_DIR" not in flag
    variable = one_error_line(run(*args, env={**env, "QUAL_PIPELINE_DATA_DIR": str(data)}), code=1)
    assert "point QUAL_PIPELINE_DATA_DIR at the data directory" in variable


def test_ignored_check_named_as_given(mturk: Any, tmp_path: Path) -> None:
    server, env = mturk
    data = str(tmp_path / "data")
    flag = one_error_line(run("plan", "--data-dir", data, "--ignore-check", "x", env=env))
    assert "'x' in --ignore-check is not a blocking check: the blocking checks are " in flag
    assert "QUAL_PIPELINE_PUSH_IGNORE_CHECKS" not in flag
    two = one_error_line(
        run("plan", "--data-dir", data, "--ignore-check", "x", "--ignore-check", "y", env=env)
    )
    assert "'x', 'y' in --ignore-check are not blocking checks" in two
    for args in (["plan"], ["push", "--replan"]):
        variable = one_error_line(
            run(*args, "--data-dir", data, env={**env, "QUAL_PIPELINE_PUSH_IGNORE_CHECKS": "x"})
        )
        assert "'x' in QUAL_PIPELINE_PUSH_IGNORE_CHECKS is not a blocking check" in variable
        assert "--ignore-check" not in variable
    assert server.requests_after(0.0) == 0


SHARED = ("s3://team-bucket/lake", "postgresql://me@db:5432/lake")


@pytest.mark.parametrize(
    ("flag", "variable", "bad", "says"),
    [
        (
            "--storage",
            "QUAL_PIPELINE_STORAGE",
            "team-bucket/lake",
            "Storage location 'team-bucket/lake' is not of the form s3://BUCKET/PREFIX",
        ),
        (
            "--account",
            "QUAL_PIPELINE_ACCOUNT",
            "Not A Label!",
            "Requester account label 'Not A Label!' is not valid",
        ),
        (
            "--storage-profile",
            "QUAL_PIPELINE_STORAGE_PROFILE",
            "no-such",
            "Storage profile 'no-such' is not in the AWS config or credentials files",
        ),
    ],
)
def test_shared_settings_named_as_given(
    flag: str, variable: str, bad: str, says: str, mturk: Any, tmp_path: Path
) -> None:
    """A bad storage location, account label or storage profile names the setting as the user
    gave it (QUAL_PIPELINE_STORAGE is not taken for the start of QUAL_PIPELINE_STORAGE_PROFILE)."""
    server, env = mturk
    storage, catalog = SHARED
    given = {"--storage": storage, "--catalog": catalog, "--account": "lab"} | {flag: bad}
    options = [part for item in given.items() for part in item]
    args = ["sql", "SELECT 1", "--data-dir", str(tmp_path / "data")]
    typed = one_error_line(run(*args, *options, env=env))
    assert says in typed and typed.endswith(f"({flag})."), typed
    assert variable not in typed
    variables = {
        "QUAL_PIPELINE_STORAGE": storage,
        "QUAL_PIPELINE_CATALOG": catalog,
        "QUAL_PIPELINE_ACCOUNT": "lab",
    } | {variable: bad}
    from_env = one_error_line(run(*args, env={**env, **variables}))
    assert says in from_env and from_env.endswith(f"({variable})."), from_env
    assert server.requests_after(0.0) == 0


def loaded_types(data: Path) -> list[str]:
    """The types whose workers the warehouse of `data` holds, read from the warehouse file."""
    query = "SELECT DISTINCT qualification_type_id FROM worker_qualifications ORDER BY 1"
    return [t for (t,) in warehouse_rows(data, query)]


@pytest.mark.slow(29)
def test_type_ids_one_a_line_are_a_list(local_mturk: Any, mturk_env: Any, tmp_path: Path) -> None:
    """`--types "$(cat ids.txt)"` (one id a line) and ids separated by spaces are a list, as
    commas are: a malformed id among them is named alone, before any MTurk request (it was named
    with its neighbours, `'<id>\\nbad-id'`, as one malformed id), and a list of good ids
    refreshes exactly those types."""
    t2, t3 = type_id(62), type_id(63)
    server = local_mturk(
        data=make_data(
            types=[qualification_type(t, f"Type {t[-2:]}") for t in (T1, t2, t3)],
            qualifications=[
                qualification(i, 50 + i, qual_type_id=t) for t in (T1, t2, t3) for i in range(3)
            ],
        )
    )
    env = mturk_env(server)
    env.pop("DAGSTER_HOME", None)
    data = tmp_path / "data"
    bad = one_error_line(
        run("refresh", "--data-dir", str(data), "--types", f"{T1}\nbad-id\n", env=env)
    )
    assert "qualification type 'bad-id' in --types is malformed" in bad
    assert server.requests_after(0.0) == 0
    listed = tmp_path / "ids.txt"
    listed.write_text(f"{T1}\n{t2}\r\n")
    done = run(
        "refresh", "--data-dir", str(data), env={**env, "QUAL_PIPELINE_TYPES": listed.read_text()}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert loaded_types(data) == [T1, t2]
    spaced = run("refresh", "--data-dir", str(data), "--types", f" {t3}  {T1}\t", env=env)
    assert spaced.returncode == 0, spaced.stdout + spaced.stderr
    assert loaded_types(data) == [T1, t2, t3]


@pytest.mark.slow(20)
def test_a_blank_types_option_is_refused_and_a_blank_variable_is_unset(
    mturk: Any, tmp_path: Path
) -> None:
    """README's `--types "$(cat ids.txt)"` of an empty or blank file used to refresh every type
    (exit 0): a typed --types with no text is refused (one line naming --types and the fix, exit
    2) before any MTurk request. A blank QUAL_PIPELINE_TYPES is unset, as every variable is:
    every owned type."""
    server, env = mturk
    folder = tmp_path / "data"
    for given in ("", " ", "\n", " \t\r\n"):
        line = one_error_line(run("refresh", "--data-dir", str(folder), "--types", given, env=env))
        assert line == (
            "error: --types is blank: list type ids separated by commas, spaces or line breaks, "
            "or leave --types out to refresh every type you own"
        )
    assert server.requests_after(0.0) == 0
    assert not folder.exists()
    done = run("refresh", "--data-dir", str(folder), env={**env, "QUAL_PIPELINE_TYPES": " \n"})
    assert done.returncode == 0, done.stderr
    assert type_names(folder) == (5, 5)
