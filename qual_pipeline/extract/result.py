"""What one extraction did: the published snapshot and the counts the UI and the warehouse show."""

from __future__ import annotations

from dataclasses import dataclass

from qual_pipeline.lake.footer import ExtractFooter
from qual_pipeline.stores.lake import LakeSnapshot


@dataclass(frozen=True, kw_only=True)
class ExtractResult(ExtractFooter):
    """One published `snapshot`; the other fields are its footer (`as_metadata()`)."""

    snapshot: LakeSnapshot

    @property
    def location(self) -> str:
        """Where the snapshot is: a local path or an s3:// URL."""
        return self.snapshot.location

    @property
    def rows_per_second(self) -> float:
        """Records the API returned per second of extraction (duplicates included)."""
        return self.records_seen / self.duration_s if self.duration_s > 0 else 0.0
