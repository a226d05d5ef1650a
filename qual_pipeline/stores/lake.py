"""The lake store: immutable Parquet snapshots in a Hive layout, on a local folder or on S3.

Layout (lake/layout.py names the snapshots; the same under a folder and under a bucket prefix):

    <root>/<table>/qualification_type_id=<id>/<snapshot>.parquet   (partitioned tables)
    <root>/<table>/<snapshot>.parquet                               (qualification_types)

where <root> is `<data_dir>/lake` locally and `s3://BUCKET/PREFIX/lake/<environment>/<account>`
in the shared profile (see stores/namespace.py), and `<snapshot>` is a UTC timestamp, so names sort
in time order.

The rules every implementation keeps:
- A snapshot is written as a stream of Arrow batches and becomes visible whole or not at all: a
  local file is written under a dot-prefixed temporary name and hard-linked to its final name; an
  object is one PUT, or a multipart upload completed only when the whole file is written. A failure
  (an exception, SIGTERM turned into one) removes the temporary file or aborts the upload; a kill -9
  leaves only a dot-file or a pending upload, which no listing returns and `remove_abandoned`
  clears once old.
- Several snapshots published together (a type's two tables) are each written and closed first
  (`publish_on_exit=False`), then committed one after the other; should a later commit fail,
  the earlier ones are withdrawn (`SnapshotWriter.withdraw`), so the previous snapshots of all of
  them stay current. (A kill -9 between two commits can still leave the first published: that
  window is one link and one fsync long.)
- A publish never overwrites an existing snapshot (link fails on an existing name; S3 writes carry
  `If-None-Match: *`): SnapshotExistsError instead.
- `delete_older` deletes only snapshots older than a given one, and only once they have been
  superseded for a grace period, so a loader that listed a snapshot just before a newer one was
  published can still read it. (Superseded-at is the publish time of the next newer snapshot: the
  file's mtime, or the object's Last-Modified, which S3 sets to the start of a multipart upload:
  so the grace is counted from the start of the newer snapshot's upload, a few seconds early.)
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Self

import botocore.exceptions
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from qual_pipeline.lake.layout import PARTITION_KEY, SNAPSHOT_PATTERN, snapshot_name
from qual_pipeline.stores.namespace import Namespace
from qual_pipeline.stores.object_storage import S3Storage, StorageError, error_code

DELETE_GRACE_S: Final = 15 * 60
"""How long a superseded snapshot stays readable by loaders that listed it before it was."""
ABANDONED_AGE_S: Final = 24 * 3600
"""A temporary file or pending upload this old belongs to a writer that died, not a live one."""
DEFAULT_ROW_GROUP_ROWS: Final = 64 * 1024
S3_PART_BYTES: Final = 8 * 1024 * 1024
"""Multipart part size (S3's minimum for all parts but the last is 5 MiB); also the memory bound
of an upload's buffer. A snapshot smaller than one part is a single PUT."""
S3_MIN_PART_BYTES: Final = 5 * 1024 * 1024
TEMP_SUFFIX: Final = ".tmp"
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class LakeStoreError(RuntimeError):
    """The lake store could not list, write or delete; the message names the place."""


class SnapshotExistsError(LakeStoreError, FileExistsError):
    """A snapshot of that name already exists; nothing was overwritten."""


@dataclass(frozen=True, order=True)
class LakeSnapshot:
    """One published snapshot.

    location: what DuckDB's read_parquet takes (a local path, or an s3:// URL readable once
    `LakeStore.configure_duckdb` ran on the connection).
    published_at: when it became visible (UTC; mtime or Last-Modified).
    """

    table: str
    partition: str | None
    name: str
    location: str
    published_at: datetime


def _check_name(kind: str, value: str) -> str:
    if not _NAME_PATTERN.match(value):
        raise ValueError(f"{kind} {value!r} is not a valid lake name (letters, digits, _ and -)")
    return value


class LakeStore(ABC):
    """List, read, write-new-snapshot and delete-older for one lake root."""

    @abstractmethod
    def describe(self) -> str:
        """Where the lake is, for messages (never a credential)."""

    @abstractmethod
    def partitions(self, table: str) -> list[str]:
        """The partition values (type ids) of a partitioned table that hold a directory/prefix."""

    @abstractmethod
    def snapshots(self, table: str, partition: str | None = None) -> list[LakeSnapshot]:
        """Published snapshots of one partition (or unpartitioned table), oldest first."""

    @abstractmethod
    def _snapshots_by_partition(self, table: str) -> dict[str, list[LakeSnapshot]]:
        """Every partition's published snapshots, oldest first (one listing where possible)."""

    @abstractmethod
    def _upload(self, table: str, partition: str | None, name: str) -> _Upload:
        """A new, invisible upload that will publish the snapshot `name` on commit."""

    @abstractmethod
    def _delete(self, snapshots: list[LakeSnapshot]) -> None: ...

    @abstractmethod
    def remove_abandoned(
        self, table: str, partition: str | None = None, *, max_age_s: float = ABANDONED_AGE_S
    ) -> int:
        """Remove what writers that died left (temporary files, pending uploads) older than
        max_age_s in one partition; returns how many."""

    @abstractmethod
    def read_footer(self, snapshot: LakeSnapshot) -> pq.FileMetaData:
        """The snapshot's Parquet footer (row count, statistics, key-value metadata)."""

    def configure_duckdb(self, con: duckdb.DuckDBPyConnection) -> None:  # noqa: B027
        """Make the snapshots' locations readable by `con` (nothing to do for a folder)."""

    def current_snapshots(self, table: str) -> dict[str, LakeSnapshot]:
        """The newest published snapshot of each partition of a partitioned table, by type id."""
        return {
            partition: snaps[-1]
            for partition, snaps in sorted(self._snapshots_by_partition(table).items())
            if snaps
        }

    def current_snapshot(self, table: str) -> LakeSnapshot | None:
        """The newest published snapshot of an unpartitioned table."""
        snaps = self.snapshots(table)
        return snaps[-1] if snaps else None

    def writer(
        self,
        table: str,
        schema: pa.Schema,
        partition: str | None = None,
        *,
        snapshot_at: datetime | None = None,
        row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
        compression: str = "zstd",
        use_dictionary: bool = True,
        publish_on_exit: bool = True,
    ) -> SnapshotWriter:
        """A SnapshotWriter for a new snapshot named after `snapshot_at` (default: now);
        `use_dictionary`: Parquet's dictionary encoding of every column (off, values are stored
        plain: cheaper to write for a small snapshot, the same data to every reader);
        `publish_on_exit`: False to publish later with `SnapshotWriter.commit`."""
        _check_name("table", table)
        if partition is not None:
            _check_name("partition", partition)
        name = snapshot_name(snapshot_at)
        return SnapshotWriter(
            self._upload(table, partition, name),
            schema,
            row_group_rows=row_group_rows,
            compression=compression,
            use_dictionary=use_dictionary,
            publish_on_exit=publish_on_exit,
        )

    def delete_older(
        self,
        than: LakeSnapshot,
        *,
        grace_s: float = DELETE_GRACE_S,
        now: datetime | None = None,
    ) -> list[LakeSnapshot]:
        """Delete the snapshots of `than`'s partition that are older than it and were superseded
        (a newer snapshot published) at least grace_s ago; never `than` or a newer one.

        Returns the deleted snapshots, oldest first.
        """
        cutoff = (now or datetime.now(UTC)) - timedelta(seconds=grace_s)
        snaps = self.snapshots(than.table, than.partition)
        doomed = [
            snap
            for snap, successor in itertools.pairwise(snaps)
            if snap.name < than.name and successor.published_at <= cutoff
        ]
        if doomed:
            self._delete(doomed)
        return doomed


class _Upload(ABC):
    """The bytes of one snapshot on their way to its final name."""

    snapshot: LakeSnapshot  # what the snapshot will be once committed (published_at: estimate)

    @abstractmethod
    def open(self) -> str | IO[bytes]:
        """Where the Parquet writer writes: a local path or a binary stream."""

    @abstractmethod
    def commit(self) -> LakeSnapshot:
        """Make the snapshot visible whole (SnapshotExistsError if the name is taken)."""

    @abstractmethod
    def abort(self) -> None:
        """Leave nothing visible and nothing pending; safe to call twice."""

    @abstractmethod
    def withdraw(self) -> None:
        """Delete the snapshot `commit` just published (and a partition folder the upload made,
        left empty): undo a publish whose partner failed. LakeStoreError if it cannot."""


class SnapshotWriter:
    """Context manager: `with store.writer(...) as w: w.write(batch)` publishes on a clean exit
    and aborts on an exception (nothing visible, nothing pending). With `publish_on_exit=False`
    a clean exit only writes the file whole: `commit()` publishes it later, `abort()` drops it,
    and `withdraw()` deletes it again once published.

    Batches are buffered into row groups of `row_group_rows`, so memory stays bounded by one row
    group (plus one S3 part) whatever the snapshot's size. `snapshot` is the published snapshot
    after the block.
    """

    def __init__(
        self,
        upload: _Upload,
        schema: pa.Schema,
        *,
        row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
        compression: str = "zstd",
        use_dictionary: bool = True,
        publish_on_exit: bool = True,
    ) -> None:
        self.schema = schema
        self.rows = 0
        self.snapshot: LakeSnapshot | None = None
        self._publish_on_exit = publish_on_exit
        self._written = False
        self._upload = upload
        self._row_group_rows = row_group_rows
        self._compression = compression
        self._use_dictionary = use_dictionary
        self._buffer: list[pa.RecordBatch] = []
        self._buffered = 0
        self._footer: dict[bytes, bytes] = {}
        self._writer: pq.ParquetWriter | None = None

    @property
    def name(self) -> str:
        return self._upload.snapshot.name

    def __enter__(self) -> Self:
        try:
            self._writer = pq.ParquetWriter(
                self._upload.open(),
                self.schema,
                compression=self._compression,
                use_dictionary=self._use_dictionary,
                write_statistics=True,
            )
        except BaseException:
            self._upload.abort()
            raise
        return self

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Append rows; TypeError (naming both schemas) if the batch's schema differs."""
        if self._writer is None:
            raise RuntimeError("SnapshotWriter.write called outside its `with` block")
        if not batch.schema.equals(self.schema, check_metadata=False):
            raise TypeError(
                f"batch schema does not match the snapshot's:\n{batch.schema}\n"
                f"expected:\n{self.schema}"
            )
        if batch.num_rows == 0:
            return
        self._buffer.extend(batch.to_batches() if isinstance(batch, pa.Table) else [batch])
        self._buffered += batch.num_rows
        self.rows += batch.num_rows
        if self._buffered >= self._row_group_rows:
            self._flush()

    def set_footer_metadata(self, metadata: Mapping[bytes, bytes]) -> None:
        """Key-value pairs for the Parquet footer (merged; a later value for a key wins)."""
        self._footer.update(metadata)

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
        try:
            if exc_type is None:
                assert self._writer is not None
                self._flush()
                if self._footer:
                    self._writer.add_key_value_metadata(self._footer)
                self._writer.close()
                self._writer = None
                self._written = True
                if self._publish_on_exit:
                    self.snapshot = self._upload.commit()
                return
        except BaseException:
            self._abort()
            raise
        self._abort()

    def commit(self) -> LakeSnapshot:
        """Publish the snapshot written by a `publish_on_exit=False` block; on a failure
        (SnapshotExistsError, LakeStoreError, OSError) nothing is visible or pending."""
        if not self._written or self.snapshot is not None:
            raise RuntimeError("SnapshotWriter.commit: no written, unpublished snapshot")
        try:
            self.snapshot = self._upload.commit()
        except BaseException:
            self._abort()
            raise
        return self.snapshot

    def abort(self) -> None:
        """Drop a written, unpublished snapshot (nothing visible, nothing pending); a published
        one is left alone (see `withdraw`)."""
        if self.snapshot is None:
            self._abort()

    def withdraw(self) -> None:
        """Delete the snapshot `commit` published (LakeStoreError if it cannot)."""
        if self.snapshot is None:
            raise RuntimeError("SnapshotWriter.withdraw: nothing was published")
        self._upload.withdraw()
        self.snapshot = None
        self._written = False

    def _abort(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
        self._upload.abort()


# ------------------------------------------------------------------------------------ local folder


class LocalLakeStore(LakeStore):
    """The lake under a local folder (`<data_dir>/lake`)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def describe(self) -> str:
        return str(self.root)

    def configure_duckdb(self, con: duckdb.DuckDBPyConnection) -> None:
        """Local files need no set-up; DuckDB's external file cache is turned off: it kept a
        copy of every lake file a query read in the process's memory (12 MB of a 4,000,000-row
        lake during a load, on top of the OS's page cache, which holds them anyway)."""
        con.execute("SET enable_external_file_cache = false")

    def _dir(self, table: str, partition: str | None) -> Path:
        base = self.root / table
        return base if partition is None else base / f"{PARTITION_KEY}={partition}"

    def _listed(self, table: str, partition: str | None, directory: Path) -> list[LakeSnapshot]:
        found = []
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            for entry in os.scandir(directory):
                if SNAPSHOT_PATTERN.match(entry.name):
                    with contextlib.suppress(FileNotFoundError):  # deleted while listing
                        mtime = entry.stat().st_mtime
                        found.append(
                            LakeSnapshot(
                                table,
                                partition,
                                entry.name,
                                str(directory / entry.name),
                                datetime.fromtimestamp(mtime, UTC),
                            )
                        )
        return sorted(found, key=lambda s: s.name)

    def partitions(self, table: str) -> list[str]:
        prefix = f"{PARTITION_KEY}="
        base = self.root / table
        if not base.is_dir():
            return []
        return sorted(
            p.name[len(prefix) :]
            for p in base.iterdir()
            if p.is_dir() and p.name.startswith(prefix)
        )

    def snapshots(self, table: str, partition: str | None = None) -> list[LakeSnapshot]:
        return self._listed(table, partition, self._dir(table, partition))

    def _snapshots_by_partition(self, table: str) -> dict[str, list[LakeSnapshot]]:
        return {p: self.snapshots(table, p) for p in self.partitions(table)}

    def _upload(self, table: str, partition: str | None, name: str) -> _Upload:
        directory = self._dir(table, partition)
        return _LocalUpload(
            directory, LakeSnapshot(table, partition, name, str(directory / name), _now())
        )

    def _delete(self, snapshots: list[LakeSnapshot]) -> None:
        for snap in snapshots:
            Path(snap.location).unlink(missing_ok=True)

    def remove_abandoned(
        self, table: str, partition: str | None = None, *, max_age_s: float = ABANDONED_AGE_S
    ) -> int:
        directory = self._dir(table, partition)
        cutoff = time.time() - max_age_s
        removed = 0
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            for entry in os.scandir(directory):
                if entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX):
                    with contextlib.suppress(FileNotFoundError):
                        if entry.stat().st_mtime < cutoff:
                            os.unlink(entry.path)
                            removed += 1
        return removed

    def read_footer(self, snapshot: LakeSnapshot) -> pq.FileMetaData:
        return pq.read_metadata(snapshot.location)


class _LocalUpload(_Upload):
    def __init__(self, directory: Path, snapshot: LakeSnapshot) -> None:
        self.directory = directory
        self.snapshot = snapshot
        stem = snapshot.name.removesuffix(".parquet")
        self.temp_path = directory / f".{stem}.{uuid.uuid4().hex}{TEMP_SUFFIX}"

    def open(self) -> str:
        self.created = not self.directory.is_dir()
        self.directory.mkdir(parents=True, exist_ok=True)
        return str(self.temp_path)

    def commit(self) -> LakeSnapshot:
        final = Path(self.snapshot.location)
        _fsync(self.temp_path)
        try:
            # link() never replaces an existing name, unlike rename(): a taken name fails whole.
            os.link(self.temp_path, final)
        except FileExistsError:
            raise SnapshotExistsError(
                f"Snapshot {final} already exists; it was not overwritten."
            ) from None
        finally:
            self.temp_path.unlink(missing_ok=True)
        _fsync(self.directory)
        published = datetime.fromtimestamp(final.stat().st_mtime, UTC)
        return LakeSnapshot(
            self.snapshot.table,
            self.snapshot.partition,
            self.snapshot.name,
            self.snapshot.location,
            published,
        )

    def withdraw(self) -> None:
        final = Path(self.snapshot.location)
        try:
            final.unlink(missing_ok=True)
            _fsync(self.directory)
        except OSError as exc:
            raise LakeStoreError(
                f"Could not withdraw snapshot {final}: {exc.strerror or exc}. Delete it by hand "
                "so the previous snapshot of its partition is current again."
            ) from exc
        self.abort()  # the partition folder, if this upload made it and it is empty again

    def abort(self) -> None:
        self.temp_path.unlink(missing_ok=True)
        if getattr(self, "created", False):  # a partition folder this upload made, left empty
            with contextlib.suppress(OSError):  # not empty (another snapshot landed): kept
                self.directory.rmdir()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------------------------------- S3


class S3LakeStore(LakeStore):
    """The lake under `s3://BUCKET/PREFIX/lake/<environment>/<account>/` (see the module doc)."""

    def __init__(
        self, storage: S3Storage, namespace: Namespace, *, part_bytes: int = S3_PART_BYTES
    ) -> None:
        if part_bytes < S3_MIN_PART_BYTES:
            raise ValueError(f"part_bytes must be at least {S3_MIN_PART_BYTES} (S3's minimum)")
        self.storage = storage
        self.namespace = namespace
        self.part_bytes = part_bytes
        self.root = storage.location.child("lake", namespace.environment, namespace.account)

    @property
    def _bucket(self) -> str:
        return self.root.bucket

    def describe(self) -> str:
        return self.root.url()

    def _prefix(self, table: str, partition: str | None) -> str:
        parts = [table] if partition is None else [table, f"{PARTITION_KEY}={partition}"]
        return self.root.key(*parts) + "/"

    def _list(self, prefix: str, *, delimiter: bool) -> Iterator[dict[str, Any]]:
        paginator = self.storage.client.get_paginator("list_objects_v2")
        kwargs: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = "/"
        with self.storage.errors("list", prefix):
            yield from paginator.paginate(**kwargs)

    def _snapshot(self, key: str, modified: datetime, table: str) -> LakeSnapshot | None:
        rest = key[len(self.root.key(table)) + 1 :]
        parts = rest.split("/")
        if len(parts) == 1:
            partition, name = None, parts[0]
        elif len(parts) == 2 and parts[0].startswith(f"{PARTITION_KEY}="):
            partition, name = parts[0][len(PARTITION_KEY) + 1 :], parts[1]
        else:
            return None
        if not SNAPSHOT_PATTERN.match(name):
            return None
        return LakeSnapshot(table, partition, name, self.root.url(key), modified.astimezone(UTC))

    def partitions(self, table: str) -> list[str]:
        found = []
        marker = f"{PARTITION_KEY}="
        for page in self._list(self._prefix(table, None), delimiter=True):
            for common in page.get("CommonPrefixes", []):
                leaf = common["Prefix"].rstrip("/").rsplit("/", 1)[-1]
                if leaf.startswith(marker):
                    found.append(leaf[len(marker) :])
        return sorted(found)

    def snapshots(self, table: str, partition: str | None = None) -> list[LakeSnapshot]:
        found = []
        for page in self._list(self._prefix(table, partition), delimiter=True):
            for item in page.get("Contents", []):
                snap = self._snapshot(item["Key"], item["LastModified"], table)
                if snap is not None and snap.partition == partition:
                    found.append(snap)
        return sorted(found, key=lambda s: s.name)

    def _snapshots_by_partition(self, table: str) -> dict[str, list[LakeSnapshot]]:
        found: dict[str, list[LakeSnapshot]] = {}
        for page in self._list(self._prefix(table, None), delimiter=False):
            for item in page.get("Contents", []):
                snap = self._snapshot(item["Key"], item["LastModified"], table)
                if snap is not None and snap.partition is not None:
                    found.setdefault(snap.partition, []).append(snap)
        return {p: sorted(s, key=lambda x: x.name) for p, s in found.items()}

    def _upload(self, table: str, partition: str | None, name: str) -> _Upload:
        key = self._prefix(table, partition) + name
        return _S3Upload(
            self.storage,
            key,
            LakeSnapshot(table, partition, name, self.root.url(key), _now()),
            self.part_bytes,
        )

    def _delete(self, snapshots: list[LakeSnapshot]) -> None:
        keys = [s.location.removeprefix(f"s3://{self._bucket}/") for s in snapshots]
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            with self.storage.errors("delete", batch[0]):
                response = self.storage.client.delete_objects(
                    Bucket=self._bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
            if response.get("Errors"):
                first = response["Errors"][0]
                raise StorageError(
                    f"Object storage refused to delete s3://{self._bucket}/{first.get('Key')}: "
                    f"{first.get('Code')}."
                )

    def remove_abandoned(
        self, table: str, partition: str | None = None, *, max_age_s: float = ABANDONED_AGE_S
    ) -> int:
        prefix = self._prefix(table, partition)
        cutoff = _now() - timedelta(seconds=max_age_s)
        paginator = self.storage.client.get_paginator("list_multipart_uploads")
        removed = 0
        for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
            for upload in page.get("Uploads", []):
                if upload["Initiated"] <= cutoff:
                    with (
                        contextlib.suppress(self.storage.client.exceptions.NoSuchUpload),
                        self.storage.errors("abort an upload of", upload["Key"]),
                    ):
                        self.storage.client.abort_multipart_upload(
                            Bucket=self._bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        removed += 1
        return removed

    def read_footer(self, snapshot: LakeSnapshot) -> pq.FileMetaData:
        key = snapshot.location.removeprefix(f"s3://{self._bucket}/")
        with self.storage.open_input(key) as stream:
            return pq.read_metadata(stream)

    def configure_duckdb(self, con: duckdb.DuckDBPyConnection) -> None:
        self.storage.configure_duckdb(con)


class _S3Upload(_Upload):
    """One snapshot object: a single PUT when it fits in one part, else a multipart upload, either
    way with If-None-Match: * so an existing key is never overwritten."""

    def __init__(
        self, storage: S3Storage, key: str, snapshot: LakeSnapshot, part_bytes: int
    ) -> None:
        self.storage = storage
        self.key = key
        self.snapshot = snapshot
        self.part_bytes = part_bytes
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._sink = _UploadSink(self)

    @property
    def _client(self) -> Any:
        return self.storage.client

    @property
    def _bucket(self) -> str:
        return self.storage.location.bucket

    def open(self) -> IO[bytes]:
        return self._sink  # type: ignore[return-value]

    def _append(self, data: bytes | bytearray | memoryview) -> None:
        self._buffer += data
        while len(self._buffer) >= self.part_bytes:
            part = bytes(self._buffer[: self.part_bytes])
            del self._buffer[: self.part_bytes]
            self._send_part(part)

    def _send_part(self, body: bytes) -> None:
        with self.storage.errors("write", self.key):
            if self._upload_id is None:
                self._upload_id = self._client.create_multipart_upload(
                    Bucket=self._bucket, Key=self.key
                )["UploadId"]
            number = len(self._parts) + 1
            etag = self._client.upload_part(
                Bucket=self._bucket,
                Key=self.key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=body,
            )["ETag"]
        self._parts.append({"ETag": etag, "PartNumber": number})

    def commit(self) -> LakeSnapshot:
        if self._upload_id is not None and self._buffer:
            self._send_part(bytes(self._buffer))
        try:
            with self.storage.errors("write", self.key):
                try:
                    if self._upload_id is None:
                        self._client.put_object(
                            Bucket=self._bucket,
                            Key=self.key,
                            Body=bytes(self._buffer),
                            IfNoneMatch="*",
                        )
                    else:
                        self._client.complete_multipart_upload(
                            Bucket=self._bucket,
                            Key=self.key,
                            UploadId=self._upload_id,
                            MultipartUpload={"Parts": self._parts},
                            IfNoneMatch="*",
                        )
                        self._upload_id = None  # completed: nothing left to abort
                except botocore.exceptions.ClientError as exc:
                    if error_code(exc) not in ("PreconditionFailed", "ConditionalRequestConflict"):
                        raise
                    raise SnapshotExistsError(
                        f"Snapshot s3://{self._bucket}/{self.key} already exists (or another "
                        "writer is completing it); it was not overwritten."
                    ) from None
        finally:
            self._buffer.clear()
        with self.storage.errors("read", self.key):
            head = self._client.head_object(Bucket=self._bucket, Key=self.key)
        return LakeSnapshot(
            self.snapshot.table,
            self.snapshot.partition,
            self.snapshot.name,
            self.snapshot.location,
            head["LastModified"].astimezone(UTC),
        )

    def withdraw(self) -> None:
        with self.storage.errors("delete", self.key):
            self._client.delete_object(Bucket=self._bucket, Key=self.key)

    def abort(self) -> None:
        self._buffer.clear()
        upload_id, self._upload_id = self._upload_id, None
        if upload_id is not None:
            with contextlib.suppress(self._client.exceptions.NoSuchUpload):
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self.key, UploadId=upload_id
                )


class _UploadSink:
    """The binary stream the Parquet writer writes into; bytes go to the upload's buffer/parts.
    Closing it publishes nothing: only `_S3Upload.commit` does."""

    def __init__(self, upload: _S3Upload) -> None:
        self._upload = upload
        self._position = 0
        self.closed = False

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:
        if self.closed:
            raise ValueError("write to a closed snapshot upload")
        self._upload._append(data)
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True
