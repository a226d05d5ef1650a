"""`qual-pipeline push` in a child process, killed with SIGKILL at a moment seen from outside.

The child is the user's command as it ships (`python -m qual_pipeline.cli push ...`): nothing in
the product knows it is being watched. It reaches the local MTurk through `MTurkRelay`, a small
HTTP relay in the test process that forwards every request and answer unchanged (SigV4 signs the
Host header the client sent, which the relay keeps) and may stop one instead. Together with the
child's push journal (SQLite, readable from the test) and the warehouse file (which the test can
hold, as any reader can), a kill point names an observable moment:

- `before_send:N`: the first change call (Associate, Disassociate, Accept, Reject) of the N-th
  batch this run journalled as 'sending' reaches the relay; the child is killed before it is
  forwarded, so the batch is in flight in the journal and none of its calls reached MTurk.
- `after_call:N`: MTurk has applied the N-th change call of this run; the child is killed before
  the answer reaches it (the change landed, the journal still says 'sending').
- `before_read_back:N`: the first read-back (GetQualificationScore, ListQualificationRequests)
  of the N-th batch this run journalled as 'sent' reaches the relay; killed before it is forwarded.
- `before_audit:N`: the N-th such batch is read back while the test holds the warehouse file; the
  child journals the outcomes, then waits for the file to copy them to push_audit, and is killed
  once the journal shows the batch's outcomes (verified in the journal, not in the warehouse).

Each run gets a fresh kill point; whatever reaches the relay once the child is killed is dropped.
"""

from __future__ import annotations

import http.client
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb

from qual_pipeline.lake.layout import warehouse_path
from qual_pipeline.stores.journal import JOURNAL_NAME

REPO = Path(__file__).resolve().parents[2]
CHANGE_CALLS = frozenset(
    {
        "AssociateQualificationWithWorker",
        "DisassociateQualificationFromWorker",
        "AcceptQualificationRequest",
        "RejectQualificationRequest",
    }
)
READ_BACKS = frozenset({"GetQualificationScore", "ListQualificationRequests"})
WINDOWS = {
    "before_send": "SELECT count(*) FROM changes WHERE state = 'sending'",
    "after_call": "SELECT count(*) FROM changes WHERE state = 'sending'",
    "before_read_back": "SELECT count(*) FROM changes WHERE state = 'sent'",
    "before_audit": "SELECT count(*) FROM attempts WHERE recorded = 0 "
    "AND status NOT IN ('sending', 'sent')",
}
"""Each kill point, and what the journal holds once a child is killed there (asserted): changes
in flight, changes sent and not read back, or outcomes journalled and not yet in push_audit."""
KILL_POINTS = tuple(WINDOWS)
RUN_TIMEOUT_S = 60.0


def push_command(args: list[str]) -> list[str]:
    """The child's command line: the product's CLI, exactly as `qual-pipeline <args>`."""
    return [sys.executable, "-m", "qual_pipeline.cli", *args]


def run_push_process(
    args: list[str], env: dict[str, str], cwd: Path = REPO, timeout: float = RUN_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """`qual-pipeline <args>` in a child process, to its end."""
    return subprocess.run(
        push_command(args),
        env={**os.environ, **env, "COLUMNS": "200"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class KillPoint:
    """One run's kill point (`name:N`, see the module) and what it has seen so far."""

    def __init__(self, spec: str, data_dir: Path, started_at: str) -> None:
        name, _, count = spec.partition(":")
        if name not in KILL_POINTS:
            raise ValueError(f"unknown kill point {name!r}; use one of {', '.join(KILL_POINTS)}")
        self.name = name
        self.n = int(count or "1")
        self.journal = data_dir / JOURNAL_NAME
        self.warehouse = warehouse_path(data_dir)
        self.started_at = started_at
        self.calls_applied = 0
        self.sent_batches: list[frozenset[int]] = []
        self.held: duckdb.DuckDBPyConnection | None = None
        self.awaited: frozenset[int] = frozenset()

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        db = sqlite3.connect(self.journal, timeout=10)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    def _batches_sending(self) -> int:
        """Batches this run journalled as 'sending' (each is one transaction with one time)."""
        ((count,),) = self._query(
            "SELECT count(DISTINCT attempted_at) FROM attempts WHERE attempted_at >= ?",
            (self.started_at,),
        )
        return int(count)

    def _sent_batch(self) -> int | None:
        """When the journal holds changes in 'sent' (a batch waiting for its read-back): that
        batch's number in this run, counting each distinct set once; else None."""
        sent = frozenset(s for (s,) in self._query("SELECT seq FROM changes WHERE state = 'sent'"))
        if not sent:
            return None
        if sent not in self.sent_batches:
            self.sent_batches.append(sent)
        return self.sent_batches.index(sent) + 1

    def on_request(self, operation: str) -> bool:
        """Whether to kill the child now, before `operation` is forwarded."""
        if self.name == "before_send" and operation in CHANGE_CALLS:
            return self._batches_sending() >= self.n
        if self.name in ("before_read_back", "before_audit") and operation in READ_BACKS:
            batch = self._sent_batch()
            if batch != self.n:
                return False
            if self.name == "before_read_back":
                return True
            if self.held is None:  # from here on the child cannot write the warehouse
                self.held = duckdb.connect(str(self.warehouse), read_only=True)
                self.awaited = self.sent_batches[-1]
        return False

    def on_answer(self, operation: str, status: int) -> bool:
        """Whether to kill the child now, before the answer to `operation` reaches it."""
        if self.name == "after_call" and operation in CHANGE_CALLS and status == 200:
            self.calls_applied += 1
            return self.calls_applied >= self.n
        return False

    def on_poll(self) -> bool:
        """Whether to kill the child now (checked while it runs): for before_audit, once the
        batch read back under the held warehouse has left 'sent' in the journal."""
        if self.name != "before_audit" or self.held is None:
            return False
        marks = ", ".join("?" for _ in self.awaited)
        rows = self._query(
            f"SELECT count(*) FROM changes WHERE state = 'sent' AND seq IN ({marks})",
            tuple(self.awaited),
        )
        return rows[0][0] == 0

    def in_window(self) -> bool:
        """Whether the journal, after the kill, is in the state this kill point stands for."""
        return self._query(WINDOWS[self.name])[0][0] > 0

    def release(self) -> None:
        if self.held is not None:
            self.held.close()
            self.held = None


class _Child:
    """The watched child process and the one decision to kill it."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.killed = False
        self.lock = threading.Lock()

    def kill(self) -> None:
        if not self.killed and self.process is not None:
            self.killed = True
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


class MTurkRelay:
    """An HTTP relay on 127.0.0.1 between a child push and the local MTurk at `upstream`."""

    def __init__(self, upstream: str) -> None:
        target = urlsplit(upstream)
        self.upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self.point: KillPoint | None = None
        self.child: _Child | None = None
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:  # quiet: the test reads the child's output
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                operation = (self.headers.get("X-Amz-Target") or "").rpartition(".")[2]
                watched = relay.child, relay.point  # the run this request belongs to
                if relay.decide(*watched, lambda p: p.on_request(operation)):
                    self.close_connection = True
                    return
                status, headers, answer = relay.forward(self.path, dict(self.headers), body)
                if relay.decide(*watched, lambda p: p.on_answer(operation, status)):
                    self.close_connection = True
                    return
                self.send_response_only(status)
                for name, value in headers:
                    if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @staticmethod
    def decide(
        child: _Child | None, point: KillPoint | None, should_kill: Callable[[KillPoint], bool]
    ) -> bool:
        """True when the child is (now) killed: the request or answer at hand is dropped."""
        if child is None or point is None:
            return False
        with child.lock:
            if not child.killed and should_kill(point):
                child.kill()
            return child.killed

    def forward(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=RUN_TIMEOUT_S)
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def run_killed(
        self, args: list[str], env: dict[str, str], spec: str, data_dir: Path
    ) -> subprocess.CompletedProcess[str]:
        """Run `qual-pipeline <args>` through this relay, killed at `spec`; its result (a
        return code of -SIGKILL when the kill point was reached)."""
        started_at = datetime.now(UTC).isoformat(timespec="microseconds")
        point = KillPoint(spec, data_dir, started_at)
        child_env = {**os.environ, **env, "COLUMNS": "200", "MTURK_ENDPOINT_URL": self.endpoint_url}
        with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
            child = _Child()
            self.point, self.child = point, child  # before the child can send anything
            child.process = process = subprocess.Popen(
                push_command(args), env=child_env, cwd=REPO, stdout=stdout, stderr=stderr
            )
            deadline = time.monotonic() + RUN_TIMEOUT_S
            try:
                while process.poll() is None:
                    with child.lock:
                        if not child.killed and point.on_poll():
                            child.kill()
                    if time.monotonic() > deadline:
                        child.kill()
                        raise AssertionError(f"push with kill point {spec} ran over its timeout")
                    time.sleep(0.01)
            finally:
                with child.lock:
                    self.point = self.child = None
                point.release()
            if child.killed:
                assert point.in_window(), f"killed at {spec}, but the journal is not in its window"
            stdout.seek(0)
            stderr.seek(0)
            return subprocess.CompletedProcess(
                process.args,
                process.returncode,
                stdout.read().decode(),
                stderr.read().decode(),
            )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def kill_then_resume(
    mturk: Any, data_dir: Path, args: list[str], env: dict[str, str], kills: list[str]
) -> subprocess.CompletedProcess[str]:
    """Run `qual-pipeline <args>` once per kill point (see the module), each killed with SIGKILL
    there (asserted), then once to the end against `mturk` directly; the last run's result."""
    relay = MTurkRelay(mturk.endpoint_url)
    try:
        for spec in kills:
            killed = relay.run_killed(args, env, spec, data_dir)
            assert killed.returncode == -signal.SIGKILL, (
                f"not killed at {spec}:\n{killed.stdout}{killed.stderr}"
            )
    finally:
        relay.close()
    return run_push_process(args, env)
