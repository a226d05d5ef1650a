"""Errors extraction raises, each naming what failed and how to fix it, never a credential."""

from __future__ import annotations

from qual_pipeline import settings


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


TYPES_SETTING = "{types setting}"
"""Where a message names the type list's source: QUAL_PIPELINE_TYPES unless `naming` says else."""


class TypeSelectionError(ValueError):
    """The type list names types that cannot be extracted; `problems` maps id -> reason.

    The message names QUAL_PIPELINE_TYPES; `naming("--types")` gives it as a command-line user
    who passed the flag reads it."""

    def __init__(self, message: str, problems: dict[str, str] | None = None) -> None:
        super().__init__(message.replace(TYPES_SETTING, settings.TYPES.env))
        self.template = message
        self.problems = problems or {}

    def naming(self, source: str) -> str:
        """The message with the type list's source named `source` (a flag, a variable)."""
        return self.template.replace(TYPES_SETTING, source)
