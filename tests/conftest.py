"""Shared test fixtures: local MTurk servers and the environment that points boto3 at them.

Helpers (requesters, seed data, clients) live in the `support` package: tests import them from
there (`from support.mturk import REQUESTER, make_data`), never from this file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.mturk import REQUESTER, Requester, mturk_variables

from qual_pipeline.local_mturk.server import FaultConfig, LocalMTurk

# The CLI's rich consoles are made when qual_pipeline.cli.render is first imported, and a COLUMNS
# set then would fix their width for the whole test process. Import it here, before any test
# sets COLUMNS, so that every in-process command follows the COLUMNS its test gives.
_columns = os.environ.pop("COLUMNS", None)
import qual_pipeline.cli.render  # noqa: E402,F401

if _columns is not None:
    os.environ["COLUMNS"] = _columns

# Fixtures of real services (moto's S3 server, PostgreSQL) for every test that asks for them.
pytest_plugins = ("support.services",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `slow(seconds)` run first, the longest first; the others keep their order.

    `make test` runs `pytest -n 4 --maxschedchunk 1`: a worker is sent the next test in this order
    as it finishes one, so the long tests (Dagster daemons and UIs, kill/resume rounds, most of
    their time spent waiting on ticks, timers and child processes) start at once on different
    workers and the short ones fill in around them; none starts last and ends the run alone.

    pytest-xdist keeps two tests queued on each worker, even with --maxschedchunk 1: at the start
    worker k is sent tests 2k and 2k+1 of this order, the second waiting for the first. Sorted
    longest first, the two longest tests (then 175 s and 160 s) ran one after the other on one
    worker. So the first 2 x workers slow tests are paired longest with shortest: each worker
    starts one of the longest tests, with one of the shorter slow tests queued behind it.

    The seconds only rank the tests: they are not a limit.
    """

    def expected_seconds(item: pytest.Item) -> float:
        marker = item.get_closest_marker("slow")
        return float(marker.args[0]) if marker is not None else 0.0

    items.sort(key=expected_seconds, reverse=True)  # stable: unmarked tests keep their order
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    head = [item for item in items[: 2 * workers] if expected_seconds(item) > 0]
    if workers > 1 and len(head) == 2 * workers:
        items[: 2 * workers] = [
            item for k in range(workers) for item in (head[k], head[2 * workers - 1 - k])
        ]


@pytest.fixture(autouse=True)
def no_project_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the project's Dagster instance (`make` exports DAGSTER_HOME=dagster_home/):
    a command a test runs gets a throw-away instance, or the temporary one the test sets."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)


@pytest.fixture
def local_mturk() -> Iterator[Callable[..., LocalMTurk]]:
    """Factory: `local_mturk(data=..., state_path=None, faults=None)` starts a server; all are
    stopped after the test."""
    started: list[LocalMTurk] = []

    def start(
        data: dict[str, Any] | Path | str | None = None,
        state_path: Path | str | None = None,
        faults: FaultConfig | None = None,
    ) -> LocalMTurk:
        server = LocalMTurk(data=data, state_path=state_path, faults=faults)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def mturk_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., dict[str, str]]:
    """`mturk_env(mturk, requester=REQUESTER)` points boto3's standard credential chain and
    MTURK_ENDPOINT_URL at a local MTurk (no config files, no instance metadata) and returns the
    variables it set, e.g. to pass to a subprocess."""

    def apply(mturk: LocalMTurk, requester: Requester = REQUESTER) -> dict[str, str]:
        env = mturk_variables(mturk.endpoint_url, requester, tmp_path)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return env

    return apply
