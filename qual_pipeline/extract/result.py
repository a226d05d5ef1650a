"""What one extraction did: the published snapshot and the counts the UI and the warehouse show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

FOOTER_VERSION = 1


@dataclass(frozen=True)
class ExtractResult:
    """One published snapshot; `as_metadata()` is what its Parquet footer stores (lake.writer)."""

    table: str
    qualification_type_id: str | None
    path: Path
    rows: int
    records_seen: int
    pages: int
    duplicates: int
    granted: int
    revoked: int
    invalid_locales: int
    missing_locales: int
    null_scores: int
    retries: int
    throttles: int
    started_at: datetime
    finished_at: datetime
    extracted_at: datetime
    duration_s: float
    run_id: str | None = None

    def as_metadata(self) -> dict[str, Any]:
        """JSON-ready stats; the keys are a contract with the warehouse loader."""
        return {
            "version": FOOTER_VERSION,
            "table": self.table,
            "qualification_type_id": self.qualification_type_id,
            "rows": self.rows,
            "records_seen": self.records_seen,
            "pages": self.pages,
            "duplicates": self.duplicates,
            "granted": self.granted,
            "revoked": self.revoked,
            "invalid_locales": self.invalid_locales,
            "missing_locales": self.missing_locales,
            "null_scores": self.null_scores,
            "retries": self.retries,
            "throttles": self.throttles,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "extracted_at": self.extracted_at.isoformat(),
            "duration_s": round(self.duration_s, 3),
            "run_id": self.run_id,
        }

    @property
    def rows_per_second(self) -> float:
        return self.records_seen / self.duration_s if self.duration_s > 0 else 0.0
