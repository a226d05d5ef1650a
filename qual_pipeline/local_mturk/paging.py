"""Opaque, keyset-based NextToken values.

A token carries the last key of the page it ends, a fingerprint of the query it belongs to and a
random nonce, so the next page is one index range scan (as cheap at row 1,000,000 as at row 1),
a token never repeats, and rows added or changed while a client pages cannot make it loop.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from typing import Any

from qual_pipeline.local_mturk.errors import ApiError

# What a page holds when the caller gives no MaxResults. MTurk does not document it; the legacy
# API's PageSize defaulted to 10, and so does the local MTurk.
DEFAULT_PAGE_SIZE = 10


def _fingerprint(operation: str, filters: tuple[Any, ...]) -> str:
    raw = json.dumps([operation, *filters], separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def encode(operation: str, filters: tuple[Any, ...], last_key: str | int) -> str:
    payload = [_fingerprint(operation, filters), last_key, os.urandom(6).hex()]
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str | None, operation: str, filters: tuple[Any, ...]) -> str | int | None:
    """The last key the token points after, or None for the first page."""
    if token is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        fingerprint, last_key, _nonce = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, RecursionError):
        raise _invalid(token, "it is not a token this service issued") from None
    if fingerprint != _fingerprint(operation, filters):
        raise _invalid(token, f"it was issued for another {operation} request")
    if not _storable(last_key):
        raise _invalid(token, "it is not a token this service issued")
    return last_key


def _storable(key: object) -> bool:
    """A key SQLite can compare: a 64-bit integer or valid Unicode text."""
    if isinstance(key, bool):
        return False
    if isinstance(key, int):
        return -(2**63) <= key < 2**63
    if isinstance(key, str):
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    return False


def _invalid(token: str, why: str) -> ApiError:
    shown = token if len(token) <= 40 else token[:40] + "..."
    return ApiError(
        "ValidationException",
        f"The NextToken '{shown}' is not valid: {why}. Pass the NextToken from the previous "
        "response of the same request unchanged, or omit it to start from the first page.",
    )
