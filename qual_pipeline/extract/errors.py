"""Errors extraction raises, each naming what failed and how to fix it, never a credential."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PaginationError,
    PartialCredentialsError,
)


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


def describe_aws_error(exc: BaseException) -> tuple[str | None, str]:
    """(error code, one-line description) of a botocore failure, safe to log and show."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code")
        turk = exc.response.get("TurkErrorCode")
        attempts = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
        text = f"{code}: {error.get('Message', '').strip()}"
        if turk:
            text += f" ({turk})"
        if attempts:
            text += f" after {attempts} retries"
        return code, text
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return "NoCredentials", (
            "no usable AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or AWS_PROFILE"
        )
    if isinstance(exc, PaginationError):
        return "PaginationError", f"the API broke paging: {exc}"
    if isinstance(exc, BotoCoreError):
        return type(exc).__name__, str(exc)
    return type(exc).__name__, str(exc)
