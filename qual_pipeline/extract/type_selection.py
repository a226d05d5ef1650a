"""Which qualification types to extract: the caller's own, or a list the user gave.

QUAL_PIPELINE_TYPES is either `owned` (every type the caller created, found with
ListQualificationTypes) or a list of type ids separated by commas, spaces or line breaks (ids
hold neither, so a list pasted from a file, one id a line, reads as meant). Every listed id is
checked before any extraction starts: malformed, unknown and not-owned ids each get an error
naming the id and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
)

from qual_pipeline.extract.errors import TYPES_SETTING, ExtractionError, TypeSelectionError
from qual_pipeline.mturk_api.errors import describe_aws_error
from qual_pipeline.mturk_api.model import MAX_PAGE_SIZE, TYPE_ID

OWNED = "owned"
SETTING = TYPES_SETTING  # QUAL_PIPELINE_TYPES, or --types when the CLI's flag set it
_FIX = f"fix {SETTING} or set it to '{OWNED}'"


@dataclass(frozen=True)
class OwnedType:
    qualification_type_id: str
    name: str | None
    status: str | None  # 'Active' | 'Inactive'


def validate_type_id(value: str, *, source: str = SETTING) -> str:
    """`value` if it is a well-formed qualification type id, else TypeSelectionError."""
    if not TYPE_ID.matches(value):
        raise TypeSelectionError(
            f"qualification type {value!r} in {source} is malformed: ids are "
            f"{TYPE_ID.min_length}-{TYPE_ID.max_length} upper-case "
            f"letters and digits (e.g. 3YJP8DI8F47JY6LPEKOFHXLJ1G0Q49); {_FIX}",
            {str(value): "malformed"},
        )
    return value


REFUSED_CALLER = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "ExpiredToken",
        "ExpiredTokenException",
        "IncompleteSignatureException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "MissingAuthenticationTokenException",
        "RequestExpired",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    }
)
"""Error codes that refuse the caller's credentials or signature: a configuration problem."""


def discover_owned_types(client: Any) -> list[OwnedType]:
    """Every qualification type the caller owns, requestable or not, in the API's order.

    TypeSelectionError when credentials are missing or refused (configuration); ExtractionError
    when MTurk fails the request otherwise (a fault, throttles, a lost connection)."""
    paginator = client.get_paginator("list_qualification_types")
    found: dict[str, OwnedType] = {}
    try:
        for page in paginator.paginate(
            MustBeOwnedByCaller=True,
            MustBeRequestable=False,
            PaginationConfig={"PageSize": MAX_PAGE_SIZE},
        ):
            for t in page.get("QualificationTypes", []):
                type_id = t.get("QualificationTypeId")
                if type_id:
                    found[type_id] = OwnedType(
                        type_id, t.get("Name"), t.get("QualificationTypeStatus")
                    )
    except (ClientError, BotoCoreError) as exc:
        code, text = describe_aws_error(exc)
        message = (
            f"cannot list the caller's qualification types: ListQualificationTypes failed: {text}"
        )
        if isinstance(exc, NoCredentialsError | PartialCredentialsError) or code in REFUSED_CALLER:
            raise TypeSelectionError(message) from exc  # the caller's configuration
        raise ExtractionError(  # MTurk failed the request (after its retries)
            message,
            table="qualification_types",
            qualification_type_id=None,
            operation="ListQualificationTypes",
            error_code=code,
        ) from exc
    return list(found.values())


def parse_type_setting(setting: str) -> list[str] | None:
    """None for `owned` (or blank), else the listed ids in order, without repeats, validated;
    ids are separated by commas and/or whitespace (spaces, tabs, line breaks);
    TypeSelectionError for a malformed id or a list with no id at all (`,,`)."""
    text = (setting or "").strip()
    if not text or text.lower() == OWNED:
        return None
    ids: list[str] = []
    problems: dict[str, str] = {}
    messages: list[str] = []
    for type_id in re.split(r"[,\s]+", text):
        if not type_id or type_id in ids:
            continue
        try:
            ids.append(validate_type_id(type_id))
        except TypeSelectionError as exc:
            problems.update(exc.problems)
            messages.append(str(exc))
    if problems:
        raise TypeSelectionError("\n".join(messages), problems)
    if not ids:  # `,,`: a list with no id would mirror nothing and wipe the types' names
        raise TypeSelectionError(
            f"{SETTING}={text!r} lists no qualification type id: write the ids separated by "
            f"commas, spaces or line breaks (e.g. 3YJP8DI8F47JY6LPEKOFHXLJ1G0Q49), or leave "
            f"{SETTING} out (or set it to '{OWNED}') to mirror every type your account created"
        )
    return ids


def resolve_type_ids(client: Any, setting: str) -> list[str]:
    """The type ids QUAL_PIPELINE_TYPES selects, each checked to exist and be owned by caller."""
    listed = parse_type_setting(setting)
    owned = {t.qualification_type_id for t in discover_owned_types(client)}
    if listed is None:
        return sorted(owned)
    problems: dict[str, str] = {}
    messages: list[str] = []
    for type_id in listed:
        if type_id in owned:
            continue
        reason, message = _why_not_owned(client, type_id)
        if reason is not None:
            problems[type_id] = reason
            messages.append(message)
    if problems:
        raise TypeSelectionError("\n".join(messages), problems)
    return listed


def _why_not_owned(client: Any, type_id: str) -> tuple[str | None, str]:
    """(reason, message) for a listed id missing from the owned list, or (None, '') if usable.

    ListQualificationTypes lags just after a type is created, so an id that exists is probed with
    a one-row ListWorkersWithQualificationType, which only the owner may call.
    """
    try:
        client.get_qualification_type(QualificationTypeId=type_id)
    except ClientError as exc:
        code, text = describe_aws_error(exc)
        if code in ("RequestError", "ParameterValidationError", "ValidationException"):
            return "unknown", (
                f"qualification type {type_id!r} in {SETTING} does not exist on this MTurk "
                f"endpoint ({text}); sandbox and production have different ids; {_FIX}"
            )
        raise TypeSelectionError(
            f"cannot check qualification type {type_id!r}: GetQualificationType failed: {text}"
        ) from exc
    except BotoCoreError as exc:
        raise TypeSelectionError(
            f"cannot check qualification type {type_id!r}: GetQualificationType failed: "
            f"{describe_aws_error(exc)[1]}"
        ) from exc
    try:
        client.list_workers_with_qualification_type(QualificationTypeId=type_id, MaxResults=1)
    except ClientError as exc:
        return "not_owned", (
            f"qualification type {type_id!r} in {SETTING} is not owned by the caller's account "
            f"({describe_aws_error(exc)[1]}): only its owner can list its workers; use the "
            f"credentials of the account that created it, or {_FIX}"
        )
    return None, ""
