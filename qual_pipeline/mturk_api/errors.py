"""The one way the pipeline words an AWS failure: safe to log and to show, never a credential."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PaginationError,
    PartialCredentialsError,
)

NO_CREDENTIALS = (
    "no usable AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
)


def describe_aws_error(exc: BaseException) -> tuple[str | None, str]:
    """(error code, one-line description) of a botocore failure.

    A `ClientError` reads `Code: Message (TurkErrorCode) after N retries`; missing credentials,
    broken paging and other botocore errors get a sentence naming the cause. Credentials are never
    part of either: botocore keeps them out of its messages and this adds none.
    """
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
        return "NoCredentials", NO_CREDENTIALS
    if isinstance(exc, PaginationError):
        return "PaginationError", f"the API broke paging: {exc}"
    if isinstance(exc, BotoCoreError):
        return type(exc).__name__, str(exc)
    return type(exc).__name__, str(exc)
