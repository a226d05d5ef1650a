"""S3-compatible object storage: where it is, how to reach it, and DuckDB's access to it.

`QUAL_PIPELINE_STORAGE=s3://BUCKET/PREFIX` names the place; everything else is AWS's standard
configuration, read by boto3: credentials from the standard chain (environment, shared files,
container or instance roles) or from a separately named profile (storage keys are usually not the
MTurk requester's keys), the endpoint from `AWS_ENDPOINT_URL_S3` (MinIO, Ceph, R2, moto...), the
region from `AWS_REGION`/`AWS_DEFAULT_REGION` or the profile.

DuckDB reaches the same bucket through a temporary S3 secret scoped to it, made from the credentials
boto3 resolved: created with bound parameters, never written into SQL text, logs or messages.
Temporary credentials (a role) are read when the secret is made: a connection outlives them only if
it is kept open longer than their lifetime (typically an hour).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.exceptions
import duckdb
from botocore.config import Config

from qual_pipeline.stores.duckdb_extensions import load_extensions

_BUCKET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})
AWS_HOST_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn")


class StorageConfigError(ValueError):
    """The storage location or its configuration is wrong; the message names it and the fix."""


class StorageError(RuntimeError):
    """Object storage refused or failed a request; the message names the object, never a secret."""


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix (no leading or trailing '/', may be empty)."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """`s3://BUCKET/PREFIX` -> S3Location; StorageConfigError naming the value otherwise."""
        parts = urlsplit(url.strip())
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise StorageConfigError(
                f"Storage location {url!r} is not of the form s3://BUCKET/PREFIX."
            )
        if not _BUCKET_PATTERN.match(parts.netloc):
            raise StorageConfigError(f"{parts.netloc!r} in {url!r} is not a valid bucket name.")
        prefix = parts.path.strip("/")
        if any(segment in ("", ".", "..") for segment in prefix.split("/")) and prefix:
            raise StorageConfigError(f"The prefix of {url!r} has an empty, '.' or '..' segment.")
        return cls(parts.netloc, prefix)

    def key(self, *parts: str) -> str:
        """The key of `parts` under the prefix, joined with '/'."""
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p.strip("/"))

    def child(self, *parts: str) -> S3Location:
        return S3Location(self.bucket, self.key(*parts))

    def url(self, key: str | None = None) -> str:
        """`s3://BUCKET/KEY` (the prefix itself when no key is given)."""
        return f"s3://{self.bucket}/{self.prefix if key is None else key}"

    def __str__(self) -> str:
        return self.url()


class S3Storage:
    """boto3's S3 client for one location, and DuckDB's access to the same bucket.

    profile: a named AWS profile for the storage credentials; None uses the standard chain.
    """

    def __init__(self, location: S3Location | str, *, profile: str | None = None) -> None:
        self.location = S3Location.parse(location) if isinstance(location, str) else location
        self.profile = profile
        try:
            self._session = boto3.session.Session(profile_name=profile)
        except botocore.exceptions.ProfileNotFound as exc:
            raise StorageConfigError(
                f"Storage profile {profile!r} is not in the AWS config or credentials files."
            ) from exc
        self.client: Any = self._session.client("s3", config=_CLIENT_CONFIG)

    @property
    def endpoint_url(self) -> str:
        return str(self.client.meta.endpoint_url)

    @property
    def region(self) -> str:
        return str(self.client.meta.region_name or "us-east-1")

    def configure_duckdb(self, con: duckdb.DuckDBPyConnection) -> None:
        """Load httpfs and create a temporary S3 secret scoped to this bucket (bound parameters)."""
        credentials = self._session.get_credentials()
        if credentials is None:
            raise StorageConfigError(
                f"No credentials for {self.location}: set the storage profile, or AWS's standard "
                "variables (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE) or a role."
            )
        frozen = credentials.get_frozen_credentials()
        endpoint = urlsplit(self.endpoint_url)
        load_extensions(con, "httpfs")
        options = [
            "TYPE s3",
            "KEY_ID $key_id",
            "SECRET $secret",
            "REGION $region",
            "SCOPE $scope",
        ]
        params: dict[str, Any] = {
            "key_id": frozen.access_key,
            "secret": frozen.secret_key,
            "region": self.region,
            "scope": f"s3://{self.location.bucket}",
        }
        if frozen.token:
            options.append("SESSION_TOKEN $token")
            params["token"] = frozen.token
        if not (endpoint.hostname or "").endswith(AWS_HOST_SUFFIXES):
            # An S3-compatible service named by AWS_ENDPOINT_URL_S3: path-style URLs on its host.
            options += ["ENDPOINT $endpoint", "URL_STYLE 'path'", "USE_SSL $use_ssl"]
            params["endpoint"] = endpoint.netloc
            params["use_ssl"] = endpoint.scheme == "https"
        name = "qual_pipeline_" + re.sub(r"[^a-z0-9]", "_", self.location.bucket)
        try:
            con.execute(f"CREATE OR REPLACE SECRET {name} ({', '.join(options)})", params)
        except duckdb.Error as exc:  # the message is DuckDB's, about options, never the values
            raise StorageConfigError(f"DuckDB could not use {self.location}: {exc}") from None

    def open_input(self, key: str) -> io.BufferedReader:
        """A seekable reader of one object by ranged GETs (e.g. for a Parquet footer)."""
        with self.errors("read", key):
            size = int(
                self.client.head_object(Bucket=self.location.bucket, Key=key)["ContentLength"]
            )
        return io.BufferedReader(_RangeReader(self, key, size), buffer_size=256 * 1024)

    @contextmanager
    def errors(self, action: str, key: str) -> Iterator[None]:
        """Turn S3's refusals inside the block into StorageError naming the action, the object
        and S3's error code (never a credential)."""
        try:
            yield
        except botocore.exceptions.ClientError as exc:
            raise StorageError(
                f"Object storage refused to {action} s3://{self.location.bucket}/{key}: "
                f"{error_code(exc)}. Check the storage credentials' permissions and the bucket."
            ) from exc


def error_code(exc: BaseException) -> str:
    """S3's error code of a ClientError ('' for anything else)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


class _RangeReader(io.RawIOBase):
    def __init__(self, storage: S3Storage, key: str, size: int) -> None:
        super().__init__()
        self._storage = storage
        self._key = key
        self._size = size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._position >= self._size or not len(view):
            return 0
        end = min(self._size, self._position + len(view)) - 1
        with self._storage.errors("read", self._key):
            body = self._storage.client.get_object(
                Bucket=self._storage.location.bucket,
                Key=self._key,
                Range=f"bytes={self._position}-{end}",
            )["Body"].read()
        view[: len(body)] = body
        self._position += len(body)
        return len(body)
