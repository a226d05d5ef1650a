"""Real browser test: a user backfills two qualification types in the Dagster UI (one run),
then reads the warehouse asset: its row count, its column schema with descriptions, and its
charts.

A local MTurk serves three types; the webserver and the daemon (what `dagster dev` runs, each with
its code server) run as child processes in process groups of their own on 127.0.0.1, against a
throwaway DAGSTER_HOME holding a copy of the project's dagster.yaml. A `qual-pipeline refresh` on
that instance extracts and loads the three types before the daemon starts, so the discovery sensor
finds every type with its lake snapshots and launches nothing (the webserver, which runs no
sensor, starts while the refresh runs, not after it). Then the scores of two
types change on the local MTurk: the extraction runs that bring the new scores in come from the
clicks in headless Chromium, and the warehouse load from the load_after_extract sensor after them;
the third type keeps its first scores.
Screenshots land in test-artifacts/ (and one of the page plus the Dagster log on failure).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter
from playwright.sync_api import Locator, Page, expect, sync_playwright
from support.dagster_ui import free_port, stop_groups, wait_for_ui
from support.mturk import (
    REQUESTER,
    make_data,
    mturk_client,
    mturk_variables,
    qualification,
    qualification_type,
    type_id,
)
from support.stores import read_warehouse

from qual_pipeline.defs.assets.warehouse import CHART_TITLES
from qual_pipeline.defs.metadata import warehouse_column_schema
from qual_pipeline.defs.partitions import qualification_type_partitions
from qual_pipeline.defs.pools import set_pool_limits
from qual_pipeline.local_mturk.server import LocalMTurk

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Workers per type: distinct counts, so a type loaded twice or the wrong type shows in the totals.
WORKERS_PER_TYPE = (30, 40, 50)
UI_START_TIMEOUT_S = 120
# The backfill daemon wakes every 30 s: submitting the runs and seeing them done takes two wakes.
BACKFILL_TIMEOUT_S = 180
WAREHOUSE_TIMEOUT_S = 120  # the load_after_extract sensor ticks every 30 s
BACKFILL_FAILED = {"FAILED", "FAILING", "CANCELED", "CANCELING", "COMPLETED_FAILED"}
UI_TIMEOUT_MS = 60_000  # page loads and clicks on a slow machine
WAREHOUSE_TABLE = AssetKey(["warehouse", "worker_qualifications"])


@dataclass(frozen=True)
class DagsterStack:
    url: str
    data_dir: Path
    dagster_home: Path
    log_path: Path
    type_ids: tuple[str, ...]
    scores: dict[str, dict[str, int]] = field(repr=False)  # type id -> worker id -> score
    mturk_url: str = ""


def _dataset() -> tuple[dict[str, Any], dict[str, dict[str, int]]]:
    types = [type_id(n) for n in range(1, len(WORKERS_PER_TYPE) + 1)]
    records: list[dict[str, Any]] = []
    scores: dict[str, dict[str, int]] = {}
    first = 0
    for qual_type, count in zip(types, WORKERS_PER_TYPE, strict=True):
        held = [qualification(first + i, i % 100, qual_type_id=qual_type) for i in range(count)]
        records += held
        scores[qual_type] = {r["WorkerId"]: r["IntegerValue"] for r in held}
        first += count // 2  # workers overlap across types, as on the real service
    data = make_data(
        types=[qualification_type(t, name=f"Browser test type {n}") for n, t in enumerate(types)],
        qualifications=records,
    )
    return data, scores


def _prepare_instance(home: Path, type_ids: list[str]) -> None:
    """Partitions and pool limits in place before the daemon's first tick."""
    home.mkdir(parents=True)
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    instance = DagsterInstance.from_config(str(home))
    try:
        instance.add_dynamic_partitions(qualification_type_partitions.name, type_ids)
        set_pool_limits(instance, api_concurrency=2)
    finally:
        instance.dispose()
    # What the UI's "Join the Dagster community" dialog writes once a user dismisses it.
    (home / ".nux").mkdir()
    (home / ".nux" / "nux.yaml").write_text("seen: 1\n")


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def dagster_stack(tmp_path: Path) -> Iterator[DagsterStack]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser-deps` (Debian's chromium package)")
    data, scores = _dataset()
    type_ids = sorted(scores)
    home = tmp_path / "dagster_home"
    data_dir = tmp_path / "data"
    _prepare_instance(home, type_ids)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "dagster_dev.log"
    bin_dir = Path(sys.executable).parent
    with LocalMTurk(data=data) as mturk, log_path.open("wb") as log:
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "QUAL_PIPELINE_DATA_DIR": str(data_dir),
            "QUAL_PIPELINE_TYPES": "owned",
            "MTURK_ENVIRONMENT": "sandbox",
            **mturk_variables(mturk.endpoint_url, REQUESTER, tmp_path),
        }
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "QUAL_PIPELINE_SCHEDULE_CRON"):
            env.pop(name, None)
        # A shell may start pytest with SIGINT ignored; Dagster's processes would inherit that and
        # then ignore SIGINT and SIGTERM alike, so they get the default back in that case only.
        sigint_ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        processes: list[subprocess.Popen[bytes]] = []

        def start(*command: str) -> subprocess.Popen[bytes]:
            processes.append(
                subprocess.Popen(
                    [*command, "-m", "qual_pipeline.definitions"],
                    cwd=tmp_path,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_default_sigint if sigint_ignored else None,
                )
            )
            return processes[-1]

        try:
            webserver = start(f"{bin_dir}/dagster-webserver", "-h", "127.0.0.1", "-p", str(port))
            # The types extracted and loaded first, registered in the instance as a refresh does.
            refresh = subprocess.run(
                [str(bin_dir / "qual-pipeline"), "refresh", "--data-dir", str(data_dir)],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert refresh.returncode == 0, refresh.stderr
            start(f"{bin_dir}/dagster-daemon", "run")
            wait_for_ui(url, webserver, log_path, UI_START_TIMEOUT_S)
            yield DagsterStack(
                url=url,
                data_dir=data_dir,
                dagster_home=home,
                log_path=log_path,
                type_ids=tuple(type_ids),
                scores=scores,
                mturk_url=mturk.endpoint_url,
            )
        finally:
            stop_groups(processes, signal.SIGINT)


def _field(page: Page, label: str) -> Locator:
    """The value shown next to a label of an overview panel ("Status", "Row count", ...)."""
    return page.get_by_text(label, exact=True).locator("xpath=following-sibling::*[1]")


def _wait_for_backfill(page: Page, instance: DagsterInstance, backfill_id: str) -> None:
    """Until the backfill page shows Succeeded; fails at once if the backfill failed."""
    status = _field(page, "Status")
    deadline = time.monotonic() + BACKFILL_TIMEOUT_S
    while True:
        backfill = instance.get_backfill(backfill_id)
        assert backfill is not None, f"backfill {backfill_id} is not in the instance"
        if backfill.status.value in BACKFILL_FAILED:
            raise AssertionError(f"backfill {backfill_id} ended {backfill.status.value}")
        if status.is_visible() and status.inner_text().strip() == "Succeeded":
            assert backfill.status.value == "COMPLETED_SUCCESS", backfill.status
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"backfill {backfill_id} still {backfill.status.value} after "
                f"{BACKFILL_TIMEOUT_S}s (the page shows {status.all_inner_texts()})"
            )
        page.wait_for_timeout(1000)


def _wait_for_warehouse_load(instance: DagsterInstance) -> None:
    """Until a load that started after the last lake snapshot landed has succeeded."""
    lake = instance.get_latest_materialization_event(AssetKey(["lake", "worker_qualifications"]))
    assert lake is not None, "the backfill materialized no lake snapshot"
    deadline = time.monotonic() + WAREHOUSE_TIMEOUT_S
    while time.monotonic() < deadline:
        loaded = instance.get_latest_materialization_event(WAREHOUSE_TABLE)
        if loaded is not None:
            run = instance.get_run_record_by_id(loaded.run_id)
            assert run is not None
            if (
                run.start_time is not None
                and run.start_time >= lake.timestamp
                and run.dagster_run.status == DagsterRunStatus.SUCCESS
            ):
                return
            if run.dagster_run.status == DagsterRunStatus.FAILURE:
                raise AssertionError(f"warehouse load run {loaded.run_id} failed")
        time.sleep(1)
    raise AssertionError(
        f"no warehouse load after the backfill within {WAREHOUSE_TIMEOUT_S}s "
        "(the load_after_extract sensor should have requested one)"
    )


def _check_column_schema(page: Page) -> None:
    """The asset's Columns section lists every column of the table with its type and the
    description written in its DDL (the README's column table comes from the same comments)."""
    schema = warehouse_column_schema(WAREHOUSE_TABLE.path[-1])
    assert len(schema.columns) >= 10
    expect(page.get_by_text("Columns", exact=True)).to_be_visible()
    for column in schema.columns:
        assert column.description, f"{column.name} has no description"
        row = page.get_by_role("row").filter(has=page.get_by_text(column.name, exact=True))
        expect(row).to_have_count(1)
        expect(row).to_contain_text(column.type)
        expect(row).to_contain_text(column.description.replace("`", ""))  # markdown code


def _check_chart(page: Page, name: str, title: str) -> None:
    """The chart in the metadata entry `name` opens as a PNG drawn whole inside its dialog."""
    entry = page.get_by_role("row").filter(has=page.get_by_text(name, exact=True))
    entry.get_by_text("[Show Markdown]").click()
    dialog = page.get_by_role("dialog").filter(has_text=name)
    image = dialog.get_by_role("img", name=title)
    expect(image).to_be_visible()
    shown = image.evaluate(
        """i => ({complete: i.complete, natural: i.naturalWidth, height: i.naturalHeight,
                 src: i.src.slice(0, 22), width: i.getBoundingClientRect().width,
                 room: i.parentElement.clientWidth})"""
    )
    assert shown["complete"] and shown["natural"] > 300 and shown["height"] > 200, shown
    assert shown["src"] == "data:image/png;base64,", shown
    # Titles inside: the picture is not cut by the dialog (nothing to scroll sideways).
    assert shown["width"] <= shown["room"], f"{name} is wider than its dialog: {shown}"
    page.wait_for_timeout(500)  # the dialog's fade-in, for the screenshot
    page.screenshot(path=str(ARTIFACTS / f"dagster_ui_{name}.png"))
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_have_count(0)


@pytest.mark.browser
@pytest.mark.timeout(420)
@pytest.mark.slow(150)  # with its fixture: refresh and `dagster dev` (~26 s)
def test_backfill_two_types_from_the_ui_loads_the_warehouse(dagster_stack: DagsterStack) -> None:
    # Adjacent partitions: the backfill policy runs a partition key range as one run (apart,
    # each stretch would be a run of its own).
    chosen = [dagster_stack.type_ids[0], dagster_stack.type_ids[1]]
    first = {
        (qual_type, worker, score)
        for qual_type, scores in dagster_stack.scores.items()
        for worker, score in scores.items()
    }
    assert _warehouse_rows(dagster_stack.data_dir) == first, "the refresh loaded every type"
    # New scores for the chosen types on the local MTurk; only a new extraction brings them in.
    client = mturk_client(dagster_stack.mturk_url)
    expected = set()
    for qual_type, scores in dagster_stack.scores.items():
        for worker, score in scores.items():
            if qual_type in chosen:
                score = (score + 7) % 100
                client.associate_qualification_with_worker(
                    QualificationTypeId=qual_type,
                    WorkerId=worker,
                    IntegerValue=score,
                    SendNotification=False,
                )
            expected.add((qual_type, worker, score))
    ARTIFACTS.mkdir(exist_ok=True)
    instance = DagsterInstance.from_config(str(dagster_stack.dagster_home))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(UI_TIMEOUT_MS)
        expect.set_options(timeout=UI_TIMEOUT_MS)
        try:
            # The asset page, once the code location is loaded (the Partitions tab appears).
            page.goto(f"{dagster_stack.url}/assets/lake/worker_qualifications")
            page.get_by_role("tab", name="Partitions").wait_for()
            # One asset lands both lake tables of a type: the launch dialog opens directly.
            page.get_by_role("button", name="Materialize…").click()
            dialog = page.get_by_role("dialog")
            dialog.get_by_text("Select a partition or create one").click()
            for qual_type in chosen:
                # The partition list's entry, not the asset page's link to the partition.
                entry = page.get_by_text(qual_type, exact=True).filter(visible=True)
                entry.and_(page.locator("xpath=//*[not(ancestor::a)]")).click()
                expect(page.get_by_role("checkbox", name=qual_type)).to_be_checked()
            page.keyboard.press("Escape")  # closes the partition list, not the dialog
            expect(dialog.get_by_text("2 partitions", exact=True)).to_be_visible()
            dialog.get_by_role("button", name="Launch backfill").click()

            # The toast links to the new backfill's page.
            page.get_by_text("Created backfill").wait_for()
            page.get_by_role("link", name="View", exact=True).click()
            page.wait_for_url(re.compile(r"/runs/b/[a-z]+$"))
            backfill_id = page.url.rsplit("/", 1)[-1]
            _wait_for_backfill(page, instance, backfill_id)
            # The backfill policy: one run extracts every chosen type, not one run per type.
            runs = instance.get_runs(filters=RunsFilter(tags={"dagster/backfill": backfill_id}))
            assert len(runs) == 1, [r.tags for r in runs]
            assert runs[0].tags["dagster/asset_partition_range_start"] == chosen[0]
            assert runs[0].tags["dagster/asset_partition_range_end"] == chosen[1]
            for qual_type in chosen:
                expect(page.get_by_text(qual_type, exact=True).first).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "dagster_ui_backfill.png"), full_page=True)

            # The load_after_extract sensor loads the warehouse after the new snapshots.
            _wait_for_warehouse_load(instance)
            page.goto(f"{dagster_stack.url}/assets/warehouse/worker_qualifications")
            latest = _field(page, "Latest materialization")
            expect(latest).to_contain_text(" ago")
            expect(_field(page, "Row count")).to_have_text(str(len(expected)))
            loaded = page.get_by_role("row").filter(has_text="snapshots_loaded")
            # Each type's two lake tables (worker_qualifications and qualification_requests).
            expect(loaded.get_by_role("cell").last).to_have_text(str(2 * len(chosen)))
            _check_column_schema(page)
            page.screenshot(path=str(ARTIFACTS / "dagster_ui_warehouse.png"), full_page=True)
            for chart, title in CHART_TITLES.items():
                _check_chart(page, Path(chart).stem, title)
        except BaseException:
            page.screenshot(path=str(ARTIFACTS / "dagster_ui_failure.png"), full_page=True)
            shutil.copy(dagster_stack.log_path, ARTIFACTS / "dagster_dev.log")
            raise
        finally:
            browser.close()
            instance.dispose()

    rows = _warehouse_rows(dagster_stack.data_dir)
    assert len(rows) == len(expected), "one row per (type, worker) of the three types"
    assert rows == expected, "new scores for the backfilled types, the first for the other"


def _warehouse_rows(data_dir: Path) -> set[tuple[str, str, int]]:
    con = read_warehouse(data_dir)
    try:
        rows = con.execute(
            "SELECT qualification_type_id, worker_id, integer_value FROM worker_qualifications"
        ).fetchall()
    finally:
        con.close()
    assert len(rows) == len(set(rows)), "one row per (type, worker)"
    return set(rows)
