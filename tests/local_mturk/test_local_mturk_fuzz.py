"""A bounded fuzz of the local MTurk's HTTP surface, as an attacker or a buggy client would try it.

One `serve` process (loopback only, --client-timeout 1 so that idle and half-sent connections are
timed out fast) takes every kind of malformed request: huge numbers, deep nesting, lone
surrogates, explicit nulls, wrong JSON types for every member of every implemented operation,
garbled Authorization and Host, other methods, chunked bodies, pipelining, idle and half-sent
connections, huge bodies, bad targets, bad HTTP versions and random bytes. Every answer must be
JSON with a 4xx status (or a success), each connection must stay usable or be closed cleanly
(FIN, never a reset), and afterwards valid requests still succeed and the server's log holds no
traceback. Counts are fixed and the random part also stops at a time budget.
"""

from __future__ import annotations

import contextlib
import json
import random
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from support.mturk import (
    TYPE_ID,
    make_data,
    mturk_client,
    qualification,
    worker_id,
)
from wire import TARGET, Answer, Closed, Wire, request_bytes, signed_headers

from qual_pipeline.local_mturk import model
from qual_pipeline.local_mturk.operations import OPERATIONS

CLI = [sys.executable, "-c", "from qual_pipeline.cli.local_mturk import app; app()"]
CLIENT_TIMEOUT = 1.0  # seconds: the server's --client-timeout in this module
RANDOM_CASES = 400  # random byte strings sent as requests ...
RANDOM_SECONDS = 20.0  # ... or fewer when this budget runs out
KNOWN = [worker_id(n) for n in range(10)]  # the environment's workers


class Server:
    def __init__(self, process: subprocess.Popen[str], url: str, log: Path) -> None:
        self.process = process
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        self.host = f"127.0.0.1:{self.port}"
        self.log = log
        self.statuses: Counter[int] = Counter()

    def wire(self, timeout: float = 10.0) -> Wire:
        return Wire(self.port, timeout)

    def record(self, answer: Answer, *, head: bool = False) -> Answer:
        """Every answer: a success or a 4xx, in the JSON 1.1 content type, with an AWS error."""
        self.statuses[answer.status] += 1
        assert answer.status == 200 or 400 <= answer.status < 500, answer
        assert answer.headers["content-type"] == "application/x-amz-json-1.1", answer
        if answer.status != 200 and not head:
            assert answer.error_type, answer
        return answer

    def exchange(self, data: bytes, *, head: bool = False) -> Answer:
        """Send one request on a new connection, read its answer, check the connection ends
        cleanly when the answer says it closes."""
        with self.wire() as wire:
            wire.send(data)
            answer = self.record(wire.answer(head=head), head=head)
            if answer.closes:
                assert wire.closed_cleanly()
            return answer

    def signed(self, body: bytes | dict[str, Any], operation: str = "GetAccountBalance") -> bytes:
        raw = json.dumps(body).encode() if isinstance(body, dict) else body
        return request_bytes(signed_headers(self.host, raw, operation), raw)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("fuzz")
    data = make_data(
        qualifications=[qualification(n, n * 10) for n in range(5)],
        requests=[
            {"QualificationRequestId": "REQ0001", "QualificationTypeId": TYPE_ID, "WorkerId": w}
            for w in KNOWN[5:6]
        ],
    )
    data["workers"] = [{"WorkerId": w} for w in KNOWN]
    (folder / "data.json").write_text(json.dumps(data))
    log = folder / "server.log"
    with log.open("w") as err:
        process = subprocess.Popen(
            [
                *CLI,
                "serve",
                "--data",
                str(folder / "data.json"),
                "--client-timeout",
                str(CLIENT_TIMEOUT),
            ],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), log.read_text()
        yield Server(process, url, log)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    assert process.returncode == 0
    text = log.read_text()
    assert "Traceback" not in text, text


def assert_still_serving(server: Server) -> None:
    """Valid requests succeed through boto3, and the log holds no traceback so far."""
    client = mturk_client(server.url)
    assert client.get_account_balance()["AvailableBalance"] == "10000.00"
    page = client.list_workers_with_qualification_type(QualificationTypeId=TYPE_ID)
    assert page["NumResults"] == 5
    assert server.process.poll() is None
    text = server.log.read_text()
    assert "Traceback" not in text and "Exception occurred" not in text, text


def valid_input(operation: str) -> dict[str, Any]:
    """An input of the operation that is valid against the seeded state (or, for the calls that
    consume state, valid in shape)."""
    inputs: dict[str, dict[str, Any]] = {
        "CreateQualificationType": {
            "Name": f"Fuzz {random.random()}",
            "Description": "d",
            "QualificationTypeStatus": "Active",
        },
        "GetQualificationType": {"QualificationTypeId": TYPE_ID},
        "UpdateQualificationType": {"QualificationTypeId": TYPE_ID, "Description": "d"},
        "DeleteQualificationType": {"QualificationTypeId": "3NOSUCHTYPE"},
        "ListQualificationTypes": {"MustBeRequestable": False, "MaxResults": 5},
        "ListWorkersWithQualificationType": {"QualificationTypeId": TYPE_ID, "MaxResults": 5},
        "GetQualificationScore": {"QualificationTypeId": TYPE_ID, "WorkerId": KNOWN[0]},
        "AssociateQualificationWithWorker": {
            "QualificationTypeId": TYPE_ID,
            "WorkerId": KNOWN[1],
            "IntegerValue": 10,
            "SendNotification": False,
        },
        "DisassociateQualificationFromWorker": {
            "QualificationTypeId": TYPE_ID,
            "WorkerId": KNOWN[9],
            "Reason": "r",
        },
        "ListQualificationRequests": {"QualificationTypeId": TYPE_ID},
        "AcceptQualificationRequest": {"QualificationRequestId": "NOSUCHREQUEST"},
        "RejectQualificationRequest": {"QualificationRequestId": "NOSUCHREQUEST"},
        "NotifyWorkers": {"Subject": "s", "MessageText": "m", "WorkerIds": [KNOWN[0]]},
        "GetAccountBalance": {},
        "CreateWorkerBlock": {"WorkerId": KNOWN[8], "Reason": "r"},
        "DeleteWorkerBlock": {"WorkerId": KNOWN[8]},
        "ListWorkerBlocks": {"MaxResults": 5},
    }
    assert set(inputs) == set(OPERATIONS)
    return dict(inputs[operation])


def members(operation: str) -> dict[str, Any]:
    op = model.operation(operation)
    assert op is not None
    return dict(op.input_shape.members) if op.input_shape else {}


WRONG_VALUES: list[Any] = [
    0,
    -1,
    2**31,
    2**63,
    10**40,
    1.5,
    -0.0,
    1e308,
    True,
    False,
    "",
    "x",
    "A1",
    "1",
    "x" * 5000,
    [],
    ["A1"],
    [1, None],
    {},
    {"a": 1},
    [[[]]],
]


def test_every_implemented_operation_still_succeeds_with_its_valid_input(server):
    """The base inputs the mutations start from are right: none is refused for its types."""
    with server.wire() as wire:
        for operation in OPERATIONS:
            wire.send(server.signed(valid_input(operation), operation))
            answer = server.record(wire.answer())
            assert answer.error_type not in ("SerializationException", "ValidationException"), (
                operation,
                answer,
            )


def test_wrong_json_types_for_every_member_of_every_operation(server):
    """Each value of the wrong type is a SerializationException, each constraint broken a
    ValidationException; all on one keep-alive connection per operation, which stays usable."""
    sent = 0
    for operation in OPERATIONS:
        with server.wire() as wire:
            for name, shape in members(operation).items():
                for value in WRONG_VALUES:
                    body = {**valid_input(operation), name: value}
                    wire.send(server.signed(body, operation))
                    answer = server.record(wire.answer())
                    assert not answer.closes, (operation, name, value, answer)
                    sent += 1
                    if answer.status == 200:
                        continue
                    kind = shape.type_name
                    right_type = {
                        "string": isinstance(value, str),
                        "integer": type(value) is int and -(2**31) <= value < 2**31,
                        "long": type(value) is int and -(2**63) <= value < 2**63,
                        "boolean": isinstance(value, bool),
                        "list": isinstance(value, list),
                    }[kind]
                    if not right_type:
                        assert answer.error_type == "SerializationException", (name, value)
            wire.send(server.signed({}, "GetAccountBalance"))
            assert server.record(wire.answer()).status == 200
    assert sent > 800
    assert_still_serving(server)


def test_explicit_null_is_a_member_left_out(server):
    for operation in OPERATIONS:
        for name in members(operation):
            base = valid_input(operation)
            required = name in (model.operation(operation).input_shape.required_members or [])
            answer = server.exchange(server.signed({**base, name: None}, operation))
            if required:
                assert answer.error_type == "ValidationException", (operation, name)
                assert "Member must not be null" in answer.json()["Message"]
    # The two reported: AWS reads null as absent, so both succeed.
    update = {"QualificationTypeId": TYPE_ID, "Description": None}
    assert server.exchange(server.signed(update, "UpdateQualificationType")).status == 200
    listing = {"QualificationTypeId": TYPE_ID, "Status": None}
    answer = server.exchange(server.signed(listing, "ListWorkersWithQualificationType"))
    assert (answer.status, answer.json()["NumResults"]) == (200, 5)
    nulls = {"Subject": "s", "MessageText": "m", "WorkerIds": [KNOWN[0], None]}
    answer = server.exchange(server.signed(nulls, "NotifyWorkers"))
    assert answer.error_type == "ValidationException"
    assert "Value null at 'workerIds.2.member'" in answer.json()["Message"]
    assert_still_serving(server)


@pytest.mark.parametrize(
    "body",
    [
        b'{"x": ' + b"9" * 4301 + b"}",
        b'{"x": -' + b"9" * 20000 + b"}",
        b'{"MaxResults": ' + b"1" * 5000 + b"}",
        b'{"x": [' + b"1" * 4400 + b", 2]}",
        b'{"x": NaN}',
        b'{"x": Infinity}',
        b'{"x": -Infinity}',
    ],
    ids=["4301-digits", "20000-digits", "member", "in-list", "nan", "inf", "-inf"],
)
def test_huge_and_non_finite_numbers(server, body):
    answer = server.exchange(server.signed(body, "ListWorkerBlocks"))
    assert (answer.status, answer.error_type) == (400, "SerializationException")
    assert "not valid JSON" in answer.json()["Message"]


def test_numbers_json_allows_still_pass(server):
    for body in (b'{"x": 1e999}', b'{"x": ' + b"9" * 4300 + b"}", b'{"x": -0.0e-400}'):
        assert server.exchange(server.signed(body, "GetAccountBalance")).status == 200


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b'{"a":' * 50_000,
        b'{"x": ' + b"[" * 101 + b"]" * 101 + b"}",
        b'{"WorkerIds": ' + b"[" * 150 + b'"A1"' + b"]" * 150 + b"}",
        (b'{"a":[' * 400) + b"1" + (b"]}" * 400),
    ],
    ids=["brackets", "objects", "101-levels", "in-member", "mixed"],
)
def test_deep_nesting(server, body):
    answer = server.exchange(server.signed(body, "NotifyWorkers"))
    assert (answer.status, answer.error_type) == (400, "SerializationException")


def test_nesting_within_the_limit_is_fine(server):
    body = b'{"x": ' + b"[" * 98 + b"]" * 98 + b"}"
    assert server.exchange(server.signed(body, "GetAccountBalance")).status == 200


def test_lone_surrogates_in_every_string_member(server):
    for operation in OPERATIONS:
        for name, shape in members(operation).items():
            if shape.type_name not in ("string", "list"):
                continue
            for text in ("\ud800", "a\udfffb", "\udc00\ud800"):
                value = [text] if shape.type_name == "list" else text
                body = json.dumps({**valid_input(operation), name: value}).encode()
                answer = server.exchange(server.signed(body, operation))
                assert answer.error_type == "SerializationException", (operation, name)
                assert "surrogate" in answer.json()["Message"]
    key = json.dumps({"\ud800": 1}).encode()
    assert server.exchange(server.signed(key)).error_type == "SerializationException"
    # A surrogate pair is a character like any other.
    emoji = {
        "Name": f"Emoji \U0001f600 {random.random()}",
        "Description": "d",
        "QualificationTypeStatus": "Active",
    }
    answer = server.exchange(server.signed(emoji, "CreateQualificationType"))
    assert answer.status == 200
    assert answer.json()["QualificationType"]["Name"] == emoji["Name"]
    assert_still_serving(server)


def _authorization_variants(authorization: str) -> list[str]:
    credential, signed_names, signature = authorization.split(", ")
    algorithm, _, scope = credential.partition(" ")
    key, date, region, service, term = scope.removeprefix("Credential=").split("/")
    return [
        authorization + "\xe9",
        authorization[:-1] + "\xff",
        authorization + "\x00",
        "",
        " ",
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 ",
        "Basic dXNlcjpwYXNz",
        "AWS4-HMAC-SHA256 Credential=",
        f"{credential}, {signed_names}",
        f"{credential}, {signature}",
        f"{signed_names}, {signature}",
        f"{credential}, {signed_names}, Signature=",
        f"{credential}, {signed_names}, Signature={'0' * 5000}",
        f"{credential}, SignedHeaders=, {signature}",
        f"{credential}, SignedHeaders=;;;, {signature}",
        f"{credential}, SignedHeaders=HOST;X-AMZ-DATE, {signature}",
        f"{credential}, SignedHeaders={';'.join(['x'] * 500)};host, {signature}",
        f"{credential}, SignedHeaders=content-type;x-amz-date, {signature}",
        f"{algorithm} Credential={key}/{date}/{region}/{service}, {signed_names}, {signature}",
        f"{algorithm} Credential={key}/{date}/{region}/{service}/{term}/x, {signed_names}, "
        f"{signature}",
        f"{algorithm} Credential=/////, {signed_names}, {signature}",
        f"{algorithm} Credential={key}\xe9/{date}/{region}/{service}/{term}, {signed_names}, "
        f"{signature}",
        f"{algorithm} Credential={key}/{date}/\xe9/{service}/{term}, {signed_names}, {signature}",
        f"{algorithm} Credential={key}/{date}/{region}/s3/{term}, {signed_names}, {signature}",
        f"{algorithm} Credential={key}/99999999/{region}/{service}/{term}, {signed_names}, "
        f"{signature}",
        f"{algorithm} Credential={key}/{date}/{region}/{service}/{term},,,, {signed_names}, "
        f"{signature}",
        f"{credential}, {signed_names}, {signature}, {signature}x",
        "\xff" * 300,
    ]


def test_garbled_authorization(server):
    body = b"{}"
    headers = signed_headers(server.host, body)
    variants = _authorization_variants(headers["Authorization"])
    rng = random.Random(13)
    for _ in range(150):  # random single-character damage anywhere in the header
        text = list(headers["Authorization"])
        spot = rng.randrange(len(text))
        text[spot] = rng.choice(["", "\xe9", "/", ",", "=", " ", ";", "A", "\x7f", chr(0xB0)])
        variants.append("".join(text))
    refused = 0
    for value in variants:
        damaged = {**headers, "Authorization": value}
        answer = server.exchange(request_bytes(damaged, body))
        # Damage to a separator's whitespace can leave the header meaning the same.
        refused += answer.status == 400
    assert refused > len(variants) * 0.9
    for date in ("", "2026", "00000101T000000Z", "99991231T235959Z", "\xe9" * 16, "x" * 9000):
        answer = server.exchange(request_bytes({**headers, "X-Amz-Date": date}, body))
        assert answer.status == 400
    missing = {k: v for k, v in headers.items() if k != "Authorization"}
    answer = server.exchange(request_bytes(missing, body))
    assert answer.error_type == "MissingAuthenticationTokenException"
    assert_still_serving(server)


def test_garbled_host_with_otherwise_valid_signature(server):
    body = b"{}"
    headers = signed_headers(server.host, body)
    hosts = ["[", "[::1", "[::1]:99999", "]", "", " ", "a b", "h\xe9", ":", ":::", "@", "%zz"]
    hosts += ["127.0.0.1:99999", "127.0.0.1:-1", "x" * 9000, "http://x/", "[" * 100, "\x00"]
    for host in hosts:
        answer = server.exchange(request_bytes({**headers, "Host": host}, body))
        assert answer.error_type == "InvalidSignatureException", (host, answer)
    no_host = {k: v for k, v in headers.items() if k != "Host"}
    assert server.exchange(request_bytes(no_host, body)).error_type == "InvalidSignatureException"
    for path in ("/%zz", "/[", "/?a=b&&=", "*", "http://[/", "/" + "\xe9" * 10):
        answer = server.exchange(request_bytes(headers, body, path=path))
        assert answer.error_type in ("InvalidSignatureException", "UnknownOperationException")
    assert_still_serving(server)


METHODS = ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE", "PATCH", "CONNECT", "post"]
METHODS += ["BREW", "PROPFIND", "M-SEARCH", "P\xe9ST", "X" * 200]


def test_other_methods_get_a_json_error_and_keep_the_connection(server):
    body = b"{}"
    with server.wire() as wire:
        for method in METHODS:
            head = method == "HEAD"
            for headers in (
                signed_headers(server.host, body, method=method),
                {"Host": server.host},
            ):
                wire.send(request_bytes(headers, body, method=method))
                answer = server.record(wire.answer(head=head), head=head)
                assert answer.status == 400, (method, answer)
                assert not answer.closes
                if not head:
                    signed = "Authorization" in headers
                    expected = (
                        "UnknownOperationException"
                        if signed
                        else "MissingAuthenticationTokenException"
                    )
                    assert answer.error_type == expected, (method, answer)
        wire.send(server.signed({}))
        assert server.record(wire.answer()).status == 200
    assert_still_serving(server)


def _chunked(server: Server, chunks: list[bytes], te: str = "chunked") -> bytes:
    """A signed request for the body {} sent as these chunks."""
    headers = {**signed_headers(server.host, b"{}"), "Transfer-Encoding": te}
    return request_bytes(headers, b"".join(chunks), length=False)


def test_chunked_bodies_are_read_and_pipelining_after_them_works(server):
    with server.wire() as wire:
        plain = _chunked(server, [b"2\r\n{}\r\n", b"0\r\n\r\n"])
        parts = _chunked(server, [b"1;ext=1\r\n{\r\n", b"1\r\n}\r\n", b"0\r\nX-T: 1\r\n\r\n"])
        wire.send(plain + parts + server.signed({}) + plain)
        for _ in range(4):
            answer = server.record(wire.answer())
            assert (answer.status, answer.json()) == (200, {"AvailableBalance": "10000.00"})
        assert not answer.closes


@pytest.mark.parametrize(
    ("chunks", "te", "extra"),
    [
        ([b"zz\r\n{}\r\n0\r\n\r\n"], "chunked", {}),
        ([b"2\r\n{}XX0\r\n\r\n"], "chunked", {}),
        ([b"-2\r\n{}\r\n0\r\n\r\n"], "chunked", {}),
        ([b"fffffffff\r\n"], "chunked", {}),
        ([b"200000\r\n"], "chunked", {}),
        ([b"2\r\n{}\r\n0\r\n" + b"X: y\r\n" * 101 + b"\r\n"], "chunked", {}),
        ([b"2\r\n{}\r\n0\r\n\r\n"], "gzip", {}),
        ([b"2\r\n{}\r\n0\r\n\r\n"], "gzip, chunked", {}),
        ([b"2\r\n{}\r\n0\r\n\r\n"], "chunked, chunked", {}),
        ([b"2\r\n{}\r\n0\r\n\r\n"], "chunked", {"Content-Length": "2"}),
        ([b"2\r\n{}\r\n0\r\n\r\n"], "\xe9", {}),
    ],
)
def test_bad_chunked_framing_is_a_400_and_a_clean_close(server, chunks, te, extra):
    headers = {**signed_headers(server.host, b"{}"), "Transfer-Encoding": te, **extra}
    answer = server.exchange(request_bytes(headers, b"".join(chunks), length=False))
    assert (answer.status, answer.error_type, answer.closes) == (
        400,
        "SerializationException",
        True,
    )


def test_expect_100_continue(server):
    headers = {**signed_headers(server.host, b"{}"), "Expect": "100-continue"}
    with server.wire() as wire:
        # Headers only: the body waits for "100 Continue".
        wire.send(request_bytes({**headers, "Content-Length": "2"}, length=False))
        assert wire.interim() == 100
        wire.send(b"{}")
        assert server.record(wire.answer()).status == 200
    too_big = {**headers, "Content-Length": str(50 << 20)}
    with server.wire() as wire:  # refused at once: no 100, the client need not send 50 MB
        wire.send(request_bytes(too_big, length=False))
        answer = server.record(wire.answer())
        assert (answer.status, answer.error_type, answer.closes) == (
            400,
            "SerializationException",
            True,
        )
        assert wire.closed_cleanly()


def test_pipelined_requests_are_answered_in_order(server):
    good = server.signed({}, "GetAccountBalance")
    listing = server.signed({"QualificationTypeId": TYPE_ID}, "ListWorkersWithQualificationType")
    bad_json = request_bytes(signed_headers(server.host, b"{no"), b"{no")
    bad_type = server.signed({"MaxResults": "ten"}, "ListWorkerBlocks")
    bad_target = server.signed({}, "NoSuchOperation")
    unknown = server.signed({"WorkerId": "A143XRCI1YXAFE", "Reason": "r"}, "CreateWorkerBlock")
    batch = [good, listing, bad_json, bad_type, bad_target, unknown, good] * 30
    expected = [None, None, "SerializationException", "SerializationException"]
    expected += ["UnknownOperationException", "ParameterValidationError", None]
    with server.wire() as wire:
        wire.send(b"".join(batch))
        for n in range(len(batch)):
            answer = server.record(wire.answer())
            assert answer.error_type == expected[n % len(expected)], (n, answer)
        wire.send(good)
        assert server.record(wire.answer()).status == 200
    assert_still_serving(server)


def _timed_out(server: Server, data: bytes, *, trickle: float | None = None) -> float:
    """Send `data` (a byte at a time every `trickle` s), then wait: the server must answer 408
    or close on its own, cleanly, within its timeout plus slack. Returns the seconds it took."""
    started = time.monotonic()
    with server.wire(timeout=CLIENT_TIMEOUT * 6) as wire:
        if trickle is None:
            wire.send(data)
        else:
            for n in range(len(data)):
                if select.select([wire.sock], [], [], 0)[0]:
                    break  # the server has answered or closed: stop sending
                wire.send(data[n : n + 1])
                time.sleep(trickle)
                if time.monotonic() - started > CLIENT_TIMEOUT * 4:
                    break
        try:
            answer = wire.answer()
        except Closed:
            return time.monotonic() - started
        server.record(answer)
        assert (answer.status, answer.error_type) == (408, "RequestTimeoutException")
        assert answer.closes and wire.closed_cleanly()
    return time.monotonic() - started


def test_idle_and_half_sent_connections_are_timed_out(server):
    headers = signed_headers(server.host, b"{}")
    full = request_bytes(headers, b"{}")
    cases: dict[str, tuple[bytes, float | None]] = {
        "idle": (b"", None),
        "half request line": (b"POST / HT", None),
        "headers without end": (full.split(b"\r\n\r\n")[0], None),
        "short body": (request_bytes(headers, b"{}")[:-1], None),
        "chunked without end": (_chunked(server, [b"2\r\n{}\r\n"]), None),
        "trickle": (full, CLIENT_TIMEOUT / 5),
    }
    took: dict[str, float] = {}
    errors: list[BaseException] = []

    def run(name: str, data: bytes, trickle: float | None) -> None:
        try:
            took[name] = _timed_out(server, data, trickle=trickle)
        except BaseException as exc:  # reported below, with the case's name
            errors.append(AssertionError(f"{name}: {exc!r}"))

    threads = [threading.Thread(target=run, args=(n, *c)) for n, c in cases.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert set(took) == set(cases)
    # Each closed within its timeout and some slack; the trickle, which would need
    # len(full) * 0.2 s, was cut off at about one timeout after its first byte.
    assert all(seconds < CLIENT_TIMEOUT * 4 for seconds in took.values()), took
    assert len(full) * CLIENT_TIMEOUT / 5 > CLIENT_TIMEOUT * 20
    with server.wire() as wire:  # a keep-alive connection left idle after an answer
        wire.send(server.signed({}))
        assert server.record(wire.answer()).status == 200
        started = time.monotonic()
        assert wire.closed_cleanly()
        assert time.monotonic() - started < CLIENT_TIMEOUT * 4
    assert_still_serving(server)


@pytest.mark.parametrize(
    ("length", "body"),
    [
        ("2000000", b"x" * 2_000_000),
        (str(10**30), b""),
        ("abc", b"{}"),
        ("-1", b"{}"),
        ("+2", b"{}"),
        ("1_0", b"{}"),
        (" 2 x", b"{}"),
        ("\xb2", b"{}"),
        ("1048577", b""),
    ],
)
def test_bad_or_huge_content_length(server, length, body):
    headers = {**signed_headers(server.host, b"{}"), "Content-Length": length}
    answer = server.exchange(request_bytes(headers, body, length=False))
    assert (answer.status, answer.error_type) == (400, "SerializationException")
    assert answer.closes


def test_conflicting_content_lengths(server):
    headers = signed_headers(server.host, b"{}")
    data = request_bytes(headers, b"{}").replace(
        b"Content-Length: 2\r\n", b"Content-Length: 2\r\nContent-Length: 3\r\n"
    )
    answer = server.exchange(data)
    assert (answer.status, answer.closes) == (400, True)


def test_a_body_just_under_the_limit_is_served(server):
    body = json.dumps({"padding": "x" * ((1 << 20) - 100)}).encode()
    assert len(body) < 1 << 20
    assert server.exchange(server.signed(body)).status == 200


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"POST /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"POST / HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", 431),
        (b"POST / HTTP/1.1\r\n" + b"X: y\r\n" * 120 + b"\r\n", 431),
        (b"POST / HTTP/2.0\r\n\r\n", 400),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
        (b"POST / HTTP/1.1.1\r\n\r\n", 400),
        (b"POST / FOO/1.1\r\n\r\n", 400),
        (b"POST / HTTP/99999999999.1\r\n\r\n", 400),
        (b"POST\r\n\r\n", 400),
        (b"POST / HTTP/1.1 extra\r\n\r\n", 400),
        (b"GET /\r\n\r\n", 400),
        (b"POST / HTTP/1.0\r\n\r\n", 400),
        (b"\r\n\r\nPOST / HTTP/1.1\r\nConnection: close\r\n\r\n", 400),
    ],
)
def test_malformed_http_is_a_json_4xx(server, data, status):
    answer = server.exchange(data)
    assert answer.status == status, answer
    assert answer.error_type in ("SerializationException", "MissingAuthenticationTokenException")


@pytest.mark.parametrize(
    "target",
    [
        "",
        "MTurkRequesterServiceV20170117",
        TARGET,
        TARGET + "listworkerswithqualificationtype",
        TARGET + "GetAccountBalance\xe9",
        TARGET + "x" * 10_000,
        "DynamoDB_20120810.ListTables",
        "MTurkRequesterServiceV20170117.GetAccountBalance.Extra",
    ],
)
def test_bad_targets(server, target):
    headers = {**signed_headers(server.host, b"{}", None), "X-Amz-Target": target}
    answer = server.exchange(request_bytes(headers, b"{}"))
    assert answer.status == 400
    assert answer.error_type in ("UnknownOperationException", "InvalidSignatureException")


def test_operations_the_local_mturk_does_not_implement(server):
    for operation in ("ListHITs", "SendBonus", "CreateHIT"):
        answer = server.exchange(server.signed({}, operation))
        assert (answer.status, answer.error_type) == (400, "RequestError")


def _random_request(rng: random.Random, server: Server) -> bytes:
    kind = rng.randrange(4)
    size = rng.choice([1, 10, 100, 1000, 5000])
    noise = bytes(rng.randrange(256) for _ in range(size))
    if kind == 0:
        return noise
    if kind == 1:  # a request line, then noise as headers
        return b"POST / HTTP/1.1\r\n" + noise + b"\r\n\r\n"
    if kind == 2:  # a signed request whose body is noise
        return request_bytes(signed_headers(server.host, noise), noise)
    operation = "ListWorkersWithQualificationType"
    valid = bytearray(server.signed(valid_input(operation), operation))
    for _ in range(rng.randrange(1, 6)):  # a valid request with a few bytes damaged
        valid[rng.randrange(len(valid))] = rng.randrange(256)
    return bytes(valid)


def _send_random(server: Server, data: bytes, end_input: bool) -> None:
    with server.wire(timeout=CLIENT_TIMEOUT * 6) as wire:
        # The server may answer and close while the noise is still being sent.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            wire.send(data)
            if end_input:  # EOF mid-request; otherwise the server waits until its timeout
                wire.sock.shutdown(socket.SHUT_WR)
        try:
            while True:
                server.record(wire.answer())
        except Closed:
            pass


def test_random_bytes(server):
    """Random requests from a fixed seed, 8 connections at a time, until RANDOM_CASES are sent
    or RANDOM_SECONDS have passed."""
    rng = random.Random(2026)
    cases = [(_random_request(rng, server), rng.random() < 0.9) for _ in range(RANDOM_CASES)]
    deadline = time.monotonic() + RANDOM_SECONDS
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [
            pool.submit(
                lambda case: None if time.monotonic() > deadline else _send_random(server, *case),
                case,
            )
            for case in cases
        ]
        for future in futures:
            future.result()
    assert time.monotonic() < deadline + CLIENT_TIMEOUT * 6
    assert_still_serving(server)


def test_no_5xx_over_the_whole_run(server):
    """Runs last in this module: the tally of every answer (each also checked as it came) holds
    no 5xx, and the server still serves."""
    with server.wire() as wire:
        wire.send(server.signed(b"[" * 1000) + server.signed({"x": None}) + server.signed({}))
        assert [server.record(wire.answer()).status for _ in range(3)] == [400, 200, 200]
    assert not [s for s in server.statuses if s >= 500], server.statuses
    assert_still_serving(server)
    print(f"answers by status over the run: {dict(sorted(server.statuses.items()))}")
