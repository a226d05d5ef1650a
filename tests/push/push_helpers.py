"""Helpers for the push tests: one small world seeded both into a warehouse and a local MTurk.

A `World` lists qualifications (type, worker, status, value) and pending requests once;
`warehouse()` writes them as the warehouse's load would (through the warehouse's own DDL) and
`mturk_data()` gives the same state as local MTurk seed data, so plan and push start from MTurk as
extracted.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from conftest import REQUESTER, make_data, qualification, qualification_type

from qual_pipeline.lake.layout import warehouse_path
from qual_pipeline.warehouse.connection import open_warehouse

REPO = Path(__file__).resolve().parents[2]


@dataclass
class World:
    types: list[str]
    qualifications: list[tuple[str, str, str, int | None]] = field(default_factory=list)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (request id, type, worker)
    foreign_types: list[str] = field(default_factory=list)  # on MTurk, owned by someone else

    def warehouse(self, data_dir: Path) -> Path:
        con = open_warehouse(data_dir)
        now = datetime.now(UTC)
        try:
            for t in self.types:
                con.execute(
                    "INSERT INTO qualification_types (qualification_type_id, name, extracted_at) "
                    "VALUES (?, ?, ?)",
                    [t, f"type {t[-4:]}", now],
                )
            for t, w, status, value in self.qualifications:
                con.execute(
                    "INSERT INTO worker_qualifications (qualification_type_id, worker_id, status, "
                    "integer_value, extracted_at) VALUES (?, ?, ?, ?, ?)",
                    [t, w, status, value, now],
                )
            for r, t, w in self.requests:
                con.execute(
                    "INSERT INTO qualification_requests (qualification_request_id, "
                    "qualification_type_id, worker_id, extracted_at) VALUES (?, ?, ?, ?)",
                    [r, t, w, now],
                )
        finally:
            con.close()
        return warehouse_path(data_dir)

    def mturk_data(self) -> dict[str, Any]:
        from conftest import OTHER_REQUESTER

        types = [qualification_type(t, IsRequestable=True) for t in self.types]
        types += [qualification_type(t, owner=OTHER_REQUESTER) for t in self.foreign_types]
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


def warehouse_rows(data_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(warehouse_path(data_dir)), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def run_push_process(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m qual_pipeline.push <args>` in a child process (so it can be SIGKILLed)."""
    return subprocess.run(
        [sys.executable, "-m", "qual_pipeline.push", *args],
        env={**os.environ, **env, "COLUMNS": "200"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


__all__ = ["REPO", "REQUESTER", "World", "run_push_process", "write_decisions", "write_desired"]
