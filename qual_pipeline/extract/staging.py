"""Keep the last observation of each key across all pages, in memory that does not grow with rows.

MTurk documents no page order and no stability between pages, so one worker can appear twice (or
change) while we page. A Python set of every worker id would grow with the qualification; instead
pages are streamed to a staging Parquet file with a sequence column, and an in-memory DuckDB with a
memory limit and spilling to disk in the scratch folder the stores give (under the data directory
in the local profile, a temporary folder in the shared one), sorts them by key and sequence, one
hash slice of keys at a time so that each sort is bounded; the first row of each run of equal keys
is the last observation, picked while streaming the sorted batches.

Most partitions are small (a type per study holds tens or hundreds of workers): pages are held in
memory while they hold fewer records than one staging row group (`STAGING_ROW_GROUP_ROWS`, the same
bound as before; the page that reaches it spills them), and an extraction that ends below it is
de-duplicated there (a dict up to `PYTHON_DEDUPE_ROWS` rows, Arrow's sort beyond), with no file,
no DuckDB and no scratch folder at all: given a factory of scratch folders (`Stores.scratch`),
a Staging takes one only when its pages outgrow memory (creating and removing a folder cost a
small type more than its paging did on a busy disk).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from types import TracebackType
from typing import Self

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from qual_pipeline.memory import release_free_memory

SEQUENCE_COLUMN = "_seq"
ALLOCATOR_FLUSH_THRESHOLD = "16MB"
"""Freed memory DuckDB's allocator may keep cached before returning it (128MB by default: more
than the sort's own limit, and it grew with the number of sorts a refresh ran)."""
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
DEFAULT_MEMORY_LIMIT = "64MB"
STAGING_ROW_GROUP_ROWS = 64 * 1024
"""Rows held in memory before the pages spill to the staging file (and sorted there if they never
do)."""
SPILLED_FLUSH_ROWS = 16 * 1024
"""Once the pages spilled, rows buffered before they are written to the staging file, as row
groups of this many rows: a process's RssAnon grew by about 24 MB as it wrote 65,536 rows at once
(part of it freed memory malloc kept), and every type in flight writes its own: at 4,000,000 rows
every type spills, all at once."""
OUTPUT_BATCH_ROWS = 16 * 1024
ROWS_PER_BUCKET = 64 * 1024
"""Rows of one hash bucket a larger partition is split into (the split's memory grew with the
buckets: its writers are open at once)."""
ROWS_PER_PASS = 32 * 1024
"""Rows one DuckDB sort takes at most: a bucket is sorted in passes of about this many rows, each
the keys of one slice of the hash. The sort's memory follows it: the extraction of a refresh of
4,000,000 rows over 5 types peaked at 758 MB with 250,000 (and DuckDB's allocator caching up to
128MB), 616 MB with 100,000 (and a 16MB cache); one spilled type of 800,000 rows sorted alone
peaked 123 MB above its paging with 100,000, 78 MB with 65,536. At 4,000,000 rows the sorts run
while the other types page."""
SPILLED_SORTS = threading.BoundedSemaphore(1)
"""One spilled partition is sorted at a time in this process: extractions running side by side
(many types at once) each hold one page and one row group, but only one DuckDB sort of up to its
memory limit, so a refresh's peak memory does not grow with the size of its largest types."""
BUCKET_BUFFER_ROWS = 100_000  # rows buffered across all open buckets while splitting
BUCKET_ROW_GROUP_ROWS = 8 * 1024
"""Rows a bucket file's Parquet writer holds at most before writing them as a row group; with
many buckets, fewer (`BUCKET_BUFFER_ROWS` over the buckets, at least `MIN_BUCKET_ROW_GROUP_ROWS`),
so that what all the buckets' writers hold does not grow with the partition's rows."""
MIN_BUCKET_ROW_GROUP_ROWS = 2 * 1024
PYTHON_DEDUPE_ROWS = 4096
"""Pages held in memory up to this many rows are de-duplicated with a Python dict and one Arrow
take: 0.10 ms for a type of 50 workers (two pages), against 0.22 ms through Arrow's sort and run
detection, about ten compute calls whose cost does not shrink with the rows; more rows, with
Arrow."""


class Staging:
    """Stage pages with `write(batch)`, then read them back with `last_per_key()`.

    Everything it creates lives in one new directory under `scratch`, removed on exit, success or
    not. `scratch` is a folder, or a factory of scratch folders (a context manager giving a folder,
    removed on its exit, such as `Stores.scratch`) entered only once the pages spill to disk.
    """

    def __init__(
        self,
        scratch: Path | Callable[[], AbstractContextManager[Path]],
        schema: pa.Schema,
        key: str,
        *,
        memory_limit: str = DEFAULT_MEMORY_LIMIT,
        threads: int = 1,
    ) -> None:
        if not _IDENTIFIER.match(key) or key not in schema.names:
            raise ValueError(f"de-duplication key {key!r} is not a column of the schema")
        self.schema = schema
        self.key = key
        self._scratch = scratch
        self._scratch_folder = ExitStack()
        self._name = uuid.uuid4().hex
        self.directory: Path | None = None if callable(scratch) else Path(scratch) / self._name
        """This staging's own folder (None until the pages spill, when `scratch` is a factory)."""
        self.spilled = False
        """True once the pages outgrew memory and went to the staging file."""
        self.rows = 0
        self._memory_limit = memory_limit
        self._threads = threads
        self._staged_schema = schema.append(pa.field(SEQUENCE_COLUMN, pa.int64(), nullable=False))
        self._writer: pq.ParquetWriter | None = None
        self._open = False
        self._buffer: list[pa.RecordBatch] = []
        self._buffered = 0

    def __enter__(self) -> Self:
        self._open = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._open = False
        try:
            self._close_writer()
        finally:
            self._buffer.clear()
            if self.spilled and self.directory is not None:
                shutil.rmtree(self.directory, ignore_errors=True)  # the scratch folder: its owner's
            self._scratch_folder.close()  # a folder taken from a factory goes back to it

    def write(self, batch: pa.RecordBatch) -> None:
        """Stage one page; later pages win over earlier ones for the same key."""
        if not self._open:
            raise RuntimeError("Staging.write called outside its `with` block")
        n = batch.num_rows
        if n == 0:
            return
        if not batch.schema.equals(self.schema):  # the same columns, named and typed as ours
            batch = pa.RecordBatch.from_arrays(batch.columns, schema=self.schema)
        # Held as given: the sequence column is added only if the pages spill to the file
        # (in memory, a page's place in the buffer is its sequence).
        self._buffer.append(batch)
        self.rows += n
        self._buffered += n
        if self._buffered >= (SPILLED_FLUSH_ROWS if self.spilled else STAGING_ROW_GROUP_ROWS):
            self._flush()

    def last_per_key(self) -> Iterator[pa.RecordBatch]:
        """The staged rows, one per key (the last staged), sorted by key, in `schema`."""
        if not self.spilled:
            if self._buffered:
                yield from self._last_per_key_in_memory()
            return
        self._close_writer()
        if self.rows == 0:
            return
        with SPILLED_SORTS:
            try:
                yield from self._last_per_key_spilled()
            finally:
                # What the sort and its Arrow batches freed goes back to the system before the
                # next sort: kept in glibc's arenas it grew with the number of sorts (the rows).
                release_free_memory()

    def _connect(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB bounded by the memory limit, spilling to this staging's folder."""
        con = duckdb.connect(
            ":memory:",
            config={
                "memory_limit": self._memory_limit,
                "threads": self._threads,
                "temp_directory": str(self._folder() / "spill"),
                "preserve_insertion_order": False,
                "allocator_flush_threshold": ALLOCATOR_FLUSH_THRESHOLD,
                "allocator_bulk_deallocation_flush_threshold": ALLOCATOR_FLUSH_THRESHOLD,
                # The staged files are local: no copy of them in DuckDB's external file cache.
                "enable_external_file_cache": False,
            },
        )
        con.execute("SET TimeZone = 'UTC'")
        return con

    def _last_per_key_spilled(self) -> Iterator[pa.RecordBatch]:
        # DuckDB's external sort needs memory that grows with the row count, so when there are
        # many rows they are first split by a hash of the key into bucket files of about
        # ROWS_PER_BUCKET rows (one pass, streamed), then each bucket is sorted in passes of about
        # ROWS_PER_PASS rows, each pass the keys of one slice of the hash: every sort is bounded.
        # The key is a validated identifier; paths and numbers are parameters.
        buckets = max(1, -(-self.rows // ROWS_PER_BUCKET))
        passes = max(1, -(-self.rows // (buckets * ROWS_PER_PASS)))
        if buckets == 1:
            yield from self._sorted_in_passes([self._path()], buckets, passes)
            return
        bucket_dir = self._folder() / "buckets"
        target = str(bucket_dir).replace("'", "''")  # COPY TO takes no parameter here
        with contextlib.closing(self._connect()) as con:
            # Each open bucket buffers rows until this threshold: keep their sum bounded. Its
            # Parquet writer then holds a row group until BUCKET_ROW_GROUP_ROWS (DuckDB's default
            # row group, 122,880 rows, is a whole bucket: every bucket's rows at once).
            con.execute(f"SET partitioned_write_flush_threshold = {BUCKET_BUFFER_ROWS // buckets}")
            group = max(
                MIN_BUCKET_ROW_GROUP_ROWS, min(BUCKET_ROW_GROUP_ROWS, BUCKET_BUFFER_ROWS // buckets)
            )
            con.execute(
                f"COPY (SELECT *, hash({self.key}) % $buckets::UBIGINT AS _bucket"
                f" FROM read_parquet($path)) TO '{target}' (FORMAT parquet,"
                f" PARTITION_BY (_bucket), ROW_GROUP_SIZE {group})",
                {"path": str(self._path()), "buckets": buckets},
            )
        self._path().unlink()  # the buckets hold every row now; free the disk space
        release_free_memory()
        for bucket in range(buckets):
            files = sorted((bucket_dir / f"_bucket={bucket}").glob("*.parquet"))
            if files:
                yield from self._sorted_in_passes(files, buckets, passes)

    def _sorted_in_passes(
        self, files: list[Path], buckets: int, passes: int
    ) -> Iterator[pa.RecordBatch]:
        """The last row per key of `files` (one bucket: the keys whose hash modulo `buckets` is
        one number), sorted in `passes` passes, each the keys whose hash divided by `buckets` is
        one number modulo `passes`: all the rows of a key are in one pass."""
        order = f"ORDER BY {self.key}, {SEQUENCE_COLUMN} DESC"
        where = (
            f"WHERE (hash({self.key}) // $buckets::UBIGINT) % $passes::UBIGINT = $pass::UBIGINT"
            if passes > 1
            else ""
        )
        query = (
            "SELECT * FROM read_parquet($files, hive_partitioning = false, union_by_name = true)"
            f" {where} {order}"
        )
        for number in range(passes):
            params: dict[str, object] = {"files": [str(f) for f in files]}
            if passes > 1:
                params |= {"buckets": buckets, "passes": passes, "pass": number}
            # A connection per sort: one kept across sorts held what each sort left in its
            # buffer pool, and the next sort's peak came on top (a peak growing with buckets).
            with contextlib.closing(self._connect()) as con:
                relation = con.sql(query, params=params)
                yield from self._first_per_key(relation)
            release_free_memory()  # each sort and its batches: freed, returned

    def _last_per_key_in_memory(self) -> Iterator[pa.RecordBatch]:
        table = pa.Table.from_batches(self._buffer, schema=self.schema)
        self._buffer.clear()
        keys = table.column(self.key)
        if table.num_rows <= PYTHON_DEDUPE_ROWS and keys.null_count == 0:
            # A small partition (most of a requester's types): the last row of each key, found
            # with a dict, then one take in key order. Arrow's sort and run detection cost
            # about ten compute calls whatever the size (about 1 ms a partition).
            last = {key: i for i, key in enumerate(keys.to_pylist())}  # later rows win
            order = pa.array([last[key] for key in sorted(last)], pa.int64())
            yield from table.take(order).combine_chunks().to_batches(OUTPUT_BATCH_ROWS)
            return
        seq = pa.array(range(table.num_rows), pa.int64())
        table = table.append_column(self._staged_schema.field(SEQUENCE_COLUMN), seq)
        order = pc.sort_indices(
            table, sort_keys=[(self.key, "ascending"), (SEQUENCE_COLUMN, "descending")]
        )
        sorted_table = table.take(order)
        yield from self._first_per_key_of(sorted_table.to_batches(OUTPUT_BATCH_ROWS))

    def _first_per_key(self, relation: duckdb.DuckDBPyRelation) -> Iterator[pa.RecordBatch]:
        yield from self._first_per_key_of(relation.to_arrow_reader(OUTPUT_BATCH_ROWS))

    def _first_per_key_of(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        previous: pa.Scalar | None = None
        for batch in batches:
            if batch.num_rows == 0:
                continue
            keys = batch.column(self.key)
            first_of_run = pc.not_equal(keys.slice(1), keys.slice(0, len(keys) - 1))
            head = previous is None or keys[0] != previous
            previous = keys[len(keys) - 1]
            kept = batch.filter(pa.concat_arrays([pa.array([head]), first_of_run]))
            # DuckDB reports every column nullable; the data is the same, the schema is ours.
            yield pa.RecordBatch.from_arrays(kept.columns[:-1], schema=self.schema)

    @property
    def path(self) -> Path | None:
        """The staging file (None until the pages spill, when `scratch` is a factory)."""
        return None if self.directory is None else self.directory / "pages.parquet"

    def _folder(self) -> Path:
        assert self.directory is not None, "only a staging that spilled has a folder"
        return self.directory

    def _path(self) -> Path:
        return self._folder() / "pages.parquet"

    def _flush(self) -> None:
        if self._buffer and self._writer is None:
            if self.directory is None:
                assert callable(self._scratch)
                folder = self._scratch_folder.enter_context(self._scratch())
                self.directory = folder / self._name
            for attempt in range(3):  # another extraction may remove the empty root meanwhile
                try:
                    self.directory.mkdir(parents=True, exist_ok=False)
                    break
                except FileNotFoundError:
                    if attempt == 2:
                        raise
            self._writer = pq.ParquetWriter(
                self._path(), self._staged_schema, compression="lz4", use_dictionary=False
            )
            self.spilled = True
        if self._buffer and self._writer is not None:
            table = pa.Table.from_batches(self._buffer, schema=self.schema)
            first = self.rows - self._buffered  # the sequence number of the buffer's first row
            seq = pa.array(range(first, first + table.num_rows), pa.int64())
            table = table.append_column(self._staged_schema.field(SEQUENCE_COLUMN), seq)
            self._writer.write_table(table, row_group_size=SPILLED_FLUSH_ROWS)
        self._buffer.clear()
        self._buffered = 0

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._flush()
            self._writer.close()
            self._writer = None
