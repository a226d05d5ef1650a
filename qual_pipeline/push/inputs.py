"""The files a user edits, read into the planner: desired scores, request decisions and the
requester website's worker CSV.

Each file is read with Python's csv module (UTF-8, an Excel byte-order mark allowed) and streamed in
batches into a TEMP table of the planner's connection, so it works on a read-only warehouse and a
million rows never sit in Python at once; a desired-scores or grant-decisions file with one record
per line (no quote, no empty line) is read by DuckDB's CSV reader instead, into the same table.
Every row keeps the file line it starts on and its values exactly as written (an empty cell is
NULL), so a rejected row can be shown as the user wrote it.

- `load_csv_table` reads desired_scores.csv or grant_decisions.csv: header names are matched
  case-insensitively, trimmed, with inner spaces read as underscores (`Worker_ID`, ` worker id `
  and `worker_id` are one column); other columns are ignored.
- `load_website_csv` reads the file of the website's Manage > Workers > Download CSV: the
  `Worker ID` column and every `UPDATE-<type name>` column, one row per non-blank cell; block-status
  columns are counted, never applied; every other column (approval rates, `CURRENT-...`) is ignored.

Errors are InputError, whose message names the file, and the line when there is one.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from qual_pipeline.warehouse.export import UPDATE_PREFIX, WORKER_ID_HEADER

BATCH_ROWS = 50_000


def missing_input(required: tuple[str, ...], optional: tuple[str, ...] = ()) -> str:
    """The fix of a missing CSV file read with `required` and `optional` columns: its header,
    where the README shows it, and the --inputs-dir alternative. A pip install ships no inputs/
    folder (nor its README.md), so the fix names only what every install has."""
    columns = ",".join(required) + (f" (optional: {', '.join(optional)})" if optional else "")
    return (
        f"create it, a CSV file whose first line names the columns {columns} "
        "(README section 'Pushing scores back to MTurk', 'The two models you own'), or point "
        "--inputs-dir (QUAL_PIPELINE_INPUTS_DIR) at the folder that holds it"
    )


MISSING_WEBSITE_CSV = (
    "give the path of the worker CSV downloaded from the requester website (Manage > Workers > "
    "Download CSV), or write one with `qual-pipeline export --website-csv FILE`"
)
SOURCE_COLUMNS = ("source_line", "input_problem")
"""Columns every loaded table has besides the file's: the line a row starts on, and what is wrong
with the row as a whole (too many cells), or NULL."""


class InputError(ValueError):
    """A file the user edits cannot be read; the message names the file and the fix.
    `missing`: the file's path when the file does not exist (else None)."""

    def __init__(self, message: str, missing: Path | None = None) -> None:
        super().__init__(message)
        self.missing = missing


def row_width_problem(cells: list[str], width: int) -> str | None:
    """What is wrong with a row of `cells` under a header of `width` cells, or None: a row with a
    non-blank cell past the header's (`1,5` typed unquoted is two cells) cannot be read, since a
    value may have moved into its neighbour's column; the rule of every file the user edits
    (desired scores, grant decisions, the website CSV). Cells past the header's that are empty or
    whitespace (a trailing comma) are no values, and a row with fewer cells than the header has
    empty cells after its last."""
    if len(cells) <= width or not any(c.strip() for c in cells[width:]):
        return None
    return f"the row has {len(cells)} cells and the header {width}: quote values that hold commas"


def normalise_header(name: str) -> str:
    """`' Worker ID '` -> `'worker_id'`: trimmed, lower case, inner spaces as underscores."""
    return re.sub(r"\s+", "_", name.strip().lower())


@dataclass(frozen=True)
class LoadedCsv:
    """A CSV read into a TEMP table: where from, which columns it had, how many rows."""

    path: Path
    table: str
    rows: int
    present: tuple[str, ...]
    """The optional columns the header named (the others are NULL in the table)."""


def load_csv_table(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: str,
    *,
    required: tuple[str, ...],
    optional: tuple[str, ...] = (),
) -> LoadedCsv:
    """Read `path` into TEMP table `table`: the `required` and `optional` columns (VARCHAR, as
    written, empty cells NULL), then source_line (BIGINT) and input_problem (VARCHAR).

    Raises InputError naming the file when it is missing, unreadable, not UTF-8, not CSV, or its
    header lacks a required column or names one twice.
    """
    wanted = (*required, *optional)
    with _open(path, missing_input(required, optional)) as rows:
        header_line, header = _header(rows, path)
        names = [normalise_header(h) for h in header]
        positions: dict[str, int] = {}
        for index, name in enumerate(names):
            if name not in wanted:
                continue
            if name in positions:
                raise InputError(
                    f"{path}, line {header_line}: the header names the column {name} twice "
                    f"({header[positions[name]]!r} and {header[index]!r}); keep one"
                )
            positions[name] = index
        missing = [c for c in required if c not in positions]
        if missing:
            raise InputError(
                f"{path}: the header (line {header_line}) must name the columns "
                f"{', '.join(required)} (any case, any order"
                + (f"; optional: {', '.join(optional)}" if optional else "")
                + f"); missing: {', '.join(missing)}. The header is: "
                + (", ".join(h.strip() for h in header) or "(empty)")
                + _semicolon_hint(header)
            )
        width = len(header)
        count = None
        _drop_loaded(con, table)
        lines = _one_record_per_line(path) if header_line == 1 else None
        if lines:
            count = _read_plain_csv(
                con, path, table, width, {c: positions.get(c) for c in wanted}, lines
            )
        if count is None:
            schema = pa.schema(
                [
                    *((c, pa.string()) for c in wanted),
                    ("source_line", pa.int64()),
                    ("input_problem", pa.string()),
                ]
            )
            batches = rows.column_batches([positions.get(c) for c in wanted], width, schema)
            count = _write_table(con, table, schema, batches)
    return LoadedCsv(
        path=path, table=table, rows=count, present=tuple(c for c in optional if c in positions)
    )


@dataclass(frozen=True)
class WebsiteCsv:
    """The requester website's worker CSV, read into TEMP table website_cells.

    update_columns: the `UPDATE-<type name>` headers, trimmed.
    not_applied: block-status columns that ask for something (not `CURRENT ...`) -> how many
    non-blank cells they hold; qual_pipeline changes qualifications only.
    """

    path: Path
    workers: int
    cells: int
    update_columns: tuple[str, ...]
    not_applied: dict[str, int]

    def notes(self) -> tuple[str, ...]:
        """One line per thing in the file that the plan does not apply (empty when none)."""
        if not self.not_applied:
            return ()
        cells = sum(self.not_applied.values())
        columns = ", ".join(self.not_applied)
        return (
            f"not applied: {cells} block-status cell(s) in {columns} of {self.path}: "
            "qual_pipeline changes qualifications only; block or unblock workers on the "
            "requester website",
        )


WEBSITE_SCHEMA = pa.schema(
    [
        ("worker_id", pa.string()),
        ("column_name", pa.string()),
        ("type_name", pa.string()),
        ("raw_value", pa.string()),
        ("source_line", pa.int64()),
        ("input_problem", pa.string()),
    ]
)


def load_website_csv(con: duckdb.DuckDBPyConnection, path: Path) -> WebsiteCsv:
    """Read the website's worker CSV into TEMP table website_cells: one row per non-blank
    `UPDATE-<type name>` cell with the worker id, the column header and type name (trimmed: any
    Unicode whitespace around the header), the cell as written, its line, and input_problem:
    NULL, or `row_width_problem`'s reason when the row has a value past the header's cells (then
    a row without a non-blank UPDATE- cell is one row too, its column, type and value NULL, so no
    such row is left out). A row with fewer cells than the header has empty cells after its last.

    Raises InputError naming the file when it cannot be read, has no `Worker ID` column or no
    `UPDATE-<type name>` column, names one `UPDATE-<type name>` column twice (after trimming, in
    any case), has one without a type name (`UPDATE-`), or has a column that looks like one but is
    not (`UPDATE Expert`).
    """
    with _open(path, MISSING_WEBSITE_CSV) as rows:
        header_line, header = _header(rows, path)
        workers_at = [i for i, h in enumerate(header) if _squash(h) == "workerid"]
        if len(workers_at) != 1:
            found = "no" if not workers_at else f"{len(workers_at)}"
            raise InputError(
                f"{path}: the header (line {header_line}) has {found} {WORKER_ID_HEADER!r} "
                "column(s); a file from the requester website (Manage > Workers > Download CSV) "
                f"has exactly one. The header is: {', '.join(header) or '(empty)'}"
                + _semicolon_hint(header)
            )
        worker_at = workers_at[0]
        # Header names are trimmed (str.strip: any Unicode whitespace), as in the files of
        # inputs/: ` UPDATE-Expert` is the column UPDATE-Expert.
        names = [h.strip() for h in header]
        # The type name is trimmed too (`UPDATE- Expert` names Expert), and matched to the
        # trimmed names of the types (website_changes.sql), as the export writes them.
        updates = [
            (i, h, h[len(UPDATE_PREFIX) :].strip())
            for i, h in enumerate(names)
            if h.lower().startswith(UPDATE_PREFIX.lower())
        ]
        blocks = [
            (i, h)
            for i, h in enumerate(names)
            if "block" in h.lower() and not h.lower().startswith((UPDATE_PREFIX.lower(), "current"))
        ]
        taken = {i for i, _, _ in updates} | {i for i, _ in blocks}
        for index, name in enumerate(names):
            if index not in taken and _LOOKS_LIKE_UPDATE.match(name):
                raise InputError(
                    f"{path}, line {header_line}: the column {header[index]!r} (column "
                    f"{index + 1}) looks like an UPDATE-<type name> column but is not one, so its "
                    "cells would be ignored: write its header as UPDATE-<type name> (UPDATE, a "
                    "hyphen, then the type name as MTurk shows it) or remove the column"
                )
        if not updates:
            raise InputError(
                f"{path}: the header has no UPDATE-<type name> column, so it asks for no "
                "change. Download the worker CSV from the requester website (or write it with "
                "`qual-pipeline export --website-csv FILE`) and type new scores or Revoke in its "
                "UPDATE- columns"
            )
        first_of: dict[str, int] = {}
        for index, _, name in updates:
            if not name:
                raise InputError(
                    f"{path}, line {header_line}: the column {header[index]!r} (column "
                    f"{index + 1}) names no qualification type, so its cells could not be "
                    "applied: write the type name after the hyphen (UPDATE-<type name>, the name "
                    "as MTurk shows it) or remove the column"
                )
            if name in first_of:
                raise InputError(
                    f"{path}, line {header_line}: the header names the column "
                    f"{UPDATE_PREFIX}{name} twice ({header[first_of[name]]!r}, column "
                    f"{first_of[name] + 1}, and {header[index]!r}, column {index + 1}): its cells "
                    "would be two values for one worker; keep one of the two columns"
                )
            first_of[name] = index
        not_applied = {h: 0 for _, h in blocks}
        workers = 0
        width = len(header)

        def batches() -> Iterator[pa.RecordBatch]:
            nonlocal workers
            columns: list[list[object]] = [[] for _ in WEBSITE_SCHEMA]

            def add(*items: object) -> None:
                for target, item in zip(columns, items, strict=True):
                    target.append(item)

            for line, cells in rows:
                workers += 1
                worker = _cell(cells, worker_at)
                problem = row_width_problem(cells, width) if len(cells) > width else None
                added = len(columns[0])
                for index, column, name in updates:
                    value = _cell(cells, index)
                    if value is not None and value.strip():
                        add(worker, column, name, value, line, problem)
                if problem is not None and len(columns[0]) == added:
                    # no UPDATE- value: the row's first value past the header's cells, as written
                    extra = next(c for c in cells[width:] if c.strip())
                    add(worker, None, None, extra, line, problem)
                for index, column in blocks:
                    value = _cell(cells, index)
                    if value is not None and value.strip():
                        not_applied[column] += 1
                if len(columns[0]) >= BATCH_ROWS:
                    yield pa.record_batch(columns, schema=WEBSITE_SCHEMA)
                    columns = [[] for _ in WEBSITE_SCHEMA]
            yield pa.record_batch(columns, schema=WEBSITE_SCHEMA)

        count = _write_table(con, "website_cells", WEBSITE_SCHEMA, batches())
    return WebsiteCsv(
        path=path,
        workers=workers,
        cells=count,
        update_columns=tuple(h for _, h, _ in updates),
        not_applied={h: n for h, n in not_applied.items() if n},
    )


# reading


class _Rows:
    """The records of an open CSV file with the line each starts on; blank lines skipped."""

    def __init__(self, path: Path, missing: str) -> None:
        self.path = path
        try:
            self._handle = path.open(newline="", encoding="utf-8-sig")
        except FileNotFoundError:
            raise InputError(f"{path} does not exist: {missing}", missing=path) from None
        except OSError as e:
            raise InputError(f"{path} cannot be read: {e.strerror or e}") from None
        # strict: a quoted value the file never closes is an error, not the rest of the file
        self._reader = csv.reader(self._handle, strict=True)
        self._record_start = 1
        """The line of the record being read (for an error in a record spanning lines)."""

    def __enter__(self) -> _Rows:
        return self

    def __exit__(self, *_: object) -> None:
        self._handle.close()

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        reader = self._reader
        with self._errors():
            while True:
                start = self._record_start = reader.line_num + 1
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                if any(c.strip() for c in cells):
                    yield start, cells

    def column_batches(
        self, positions: list[int | None], width: int, schema: pa.Schema
    ) -> Iterator[pa.RecordBatch]:
        """The remaining records as record batches of `schema`: one string column per position
        (the cell at that index as written; all NULL for None), then source_line and
        input_problem. Rows of only empty cells are skipped.

        The hot loop of reading a large file: plain appends per cell, the slow path only for
        rows that have another number of cells than the header.
        """
        reader = self._reader
        present = [(i, at) for i, at in enumerate(positions) if at is not None]

        def fresh() -> tuple[list[list[str]], list[Any], list[int], dict[int, str]]:
            columns: list[list[str]] = [[] for _ in positions]
            return columns, [(columns[i].append, at) for i, at in present], [], {}

        def batch(
            columns: list[list[str]], lines: list[int], problems: dict[int, str]
        ) -> pa.RecordBatch:
            n = len(lines)
            arrays = [
                pa.array(c, pa.string()) if at is not None else pa.nulls(n, pa.string())
                for c, at in zip(columns, positions, strict=True)
            ]
            arrays.append(pa.array(lines, pa.int64()))
            arrays.append(
                pa.array([problems.get(i) for i in range(n)], pa.string())
                if problems
                else pa.nulls(n, pa.string())
            )
            return pa.record_batch(arrays, schema=schema)

        columns, appends, lines, problems = fresh()
        with self._errors(lambda: previous + 1):
            previous = reader.line_num
            for cells in reader:
                start, previous = previous + 1, reader.line_num
                if len(cells) != width:
                    if not any(c.strip() for c in cells):
                        continue
                    problem = row_width_problem(cells, width)
                    if problem is not None:
                        problems[len(lines)] = problem
                    cells = (cells + [""] * width)[:width]
                elif not any(cells):
                    continue
                for append, at in appends:
                    append(cells[at])
                lines.append(start)
                if len(lines) >= BATCH_ROWS:
                    yield batch(columns, lines, problems)
                    columns, appends, lines, problems = fresh()
        yield batch(columns, lines, problems)

    @contextmanager
    def _errors(self, record_start: Callable[[], int] | None = None) -> Iterator[None]:
        """Decoding and CSV errors as InputError naming the file and the line.

        record_start: the line the record being read starts on (default: as __iter__ keeps it).
        """
        try:
            yield
        except UnicodeDecodeError:
            line = _first_bad_utf8_line(self.path)
            where = f"line {line}" if line is not None else f"after line {self._reader.line_num}"
            raise InputError(
                f"{self.path} is not UTF-8 text ({where}): save it as "
                '"CSV UTF-8" from your spreadsheet'
            ) from None
        except csv.Error as e:
            start = record_start() if record_start is not None else self._record_start
            if "unexpected end of data" in str(e):
                raise InputError(
                    f"{self.path}, line {start}: a quoted value opened there is never closed (the "
                    'file ends inside it): add the closing quote (")'
                ) from None
            raise InputError(f"{self.path}, line {start}: not valid CSV: {e}") from None


SCAN_BYTES = 1 << 24
CSV_BUFFER_BYTES = (1 << 20, 32 << 20)
"""The least and the most of DuckDB's CSV reader buffer: in between, the power of two at or below
a sixteenth of the connection's memory limit. DuckDB's default, 32MB whatever the file's size,
left a plan of two rows out of a 32MB limit; 1MB at any limit cost about half as much CPU again
as 32MB on a large file."""
_SIZE_UNITS = {"bytes": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}


def _csv_buffer_bytes(con: duckdb.DuckDBPyConnection) -> int:
    """DuckDB's CSV reader buffer within the memory limit of `con` (CSV_BUFFER_BYTES)."""
    least, most = CSV_BUFFER_BYTES
    (limit,) = con.execute("SELECT current_setting('memory_limit')").fetchall()[0]
    number, _, unit = str(limit).partition(" ")  # e.g. '244.1 MiB'
    try:
        size = float(number) * _SIZE_UNITS[unit]
    except (ValueError, KeyError):
        return least
    # A power of two: DuckDB's parallel reader refuses some other sizes (a 15,997,337-byte
    # buffer: "does not support a full read on this file").
    return min(max(1 << (int(size // 16).bit_length() - 1), least), most)


_EMPTY_LINE = re.compile(rb"\n\n")
"""Searched by `re`, which finds it about three times as fast as `in` in a CSV's bytes."""


def _one_record_per_line(path: Path) -> int | None:
    """The number of lines of `path` when every line is one record that DuckDB's CSV reader splits
    exactly as this module's reader does: no quote (no quoted comma or line break), no empty line,
    no NUL, no carriage return but in CRLF line ends; else None. One pass over the bytes,
    SCAN_BYTES at a time (a chunk without a carriage return skips the checks of carriage
    returns: at 10,000,000 rows, 467MB, 1.7 s of CPU became about 0.5)."""
    previous = b"\n"  # the file's first line is not empty (its header is on line 1)
    lines = 0
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(SCAN_BYTES):
                if (
                    b'"' in chunk
                    or b"\0" in chunk
                    or _EMPTY_LINE.search(chunk)
                    or (previous.endswith(b"\n") and chunk.startswith(b"\n"))
                ):
                    return None
                if b"\r" in chunk or previous.endswith(b"\r"):
                    window = previous + chunk
                    if b"\n\r\n" in window or window.count(b"\r") != window.count(
                        b"\r\n"
                    ) + window.endswith(b"\r"):
                        return None
                lines += chunk.count(b"\n")
                previous = chunk[-2:]
    except OSError:
        return None
    if previous.endswith(b"\r"):
        return None
    return lines + (not previous.endswith(b"\n"))


def _read_plain_csv(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: str,
    width: int,
    positions: dict[str, int | None],
    lines: int,
) -> int | None:
    """Read a file `_one_record_per_line` accepted (header on line 1, `width` cells, `lines`
    lines) with DuckDB's CSV reader into the same rows as the batches of `_Rows`, the line of a
    record being its number after the header plus one. Rows of only empty cells are left out.

    A file with no row of only empty cells (the common case) is read by all DuckDB's threads
    into TEMP table `<table>_rows`, the columns the header names only, in the file's order; TEMP
    view `table` gives it the table's columns: the line is the row's position (rowid) plus two,
    absent columns NULL. Otherwise (or when a last line is missing, see below) into TEMP table
    `table`, the rows numbered in the file's order by one thread.

    None, with nothing left, when DuckDB refuses the file (a row of another number of cells, not
    UTF-8, a line longer than the csv module's field limit) or its records do not reach line
    `lines` (DuckDB leaves out a last line longer than its buffer without an error): the caller
    then reads it with the csv module, whose rows and messages are the reference. At 10,000,000
    rows about 2 s on 2 cores, against about 15 s for the csv module.
    """
    columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width))
    select = ", ".join(
        f"nullif(c{at}, '') AS {name}" if at is not None else f"CAST(NULL AS VARCHAR) AS {name}"
        for name, at in positions.items()
    )
    blank = f"concat({', '.join(f'c{i}' for i in range(width))}) = ''"
    reader = (
        f"read_csv(?, columns = {{{columns}}}, delim = ',', quote = '', escape = '', "
        "comment = '', header = false, skip = 1, auto_detect = false, strict_mode = true, "
        f"null_padding = false, max_line_size = {csv.field_size_limit()}, "
        f"buffer_size = {_csv_buffer_bytes(con)})"
    )
    (ordered,) = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0]
    try:
        # Rows are stored, and row_number() counts them, in the file's order only while the
        # order is kept.
        con.execute("SET preserve_insertion_order = true")
        count = _read_by_position(con, path, table, reader, blank, positions, lines)
        if count is not None:
            if _spaces_only_row(con, table, positions):
                _drop_loaded(con, table)
                return None
            return count
        # A line longer than the csv module's field limit is refused (the csv module refuses a
        # value that long, with its message); the buffer is DuckDB's per reading thread.
        # The last record is kept even when blank (marked in input_problem, then deleted): its
        # line tells that DuckDB read every line.
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {select}, source_line, "
            f"CASE WHEN source_line = {lines} AND {blank} THEN 'blank' END AS input_problem "
            f"FROM (SELECT *, row_number() OVER () + 1 AS source_line FROM {reader}) "
            f"WHERE NOT ({blank}) OR source_line = {lines}",
            [str(path)],
        )
        last, marked = con.execute(
            f"SELECT coalesce(max(source_line), 1), count(input_problem) FROM {table}"
        ).fetchall()[0]
        if last != lines:
            con.execute(f"DROP TABLE IF EXISTS temp.{table}")
            return None
        if marked:
            con.execute(f"DELETE FROM {table} WHERE input_problem IS NOT NULL")
        if _spaces_only_row(con, table, positions):
            _drop_loaded(con, table)
            return None
    except (duckdb.OutOfMemoryException, duckdb.InterruptException):
        raise  # an interrupt (a signal's handler raised inside DuckDB) is not a file to read again
    except duckdb.Error:
        _drop_loaded(con, table)
        return None
    finally:
        con.execute(f"SET preserve_insertion_order = {'true' if ordered else 'false'}")
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])


def _read_by_position(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: str,
    reader: str,
    blank: str,
    positions: dict[str, int | None],
    lines: int,
) -> int | None:
    """`_read_plain_csv`'s parallel read (insertion order kept by the caller): TEMP table
    `<table>_rows` of the columns at `positions`, and TEMP view `table` over it with every
    column, the line being rowid + 2. The row count; None, with nothing left, when the rows do not
    stand one for each of the `lines` - 1 lines after the header (a row of only empty cells left
    out, a last line DuckDB left out) so that a row's position is not its line.
    DuckDB's errors are the caller's.
    """
    stored = f"{table}_rows"
    present = [(name, at) for name, at in positions.items() if at is not None]
    con.execute(
        f"CREATE TEMP TABLE {stored} AS SELECT "
        + ", ".join(f"nullif(c{at}, '') AS {name}" for name, at in present)
        + f" FROM {reader} WHERE NOT ({blank})",
        [str(path)],
    )
    (count,) = con.execute(f"SELECT count(*) FROM {stored}").fetchall()[0]
    if count != lines - 1:
        con.execute(f"DROP TABLE temp.{stored}")
        return None
    select = ", ".join(
        name if at is not None else f"CAST(NULL AS VARCHAR) AS {name}"
        for name, at in positions.items()
    )
    con.execute(
        f"CREATE TEMP VIEW {table} AS SELECT {select}, rowid + 2 AS source_line, "
        f"CAST(NULL AS VARCHAR) AS input_problem FROM {stored}"
    )
    return int(count)


_SPACES = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
"""Every character the csv module's `str.strip` removes (Python's whitespace, `str.isspace`: 29
characters). `trim(cell, _SPACES)` replaces an RE2 character class here: make test once crashed
DuckDB (a segmentation fault) inside that regexp_full_match under a 32MB memory limit."""


WHOLE_NUMBER_MACROS = (
    # The common cell (no space around: it begins and ends with printable ASCII) is left as it
    # is; 10,000,000 cells on one thread: about 1.1 s, against 0.4 s for trim's ASCII spaces and
    # 9.7 s for trim(t, spaces) on every cell.
    f"CREATE OR REPLACE TEMP MACRO trim_spaces(t) AS CASE WHEN ord(t) BETWEEN 33 AND 126 AND "
    f"ord(right(t, 1)) BETWEEN 33 AND 126 THEN t ELSE trim(t, '{_SPACES}') END",
    # (translate: plain digits, the common case, skip the regular expression)
    "CREATE OR REPLACE TEMP MACRO written_in_digits(t) AS "
    "translate(t, '0123456789', '') = '' OR regexp_full_match(t, '[+-]?[0-9]+([.]0+)?')",
)
"""The whole-number rule of desired_scores.csv, grant_decisions.csv and the website CSV's
UPDATE- cells (sql/push_plan.sql, grant_plan.sql, website_changes.sql), defined once:
`trim_spaces(text)` removes the spaces around a cell, the characters of `_SPACES` (any Unicode
whitespace, a no-break space included, as the csv module's `str.strip`); `written_in_digits(
trimmed)` is true when it is an optional sign, ASCII digits, then optionally a point and zeros
(95, -3, 95.0; not 1_000, 1e3, 1,000)."""


def create_whole_number_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Create WHOLE_NUMBER_MACROS on `con` (TEMP: a read-only warehouse is fine)."""
    for statement in WHOLE_NUMBER_MACROS:
        con.execute(statement)


def _spaces_only_row(
    con: duckdb.DuckDBPyConnection, table: str, positions: dict[str, int | None]
) -> bool:
    """Whether a row of `table` has only empty or whitespace cells in the columns it reads.

    DuckDB's reader accepts a record with more cells than the header when the extra ones are
    empty (` , , ,` under a header of three); the csv module's reader leaves such a row out when
    every cell is whitespace, and keeps it when it has as many cells as the header. Which one it
    was is not in the table, so a file with such a row (rare: it is rejected or left out either
    way) is read again by the csv module, whose rows are the reference. Cheap on the common rows:
    a cell starting with a printable ASCII character ends the test of the row.
    """
    read = [name for name, at in positions.items() if at is not None]
    spaces = " AND ".join(
        f"({name} IS NULL OR (({name} < '!' OR {name} > '~') AND trim({name}, $spaces) = ''))"
        for name in read
    )
    (found,) = con.execute(
        f"SELECT count(*) FROM (FROM {table} WHERE {spaces} LIMIT 1)", {"spaces": _SPACES}
    ).fetchone()
    return bool(found)


def _drop_loaded(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Drop what a load into `table` may have left on `con`: TEMP table or view `table`, and TEMP
    table `<table>_rows` (`_read_by_position`)."""
    for name in (table, f"{table}_rows"):
        kinds = con.execute(
            "SELECT 'VIEW' FROM duckdb_views() WHERE temporary AND view_name = ? "
            "UNION ALL SELECT 'TABLE' FROM duckdb_tables() WHERE temporary AND table_name = ?",
            [name, name],
        ).fetchall()
        for (kind,) in kinds:
            con.execute(f"DROP {kind} temp.{name}")


def _open(path: Path, missing: str) -> _Rows:
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder; give the CSV file")
    return _Rows(path, missing)


def _first_bad_utf8_line(path: Path) -> int | None:
    """The line of the first byte of `path` that is not UTF-8 (None if none is, or it cannot
    be read). Reads the file in chunks, decoding incrementally."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    lines = 1
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as e:  # e.object: the bytes held back, then chunk
                    return lines + e.object[: e.start].count(b"\n")
                lines += chunk.count(b"\n")
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return lines
    except OSError:
        return None
    return None


def _header(rows: _Rows, path: Path) -> tuple[int, list[str]]:
    for line, cells in rows:
        return line, cells
    raise InputError(f"{path} is empty: it needs a header line and one row per change")


def _cell(cells: list[str], index: int | None) -> str | None:
    if index is None or index >= len(cells) or cells[index] == "":
        return None
    return cells[index]


_LOOKS_LIKE_UPDATE = re.compile(r"update[\W_]", re.IGNORECASE)
"""A trimmed header that begins like an UPDATE- column (`UPDATE Expert`, `update_Expert`,
`UPDATE - Expert`) but is not one: refused, naming it, rather than its cells dropped."""


def _squash(name: str) -> str:
    return re.sub(r"[\s_-]+", "", name.lower())


def _semicolon_hint(header: list[str]) -> str:
    """A hint when the header is one cell holding semicolons or tabs: a file separated by them
    (a spreadsheet's export in a locale that writes ';', or a tab-separated file)."""
    if len(header) == 1:
        for mark, name in ((";", "semicolons"), ("\t", "tabs")):
            if mark in header[0]:
                return f" (the file looks separated by {name}: save it with commas)"
    return ""


def _write_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    schema: pa.Schema,
    batches: Iterator[pa.RecordBatch],
) -> int:
    """Stream record batches of `schema` into TEMP table `table` (empty strings become NULL); the
    row count. An InputError raised while reading is raised here, after DuckDB's scan."""
    count = 0
    failed: list[InputError] = []

    def counted() -> Iterator[pa.RecordBatch]:
        nonlocal count
        try:
            for b in batches:
                count += b.num_rows
                yield b
        except InputError as e:  # raised below, not through DuckDB's scan
            failed.append(e)

    reader = pa.RecordBatchReader.from_batches(schema, counted())
    name = f"{table}_arrow"
    select = ", ".join(
        f"nullif({f.name}, '') AS {f.name}" if f.type == pa.string() else f.name for f in schema
    )
    con.register(name, reader)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {select} FROM {name}")
    finally:
        con.unregister(name)
    if failed:
        con.execute(f"DROP TABLE IF EXISTS temp.{table}")
        raise failed[0]
    return count
