"""Write one lake snapshot as a stream of batches and publish it atomically.

A snapshot is written to a dot-prefixed temporary file in its partition directory (readers ignore
it), fsynced, renamed over its final name with os.replace, and only then are the partition's older
snapshots removed (older by name, i.e. by snapshot time: a newer snapshot published meanwhile by
an overlapping run stays). A failure before the rename deletes the temporary file and leaves the
previous snapshot exactly as it was, so a reader never sees half a snapshot.

Extraction stats travel with the data, as JSON in the Parquet footer's key-value metadata under
`EXTRACT_METADATA_KEY`; their keys are a contract with the warehouse loader, declared in
`qual_pipeline.lake.footer`.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pyarrow as pa
import pyarrow.parquet as pq

from qual_pipeline.lake.footer import EXTRACT_METADATA_KEY
from qual_pipeline.lake.layout import snapshot_name, snapshots_in

TEMP_SUFFIX = ".tmp"
STALE_TEMP_AGE_S = 24 * 3600  # a temp file this old belongs to a crashed writer, not a live one
DEFAULT_ROW_GROUP_ROWS = 64 * 1024


class SnapshotWriter:
    """Context manager: `with SnapshotWriter(dir, schema) as w: w.write(batch)` publishes on exit.

    Batches are buffered up to `row_group_rows` so that 100-row API pages still make row groups of a
    useful size; memory stays bounded by one row group whatever the snapshot's size.
    """

    def __init__(
        self,
        directory: Path,
        schema: pa.Schema,
        *,
        snapshot_at: datetime | None = None,
        row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
        compression: str = "zstd",
    ) -> None:
        self.directory = Path(directory)
        self.schema = schema
        self.path = self.directory / snapshot_name(snapshot_at)
        self.temp_path = self.directory / f".{self.path.stem}.{uuid.uuid4().hex}{TEMP_SUFFIX}"
        self.rows = 0
        self._row_group_rows = row_group_rows
        self._compression = compression
        self._buffer: list[pa.RecordBatch] = []
        self._buffered = 0
        self._metadata: dict[bytes, bytes] = {}
        self._writer: pq.ParquetWriter | None = None
        self.published = False

    def __enter__(self) -> Self:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(
            self.temp_path, self.schema, compression=self._compression, write_statistics=True
        )
        return self

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        if self._writer is None:
            raise RuntimeError("SnapshotWriter.write called outside its `with` block")
        if not batch.schema.equals(self.schema, check_metadata=False):
            raise TypeError(
                f"batch schema does not match the snapshot's:\n{batch.schema}\n"
                f"expected:\n{self.schema}"
            )
        if batch.num_rows == 0:
            return
        if isinstance(batch, pa.Table):
            self._buffer.extend(batch.to_batches())
        else:
            self._buffer.append(batch)
        self._buffered += batch.num_rows
        self.rows += batch.num_rows
        if self._buffered >= self._row_group_rows:
            self._flush()

    def set_extract_metadata(self, stats: Mapping[str, Any]) -> None:
        """Store `stats` as JSON in the footer under EXTRACT_METADATA_KEY (last call wins)."""
        self._metadata[EXTRACT_METADATA_KEY] = json.dumps(dict(stats), default=str).encode()

    def _flush(self) -> None:
        if not self._buffer or self._writer is None:
            return
        table = pa.Table.from_batches(self._buffer, schema=self.schema)
        self._writer.write_table(table, row_group_size=self._row_group_rows)
        self._buffer.clear()
        self._buffered = 0

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            try:
                self._publish()
                return
            except BaseException:
                self._abort()
                raise
        self._abort()

    def _publish(self) -> None:
        assert self._writer is not None
        self._flush()
        if self._metadata:
            self._writer.add_key_value_metadata(self._metadata)
        self._writer.close()
        self._writer = None
        fd = os.open(self.temp_path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.temp_path, self.path)
        _fsync_dir(self.directory)
        self.published = True
        # Only snapshots older than this one go: a newer one was published by an overlapping run
        # that started later and must stay (names sort in time order).
        for old in snapshots_in(self.directory):
            if old.name < self.path.name:
                old.unlink(missing_ok=True)
        remove_stale_temp_files(self.directory)

    def _abort(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
        self.temp_path.unlink(missing_ok=True)


def read_extract_metadata(path: Path) -> dict[str, Any] | None:
    """The stats stored by the writer in a snapshot's footer, or None if it has none."""
    metadata = pq.read_metadata(path).metadata or {}
    raw = metadata.get(EXTRACT_METADATA_KEY)
    return json.loads(raw) if raw is not None else None


def remove_stale_temp_files(directory: Path, max_age_s: float = STALE_TEMP_AGE_S) -> list[Path]:
    """Delete temp files left by writers that crashed (older than `max_age_s`)."""
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    cutoff = time.time() - max_age_s
    for p in directory.iterdir():
        if p.name.startswith(".") and p.name.endswith(TEMP_SUFFIX):
            with contextlib.suppress(FileNotFoundError):
                if p.stat().st_mtime < cutoff:
                    p.unlink()
                    removed.append(p)
    return removed


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
