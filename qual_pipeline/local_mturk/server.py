"""The local MTurk's HTTP server and its stable Python API.

    from qual_pipeline.local_mturk.server import LocalMTurk, FaultConfig
    with LocalMTurk(data=..., state_path=None, faults=FaultConfig(), port=0) as mturk:
        client = boto3.client("mturk", endpoint_url=mturk.endpoint_url, region_name="us-east-1")

AWS JSON 1.1 over HTTP/1.1 keep-alive on 127.0.0.1 only. Each answer leaves in one write with
TCP_NODELAY set, so a client never waits on a delayed ACK between headers and body.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import sys
import threading
import traceback
import uuid
from collections import Counter
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from qual_pipeline.local_mturk import auth, model, seed
from qual_pipeline.local_mturk.errors import (
    ApiError,
    request_error,
    serialization,
    service_fault,
    throttling,
)
from qual_pipeline.local_mturk.faults import Fault, FaultConfig, FaultInjector
from qual_pipeline.local_mturk.operations import OPERATIONS, new_id
from qual_pipeline.local_mturk.store import DEFAULT_BALANCE, Store

__all__ = ["Admin", "FaultConfig", "LocalMTurk"]

HOST = "127.0.0.1"
CONTENT_TYPE = "application/x-amz-json-1.1"
_REASONS = {200: "OK", 400: "Bad Request", 500: "Internal Server Error"}
_RESET = object()
MAX_BODY = 1 << 20  # far above any MTurk request (NotifyWorkers: 100 ids, 4,096-char text)


class _Service:
    """Turns one HTTP request into one answer: auth, faults, validation, operation."""

    def __init__(self, store: Store, faults: FaultInjector) -> None:
        self.store = store
        self.faults = faults
        self.counts: Counter[str] = Counter()
        self.counts_lock = threading.Lock()
        self.prefix = model.target_prefix() + "."

    def answer(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, bytes] | object:
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
        target = headers.get("X-Amz-Target") or headers.get("x-amz-target") or ""
        name = target[len(self.prefix) :] if target.startswith(self.prefix) else ""
        op_model = model.operation(name) if name else None
        if method != "POST" or op_model is None:
            raise ApiError(
                "UnknownOperationException",
                f"Unknown operation {target!r} ({method} {path}): send POST / with "
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
        model.validate_input(op_model, params)
        members = op_model.input_shape.members if op_model.input_shape else {}
        params = {k: v for k, v in params.items() if k in members}  # AWS ignores unknown fields
        result = implementation(self.store, caller, params)
        with self.counts_lock:
            self.counts[name] += 1
        return _encode(result)


def _parse(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        params = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise serialization("The request body is not UTF-8 encoded JSON.") from None
    except json.JSONDecodeError as exc:
        raise serialization(
            f"The request body is not valid JSON ({exc.msg} at line {exc.lineno} column "
            f"{exc.colno}); send a JSON object, {{}} when the operation takes no input."
        ) from None
    if not isinstance(params, dict):
        raise serialization(
            f"Start of structure or map expected, found {type(params).__name__}: the request "
            "body must be a JSON object."
        )
    return params


def _encode(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "LocalMTurk"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would cost more than the request

    def _serve(self) -> None:
        length_header = self.headers.get("Content-Length") or "0"
        try:
            length = int(length_header)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            self._send(
                400,
                _encode(
                    serialization(
                        f"Invalid Content-Length {length_header!r}: a request body must be "
                        f"0 to {MAX_BODY} bytes."
                    ).body()
                ),
            )
            return
        body = self.rfile.read(length) if length else b""
        outcome = self.server.service.answer(
            self.command, self.path, dict(self.headers.items()), body
        )
        if outcome is _RESET:
            # Linger 0: close() sends RST, the client sees a reset connection.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        status, payload = outcome  # type: ignore[misc]
        self._send(status, payload)

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = _serve

    def _send(self, status: int, payload: bytes) -> None:
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            f"x-amzn-RequestId: {uuid.uuid4()}\r\n"
            f"Content-Type: {CONTENT_TYPE}\r\n"
            f"Content-Length: {len(payload)}\r\n"
        )
        if self.close_connection:
            head += "Connection: close\r\n"
        self.wfile.write(head.encode() + b"\r\n" + payload)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, port: int, service: _Service) -> None:
        self.service = service
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__((HOST, port), _Handler)

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
    """

    def __init__(
        self,
        data: dict[str, Any] | Path | str | None = None,
        state_path: Path | str | None = None,
        faults: FaultConfig | None = None,
        port: int = 0,
    ) -> None:
        self.store = Store(state_path)
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
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> LocalMTurk:
        self._httpd = _HTTPServer(self._port, self._service)
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

    def set_faults(self, faults: FaultConfig) -> None:
        self._service.faults.configure(faults)
