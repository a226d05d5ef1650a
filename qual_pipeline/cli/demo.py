"""`qual-pipeline demo` (what `make demo` runs): the whole product, end to end, on a local MTurk.

It generates a data set, serves it on a free loopback port, and runs the same Dagster definitions
the UI uses: discovery, extraction, warehouse load and checks, then a push of example desired scores
and grant decisions with read-back, and a load that draws the charts with the push in them. It
finishes with a summary a person can read. Each run starts from a clean demo folder, so running it
twice gives the same story.

Its Dagster instance is a throw-away one of its own, never DAGSTER_HOME: the project's instance
(what `make ui` and `refresh` use) holds no partition, run or materialization of the demo, whose
data lives apart in the demo folder.
"""

from __future__ import annotations

import csv
import os
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from qual_pipeline import settings
from qual_pipeline.cli import preflight
from qual_pipeline.cli.render import out, whole_words
from qual_pipeline.lake.layout import lake_dir, warehouse_path
from qual_pipeline.warehouse.sql_files import sql_text

if TYPE_CHECKING:
    from qual_pipeline.warehouse.charts import ScorePanel

SEED = 2026
BARS = " ▁▂▃▄▅▆▇█"  # an empty bin, then bins from the fewest workers to the most
TEXT_BINS = 20  # bars of a histogram in the summary
FIRST_QUERY = (
    "SELECT qualification_type_id AS type_id, qualification_type_name AS name, "
    "integer_value AS score, workers FROM score_distribution ORDER BY type_id, score LIMIT 20"
)
"""The query the summary (and the README) suggests first: sorted, every id whole."""
SCORE_CHANGES = 40  # desired-score changes the demo asks for on its first type
ACCEPTS, REJECTS = 5, 2


def demo(
    data_dir: Annotated[
        Path,
        typer.Option(
            help="Where the demo keeps its lake, warehouse and inputs; emptied at every run, so "
            "it is its own option, never QUAL_PIPELINE_DATA_DIR."
        ),
    ] = Path("data/demo"),
    workers: Annotated[int, typer.Option(min=10, help="Workers in the demo data set.")] = 3000,
    types: Annotated[int, typer.Option(min=1, max=20, help="Qualification types.")] = 3,
) -> None:
    """Run the whole product end to end against a local MTurk: no credentials needed."""
    preflight.check_environment()  # e.g. QUAL_PIPELINE_SCHEDULE_CRON: before anything is deleted
    raise typer.Exit(run_demo(data_dir.resolve(), workers=workers, types=types))


def run_demo(data_dir: Path, *, workers: int, types: int) -> int:
    from dagster import DagsterInstance

    from qual_pipeline.definitions import build_definitions
    from qual_pipeline.local_process import generate_data, local_mturk, requester_credentials
    from qual_pipeline.refresh import QUIET, failure_message, refresh

    console = out
    started = time.monotonic()
    if data_dir.exists():
        shutil.rmtree(data_dir)
    inputs = data_dir / "inputs"
    inputs.mkdir(parents=True)
    dataset = data_dir / "local_mturk.json"
    console.print(
        f"[bold]1/5[/] generating a local MTurk data set: {workers} workers, {types} types"
    )
    generate_data(dataset, workers=workers, types=types, seed=SEED)
    key, secret = requester_credentials(dataset)
    with local_mturk(data=dataset) as server:
        console.print(f"[bold]2/5[/] local MTurk serving on {server.endpoint_url}")
        # The local MTurk's requester keys reach boto3 through its standard credential chain;
        # the settings go to the definitions as values.
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": key,
                "AWS_SECRET_ACCESS_KEY": secret,
                "AWS_DEFAULT_REGION": "us-east-1",
            }
        )
        os.environ.pop("AWS_PROFILE", None)
        os.environ.pop("AWS_SESSION_TOKEN", None)
        defs = build_definitions(
            {
                settings.ENDPOINT_URL.name: server.endpoint_url,
                settings.ENVIRONMENT.name: "sandbox",
                settings.AWS_PROFILE.name: None,
                settings.DATA_DIR.name: str(data_dir),
                settings.INPUTS_DIR.name: str(inputs),
                settings.TYPES.name: "owned",
                # The demo is the local profile, whatever the environment says.
                settings.STORAGE.name: None,
                settings.CATALOG.name: None,
            }
        )
        instance = DagsterInstance.ephemeral()  # the demo's own: nothing in DAGSTER_HOME
        console.print("[bold]3/5[/] refresh: discover types, extract to the lake, load DuckDB")
        outcome = refresh(defs, instance)
        if not outcome.ok:
            for name, message in outcome.failures.items():
                console.print(f"[red]failed:[/] {name}: {message}")
            for check in outcome.check_failures:
                console.print(f"[red]check failed:[/] {check}")
            return 1
        before = _scores(data_dir)
        _write_example_inputs(data_dir, inputs)
        console.print(
            "[bold]4/5[/] push: example desired scores and grant decisions, then the charts"
        )
        # The load after the push reads nothing new from the lake; it draws the charts again,
        # so they show the pushed changes (the warehouse asset's metadata too).
        for job in ("push_scores", "grant_requests", "load_warehouse"):
            result = defs.resolve_job_def(job).execute_in_process(
                instance=instance, run_config=QUIET, raise_on_error=False
            )
            if not result.success:
                console.print(f"[red]{job} failed:[/] {failure_message(result)}")
                return 1
        console.print("[bold]5/5[/] summary")
        failures = outcome.check_failures + outcome.check_warnings
        _summary(console, data_dir, before, failures)
    console.print(
        f"demo done in {time.monotonic() - started:.0f} s; local MTurk stopped."
        + (f" ({len(failures)} check(s) flagged)" if failures else "")
    )
    return 0


def _query(data_dir: Path, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
    from qual_pipeline.stores.profile import local_stores

    con = local_stores(data_dir).warehouse.connect(read_only=True)
    try:
        return con.execute(sql, params or {}).fetchall()
    finally:
        con.close()


def _scores(data_dir: Path) -> dict[tuple[str, str], int | None]:
    rows = _query(
        data_dir,
        "SELECT qualification_type_id, worker_id, integer_value FROM worker_qualifications",
    )
    return {(t, w): v for t, w, v in rows}


def _write_csv(path: Path, header: list[str], rows: list[tuple]) -> None:
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(header)
        out.writerows(rows)


def _write_example_inputs(data_dir: Path, inputs: Path) -> None:
    """What a real user writes themselves: desired scores and decisions on pending requests."""
    _write_csv(
        inputs / "desired_scores.csv",
        ["qualification_type_id", "worker_id", "integer_value"],
        _query(data_dir, sql_text("demo/example_desired_scores"), {"changes": SCORE_CHANGES}),
    )
    _write_csv(
        inputs / "grant_decisions.csv",
        ["qualification_request_id", "decision", "integer_value", "reason"],
        _query(
            data_dir,
            sql_text("demo/example_grant_decisions"),
            {"accepts": ACCEPTS, "rejects": REJECTS},
        ),
    )


def _summary(
    console: Console,
    data_dir: Path,
    before: dict[tuple[str, str], int | None],
    check_failures: list[str],
) -> None:
    per_type = Table(
        "qualification type", "name", "scale", "granted", "revoked", title="Workers per type"
    )
    rows = _query(data_dir, sql_text("demo/type_summary"))
    whole_words(per_type, rows, console.width)
    console.print(per_type)

    console.print("[bold]Score distribution of granted workers[/], each type on its own scale:")
    for panel in _score_panels(data_dir):
        name = panel.name if len(panel.name) <= 30 else panel.name[:29] + "…"
        console.print(f"  {name:<30} {panel.scale:<7} {_text_histogram(panel)}", highlight=False)

    after = _scores(data_dir)
    changed = [(k, before.get(k), v) for k, v in after.items() if before.get(k) != v]
    audit = _query(
        data_dir, "SELECT action, status, count(*) FROM push_audit GROUP BY ALL ORDER BY ALL"
    )
    console.print(
        f"[bold]Push[/]: {len(changed)} qualification(s) changed on MTurk, each read back; "
        "push_audit: " + ", ".join(f"{n} {a} {s}" for a, s, n in audit)
    )
    for (type_id, worker), old, new in changed[:5]:
        console.print(f"  {type_id} {worker}: {old} -> {new}")
    if check_failures:
        console.print(
            "[yellow]Data-quality checks flagged[/] (the demo data carries odd locales on "
            "purpose): " + "; ".join(check_failures)
        )
    console.print(
        f"[bold]Files[/]: lake {lake_dir(data_dir)}, warehouse {warehouse_path(data_dir)}, "
        f"charts (drawn after the push) {data_dir / 'charts'}"
    )
    console.print(
        f'Query it: {invoked_as()} sql --data-dir {shlex.quote(str(data_dir))} "{FIRST_QUERY}"',
        highlight=False,
        soft_wrap=True,
    )


def invoked_as() -> str:
    """The command that runs qual-pipeline again the way the user just ran it: its bare name when
    the shell finds this very program on PATH, else its path (relative to the current folder
    when under it, as `.venv/bin/qual-pipeline` after `make demo`), quoted for the shell."""
    program = Path(sys.argv[0])
    if program.name != "qual-pipeline":  # run another way (python -m, a test): the installed name
        return "qual-pipeline"
    on_path = shutil.which("qual-pipeline")
    if on_path is not None and Path(on_path).resolve() == program.resolve():
        return "qual-pipeline"
    try:
        shown = program.absolute().relative_to(Path.cwd())
    except ValueError:
        shown = program.absolute()
    return shlex.quote(str(shown))


def _score_panels(data_dir: Path) -> list[ScorePanel]:
    from qual_pipeline.stores.profile import local_stores
    from qual_pipeline.warehouse.charts import score_panels

    con = local_stores(data_dir).warehouse.connect(read_only=True)
    try:
        return score_panels(con)[0]
    finally:
        con.close()


def _text_histogram(panel: ScorePanel) -> str:
    """A panel's histogram in one line: counts for a binary type, else a bar per bin."""
    counts = panel.histogram()
    if panel.scale == "binary":
        return f"0: {counts[0]:,} workers, 1: {counts[1]:,} workers"
    step = -(-len(counts) // TEXT_BINS)  # adjacent bins added up: at most TEXT_BINS bars
    counts = [sum(counts[i : i + step]) for i in range(0, len(counts), step)]
    top = max(counts) or 1
    bars = "".join(BARS[0] if c == 0 else BARS[1 + (len(BARS) - 2) * c // top] for c in counts)
    low, high = (0, 100) if panel.scale == "percent" else (min(panel.scores), max(panel.scores))
    return f"{low} {bars} {high}, median {panel.median()}"
