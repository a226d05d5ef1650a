"""`qual-pipeline ui` stopped the way systemd or `docker stop` stop it: SIGTERM to its pid only.

A real `qual-pipeline ui` runs on a free port with a small generated data set; once the UI answers,
every process it started (the local MTurk, `dagster dev`, its webserver, daemon, code server and any
run worker) is listed from /proc. After SIGTERM to the command alone it must exit with 143 and one
"interrupted" line, no process of that list may be left, and both ports must be free.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from support.dagster_ui import free_port, wait_for_ui

from qual_pipeline.cli.ui import DEV_STOP_TIMEOUT_S

UI_START_TIMEOUT_S = 180


def _stat(pid: int) -> tuple[int, str, str] | None:
    """(parent pid, state, start time in clock ticks) of a live process, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    state, ppid, start = fields[0], int(fields[1]), fields[19]
    return None if state in ("Z", "X") else (ppid, state, start)


def _descendants(root: int) -> dict[int, str]:
    """Every live process below `root`: pid -> start time (so a reused pid is not mistaken)."""
    parents: dict[int, int] = {}
    starts: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents[int(entry.name)], starts[int(entry.name)] = stat[0], stat[2]
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return {pid: starts[pid] for pid in found}


def _alive(processes: dict[int, str]) -> list[str]:
    left = []
    for pid, start in processes.items():
        stat = _stat(pid)
        if stat is not None and stat[2] == start:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            left.append(f"{pid}: {cmdline.decode(errors='replace')[:150]}")
    return left


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False  # something still accepts connections
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as any server binds
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            return False
    return True


def _run_queue(port: int) -> dict[str, object]:
    """The run queue the Dagster webserver reports (GraphQL `instance.runQueueConfig`)."""
    query = "{ instance { runQueueConfig { maxConcurrentRuns tagConcurrencyLimitsYaml } } }"
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        config = json.load(response)["data"]["instance"]["runQueueConfig"]
    limits = yaml.safe_load(config["tagConcurrencyLimitsYaml"] or "[]")
    return {
        "maxConcurrentRuns": config["maxConcurrentRuns"],
        "tagConcurrencyLimits": {limit["key"]: limit["limit"] for limit in limits},
    }


@pytest.mark.timeout(UI_START_TIMEOUT_S + 120)
@pytest.mark.slow(54)
def test_sigterm_to_ui_stops_every_child_and_frees_the_port(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()  # empty: `ui` writes the package's instance settings (run limits) there
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MTURK_"))}
    env |= {"DAGSTER_HOME": str(home), "COLUMNS": "200"}
    port = free_port()
    script = Path(sys.executable).with_name("qual-pipeline")
    stdout, stderr = tmp_path / "ui.out", tmp_path / "ui.err"
    cmd = [str(script), "ui", "--port", str(port), "--data-dir", str(tmp_path / "data")]
    with stdout.open("wb") as out, stderr.open("wb") as err:
        ui = subprocess.Popen(
            [*cmd, "--workers", "20", "--types", "2"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,  # a signal to the test's group never reaches it
        )
    started: dict[int, str] = {}
    try:
        wait_for_ui(f"http://127.0.0.1:{port}", ui, stderr, UI_START_TIMEOUT_S)
        (mturk_port,) = re.findall(r"local MTurk: http://127\.0\.0\.1:(\d+)", stdout.read_text())
        # The run queue of the README (at most 2 extraction runs, 1 warehouse load), as the
        # webserver reports it: from a pip install, ui once wrote telemetry only (10 runs).
        assert _run_queue(port) == {
            "maxConcurrentRuns": 4,
            "tagConcurrencyLimits": {"qual_pipeline/api": 2, "qual_pipeline/warehouse": 1},
        }
        assert f"wrote {home / 'dagster.yaml'}: qual_pipeline's Dagster instance" in (
            stderr.read_text()
        )
        time.sleep(5)  # the daemon's first ticks: discovery launches extraction runs
        started = _descendants(ui.pid)
        commands = "\n".join(_alive(started))
        for part in ("local-mturk serve", "dagster dev", "dagster_webserver", "dagster._daemon"):
            assert part in commands, f"no {part!r} among the processes of ui:\n{commands}"

        sent = time.monotonic()
        ui.send_signal(signal.SIGTERM)
        code = ui.wait(timeout=DEV_STOP_TIMEOUT_S + 30)
        took = time.monotonic() - sent

        assert code == 143, stderr.read_text()
        lines = stderr.read_text().splitlines()
        assert lines[-1] == "interrupted (SIGTERM): the Dagster UI and the local MTurk are stopped"
        assert [line for line in lines if line.startswith("interrupted")] == [lines[-1]]
        assert _alive(started) == [], f"left running {took:.1f} s after SIGTERM"
        # Off a terminal, Dagster's own (coloured) log lines are plain text too.
        logged = stdout.read_text() + stderr.read_text()
        assert "dagster" in logged.lower() and "\x1b[" not in logged
        assert _port_is_free(port), f"port {port} of the UI is still taken"
        assert _port_is_free(int(mturk_port)), f"port {mturk_port} of the local MTurk is taken"
    finally:
        if ui.poll() is None:
            ui.kill()
            ui.wait()
        for pid in started:
            if _alive({pid: started[pid]}):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
