"""The one way the pipeline words an AWS failure: safe to log and to show, never a credential."""

from __future__ import annotations

from botocore.exceptions import (
    ClientError,
    NoCredentialsError,
    PaginationError,
    PartialCredentialsError,
)

NO_CREDENTIALS = (
    "no usable AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE "
    "(boto3's standard credential chain); they are never stored or logged"
)
# MTurk's answer for a worker id the environment does not know (an error code its model does not
# list): `The value "A143XRCI1YXAFE" is not valid for the parameter WorkerId.`
UNKNOWN_WORKER_CODE = "ParameterValidationError"
ATTEMPTS_ATTRIBUTE = "qual_pipeline_attempts"
"""Set by the client's retries (client.py) on an exception a request failed with for good (a
dropped connection, say): how many attempts it took."""
QUOTA_ATTRIBUTE = "qual_pipeline_retry_quota_spent"
"""Set by the client's retries (client.py) on an exception whose retries stopped because the
client's retry quota was spent (a ClientError says so in ResponseMetadata.RetryQuotaReached)."""
QUOTA_SPENT = (
    ": MTurk failed too many calls in a row (retry quota spent), so the retries stopped before "
    "the attempts allowed (--max-attempts or MTURK_MAX_ATTEMPTS)"
)
UNKNOWN_WORKER_HINT = (
    "MTurk does not know this worker in the environment pushed to: sandbox and production have "
    "separate worker ids, so a production worker id used on the sandbox (or a sandbox id on "
    "production) fails this way. Check which environment the worker id comes from"
)


def describe_aws_error(exc: BaseException) -> tuple[str | None, str]:
    """(error code, one-line description) of a botocore failure.

    A `ClientError` reads `Code: Message (TurkErrorCode), after N attempt(s)` (N: the attempts
    sent for that request, 1 when it was not retried), followed by what an unknown WorkerId
    usually means; missing credentials, broken paging and other botocore errors get a sentence
    naming the cause, with `, after N attempt(s)` when requests were sent (a lost connection).
    Credentials are never part of either: botocore keeps the AWS keys out of its messages, and
    the user name and password of an endpoint URL it names are cut out here (`scrub_urls`).
    """
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code")
        turk = exc.response.get("TurkErrorCode")
        text = f"{code or 'Error'}: {error.get('Message', '').strip()}".strip()
        if turk:
            text += f" ({turk})"
        text += f", after {attempts_made(exc)} attempt(s)"
        if retry_quota_spent(exc):
            text += QUOTA_SPENT
        if is_unknown_worker(exc):
            text += f" -- {UNKNOWN_WORKER_HINT}"
        return code, text
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return "NoCredentials", NO_CREDENTIALS
    if isinstance(exc, PaginationError):
        return "PaginationError", f"the API broke paging: {exc}"
    from qual_pipeline.mturk_api.source import scrub_urls  # source imports the client

    text = scrub_urls(str(exc))  # botocore names the endpoint URL, user info included
    attempts = getattr(exc, ATTEMPTS_ATTRIBUTE, None)
    if isinstance(attempts, int):
        text += f", after {attempts} attempt(s)"
    if retry_quota_spent(exc):
        text += QUOTA_SPENT
    return type(exc).__name__, text


def describe(exc: BaseException) -> str:
    """The one-line description of `describe_aws_error`, without the code."""
    return describe_aws_error(exc)[1]


def attempts_made(error: ClientError) -> int:
    """How many attempts were sent for the request that failed (1 when it was not retried):
    botocore's RetryAttempts, the retries after the first attempt, plus one."""
    return int(error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)) + 1


def retry_quota_spent(error: BaseException) -> bool:
    """Whether the request's retries stopped because the client's retry quota (botocore's token
    bucket, drawn by faults and lost connections) was spent, before its attempts ran out."""
    if isinstance(error, ClientError):
        return bool(error.response.get("ResponseMetadata", {}).get("RetryQuotaReached"))
    return bool(getattr(error, QUOTA_ATTRIBUTE, False))


def is_unknown_worker(error: ClientError) -> bool:
    """Whether MTurk refused the call because the environment does not know the WorkerId."""
    info = error.response.get("Error", {})
    return info.get("Code") == UNKNOWN_WORKER_CODE and "parameter WorkerId" in info.get(
        "Message", ""
    )
