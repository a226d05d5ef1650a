"""The local MTurk's HTTP server and its stable Python API.

    from qual_pipeline.local_mturk.server import LocalMTurk, FaultConfig
    with LocalMTurk(data=..., state_path=None, faults=FaultConfig(), port=0) as mturk:
        client = boto3.client("mturk", endpoint_url=mturk.endpoint_url, region_name="us-east-1")

AWS JSON 1.1 over HTTP/1.1 keep-alive on 127.0.0.1 only. Each answer leaves in one write with
TCP_NODELAY set, so a client never waits on a delayed ACK between headers and body.

Whatever a client sends, the answer is an AWS-style JSON error with a 4xx status or a success:
never a 5xx (except injected `ServiceFault`s) and never a traceback. Bodies come with
Content-Length or chunked; any method is answered (only POST reaches an operation); a connection
idle for `client_timeout` seconds is closed, and a request must arrive whole within
`client_timeout` seconds of its first byte (else HTTP 408), so no client holds a thread for long.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from qual_pipeline.local_mturk import DEFAULT_CLIENT_TIMEOUT, auth, model, seed
from qual_pipeline.local_mturk.errors import (
    ApiError,
    request_error,
    request_timeout,
    serialization,
    service_fault,
    throttling,
)
from qual_pipeline.local_mturk.faults import Fault, FaultConfig, FaultInjector
from qual_pipeline.local_mturk.operations import OPERATIONS, new_id
from qual_pipeline.local_mturk.store import DEFAULT_BALANCE, Store

__all__ = ["DEFAULT_CLIENT_TIMEOUT", "Admin", "FaultConfig", "LocalMTurk"]

HOST = "127.0.0.1"
CONTENT_TYPE = "application/x-amz-json-1.1"
_REASONS = {
    200: "OK",
    400: "Bad Request",
    408: "Request Timeout",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}
_RESET = object()
MAX_BODY = 1 << 20  # far above any MTurk request (NotifyWorkers: 100 ids, 4,096-char text)
MAX_DEPTH = 100  # JSON nesting; MTurk's inputs nest 3 levels at most
MAX_LINE = 65536  # request line and each header line, in bytes
LINGER_SECONDS = 2.0  # after an early answer, how long unread input is drained before closing
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,8}")
_DIGITS = re.compile(r"[0-9]{1,18}")
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Service:
    """Turns one HTTP request into one answer: auth, faults, validation, operation."""

    def __init__(self, store: Store, faults: FaultInjector) -> None:
        self.store = store
        self.faults = faults
        self.counts: Counter[str] = Counter()
        self.counts_lock = threading.Lock()
        self.arrivals: list[float] = []
        """time.monotonic() of every request's arrival, faulted ones included."""
        self.prefix = model.target_prefix() + "."

    def answer(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, bytes] | object:
        with self.counts_lock:
            self.arrivals.append(time.monotonic())
        self.faults.delay()
        try:
            return 200, self._dispatch(method, path, headers, body)
        except ApiError as error:
            if error.error_type == "_reset":
                return _RESET
            return error.status, _encode(error.body())
        except Exception:
            # A bug of the local MTurk, never a client's mistake: report it as MTurk would.
            traceback.print_exc(file=sys.stderr)
            return 500, _encode(service_fault().body())

    def _dispatch(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> bytes:
        caller = auth.authenticate(
            auth.SignedRequest(method, path, headers, body), self.store.secret_for
        )
        target = headers.get("x-amz-target") or ""
        name = target[len(self.prefix) :] if target.startswith(self.prefix) else ""
        op_model = model.operation(name) if name else None
        if method != "POST" or op_model is None or not path.startswith("/"):
            shown = target if len(target) <= 100 else target[:100] + "..."
            raise ApiError(
                "UnknownOperationException",
                f"Unknown operation {shown!r} ({method} {path[:100]}): send POST / with "
                f"X-Amz-Target: {self.prefix}<Operation>, an operation of the MTurk Requester API.",
            )
        fault = self.faults.draw(caller)
        if fault is Fault.RESET:
            raise ApiError("_reset", "")
        if fault is Fault.THROTTLE:
            raise throttling()
        if fault is Fault.SERVICE_FAULT:
            raise service_fault()
        implementation = OPERATIONS.get(name)
        if implementation is None:
            raise request_error(
                f"The local MTurk does not implement {name}; it serves the qualification "
                f"operations only: {', '.join(sorted(OPERATIONS))}.",
                "OperationNotImplemented",
            )
        params = _parse(body)
        if self.faults.fails(params):
            raise service_fault()
        model.validate_input(op_model, params)
        members = op_model.input_shape.members if op_model.input_shape else {}
        # AWS ignores members it does not know, and reads an explicit null as a member left out.
        params = {k: v for k, v in params.items() if k in members and v is not None}
        result = implementation(self.store, caller, params)
        with self.counts_lock:
            self.counts[name] += 1
        return _encode(result)


class _NotJson(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON value")


def _parse(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or SerializationException saying what is wrong with it."""
    if not body.strip():
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise serialization("The request body is not UTF-8 encoded JSON.") from None
    try:
        params = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise serialization(
            f"The request body is not valid JSON ({exc.msg} at line {exc.lineno} column "
            f"{exc.colno}); send a JSON object, {{}} when the operation takes no input."
        ) from None
    except RecursionError:
        raise serialization(_too_deep()) from None
    except ValueError as exc:  # NaN/Infinity, or an integer past Python's 4,300-digit limit
        problem = str(exc) if isinstance(exc, _NotJson) else "a number has too many digits"
        raise serialization(
            f"The request body is not valid JSON: {problem}. Numbers must be finite, and no "
            "member of MTurk's API holds a number of thousands of digits."
        ) from None
    _check_tree(params)
    if not isinstance(params, dict):
        raise serialization(
            f"Start of structure or map expected, found {type(params).__name__}: the request "
            "body must be a JSON object."
        )
    return params


def _too_deep() -> str:
    return f"The request body nests JSON more than {MAX_DEPTH} levels deep."


def _check_tree(value: Any) -> None:
    """Refuse nesting deeper than MAX_DEPTH and strings that are not valid Unicode (a lone
    surrogate escape such as \\ud800), walking the document without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            found = _SURROGATE.search(item)
            if found:
                raise serialization(
                    f"The request body holds a lone surrogate escape "
                    f"(\\u{ord(found.group()):04x}) in a string: JSON text must be valid Unicode."
                )
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise serialization(_too_deep())
            if isinstance(item, dict):
                stack.extend((k, depth) for k in item)
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)


def _encode(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


class _BadFraming(Exception):
    """The HTTP message itself cannot be read; answered 4xx, then the connection is closed."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class _TimedInput(io.RawIOBase):
    """The connection's input with deadlines instead of a per-recv timeout: waiting for a
    request ends `timeout` seconds after the previous answer, and a request must arrive whole
    within `timeout` seconds of its first byte, however slowly its bytes trickle in."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        super().__init__()
        self.sock = sock
        self.timeout = timeout
        self.started = False
        self.timed_out = False
        self.deadline = time.monotonic() + timeout

    def readable(self) -> bool:
        return True

    def await_request(self) -> None:
        self.started = False
        self.timed_out = False
        self.deadline = time.monotonic() + self.timeout

    def request_started(self) -> None:
        if not self.started:
            self.started = True
            self.deadline = time.monotonic() + self.timeout

    def readinto(self, buffer: Any) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.timed_out = True
            raise TimeoutError("the client was too slow")
        self.sock.settimeout(left)
        try:
            received = self.sock.recv_into(buffer)
        except TimeoutError:
            self.timed_out = True
            raise
        finally:
            with contextlib.suppress(OSError):
                self.sock.settimeout(self.timeout)  # writes get the whole timeout
        if received:
            self.request_started()
        return received


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "LocalMTurk"
    disable_nagle_algorithm = True
    server: _HTTPServer

    def setup(self) -> None:
        self.timeout = self.server.client_timeout
        super().setup()
        self.input = _TimedInput(self.connection, self.timeout)
        self.rfile = io.BufferedReader(self.input, 1 << 16)
        self.unread_input = False  # answered before reading the whole request: linger on close
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
            if self.unread_input:
                self._linger()
        finally:
            self.server.track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would cost more than the request

    def handle_one_request(self) -> None:
        """One request, whatever its method: every answer is JSON, every failure a 4xx."""
        self.input.await_request()
        self.command = ""
        try:
            line = self.rfile.readline(MAX_LINE + 1)
            for _ in range(4):  # RFC 9112 2.2: ignore empty lines before a request line
                if line not in (b"\r\n", b"\n"):
                    break
                line = self.rfile.readline(MAX_LINE + 1)
            if not line:
                self.close_connection = True
                return
            self.input.request_started()
            self.raw_requestline = line
            if len(line) > MAX_LINE:
                self.requestline, self.request_version, self.command = "", "", ""
                self.send_error(414, f"the request line is longer than {MAX_LINE} bytes")
                return
            if not self.parse_request():
                self.close_connection = True
                return
            self._serve()
            self.wfile.flush()
        except TimeoutError:
            self.close_connection = True
            if self.input.timed_out and self.input.started:
                self.unread_input = True
                with contextlib.suppress(OSError):
                    self._send(408, _encode(request_timeout(self.timeout).body()))

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What http.server sends as an HTML page (bad request line, header too long, an HTTP
        version it does not speak) goes out as a JSON SerializationException, status 4xx."""
        status = code if 400 <= code < 500 else 400
        self.close_connection = True
        self.unread_input = True
        text = message or _REASONS.get(status, "Bad Request")
        detail = f" ({explain})" if explain and explain != message else ""
        body = serialization(f"The HTTP request cannot be read: {text}{detail}.").body()
        self._send(status, _encode(body))

    def handle_expect_100(self) -> bool:
        # Ask for the body only when it will be read; otherwise answer at once.
        try:
            self._body_length()
        except _BadFraming:
            return True
        return super().handle_expect_100()

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except _BadFraming as problem:
            self.close_connection = True
            self.unread_input = True
            self._send(problem.status, _encode(serialization(problem.message).body()))
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        outcome = self.server.service.answer(self.command, self.path, headers, body)
        if outcome is _RESET:
            # Linger 0: close() sends RST, the client sees a reset connection.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        status, payload = outcome  # type: ignore[misc]
        self._send(status, payload)

    def _body_length(self) -> int | None:
        """Content-Length, or None for a chunked body; _BadFraming when neither can be used."""
        codings = [
            c.strip().lower()
            for value in self.headers.get_all("Transfer-Encoding") or []
            for c in value.split(",")
            if c.strip()
        ]
        lengths = {v.strip() for v in self.headers.get_all("Content-Length") or []}
        if codings:
            if lengths:
                raise _BadFraming(
                    "The request has both Transfer-Encoding and Content-Length; send one of them."
                )
            if codings != ["chunked"]:
                raise _BadFraming(
                    f"Transfer-Encoding {', '.join(codings)!r} is not supported: send the body "
                    "with Content-Length or Transfer-Encoding: chunked."
                )
            return None
        if not lengths:
            return 0
        text = lengths.pop()
        if lengths or not _DIGITS.fullmatch(text) or int(text) > MAX_BODY:
            shown = text[:40] if not lengths else "several different values"
            raise _BadFraming(
                f"Invalid Content-Length {shown!r}: a request body must be 0 to {MAX_BODY} "
                "bytes, given by one Content-Length header."
            )
        return int(text)

    def _read_body(self) -> bytes:
        length = self._body_length()
        if length is None:
            return self._read_chunked()
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            raise _BadFraming(
                f"The request body ended after {len(body)} of the {length} bytes its "
                "Content-Length announced."
            )
        return body

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            line = self.rfile.readline(1024)
            size_text = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or not _CHUNK_SIZE.fullmatch(size_text):
                raise _BadFraming(
                    f"Bad chunk size line {line[:40]!r} in a chunked body: expected a hex size "
                    "and CRLF."
                )
            size = int(size_text, 16)
            if size == 0:
                break
            if len(body) + size > MAX_BODY:
                raise _BadFraming(f"The chunked request body exceeds {MAX_BODY} bytes.")
            chunk = self.rfile.read(size)
            if len(chunk) < size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _BadFraming("A chunk of the chunked body is cut short or not ended by CRLF.")
            body += chunk
        for _ in range(100):  # trailer fields, then the empty line
            line = self.rfile.readline(MAX_LINE)
            if line in (b"\r\n", b"\n"):
                return bytes(body)
            if not line.endswith(b"\n"):
                break
        raise _BadFraming("The chunked request body does not end with an empty line.")

    def _send(self, status: int, payload: bytes) -> None:
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            f"x-amzn-RequestId: {uuid.uuid4()}\r\n"
            f"Content-Type: {CONTENT_TYPE}\r\n"
            f"Content-Length: {len(payload)}\r\n"
        )
        if self.close_connection:
            head += "Connection: close\r\n"
        # A HEAD answer carries the headers of the answer without its body.
        self.wfile.write(head.encode() + b"\r\n" + (b"" if self.command == "HEAD" else payload))

    def _linger(self) -> None:
        """Close gracefully after answering early: send FIN, then drain what the client is
        still sending for a moment, so the answer is not lost to a reset."""
        conn = self.connection
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_WR)
            end = time.monotonic() + min(LINGER_SECONDS, self.timeout)
            while (left := end - time.monotonic()) > 0:
                conn.settimeout(left)
                if not conn.recv(1 << 16):
                    break


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, port: int, service: _Service, client_timeout: float) -> None:
        self.service = service
        self.client_timeout = client_timeout
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__((HOST, port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that resets, closes or stalls its connection is its own business; anything
        else escaping a handler is a bug of the local MTurk and is printed."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    def track(self, conn: socket.socket, *, add: bool) -> None:
        with self._open_lock:
            if add:
                self._open.add(conn)
            else:
                self._open.discard(conn)

    def close_connections(self) -> None:
        with self._open_lock:
            for conn in list(self._open):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


class Admin:
    """What tests and the demo need that the API itself cannot do. Records use the API's field
    names; times read back are epoch seconds, as on the wire."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def add_requester(
        self, access_key_id: str, secret_access_key: str, available_balance: str = DEFAULT_BALANCE
    ) -> None:
        self.load(
            {
                "requesters": [
                    {
                        "AccessKeyId": access_key_id,
                        "SecretAccessKey": secret_access_key,
                        "AvailableBalance": available_balance,
                    }
                ]
            }
        )

    def load(self, data: dict[str, Any] | Path | str) -> dict[str, int]:
        """Load more seed data (same format as --data); returns counts per section."""
        return seed.load(self._store, data)

    def put_qualification_type(self, record: dict[str, Any]) -> None:
        """A QualificationType record with "Owner": <AccessKeyId>."""
        self.load({"qualification_types": [record]})

    def get_qualification_type(self, type_id: str) -> dict[str, Any] | None:
        """The type with its Owner, or None."""
        return self._store.get_type(type_id)

    def put_qualification(self, record: dict[str, Any]) -> None:
        """Insert or replace a Qualification as given, LocaleValue and GrantTime included."""
        self.load({"qualifications": [record]})

    def remove_qualification(self, type_id: str, worker_id: str) -> bool:
        """The worker is gone from MTurk: the qualification vanishes without a revoke."""
        return self._store.delete_qualification(type_id, worker_id)

    def get_qualification(self, type_id: str, worker_id: str) -> dict[str, Any] | None:
        return self._store.get_qualification(type_id, worker_id)

    def count_qualifications(self, type_id: str | None = None) -> int:
        return self._store.count_qualifications(type_id)

    def add_qualification_request(self, record: dict[str, Any]) -> str:
        """A worker asks for a qualification; returns its QualificationRequestId."""
        record = dict(record)
        record.setdefault("QualificationRequestId", new_id())
        self.load({"qualification_requests": [record]})
        return str(record["QualificationRequestId"])

    def get_qualification_request(self, request_id: str) -> dict[str, Any] | None:
        return self._store.get_request(request_id)


class LocalMTurk:
    """A local MTurk on 127.0.0.1, served from a background thread.

    `data` seeds a new state (a dict or a JSON file in the --data format); with `state_path` the
    state is a SQLite file that survives restarts, and `data` is only loaded when that file is new.
    `environment` ('sandbox' or 'production', default: the state's own, or sandbox for a new
    state) decides which Masters type exists. `client_timeout` (seconds) closes a connection idle
    that long and answers HTTP 408 to a request not received whole that long after it began.
    Raises seed.DataError for bad data, store.EnvironmentMismatch for a state of the other
    environment, ValueError for a bad environment or timeout.
    """

    def __init__(
        self,
        data: dict[str, Any] | Path | str | None = None,
        state_path: Path | str | None = None,
        faults: FaultConfig | None = None,
        port: int = 0,
        *,
        environment: str | None = None,
        client_timeout: float = DEFAULT_CLIENT_TIMEOUT,
    ) -> None:
        if not client_timeout > 0:
            raise ValueError(f"client_timeout must be positive seconds, got {client_timeout}")
        self.client_timeout = float(client_timeout)
        self.store = Store(state_path, environment)
        self.seeded: dict[str, int] | None = None
        if data is not None and (self.store.is_new or state_path is None):
            try:
                self.seeded = seed.load(self.store, data)
            except BaseException:
                self.store.close()
                if state_path is not None:
                    for suffix in ("", "-wal", "-shm"):
                        Path(f"{state_path}{suffix}").unlink(missing_ok=True)
                raise
        self._service = _Service(self.store, FaultInjector(faults))
        self.admin = Admin(self.store)
        self._port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the local MTurk is not running; call start() first")
        return int(self._httpd.server_address[1])

    @property
    def environment(self) -> str:
        """'sandbox' or 'production'."""
        return self.store.environment

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> LocalMTurk:
        self._httpd = _HTTPServer(self._port, self._service, self.client_timeout)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"local-mturk-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.close_connections()
            self._httpd.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._httpd = None
        self.store.close()

    def __enter__(self) -> LocalMTurk:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def notifications(self) -> list[dict[str, Any]]:
        """Every e-mail that would have been sent: Operation, WorkerId, Subject, MessageText,
        SentTime (epoch seconds)."""
        return self.store.notifications()

    def call_counts(self) -> Counter[str]:
        """Successful calls per operation name (requests failed by faults are not counted)."""
        with self._service.counts_lock:
            return Counter(self._service.counts)

    def requests_after(self, moment: float) -> int:
        """Requests that arrived after `moment` (a time.monotonic() value), answered or not."""
        with self._service.counts_lock:
            return sum(1 for t in self._service.arrivals if t > moment)

    def set_faults(self, faults: FaultConfig) -> None:
        self._service.faults.configure(faults)
