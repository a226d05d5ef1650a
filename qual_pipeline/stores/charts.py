"""Where the warehouse's charts (PNG files) are kept: `<data_dir>/charts/` (local profile) or
`s3://BUCKET/PREFIX/charts/<environment>/<account>/` (shared profile).

A chart is derived data, redrawn by every load: publishing one replaces the previous file of that
name whole (a local file is written aside and renamed; an object is one PUT).
"""

from __future__ import annotations

import os
import uuid
from abc import ABC, abstractmethod
from pathlib import Path

from qual_pipeline.stores.namespace import Namespace
from qual_pipeline.stores.object_storage import S3Storage


class ChartStore(ABC):
    @abstractmethod
    def describe(self) -> str:
        """Where the charts are, for messages."""

    @abstractmethod
    def publish(self, name: str, png: bytes) -> str:
        """Store `png` under `name` (e.g. score_distribution.png); returns its location."""


class LocalChartStore(ChartStore):
    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def describe(self) -> str:
        return str(self.directory)

    def publish(self, name: str, png: bytes) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / name
        temp = self.directory / f".{name}.{uuid.uuid4().hex}.tmp"
        try:
            temp.write_bytes(png)
            os.replace(temp, final)
        finally:
            temp.unlink(missing_ok=True)
        return str(final)


class S3ChartStore(ChartStore):
    def __init__(self, storage: S3Storage, namespace: Namespace) -> None:
        self.storage = storage
        self.root = storage.location.child("charts", namespace.environment, namespace.account)

    def describe(self) -> str:
        return self.root.url()

    def publish(self, name: str, png: bytes) -> str:
        key = self.root.key(name)
        with self.storage.errors("write", key):
            self.storage.client.put_object(
                Bucket=self.root.bucket, Key=key, Body=png, ContentType="image/png"
            )
        return self.root.url(key)
