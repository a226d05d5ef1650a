"""`qual-pipeline local-mturk`: serve the local MTurk, or generate a data set for it."""

from __future__ import annotations

import shlex
import signal
import sqlite3
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from qual_pipeline.cli.render import fail
from qual_pipeline.local_mturk import DEFAULT_CLIENT_TIMEOUT
from qual_pipeline.local_mturk.generate import (
    GENERATED_ACCESS_KEY_ID,
    MAX_QUALIFICATIONS,
    MAX_SEED,
    MAX_TYPES,
    MAX_WORKERS,
    generate,
    size_problem,
)

app = typer.Typer(
    name="local-mturk",
    help=(
        "A local MTurk Requester API on 127.0.0.1: boto3 and the AWS CLI talk to it unchanged "
        "(JSON 1.1, SigV4). It serves the qualification operations, records the e-mails MTurk "
        "would send, and can inject throttling, faults, dropped connections and latency."
    ),
    no_args_is_help=True,
    add_completion=False,
)

_RATE = {"min": 0.0, "max": 1.0}


@app.command()
def serve(
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1; 0 picks a free one.")
    ] = 0,
    data: Annotated[
        Path | None,
        typer.Option(
            help="JSON seed data (requesters, qualification_types, qualifications, "
            "qualification_requests). With --state, loaded only when the state file is new.",
        ),
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option(help="SQLite file that keeps the state across restarts (default: memory)."),
    ] = None,
    throttle_rate: Annotated[
        float, typer.Option(**_RATE, help="Share of requests answered ThrottlingException.")
    ] = 0.0,
    fault_rate: Annotated[
        float, typer.Option(**_RATE, help="Share of requests answered ServiceFault (HTTP 500).")
    ] = 0.0,
    reset_rate: Annotated[
        float, typer.Option(**_RATE, help="Share of requests whose connection is dropped.")
    ] = 0.0,
    latency_ms: Annotated[
        int, typer.Option(min=0, help="Milliseconds added before every answer.")
    ] = 0,
    rate_limit: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            help="Requests per second per requester; beyond it, ThrottlingException "
            "'Rate exceeded' as MTurk answers.",
        ),
    ] = None,
    fault_seed: Annotated[
        int, typer.Option(help="Seed that makes injected faults repeatable.")
    ] = 0,
    environment: Annotated[
        str | None,
        typer.Option(
            help="sandbox or production: which Masters type exists. Default: the --state "
            "file's own, or sandbox for a new state.",
        ),
    ] = None,
    client_timeout: Annotated[
        float,
        typer.Option(
            min=0.1,
            help="Seconds a connection may stay idle before it is closed, and a request may "
            "take to arrive once begun (else HTTP 408).",
        ),
    ] = DEFAULT_CLIENT_TIMEOUT,
) -> None:
    """Serve the local MTurk until stopped (Ctrl-C or SIGTERM).

    The first line on stdout is the endpoint URL, e.g. http://127.0.0.1:43127; pass it to boto3
    as endpoint_url or to the AWS CLI as --endpoint-url.
    """
    from qual_pipeline.local_mturk.faults import FaultConfig
    from qual_pipeline.local_mturk.seed import DataError
    from qual_pipeline.local_mturk.server import LocalMTurk
    from qual_pipeline.local_mturk.store import ENVIRONMENTS, EnvironmentMismatch

    try:
        faults = FaultConfig(
            throttle_rate=throttle_rate,
            fault_rate=fault_rate,
            reset_rate=reset_rate,
            latency_ms=latency_ms,
            rate_limit=rate_limit,
            seed=fault_seed,
        )
    except ValueError as exc:
        raise fail(f"fault options: {exc}", 2) from None
    if data is not None and data.is_dir():
        raise fail(f"--data {data}: is a folder; name the JSON seed data file in it", 2)
    if data is not None and not data.is_file():
        raise fail(f"--data {data}: no such file", 2)
    if environment is not None and environment not in ENVIRONMENTS:
        raise fail(f"--environment {environment!r}: use sandbox or production", 2)
    try:
        mturk = LocalMTurk(
            data=data,
            state_path=state,
            faults=faults,
            port=port,
            environment=environment,
            client_timeout=client_timeout,
        )
    except (DataError, EnvironmentMismatch) as exc:
        raise fail(str(exc), 2) from None
    except (OSError, sqlite3.Error) as exc:  # e.g. a --state path in a missing directory
        raise fail(f"--state {state}: cannot open it as a SQLite state file ({exc})", 2) from None
    try:
        mturk.start()
    except OSError as exc:
        mturk.stop()
        raise fail(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}", 2) from None

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(mturk.endpoint_url, flush=True)
    if data is not None and mturk.seeded is None:
        print(f"state {state} already holds data: --data {data} not loaded", file=sys.stderr)
    elif mturk.seeded is not None:
        loaded = ", ".join(f"{n} {name}" for name, n in mturk.seeded.items())
        print(f"loaded {loaded}", file=sys.stderr, flush=True)
    print(f"environment {mturk.environment}", file=sys.stderr, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        mturk.stop()


@app.command("generate")
def generate_command(
    out: Annotated[Path, typer.Option(help="Where to write the JSON data set.")],
    workers: Annotated[int, typer.Option(min=1, max=MAX_WORKERS, help="Number of workers.")] = 1000,
    types: Annotated[
        int,
        typer.Option(
            min=1,
            max=MAX_TYPES,
            help="Number of qualification types; the first is held by every worker. Workers x "
            f"types at most {MAX_QUALIFICATIONS:,}.",
        ),
    ] = 1,
    seed: Annotated[
        int,
        typer.Option(min=0, max=MAX_SEED, help="Random seed: the same seed writes the same file."),
    ] = 0,
) -> None:
    """Write a deterministic, realistic data set for `serve --data`.

    Workers x types qualifications at most (the first type is held by all workers, the others by
    20-100% of them), ~5% revoked, ~1% pending qualification requests per type, realistic ids,
    scores, grant times and locales (a few odd ones on purpose). The workers section lists every
    worker the environment knows (holders, requesters and ~1% idle ones); other ids are unknown.
    One requester owns every type; its credentials are in the file.
    """
    if problem := size_problem(workers, types):
        raise fail(problem, 2)
    try:
        with _stopped_by_signals(out):
            counts = generate(out, workers=workers, types=types, seed=seed)
    except OSError as exc:
        raise fail(f"--out {out}: {exc.strerror}", 2) from None
    typer.echo(
        f"wrote {out}: {counts.qualifications} qualifications ({counts.revoked} revoked) of "
        f"{counts.workers} workers in {counts.types} types, {counts.requests} pending requests, "
        f"{counts.known_workers} known workers"
    )
    typer.echo(
        f"The requester's keys are in {out} (requesters[0]); to use them with boto3 or the AWS "
        "CLI (the secret is read from the file, never printed):"
    )
    for line in credential_exports(out.resolve()):
        typer.echo(f"  {line}")


class _Signalled(BaseException):
    """SIGINT or SIGTERM while a data set is written: raised where the writing is, so its
    `finally` removes the temporary file (BaseException: no handler of errors takes it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def _stopped_by_signals(out: Path) -> Iterator[None]:
    """Inside the block SIGINT and SIGTERM stop the writing at once (the temporary file is
    removed, `out` is as it was), one line says so, exit 128 + the signal. (The console
    script's own SIGTERM handler exits at once, which would leave the temporary file behind.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        raise _Signalled(signum)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    except _Signalled as stopped:
        name = signal.Signals(stopped.signum).name
        print(
            f"interrupted ({name}): no data set was written; {out} is as it was",
            file=sys.stderr,
            flush=True,
        )
        raise typer.Exit(128 + stopped.signum) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def credential_exports(data: Path) -> list[str]:
    """Shell lines that export the generated requester's keys for boto3 and the AWS CLI; the
    secret is read from `data` when the line runs, so it never appears in the output."""
    read_secret = (
        'import json, sys; print(json.load(open(sys.argv[1]))["requesters"][0]["SecretAccessKey"])'
    )
    command = shlex.join([sys.executable, "-c", read_secret, str(data)])
    return [
        f"export AWS_ACCESS_KEY_ID={GENERATED_ACCESS_KEY_ID}",
        f'export AWS_SECRET_ACCESS_KEY="$({command})"',
        "export AWS_DEFAULT_REGION=us-east-1",
        f"# then serve it (qual-pipeline local-mturk serve --data {shlex.quote(str(data))}) "
        "and export MTURK_ENDPOINT_URL=<the URL it prints first>",
    ]
