"""Helpers for the push tests: one small world seeded both into a warehouse and a local MTurk.

A `World` lists qualifications (type, worker, status, value) and pending requests once;
`warehouse()` publishes them as lake snapshots (with the extraction figures the extractor writes
in the footer) and loads them with the warehouse's own load, so the warehouse has a load id and
recorded checks; `mturk_data()` gives the same state as local MTurk seed data, so plan and push
start from MTurk as extracted.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from support.mturk import OTHER_REQUESTER, make_data, qualification, qualification_type
from support.push_process import REPO, kill_then_resume, run_push_process
from support.stores import read_warehouse, stores_of
from typer.testing import CliRunner

from qual_pipeline.cli import app
from qual_pipeline.lake.footer import footer_metadata
from qual_pipeline.push.journal import Journal
from qual_pipeline.push.runner import PushReport, PushSettings, run_push
from qual_pipeline.schema import QUALIFICATION_REQUESTS, QUALIFICATION_TYPES, WORKER_QUALIFICATIONS
from qual_pipeline.stores.profile import Stores, local_stores
from qual_pipeline.warehouse.load import LoadResult, load_warehouse


@dataclass
class World:
    types: list[str]
    qualifications: list[tuple[str, str, str, int | None]] = field(default_factory=list)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (request id, type, worker)
    foreign_types: list[str] = field(default_factory=list)  # on MTurk, owned by someone else
    names: dict[str, str] = field(default_factory=dict)  # type id -> name (default: from the id)

    def name(self, type_id: str) -> str:
        return self.names.get(type_id, f"type {type_id[-4:]}")

    def warehouse(
        self, data_dir: Path | Stores, *, duplicated: Iterable[tuple[str, str]] = ()
    ) -> LoadResult:
        """Publish the world as one lake snapshot per table and partition, then load it.

        duplicated: (type, worker) keys written twice into their snapshot (a broken extraction
        the blocking uniqueness check must catch).
        """
        now = datetime.now(UTC)
        twice = set(duplicated)
        stores = stores_of(data_dir)
        _publish(
            stores,
            "qualification_types",
            None,
            QUALIFICATION_TYPES,
            [{"qualification_type_id": t, "name": self.name(t)} for t in self.types],
            now,
        )
        for t in self.types:
            rows = [
                {"qualification_type_id": t, "worker_id": w, "status": s, "integer_value": v}
                for qt, w, s, v in self.qualifications
                if qt == t
            ]
            rows += [r for r in rows if (t, r["worker_id"]) in twice]
            _publish(
                stores,
                "worker_qualifications",
                t,
                WORKER_QUALIFICATIONS,
                rows,
                now,
                {
                    "rows": len(rows),
                    "pages": 1,
                    "granted": sum(r["status"] == "Granted" for r in rows),
                    "revoked": sum(r["status"] == "Revoked" for r in rows),
                },
            )
            _publish(
                stores,
                "qualification_requests",
                t,
                QUALIFICATION_REQUESTS,
                [
                    {"qualification_request_id": r, "qualification_type_id": t, "worker_id": w}
                    for r, rt, w in self.requests
                    if rt == t
                ],
                now,
            )
        return load_warehouse(stores)

    def mturk_data(self) -> dict[str, Any]:
        types = [qualification_type(t, self.name(t), IsRequestable=True) for t in self.types]
        types += [
            qualification_type(t, self.name(t), owner=OTHER_REQUESTER) for t in self.foreign_types
        ]
        return make_data(
            types=types,
            qualifications=[
                qualification(w, v, qual_type_id=t, status=s) for t, w, s, v in self.qualifications
            ],
            requests=[
                {"QualificationRequestId": r, "QualificationTypeId": t, "WorkerId": w}
                for r, t, w in self.requests
            ],
        )


def _publish(
    stores: Stores,
    table: str,
    partition: str | None,
    schema: pa.Schema,
    rows: list[dict[str, Any]],
    at: datetime,
    figures: dict[str, int] | None = None,
) -> None:
    columns = {f.name: [r.get(f.name) for r in rows] for f in schema}
    columns["extracted_at"] = [at] * len(rows)
    with stores.lake.writer(table, schema, partition, snapshot_at=at) as writer:
        writer.write(pa.Table.from_pydict(columns, schema=schema))
        if figures is not None:
            writer.set_footer_metadata(footer_metadata(figures))


def start_world(
    local_mturk: Any,
    mturk_env: Any,
    tmp_path: Path,
    world: World,
    faults: Any = None,
) -> tuple[Any, list[str]]:
    """A local MTurk and a loaded warehouse both holding `world`; the MTurk and the data and
    inputs options every push command takes."""
    mturk = local_mturk(data=world.mturk_data(), faults=faults)
    mturk_env(mturk)
    world.warehouse(tmp_path / "data")
    common = ["--data-dir", str(tmp_path / "data"), "--inputs-dir", str(tmp_path / "inputs")]
    return mturk, common


PLAN_ID = re.compile(r"Saved as plan ([0-9a-f]{20}-\d{8}T\d{12})")


def push_cli(*args: str) -> Any:
    """`qual-pipeline <args>` in this process (typer's CliRunner)."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def saved_plan_id(output: str) -> str:
    """The plan id `qual-pipeline plan` printed."""
    found = PLAN_ID.search(output)
    assert found is not None, output
    return found.group(1)


def push_here(client: Any, tmp_path: Path, **more: Any) -> PushReport:
    """A scores push in this process, on tmp_path's data and inputs (run_push's other arguments,
    e.g. replan=, pass through)."""
    return run_push(
        "scores",
        client=client,
        stores=more.pop("stores", None) or local_stores(tmp_path / "data"),
        inputs_dir=tmp_path / "inputs",
        settings=more.pop("settings", PushSettings()),
        **more,
    )


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_csv(path: Path, header: list[str], rows: Iterable[Iterable[Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(["" if v is None else v for v in row] for row in rows)
    return path


def write_desired(inputs: Path, rows: Iterable[tuple[Any, Any, Any]]) -> Path:
    return write_csv(
        inputs / "desired_scores.csv", ["qualification_type_id", "worker_id", "integer_value"], rows
    )


def write_decisions(inputs: Path, rows: Iterable[tuple[Any, Any, Any, Any]]) -> Path:
    return write_csv(
        inputs / "grant_decisions.csv",
        ["qualification_request_id", "decision", "integer_value", "reason"],
        rows,
    )


def mturk_state(
    mturk: Any, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], tuple[str, int | None] | None]:
    """(type, worker) -> (status, value) or None, read through the local MTurk's admin interface."""
    found: dict[tuple[str, str], tuple[str, int | None] | None] = {}
    for t, w in pairs:
        record = mturk.admin.get_qualification(t, w)
        found[(t, w)] = None if record is None else (record["Status"], record.get("IntegerValue"))
    return found


def journal_of(target: Path | Stores) -> Journal:
    """The push journal of a data folder (or of any stores), opened."""
    return Journal(stores_of(target).journal.connect())


def warehouse_rows(data_dir: Path | Stores, sql: str) -> list[tuple[Any, ...]]:
    con = read_warehouse(data_dir)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def subprocess_push_args(tmp_path: Path, *more: str) -> list[str]:
    """`push --replan` on tmp_path's data and inputs, fast and in small batches, plus `more`."""
    return [
        "push",
        "--replan",
        "--data-dir",
        str(tmp_path / "data"),
        "--inputs-dir",
        str(tmp_path / "inputs"),
        *more,
        "--rate",
        "500",
        "--concurrency",
        "3",
        "--batch-size",
        "5",
    ]


__all__ = [
    "REPO",
    "World",
    "kill_then_resume",
    "run_push_process",
    "write_decisions",
    "write_desired",
]
