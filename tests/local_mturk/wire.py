"""A raw HTTP/1.1 client for the local MTurk's wire tests: build (signed) requests byte by byte,
send them on one socket, and read answers back, telling a clean close (FIN) from a reset.

http.client refuses to send most of what these tests need (bad framing, odd methods, garbled
headers), so requests are bytes here and answers are parsed just enough to check them.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from support.mturk import REQUESTER, Requester

TARGET = "MTurkRequesterServiceV20170117."


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def closes(self) -> bool:
        return self.headers.get("connection", "").lower() == "close"

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def error_type(self) -> str | None:
        return self.json().get("__type") if self.body else None


class Closed(Exception):
    """The server closed the connection cleanly (FIN) where an answer was expected."""


def signed_headers(
    host: str,
    body: bytes,
    operation: str | None = "GetAccountBalance",
    *,
    method: str = "POST",
    requester: Requester = REQUESTER,
    region: str = "us-east-1",
) -> dict[str, str]:
    """The headers botocore would send for this body, signed with SigV4 for `host`."""
    headers = {"Content-Type": "application/x-amz-json-1.1", "Host": host}
    if operation is not None:
        headers["X-Amz-Target"] = TARGET + operation
    request = AWSRequest(method=method, url=f"http://{host}/", data=body, headers=headers)
    credentials = Credentials(requester.access_key_id, requester.secret_access_key)
    SigV4Auth(credentials, "mturk-requester", region).add_auth(request)
    return dict(request.headers.items())


def request_bytes(
    headers: dict[str, str],
    body: bytes = b"",
    *,
    method: str = "POST",
    path: str = "/",
    length: bool = True,
    version: str = "HTTP/1.1",
) -> bytes:
    """One HTTP request; Content-Length is added unless `length` is False."""
    lines = [f"{method} {path} {version}"] + [f"{k}: {v}" for k, v in headers.items()]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Wire:
    """One TCP connection to the server."""

    port: int
    timeout: float = 10.0
    sock: socket.socket = field(init=False)
    buffer: bytes = field(init=False, default=b"")

    def __post_init__(self) -> None:
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(1 << 16)  # a reset raises ConnectionResetError: not clean
        if not chunk:
            return False
        self.buffer += chunk
        return True

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if not self._fill():
                if self.buffer:
                    raise AssertionError(f"connection closed mid-answer: {self.buffer[:200]!r}")
                raise Closed()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def interim(self) -> int:
        """The status of an interim (1xx) answer such as 100 Continue."""
        version, status, _ = self._line().decode("latin-1").split(" ", 2)
        assert version == "HTTP/1.1" and status.startswith("1"), (version, status)
        assert self._line() == b""
        return int(status)

    def answer(self, *, head: bool = False) -> Answer:
        """The next answer; Closed if the server closed the connection cleanly instead."""
        status_line = self._line().decode("latin-1")
        version, status, _ = status_line.split(" ", 2)
        assert version == "HTTP/1.1", status_line
        headers: dict[str, str] = {}
        while line := self._line():
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = 0 if head else int(headers["content-length"])
        while len(self.buffer) < length:
            if not self._fill():
                raise AssertionError("connection closed inside an answer's body")
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return Answer(int(status), headers, body)

    def closed_cleanly(self) -> bool:
        """True when the server closed with FIN and nothing more was sent; a reset raises."""
        while True:
            if self.buffer:
                raise AssertionError(f"data after the last answer: {self.buffer[:200]!r}")
            if not self._fill():
                return True
