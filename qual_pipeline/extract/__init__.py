"""Extraction: paging MTurk and normalising what comes back into the lake schema.

The plain functions the Dagster assets call; nothing here imports Dagster.
"""

from qual_pipeline.extract.errors import ExtractionError, TypeSelectionError
from qual_pipeline.extract.normalise import (
    NormaliseCounts,
    normalise_qualification_requests,
    normalise_qualification_types,
    normalise_qualifications,
    resolve_locale,
)
from qual_pipeline.extract.result import ExtractResult
from qual_pipeline.extract.tables import (
    TABLE_SPECS,
    OnPage,
    TableSpec,
    extract_qualification_requests,
    extract_qualification_types,
    extract_table,
    extract_worker_qualifications,
)
from qual_pipeline.extract.type_selection import (
    OwnedType,
    discover_owned_types,
    parse_type_setting,
    resolve_type_ids,
    validate_type_id,
)

__all__ = [
    "TABLE_SPECS",
    "ExtractResult",
    "ExtractionError",
    "NormaliseCounts",
    "OnPage",
    "OwnedType",
    "TableSpec",
    "TypeSelectionError",
    "discover_owned_types",
    "extract_qualification_requests",
    "extract_qualification_types",
    "extract_table",
    "extract_worker_qualifications",
    "normalise_qualification_requests",
    "normalise_qualification_types",
    "normalise_qualifications",
    "parse_type_setting",
    "resolve_locale",
    "resolve_type_ids",
    "validate_type_id",
]
