"""Machines without a shared disk, for the shared-profile tests: each step runs as a child process
in folders of its own (working folder, DAGSTER_HOME, HOME and TMPDIR), with only the settings of the
shared profile in common, and can check afterwards that it left nothing behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SHARED_DAGSTER_YAML = REPO / "deploy" / "dagster.yaml"
CLEARED = ("QUAL_PIPELINE_", "MTURK_", "AWS_", "DAGSTER_", "PG", "MPLCONFIGDIR")
"""Variables of these prefixes come only from what a test sets, never from the caller's shell."""


def clean_environ() -> dict[str, str]:
    """This process's environment without any variable that could point a child elsewhere."""
    return {k: v for k, v in os.environ.items() if not k.startswith(CLEARED)}


@dataclass(frozen=True)
class Machine:
    """A fresh place to run one step: empty folders, and the PostgreSQL Dagster instance."""

    root: Path

    @classmethod
    def new(cls, root: Path) -> Machine:
        for folder in ("work", "dagster_home", "home", "tmp"):
            (root / folder).mkdir(parents=True)
        shutil.copy(SHARED_DAGSTER_YAML, root / "dagster_home" / "dagster.yaml")
        return cls(root)

    @property
    def work(self) -> Path:
        return self.root / "work"

    def env(self, shared: dict[str, str]) -> dict[str, str]:
        return {
            **clean_environ(),
            **shared,
            "DAGSTER_HOME": str(self.root / "dagster_home"),
            "HOME": str(self.root / "home"),
            "TMPDIR": str(self.root / "tmp"),
            "COLUMNS": "200",
        }

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "qual_pipeline.cli.app", *args]

    def run(
        self, shared: dict[str, str], *args: str, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        """`qual-pipeline <args>` here, to the end."""
        return subprocess.run(
            self.command(*args),
            cwd=self.work,
            env=self.env(shared),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, shared: dict[str, str], *args: str) -> subprocess.Popen[str]:
        """`qual-pipeline <args>` here, in the background (e.g. to kill it)."""
        return subprocess.Popen(
            self.command(*args),
            cwd=self.work,
            env=self.env(shared),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def left_behind(self) -> list[str]:
        """Everything in this machine's folders but the dagster.yaml put there."""
        found = []
        for path in sorted(self.root.rglob("*")):
            relative = path.relative_to(self.root)
            if relative.parts[0] == "dagster_home" and relative.name == "dagster.yaml":
                continue
            if path.is_dir() and relative.parts[1:] == ():
                continue  # the four folders themselves
            found.append(str(relative))
        return found


def shared_settings(
    postgres_server: Any, s3_server: Any, bucket: str, *, prefix: str, mturk_url: str
) -> dict[str, str]:
    """The variables every machine of a shared-profile test has in common: the storage under
    `s3://<bucket>/<prefix>` and a fresh catalog database, moto's endpoint, the requester's keys
    for MTurk (the storage keys are the same here: moto takes any), the local MTurk and a fresh
    PostgreSQL database for the Dagster instance (DAGSTER_POSTGRES_URL)."""
    from support.mturk import REGION, REQUESTER

    return {
        "QUAL_PIPELINE_STORAGE": f"s3://{bucket}/{prefix}",
        "QUAL_PIPELINE_CATALOG": postgres_server.create_database(),
        "QUAL_PIPELINE_TYPES": "owned",
        **s3_server.env(),
        "AWS_ACCESS_KEY_ID": REQUESTER.access_key_id,
        "AWS_SECRET_ACCESS_KEY": REQUESTER.secret_access_key,
        "AWS_DEFAULT_REGION": REGION,
        "MTURK_ENDPOINT_URL": mturk_url,
        "DAGSTER_POSTGRES_URL": instance_database(postgres_server),
    }


def operator_instance(
    machine: Machine, shared: dict[str, str], monkeypatch: Any, *, api_concurrency: int
) -> Any:
    """The machine's PostgreSQL Dagster instance, opened in this process, with the pool limit an
    operator sets once on it (as `qual-pipeline ui` does at start): `api_concurrency` extraction
    steps at once, the slots living in PostgreSQL, shared by every run's process."""
    from dagster import DagsterInstance

    from qual_pipeline.defs.pools import set_pool_limits

    monkeypatch.setenv("DAGSTER_POSTGRES_URL", shared["DAGSTER_POSTGRES_URL"])
    instance = DagsterInstance.from_config(str(machine.root / "dagster_home"))
    set_pool_limits(instance, api_concurrency=api_concurrency)
    return instance


def instance_database(postgres_server: Any) -> str:
    """A fresh database for a Dagster instance, as the URL dagster-postgres takes (SQLAlchemy 2
    wants the driver named)."""
    return postgres_server.create_database().replace("postgresql://", "postgresql+psycopg2://")
