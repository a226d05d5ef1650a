"""Dagster resources: how the code location reaches MTurk and where it keeps its data.

Their fields are generated from `qual_pipeline.settings`, with the settings' descriptions, so the
launchpad explains every one. `resource_config` gives each field its value: what the CLI passed,
else an `EnvVar` resolved when a run launches, else the setting's default. Dagster's config reads
strings and integers from the environment but has no float source and reads booleans loosely
('no' would be true), so float and boolean settings travel as text and are parsed by the setting
when read (`get`), with an error that names the variable. The plain modules below take ordinary
arguments and never read the environment themselves.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar, cast

from dagster import ConfigurableResource, EnvVar, InitResourceContext
from pydantic import Field, PrivateAttr, create_model

from qual_pipeline import settings
from qual_pipeline.extract.type_selection import parse_type_setting
from qual_pipeline.mturk_api.client import (
    ApiStats,
    RateLimiter,
    limit_rate,
    make_client,
    requester_key_id,
)
from qual_pipeline.settings import ConfigurationError, Setting
from qual_pipeline.stores.profile import (
    StoreConfigError,
    Stores,
    StoreSettings,
    open_stores,
    own_working_folder,
)

T = TypeVar("T", str, int, float, bool)
NATIVE = (str, int)
"""Kinds Dagster's config reads from the environment itself (StringSource, IntSource)."""


def _field_type(setting: Setting[Any]) -> Any:
    kind = setting.kind if setting.kind in NATIVE else str
    return kind | None if setting.default is None else kind


def _field_default(setting: Setting[Any]) -> Any:
    return setting.default if setting.kind in NATIVE else setting.as_text(setting.default)


class SettingsResource(ConfigurableResource):
    """A resource whose fields are settings; `get` returns a setting's typed, checked value."""

    def get(self, setting: Setting[T]) -> T:
        """The value of `setting`, typed and checked; ConfigurationError names its variable."""
        raw = getattr(self, setting.name)
        if raw is None:
            return cast(T, None)
        if setting.kind in NATIVE:
            return setting.check(raw)
        return setting.parse(raw)


def _resource_class(name: str, base: type[SettingsResource], reader: settings.ReadBy) -> Any:
    fields: dict[str, Any] = {
        s.name: (_field_type(s), Field(default=_field_default(s), description=s.help))
        for s in settings.read_by(reader)
    }
    return create_model(name, __base__=base, __module__=__name__, __doc__=base.__doc__, **fields)


class _MTurk(SettingsResource):
    """boto3 MTurk clients: endpoint, environment, retries and a request rate shared by all steps
    of one process. Credentials come from boto3's standard chain (environment, AWS_PROFILE)."""

    _limiter: RateLimiter | None = PrivateAttr(default=None)

    def rate_limiter(self) -> RateLimiter | None:
        rate = self.get(settings.RATE)
        if self._limiter is None and rate:
            self._limiter = RateLimiter(rate)
        return self._limiter

    def client(
        self, stats: ApiStats | None = None, *, rate: float | None = None, threads: int = 1
    ) -> Any:
        """A boto3 MTurk client; `rate` holds it to that many requests per second as well as
        to the process's shared QUAL_PIPELINE_RATE (the push's own pace); `threads` is how many
        threads will share it (each may have a prefetch thread: the connection pool fits)."""
        client = make_client(
            environment=self.get(settings.ENVIRONMENT),
            endpoint_url=self.get(settings.ENDPOINT_URL) or None,
            retry_mode=self.get(settings.RETRY_MODE),  # type: ignore[arg-type]
            max_attempts=self.get(settings.MAX_ATTEMPTS),
            rate_limiter=self.rate_limiter(),
            stats=stats,
            profile_name=self.get(settings.AWS_PROFILE) or None,
            pool_size=max(10, 2 * threads + 2),
            connect_timeout=self.get(settings.CONNECT_TIMEOUT),
        )
        return limit_rate(client, RateLimiter(rate)) if rate else client


class _Pipeline(SettingsResource):
    """Where the lake, warehouse and journal live (the local or the shared profile), which types
    to mirror, and the push's safety rails.

    In the shared profile each run works in a folder of its own (`own_working_folder`): set up
    when the run's process starts using this resource, it is the process's working directory and
    temporary folder, starts empty, and is removed with its contents when the run's process is
    done. Paths the settings give relative (QUAL_PIPELINE_INPUTS_DIR) keep meaning the folder the
    process started in.
    """

    _origin: Path | None = PrivateAttr(default=None)
    _working: ExitStack | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._origin = Path.cwd()
        run = context.run
        if run is None or not (self.get(settings.STORAGE) or "").strip():
            return
        self._working = ExitStack()
        self._working.enter_context(own_working_folder(f"run-{run.run_id[:8]}"))
        context.log.info(
            f"Working folder {Path.cwd()}, temporary files in {tempfile.gettempdir()}: this "
            "run's own, empty at its start and removed when its process is done."
        )

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._working is not None:
            self._working.close()
            self._working = None

    def ignored_checks(self) -> tuple[str, ...]:
        """The blocking checks QUAL_PIPELINE_PUSH_IGNORE_CHECKS lists (comma-separated)."""
        return settings.names(self.get(settings.PUSH_IGNORE_CHECKS))

    def type_ids(self) -> list[str] | None:
        """The ids QUAL_PIPELINE_TYPES lists, or None for 'owned' (every type the caller owns)."""
        return parse_type_setting(self.get(settings.TYPES))

    @property
    def data_path(self) -> Path:
        return self._path(self.get(settings.DATA_DIR))

    @property
    def inputs_path(self) -> Path:
        return self._path(self.get(settings.INPUTS_DIR))

    def _path(self, given: str) -> Path:
        """`given` made absolute against the folder the process started in."""
        return ((self._origin or Path.cwd()) / Path(given).expanduser()).resolve()

    def stores(self, mturk: Any) -> Stores:
        """Where the lake, warehouse, journal and charts live: the profile the settings choose
        (`qual_pipeline.stores.profile`), namespaced by the `mturk` resource's environment and
        the requester's account. ConfigurationError names a setting that does not fit."""
        try:
            return open_stores(
                StoreSettings(
                    data_dir=self.data_path,
                    storage=self.get(settings.STORAGE),
                    catalog=self.get(settings.CATALOG),
                    account=self.get(settings.ACCOUNT),
                    storage_profile=self.get(settings.STORAGE_PROFILE),
                    environment=mturk.get(settings.ENVIRONMENT),
                    warehouse_wait_s=self.get(settings.WAREHOUSE_WAIT),
                    snapshot_grace_s=self.get(settings.SNAPSHOT_GRACE),
                    requester_key_id=lambda: requester_key_id(
                        mturk.get(settings.AWS_PROFILE) or None
                    ),
                )
            )
        except StoreConfigError as exc:
            raise ConfigurationError(str(exc)) from None


MTurkResource = _resource_class("MTurkResource", _MTurk, "mturk")
PipelineConfig = _resource_class("PipelineConfig", _Pipeline, "pipeline")


def resource_config(reader: settings.ReadBy, values: Mapping[str, Any]) -> dict[str, Any]:
    """Field values for the resource of `reader`: `values` (by setting name) where given, an
    EnvVar where the variable is set now (resolved again when each run launches), else nothing
    (the field keeps the setting's default)."""
    config: dict[str, Any] = {}
    for s in settings.read_by(reader):
        if s.name in values:
            value = values[s.name]
            config[s.name] = value if s.kind in NATIVE or value is None else s.as_text(value)
        elif os.environ.get(s.env, "").strip():
            config[s.name] = EnvVar.int(s.env) if s.kind is int else EnvVar(s.env)
    return config
