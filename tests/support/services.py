"""Real services for the shared-profile tests, on 127.0.0.1: moto's S3 server and PostgreSQL.

Each runs as a child process on a free loopback port, is waited for until it answers, and is stopped
by its pid when its block ends (SIGTERM or PostgreSQL's fast-shutdown SIGINT, then SIGKILL after a
timeout). Nothing is left behind: PostgreSQL's data folder is a temp folder removed at the end.

- `running_s3_server()`: moto's S3 server (`moto[server]`), which enforces `If-None-Match` on
  PutObject and CompleteMultipartUpload and keeps pending multipart uploads listable.
- `running_postgres()`: `initdb` into a temp folder, then `postgres` started directly (so the test
  owns its pid and reaps it), as the `postgres` user when the tests run as root (PostgreSQL refuses
  to run as root), durability off (fsync, synchronous_commit, full_page_writes) for speed.

The fixtures below are registered for every test by tests/conftest.py (`pytest_plugins`). The
servers are session-scoped (each starts once per test session); isolation comes from a fresh bucket
(`s3_bucket`) or database (`postgres_database`) per test. PostgreSQL's advisory locks are scoped to
a database, so lock tests in different databases never see each other's locks.

The S3 credentials here are fake and only valid against moto; never print them.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import psycopg2
import pytest

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
S3_ACCESS_KEY_ID = "QPTESTSTORAGEKEY0001"
S3_SECRET_ACCESS_KEY = "qual-pipeline-test-storage-secret"  # fake, moto accepts any
S3_REGION = "us-east-1"
POSTGRES_USER = "postgres"

_names = itertools.count(1)


class ServiceStartError(RuntimeError):
    """A test service did not start; the message holds the end of its log."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unique_name(prefix: str) -> str:
    """A lower-case name unique within this test session, valid as a bucket or database name."""
    return f"{prefix}-{os.getpid()}-{next(_names)}"


def stop_process(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Stop a child by its pid: `sig`, then SIGKILL if it has not exited after STOP_TIMEOUT_S."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, sig)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait(STOP_TIMEOUT_S)


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------------------------- S3


@dataclass(frozen=True)
class S3Server:
    """moto's S3 server: its endpoint, its pid and how long it took to answer (seconds)."""

    endpoint_url: str
    pid: int
    started_in_s: float

    def env(self) -> dict[str, str]:
        """Variables that point boto3's standard chain (and so the stores) at this server, with
        fake storage credentials and no config files or instance metadata."""
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": S3_REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self) -> Any:
        """A boto3 S3 client with the fake credentials (for the test's own checks)."""
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=S3_REGION,
            aws_access_key_id=S3_ACCESS_KEY_ID,
            aws_secret_access_key=S3_SECRET_ACCESS_KEY,
        )

    def create_bucket(self, name: str | None = None) -> str:
        bucket = name or unique_name("qp-test")
        self.client().create_bucket(Bucket=bucket)
        return bucket


def _wait_http(url: str, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise ServiceStartError(f"{what} exited with {process.returncode}:\n{_log_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                response.read()
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise ServiceStartError(f"{what} did not answer:\n{_log_tail(log)}") from None
            time.sleep(0.02)


@contextlib.contextmanager
def running_s3_server() -> Iterator[S3Server]:
    """moto's S3 server on a free 127.0.0.1 port, stopped by pid when the block ends."""
    log_dir = Path(tempfile.mkdtemp(prefix="qp-moto-"))
    log = log_dir / "moto.log"
    try:
        for attempt in range(3):  # a port taken between free_port() and bind: try another
            port = free_port()
            started = time.perf_counter()
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            try:
                # A bucket listing also loads moto's S3 backend, so the first test call is fast.
                _wait_http(f"http://127.0.0.1:{port}/", process, log, "moto's S3 server")
            except ServiceStartError:
                stop_process(process)
                if attempt == 2:
                    raise
                continue
            server = S3Server(
                f"http://127.0.0.1:{port}", process.pid, time.perf_counter() - started
            )
            try:
                yield server
            finally:
                stop_process(process)
            return
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)


# ------------------------------------------------------------------------------------- PostgreSQL


def postgres_bin_dir() -> Path:
    """The folder of PostgreSQL's server programs (initdb, postgres).

    Debian installs them under /usr/lib/postgresql/<major>/bin, off PATH; the newest major wins.
    Elsewhere they are found on PATH.
    """
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.parent.name)] or [0],
    )
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise ServiceStartError(
        "PostgreSQL's initdb was not found (Debian: /usr/lib/postgresql/*/bin). Run `make test`, "
        "which installs Debian's postgresql package, or install it yourself."
    )


@dataclass(frozen=True)
class PostgresServer:
    """A PostgreSQL server on 127.0.0.1: superuser `postgres`, trust authentication (tests only)."""

    host: str
    port: int
    pid: int
    started_in_s: float  # initdb plus start, until it accepts connections
    databases: list[str] = field(default_factory=list, compare=False)

    def dsn(self, database: str = "postgres") -> str:
        """A libpq URI, the form QUAL_PIPELINE_CATALOG takes: postgresql://USER@HOST:PORT/DB."""
        return f"postgresql://{POSTGRES_USER}@{self.host}:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> Any:
        """A psycopg2 connection in autocommit mode."""
        con = psycopg2.connect(self.dsn(database), connect_timeout=5)
        con.autocommit = True
        return con

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its DSN."""
        database = (name or unique_name("qp_test")).replace("-", "_")
        con = self.connect()
        try:
            with con.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{database}" STRATEGY FILE_COPY')
        finally:
            con.close()
        self.databases.append(database)
        return self.dsn(database)


def _run_as_postgres() -> dict[str, Any]:
    """Popen arguments that run a child as the `postgres` user when the tests run as root."""
    if os.geteuid() != 0:
        return {}
    try:
        account = pwd.getpwnam(POSTGRES_USER)
    except KeyError:
        raise ServiceStartError(
            "The tests run as root and PostgreSQL refuses to: the `postgres` user is missing "
            "(Debian's postgresql package creates it; run `make test`)."
        ) from None
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """initdb into a temp folder and start `postgres` on a free port; stopped by pid (fast
    shutdown) and the folder removed when the block ends."""
    bin_dir = postgres_bin_dir()
    as_postgres = _run_as_postgres()
    # Under /tmp itself, not pytest's 0700 tmp folders, so the postgres user can reach it.
    root = Path(tempfile.mkdtemp(prefix="qp-postgres-"))
    if as_postgres:
        os.chown(root, as_postgres["user"], as_postgres["group"])
    log = root / "postgres.log"
    try:
        started = time.perf_counter()
        with log.open("wb") as out:
            if as_postgres:
                os.chown(log, as_postgres["user"], as_postgres["group"])
            initdb = subprocess.run(
                [
                    str(bin_dir / "initdb"),
                    "--pgdata",
                    str(root / "data"),
                    "--username",
                    POSTGRES_USER,
                    "--auth",
                    "trust",
                    "--encoding",
                    "UTF8",
                    "--no-locale",
                    "--no-sync",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=root,
                check=False,
                **as_postgres,
            )
        if initdb.returncode != 0:
            raise ServiceStartError(f"initdb failed ({initdb.returncode}):\n{_log_tail(log)}")
        for attempt in range(3):  # a port taken between free_port() and bind: try another
            port = free_port()
            with log.open("ab") as out:
                process = subprocess.Popen(
                    [
                        str(bin_dir / "postgres"),
                        "-D",
                        str(root / "data"),
                        "-h",
                        "127.0.0.1",
                        "-p",
                        str(port),
                        "-k",
                        str(root),
                        "-c",
                        "fsync=off",
                        "-c",
                        "synchronous_commit=off",
                        "-c",
                        "full_page_writes=off",
                        "-c",
                        "max_connections=200",
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=root,
                    **as_postgres,
                )
            server = PostgresServer("127.0.0.1", port, process.pid, 0.0)
            try:
                _wait_postgres(server, process, log)
            except ServiceStartError:
                stop_process(process, signal.SIGINT)
                if attempt == 2:
                    raise
                continue
            server = PostgresServer("127.0.0.1", port, process.pid, time.perf_counter() - started)
            try:
                yield server
            finally:
                stop_process(process, signal.SIGINT)  # PostgreSQL's fast shutdown
            return
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _wait_postgres(server: PostgresServer, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise ServiceStartError(f"postgres exited with {process.returncode}:\n{_log_tail(log)}")
        try:
            server.connect().close()
            return
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise ServiceStartError(f"postgres did not answer:\n{_log_tail(log)}") from None
            time.sleep(0.02)


# --------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server, started once per test session."""
    with running_s3_server() as server:
        yield server


@pytest.fixture
def s3_bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on moto, with boto3's standard chain pointed at moto for this test."""
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    return s3_server.create_bucket()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server, started once per test session."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> str:
    """The DSN of a fresh, empty database on the session's PostgreSQL server."""
    return postgres_server.create_database()
