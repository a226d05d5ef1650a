"""Errors extraction raises, each naming what failed and how to fix it, never a credential."""

from __future__ import annotations


class ExtractionError(RuntimeError):
    """An MTurk request still failed after botocore's retries; the previous snapshot is intact."""

    def __init__(
        self,
        message: str,
        *,
        table: str,
        qualification_type_id: str | None,
        operation: str,
        error_code: str | None,
    ) -> None:
        super().__init__(message)
        self.table = table
        self.qualification_type_id = qualification_type_id
        self.operation = operation
        self.error_code = error_code


class TypeSelectionError(ValueError):
    """QUAL_PIPELINE_TYPES names types that cannot be extracted; `problems` maps id -> reason."""

    def __init__(self, message: str, problems: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or {}
