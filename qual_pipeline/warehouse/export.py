"""The requester website's worker CSV, written from the warehouse.

The layout of Manage > Workers > Download CSV on the MTurk requester website: one row per worker,
`Worker ID`, then for every qualification type a `CURRENT-<type name>` column (the score the
worker holds; blank when the worker does not hold it, revoked or never granted, as the website
shows it) and an empty `UPDATE-<type name>` column to type a new score or `Revoke` in. The file
goes back through `qual-pipeline plan --website-csv FILE`; left untouched, it plans nothing.

Types are the mirrored ones (in qualification_types and extracted at least once), ordered by name;
workers are everyone in worker_qualifications for those types (revoked ones too), ordered by id.
Quoting is the csv module's (RFC 4180): a name with a comma or a quote is quoted, its quotes
doubled.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

import duckdb

from qual_pipeline.warehouse.sql_files import sql_text

WORKER_ID_HEADER = "Worker ID"
CURRENT_PREFIX = "CURRENT-"
UPDATE_PREFIX = "UPDATE-"
FETCH_ROWS = 10_000


class ExportError(RuntimeError):
    """The export could not be written; the message names the file and the fix."""


@dataclass(frozen=True)
class WebsiteExport:
    """What `export_website_csv` wrote.

    types: (qualification_type_id, name) per pair of columns, in column order.
    skipped: names shared by several mirrored types: left out, since the website layout names
    types, and a plan could not tell them apart.
    """

    path: Path
    workers: int
    types: tuple[tuple[str, str], ...]
    skipped: tuple[str, ...] = ()


def export_website_csv(con: duckdb.DuckDBPyConnection, path: Path) -> WebsiteExport:
    """Write the website's worker CSV of every mirrored type to `path` (UTF-8, CRLF line ends,
    replaced atomically). `con` may be read-only. Raises ExportError when the file cannot be
    written."""
    mirrored = con.execute(sql_text("website_export_types")).fetchall()
    names: dict[str, list[str]] = {}
    for type_id, name in mirrored:
        names.setdefault(name, []).append(type_id)
    skipped = tuple(sorted(n for n, ids in names.items() if len(ids) > 1))
    types = tuple((t, n) for t, n in mirrored if n not in skipped)
    position = {type_id: i for i, (type_id, _) in enumerate(types)}
    header = [WORKER_ID_HEADER]
    for _, name in types:
        header += [f"{CURRENT_PREFIX}{name}", f"{UPDATE_PREFIX}{name}"]

    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    workers = 0
    try:
        with partial.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            cursor = con.execute(sql_text("website_export"))
            for worker_id, held in groupby(_rows(cursor), key=lambda r: r[0]):
                row = [worker_id] + [""] * (2 * len(types))
                listed = False
                for _, type_id, value in held:
                    at = position.get(type_id)
                    listed = listed or at is not None
                    if at is not None and value is not None:
                        row[1 + 2 * at] = str(value)
                if listed:  # a worker of exported types only
                    writer.writerow(row)
                    workers += 1
        os.replace(partial, path)
    except OSError as e:
        partial.unlink(missing_ok=True)
        raise ExportError(
            f"cannot write {path}: {e.strerror or e}; choose a file in a writable folder"
        ) from None
    return WebsiteExport(path=path, workers=workers, types=types, skipped=skipped)


def _rows(cursor: duckdb.DuckDBPyConnection) -> Iterator[tuple[str, str, int | None]]:
    while batch := cursor.fetchmany(FETCH_ROWS):
        yield from batch
