"""Dagster resources: how the code location reaches MTurk and where it keeps its data.

Both are `ConfigurableResource`s filled from environment variables in `definitions.py`; the plain
modules below them take ordinary arguments and never read the environment themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dagster import ConfigurableResource
from pydantic import PrivateAttr

from qual_pipeline.mturk_api.client import ApiStats, RateLimiter, make_client
from qual_pipeline.push.guard import DEFAULT_MAX_REVOKE_SHARE, DEFAULT_MAX_REVOKES


class MTurkResource(ConfigurableResource):
    """boto3 MTurk clients: endpoint, environment, retries and a request rate shared by all steps
    of one process. Credentials come from boto3's standard chain (environment, AWS_PROFILE)."""

    endpoint_url: str | None = None
    environment: str = "sandbox"
    retry_mode: str = "standard"
    max_attempts: int = 10
    requests_per_second: float | None = None
    aws_profile: str | None = None

    _limiter: RateLimiter | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: Any) -> None:
        if self.requests_per_second:
            self._limiter = RateLimiter(self.requests_per_second)

    def rate_limiter(self) -> RateLimiter | None:
        if self._limiter is None and self.requests_per_second:
            self._limiter = RateLimiter(self.requests_per_second)
        return self._limiter

    def client(self, stats: ApiStats | None = None) -> Any:
        return make_client(
            environment=self.environment,
            endpoint_url=self.endpoint_url or None,
            retry_mode=self.retry_mode,  # type: ignore[arg-type]
            max_attempts=self.max_attempts,
            rate_limiter=self.rate_limiter(),
            stats=stats,
            profile_name=self.aws_profile or None,
        )


class PipelineConfig(ConfigurableResource):
    """Where the lake and warehouse live, which types to mirror, and the push's safety rails."""

    data_dir: str = "data"
    types: str = "owned"
    inputs_dir: str = "inputs"
    max_row_drop_share: float = 0.5
    push_max_changes: int = 500
    push_max_share: float = 0.10
    push_allow_grants: bool = False
    push_allow_revokes: bool = False
    push_max_revokes: int = DEFAULT_MAX_REVOKES
    push_max_revoke_share: float = DEFAULT_MAX_REVOKE_SHARE
    push_allow_production: bool = False
    push_send_notifications: bool = False
    push_skip_rejected: bool = False
    push_ignore_checks: str = ""

    def ignored_checks(self) -> tuple[str, ...]:
        """The blocking checks listed in `push_ignore_checks` (comma-separated)."""
        return tuple(c.strip() for c in self.push_ignore_checks.split(",") if c.strip())

    def type_ids(self) -> list[str] | None:
        """The ids listed in `types`, or None when it says 'owned' (every type the caller owns)."""
        if self.types.strip().lower() == "owned":
            return None
        return [t.strip() for t in self.types.split(",") if t.strip()]

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()

    @property
    def inputs_path(self) -> Path:
        return Path(self.inputs_dir).expanduser().resolve()
