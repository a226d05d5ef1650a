"""The footer contract: the extraction figures every lake snapshot carries, and how they are read.

Extraction writes them (`ExtractFooter.as_metadata()`) as one JSON object in the Parquet footer's
key-value metadata under `EXTRACT_METADATA_KEY`; the warehouse load reads them back
(`read_footer`) into `extract_runs` without reading a row. This module is the one place that names
the keys, their types and their meaning: the README's table is generated from `FOOTER_FIELDS`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

EXTRACT_METADATA_KEY = b"qual_pipeline.extract"
"""The Parquet key-value metadata key that holds the footer's JSON."""
FOOTER_VERSION = 1


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass(frozen=True, kw_only=True)
class ExtractFooter:
    """What one extraction did, stored with the snapshot it published."""

    table: str = field(
        metadata=_doc("`worker_qualifications`, `qualification_requests` or `qualification_types`")
    )
    qualification_type_id: str | None = field(
        metadata=_doc("partition key, `null` for `qualification_types`")
    )
    rows: int = field(metadata=_doc("rows in the snapshot (after de-duplication)"))
    records_seen: int = field(metadata=_doc("records the API returned, duplicates included"))
    pages: int = field(metadata=_doc("API pages read"))
    duplicates: int = field(
        metadata=_doc("`records_seen - rows`: records repeated (or changed) between pages")
    )
    granted: int = field(metadata=_doc("rows with Status Granted (0 for the other tables)"))
    revoked: int = field(metadata=_doc("rows with Status Revoked (0 for the other tables)"))
    invalid_locales: int = field(
        metadata=_doc("rows whose country or subdivision is not valid ISO 3166 (kept as given)")
    )
    missing_locales: int = field(metadata=_doc("rows without a locale"))
    null_scores: int = field(metadata=_doc("rows without an IntegerValue"))
    retries: int = field(
        metadata=_doc("attempts botocore's retry mode added, when the caller passed its ApiStats")
    )
    throttles: int = field(metadata=_doc("throttled attempts among those retries"))
    started_at: datetime = field(metadata=_doc("when the extraction started (ISO 8601, UTC)"))
    finished_at: datetime = field(metadata=_doc("when its last row was written (ISO 8601, UTC)"))
    extracted_at: datetime = field(
        metadata=_doc("the time stamped on every row, which also names the snapshot (ISO 8601)")
    )
    duration_s: float = field(metadata=_doc("seconds from the start to the last row written"))
    run_id: str | None = field(default=None, metadata=_doc("the orchestrator's run id, or `null`"))

    def as_metadata(self) -> dict[str, Any]:
        """The JSON-ready footer: `version` first, then every field, times in ISO 8601."""
        footer: dict[str, Any] = {"version": FOOTER_VERSION}
        for f in fields(ExtractFooter):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif f.name == "duration_s":
                value = round(value, 3)
            footer[f.name] = value
        return footer


FOOTER_FIELDS: dict[str, tuple[str, str]] = {
    "version": ("int", f"{FOOTER_VERSION}"),
    **{f.name: (str(f.type), f.metadata["doc"]) for f in fields(ExtractFooter)},
}
"""Every footer key -> (type, meaning), in the order written."""


def footer_metadata(figures: Mapping[str, Any]) -> dict[bytes, bytes]:
    """The Parquet key-value metadata that carries `figures` (JSON under EXTRACT_METADATA_KEY)."""
    return {EXTRACT_METADATA_KEY: json.dumps(dict(figures), default=str).encode()}


def read_footer(raw: bytes | None) -> dict[str, Any]:
    """The footer's figures, each typed as `ExtractFooter` declares it, or None when missing,
    malformed or of another type: snapshots from older or foreign writers still load."""
    try:
        found = json.loads(raw) if raw else {}
    except ValueError:
        found = {}
    if not isinstance(found, dict):
        found = {}
    return {f.name: _typed(str(f.type), found.get(f.name)) for f in fields(ExtractFooter)}


def _typed(kind: str, value: Any) -> Any:
    if kind == "int":
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if kind == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok else None
    if kind == "datetime":
        return _parse_time(value)
    return str(value) if value is not None else None


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def markdown_table() -> str:
    """The README's table of footer keys."""
    lines = ["| Key | Type | Meaning |", "|---|---|---|"]
    for name, (kind, doc) in FOOTER_FIELDS.items():
        lines.append(f"| `{name}` | {kind.replace(' | None', ' or null')} | {doc} |")
    return "\n".join(lines) + "\n"
