"""The profile: where every piece of state lives, decided once, from the settings.

- **local** (QUAL_PIPELINE_STORAGE unset, the default): everything under one folder, the data
  directory: the lake `<data_dir>/lake/`, the warehouse `<data_dir>/warehouse.duckdb`, the push
  journal `<data_dir>/push_journal.sqlite` (with its lock file), charts `<data_dir>/charts/`, and
  the extraction's scratch space `<data_dir>/.staging/`.
- **shared** (QUAL_PIPELINE_STORAGE=s3://BUCKET/PREFIX and QUAL_PIPELINE_CATALOG=postgresql://...):
  the lake under `PREFIX/lake/`, the warehouse as DuckLake (catalog in PostgreSQL, data files under
  `PREFIX/warehouse/`), the journal and the one-pusher lock in PostgreSQL, charts under
  `PREFIX/charts/`, each namespaced by MTurk environment and requester account (see
  stores/namespace.py). Nothing is written to local disk but scratch space in a temporary folder
  removed after use: any number of machines or containers without a shared disk work on the same
  state.

`open_stores` is the only place that knows which profile runs; everything else takes the `Stores`
it returns.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from qual_pipeline.lake.layout import lake_dir, warehouse_path
from qual_pipeline.stores.charts import ChartStore, LocalChartStore, S3ChartStore
from qual_pipeline.stores.journal import JournalStore, PostgresJournalStore, SqliteJournalStore
from qual_pipeline.stores.lake import DELETE_GRACE_S, LakeStore, LocalLakeStore, S3LakeStore
from qual_pipeline.stores.namespace import Namespace, NamespaceError
from qual_pipeline.stores.object_storage import S3Location, S3Storage, StorageConfigError
from qual_pipeline.stores.warehouse import (
    DuckDBFileWarehouse,
    DuckLakeWarehouse,
    WarehouseStore,
)

STAGING_DIR = ".staging"
DEFAULT_WAIT_S = 10.0


class StoreConfigError(ValueError):
    """The profile's settings do not fit together; the message names them and the fix."""


@dataclass(frozen=True)
class StoreSettings:
    """The settings that decide the profile (see qual_pipeline.settings for each one).

    requester_key_id: gives the requester's access key id when asked (only in the shared profile
    without an account label, to derive the default label); never stored.
    """

    data_dir: Path = Path("data")
    storage: str | None = None
    catalog: str | None = None
    account: str | None = None
    storage_profile: str | None = None
    environment: str = "sandbox"
    warehouse_wait_s: float = DEFAULT_WAIT_S
    snapshot_grace_s: float = DELETE_GRACE_S
    requester_key_id: Callable[[], str | None] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Stores:
    """Where the state of one profile lives; built by `open_stores`.

    snapshot_grace_s: how long a superseded lake snapshot stays readable (the extraction deletes
    older snapshots only after it).
    """

    profile: str
    """'local' or 'shared', for messages only: no code branches on it."""
    lake: LakeStore
    warehouse: WarehouseStore
    journal: JournalStore
    charts: ChartStore
    snapshot_grace_s: float
    staging_root: Path | None
    """The folder the extraction stages pages in; None: a temporary folder removed after use."""

    def scratch(self) -> AbstractContextManager[Path]:
        """A folder for one extraction's scratch files, removed (with its contents) after use."""
        return _scratch(self.staging_root)

    def describe(self) -> str:
        return (
            f"{self.profile} profile: lake {self.lake.describe()}, warehouse "
            f"{self.warehouse.describe()}, journal {self.journal.describe()}"
        )


class ScratchError(OSError):
    """The extraction's scratch folder cannot be created: names the folder, the reason and the
    fix (it lives under the data directory; what is in its place must go)."""

    def __init__(self, root: Path, error: OSError) -> None:
        reason = error.strerror or type(error).__name__
        super().__init__(
            f"Cannot create the extraction's scratch folder under {root} ({reason}): it must be a "
            f"folder this user can write. Remove or rename what is at {root}, or point "
            "QUAL_PIPELINE_DATA_DIR (--data-dir) at a writable folder."
        )


SCRATCH_ATTEMPTS = 100
"""Tries at creating a scratch folder while other extractions remove the empty root (20 ran out
once in the test suite, 8 threads beside 3 other test workers on 2 cores); after a lost race a
thread waits up to a millisecond, so that threads in lockstep fall apart."""


@contextmanager
def _scratch(root: Path | None) -> Iterator[Path]:
    if root is None:
        with tempfile.TemporaryDirectory(prefix="qual_pipeline-") as folder:
            yield Path(folder)
        return
    folder = root / uuid.uuid4().hex
    for attempt in range(SCRATCH_ATTEMPTS):
        # Another extraction may remove the empty root at any moment: between creating it and
        # creating the folder in it (FileNotFoundError), or between pathlib finding it exists and
        # checking it is a folder (FileExistsError). Create both again.
        try:
            root.mkdir(parents=True, exist_ok=True)
            folder.mkdir()
            break
        except (FileNotFoundError, FileExistsError) as error:
            if attempt == SCRATCH_ATTEMPTS - 1:
                raise ScratchError(root, error) from None
            time.sleep(random.random() / 1000)
        except OSError as error:  # not a race: permissions, a full or read-only disk
            raise ScratchError(root, error) from None
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        # The root (.staging/) goes when it is empty; another extraction's scratch space keeps it.
        with contextlib.suppress(OSError):
            root.rmdir()


def local_stores(
    data_dir: Path | str,
    *,
    warehouse_wait_s: float = DEFAULT_WAIT_S,
    snapshot_grace_s: float = DELETE_GRACE_S,
) -> Stores:
    """The local profile's stores under `data_dir`."""
    data = Path(data_dir)
    return Stores(
        profile="local",
        lake=LocalLakeStore(lake_dir(data)),
        warehouse=DuckDBFileWarehouse(warehouse_path(data), wait_s=warehouse_wait_s),
        journal=SqliteJournalStore(data),
        charts=LocalChartStore(data / "charts"),
        snapshot_grace_s=snapshot_grace_s,
        staging_root=data / STAGING_DIR,
    )


def open_stores(settings: StoreSettings) -> Stores:
    """The stores of the profile the settings choose.

    Raises StoreConfigError (a storage location without a catalog or the reverse, a malformed
    location, an unknown storage profile, an account label that cannot name shared state, or no
    label and no requester key to derive one from).
    """
    storage = (settings.storage or "").strip()
    catalog = (settings.catalog or "").strip()
    if not storage and not catalog:
        if settings.account and settings.account.strip():
            # Not used by the local profile, but a label the shared profile would refuse is
            # refused here too (a typo found now, not on the move to shared storage).
            try:
                Namespace(settings.environment, settings.account)
            except NamespaceError as exc:
                raise StoreConfigError(_naming(exc, "QUAL_PIPELINE_ACCOUNT")) from None
        return local_stores(
            Path(settings.data_dir),
            warehouse_wait_s=settings.warehouse_wait_s,
            snapshot_grace_s=settings.snapshot_grace_s,
        )
    if not storage or not catalog:
        given, missing = (
            ("QUAL_PIPELINE_STORAGE", "QUAL_PIPELINE_CATALOG")
            if storage
            else ("QUAL_PIPELINE_CATALOG", "QUAL_PIPELINE_STORAGE")
        )
        raise StoreConfigError(
            f"{given} is set but {missing} is not: the shared profile needs both (object storage "
            "s3://BUCKET/PREFIX and a PostgreSQL catalog postgresql://USER@HOST:PORT/DB); unset "
            "both for the local profile."
        )
    if not catalog.startswith(("postgresql://", "postgres://")):
        raise StoreConfigError(
            "QUAL_PIPELINE_CATALOG is not of the form postgresql://USER@HOST:PORT/DB."
        )
    try:
        location = S3Location.parse(storage)
    except StorageConfigError as exc:
        raise StoreConfigError(_naming(exc, "QUAL_PIPELINE_STORAGE")) from None
    try:
        namespace = Namespace.for_requester(
            settings.environment,
            settings.account,
            access_key_id=(
                settings.requester_key_id()
                if not settings.account and settings.requester_key_id is not None
                else None
            ),
        )
    except NamespaceError as exc:
        raise StoreConfigError(_naming(exc, "QUAL_PIPELINE_ACCOUNT")) from None
    try:
        s3 = S3Storage(location, profile=settings.storage_profile or None)
    except StorageConfigError as exc:
        raise StoreConfigError(_naming(exc, "QUAL_PIPELINE_STORAGE_PROFILE")) from None
    return Stores(
        profile="shared",
        lake=S3LakeStore(s3, namespace),
        warehouse=DuckLakeWarehouse(
            catalog, s3, namespace, writer_wait_s=settings.warehouse_wait_s
        ),
        journal=PostgresJournalStore(catalog, namespace),
        charts=S3ChartStore(s3, namespace),
        snapshot_grace_s=settings.snapshot_grace_s,
        staging_root=None,
    )


def _naming(error: Exception, variable: str) -> str:
    """`error`'s message followed by the setting it is about, by its variable (the CLI names it
    as the user gave it: `cli.options.as_given`)."""
    return f"{str(error).rstrip('.')} ({variable})."


@contextmanager
def own_working_folder(label: str) -> Iterator[Path]:
    """Work in a new, empty folder until the end of the block, then remove it with its contents.

    The process's working directory and its temporary folder (`tempfile`, so DuckDB's spill
    files, the extraction's scratch space and matplotlib's cache) point into the folder meanwhile,
    and back afterwards. The folder is made under the temporary folder in use before (TMPDIR),
    named `qual_pipeline-<label>-<random>`. This is how a run of the shared profile keeps no local
    state: whatever it writes locally is gone when it ends, and two runs never see each other's
    files, as in containers without a shared disk. Changes process-wide state: for a process that
    runs one job at a time (a Dagster run's or step's own process).
    """
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in label)[:40]
    folder = Path(tempfile.mkdtemp(prefix=f"qual_pipeline-{safe}-")).resolve()
    origin = Path.cwd()
    tempdir = tempfile.tempdir
    try:
        os.chdir(folder)
        tempfile.tempdir = str(folder)
        yield folder
    finally:
        tempfile.tempdir = tempdir
        with contextlib.suppress(OSError):
            os.chdir(origin)
        shutil.rmtree(folder, ignore_errors=True)
