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
import errno
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING

from qual_pipeline.warehouse.sql_files import sql_text

if TYPE_CHECKING:
    import duckdb

WORKER_ID_HEADER = "Worker ID"
CURRENT_PREFIX = "CURRENT-"
UPDATE_PREFIX = "UPDATE-"
FETCH_ROWS = 10_000


class ExportError(RuntimeError):
    """The export could not be written; the message names the file and the fix."""


class ExportRefused(ExportError):
    """The export would write over a file it must not (bad usage: exit 2); the message names the
    file and the fix."""


def check_target(path: Path, protected: Iterable[tuple[Path, str]], *, overwrite: bool) -> Path:
    """The file an export may write to `path`, resolved (a symbolic link is followed, so the
    file it names is the one checked and replaced). Raises ExportRefused when:

    - it is inside one of the `protected` folders, (folder, what it holds) pairs such as the data
      folder (warehouse, push journal, lake) or DAGSTER_HOME, whatever the file is;
    - it does not exist and its folder does not either (or is not a folder);
    - it exists and `overwrite` is False;
    - it exists and is not a worker CSV: not a regular file, or its first cell is not
      `Worker ID` (the header of this export and of the website's download), even with
      `overwrite`.
    """
    target = Path(path).expanduser().resolve()
    for folder, holds in protected:
        folder = Path(folder).expanduser().resolve()
        if target == folder or folder in target.parents:
            raise ExportRefused(
                f"{path} is inside {folder}, which holds {holds}: an export never writes "
                "there; choose a file in another folder"
            )
    if not os.path.lexists(target):
        if not target.parent.is_dir():
            folder = Path(path).expanduser().parent
            what = "is not a folder" if target.parent.exists() else "does not exist"
            raise ExportRefused(
                f"{path}: its folder {folder} {what}: create the folder first, or choose a file "
                "in an existing folder"
            )
        return target
    if not target.is_file() or not _worker_csv(target):
        raise ExportRefused(
            f"{path} exists and is not a worker CSV (its first cell is not {WORKER_ID_HEADER!r}),"
            " so the export does not replace it: choose a new file name"
        )
    if not overwrite:
        raise ExportRefused(
            f"{path} exists: pass --overwrite to replace it (your edits in its UPDATE- cells "
            "would be lost), or choose a new file name"
        )
    return target


def _worker_csv(path: Path) -> bool:
    """Whether the file's first cell is `Worker ID` (a BOM and quotes allowed)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(64)
    except OSError:
        return False
    first = head.removeprefix(b"\xef\xbb\xbf").lstrip(b'"')
    return first.startswith(WORKER_ID_HEADER.encode()) and first[len(WORKER_ID_HEADER) :][:1] in (
        b",",
        b'"',
        b"\r",
        b"\n",
        b"",
    )


@dataclass(frozen=True)
class WebsiteExport:
    """What `export_website_csv` wrote.

    types: (qualification_type_id, name) per pair of columns, in column order.
    skipped: names shared by several mirrored types (or equal once the spaces around them are
    trimmed), and blank names: left out, since the website layout names types, and a plan could
    not tell them apart (or name a blank one).
    """

    path: Path
    workers: int
    types: tuple[tuple[str, str], ...]
    skipped: tuple[str, ...] = ()


def export_website_csv(
    con: duckdb.DuckDBPyConnection, path: Path, *, overwrite: bool = False
) -> WebsiteExport:
    """Write the website's worker CSV of every mirrored type to `path` (UTF-8, CRLF line ends),
    through a temporary file in its folder: renamed over `path` with `overwrite`, else linked
    to `path` only if nothing is there yet, so a failure leaves the old file (or none) as it
    was. `con` may be read-only. Check `path` with `check_target` first. Raises ExportRefused
    when a file appeared at `path` meanwhile (without `overwrite`), ExportError when the file
    cannot be written."""
    mirrored = con.execute(sql_text("website_export_types")).fetchall()
    # The website CSV's reader trims header names, and so the type names it matches them to:
    # names only the spaces around them tell apart are one column, and a blank one none.
    names: dict[str, list[str]] = {}
    for _, name in mirrored:
        names.setdefault(name.strip(), []).append(name)
    skipped = tuple(
        sorted(n for key, same in names.items() if len(same) > 1 or not key for n in same)
    )
    types = tuple((t, n) for t, n in mirrored if n not in skipped)
    position = {type_id: i for i, (type_id, _) in enumerate(types)}
    header = [WORKER_ID_HEADER]
    for _, name in types:
        header += [f"{CURRENT_PREFIX}{name}", f"{UPDATE_PREFIX}{name}"]

    path = Path(path)
    workers = 0
    partial: Path | None = None
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
        partial = Path(name)
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would hide it from a group
        with open(fd, "w", newline="", encoding="utf-8") as handle:
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
            handle.flush()
            os.fsync(handle.fileno())
        _publish(partial, path, overwrite=overwrite)
    except FileExistsError:
        raise ExportRefused(
            f"{path} was created by another program during the export; it is left as it is: "
            "pass --overwrite to replace it, or choose a new file name"
        ) from None
    except OSError as e:
        raise ExportError(
            f"cannot write {path}: {e.strerror or e}; choose a file in a writable folder"
        ) from None
    finally:
        if partial is not None:
            partial.unlink(missing_ok=True)
    return WebsiteExport(path=path, workers=workers, types=types, skipped=skipped)


def _publish(partial: Path, path: Path, *, overwrite: bool) -> None:
    """Put the written `partial` at `path`: renamed over it with `overwrite`; else hard-linked,
    which fails (FileExistsError) if a file is there, so nothing is ever replaced unasked. A
    file system without hard links gets a check, then the rename."""
    if overwrite:
        os.replace(partial, path)
        return
    try:
        os.link(partial, path)
    except FileExistsError:
        raise
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "exists", str(path)) from None
        os.replace(partial, path)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _rows(cursor: duckdb.DuckDBPyConnection) -> Iterator[tuple[str, str, int | None]]:
    while batch := cursor.fetchmany(FETCH_ROWS):
        yield from batch
