"""SigV4 verification: who is calling, and did they sign with that requester's secret.

The signature is recomputed with botocore's own `SigV4Auth` over the request exactly as received
(only the headers the client listed in `SignedHeaders`), so the local MTurk accepts precisely what
AWS accepts and no cryptography is written here. Errors carry the wording AWS's front end uses.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from qual_pipeline.local_mturk import model
from qual_pipeline.local_mturk.errors import ApiError

ALGORITHM = "AWS4-HMAC-SHA256"
# MTurk exists in one region; clients built with region_name='sandbox' sign with that scope.
ACCEPTED_REGIONS = ("us-east-1", "sandbox")
MAX_CLOCK_SKEW = dt.timedelta(minutes=15)

SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
UNRECOGNIZED_CLIENT = "The security token included in the request is invalid."


@dataclass(frozen=True)
class SignedRequest:
    """What the server received, as needed to recompute the signature."""

    method: str
    path: str
    headers: Mapping[str, str]  # case-insensitive lookups are done by lower-cased name
    body: bytes


def _invalid(message: str) -> ApiError:
    return ApiError("InvalidSignatureException", message)


def _incomplete(message: str) -> ApiError:
    return ApiError("IncompleteSignatureException", message)


def _parse_authorization(value: str) -> dict[str, str]:
    if not value.startswith(ALGORITHM + " "):
        raise _incomplete(
            f"Authorization header requires the {ALGORITHM} algorithm; "
            "sign requests with Signature Version 4."
        )
    parts: dict[str, str] = {}
    for item in value[len(ALGORITHM) + 1 :].split(","):
        key, sep, val = item.strip().partition("=")
        if sep:
            parts[key] = val
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if k not in parts]
    if missing:
        raise _incomplete(
            " ".join(f"Authorization header requires '{k}' parameter." for k in missing)
            + f" Authorization={value[:40]}..."
        )
    return parts


def authenticate(
    request: SignedRequest,
    secret_for: Callable[[str], str | None],
    now: dt.datetime | None = None,
) -> str:
    """Return the caller's access key id, or raise the error AWS would answer."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    authorization = headers.get("authorization")
    if not authorization:
        raise ApiError(
            "MissingAuthenticationTokenException", "Request is missing Authentication Token"
        )
    parts = _parse_authorization(authorization)
    scope = parts["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise _incomplete(
            "Credential must have exactly 5 slash-delimited elements, e.g. "
            "keyid/date/region/service/term, got '" + "/".join(scope[1:]) + "'"
        )
    access_key, scope_date, region, service, _ = scope
    secret = secret_for(access_key)
    if secret is None:
        raise ApiError("UnrecognizedClientException", UNRECOGNIZED_CLIENT)
    if service != model.signing_name():
        raise _invalid(
            f"Credential should be scoped to correct service: '{model.signing_name()}'. "
        )
    if region not in ACCEPTED_REGIONS:
        raise _invalid(f"Credential should be scoped to a valid region, not '{region}'. ")
    amz_date = headers.get("x-amz-date")
    if not amz_date:
        raise _incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    try:
        signed_at = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise _incomplete(
            f"X-Amz-Date '{amz_date}' is not in the form YYYYMMDD'T'HHMMSS'Z'."
        ) from None
    if scope_date != amz_date[:8]:
        raise _invalid(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{scope_date}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    current = now or dt.datetime.now(dt.UTC)
    if abs(current - signed_at) > MAX_CLOCK_SKEW:
        stamp = current.strftime("%Y%m%dT%H%M%SZ")
        raise _invalid(
            f"Signature expired: {amz_date} is now earlier or later than {stamp} "
            "by more than 15 min."
        )
    signed_names = [n for n in parts["SignedHeaders"].split(";") if n]
    if "host" not in signed_names:
        raise _invalid("'Host' must be a signed header.")
    missing = [n for n in signed_names if n not in headers]
    if missing:
        raise _invalid(f"Signed header(s) missing from the request: {', '.join(missing)}.")

    try:
        signed = AWSRequest(
            method=request.method,
            url=f"http://{headers['host']}{request.path}",
            headers={n: headers[n] for n in signed_names},
            data=request.body,
        )
        signed.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(access_key, secret), service, region)
        canonical = signer.canonical_request(signed)
        expected = signer.signature(signer.string_to_sign(signed, canonical), signed)
    except (ValueError, UnicodeError):
        # A Host or path no URL can hold ('[', '[::1'): no client can have signed it.
        raise _invalid(SIGNATURE_MISMATCH) from None
    # Bytes, so that a signature with non-ASCII characters is a mismatch, not a TypeError.
    given = parts["Signature"].encode("utf-8", "replace")
    if not hmac.compare_digest(expected.encode(), given):
        raise _invalid(SIGNATURE_MISMATCH)
    return access_key
