"""Which types a lake holds: what `qual-pipeline refresh --retry-failed` checks against the
Dagster instance's records, which are the instance's, not the data folder's (another data folder
refreshed with the same DAGSTER_HOME records its own types as extracted; a lake that lost a
type's files still shows that type's materialization)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from qual_pipeline.lake.layout import PARTITIONED_TABLES

if TYPE_CHECKING:
    from qual_pipeline.stores.lake import LakeStore


def unpublished_types(lake: LakeStore, type_ids: Iterable[str]) -> set[str]:
    """The types of `type_ids` that `lake` holds no published snapshot of in one of the
    partitioned tables (a type's extraction publishes both or neither): one listing per table."""
    published = [set(lake.current_snapshots(table)) for table in PARTITIONED_TABLES]
    return {t for t in type_ids if not all(t in tables for tables in published)}
