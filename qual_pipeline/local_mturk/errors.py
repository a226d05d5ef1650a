"""The errors the local MTurk answers, shaped as MTurk and AWS's front end send them.

Every client mistake becomes an `ApiError` carrying the `__type` botocore dispatches on, the HTTP
status and, for MTurk's own `RequestError`, the `TurkErrorCode`. Nothing else leaves the server.
"""

from __future__ import annotations

import time

TURK = "AWS.MechanicalTurk."


class ApiError(Exception):
    """An error answer: HTTP status, `__type`, message and optional TurkErrorCode."""

    def __init__(
        self, error_type: str, message: str, *, status: int = 400, turk_code: str | None = None
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status
        self.turk_code = turk_code

    def body(self) -> dict[str, str]:
        out = {"__type": self.error_type, "Message": self.message}
        if self.turk_code:
            out["TurkErrorCode"] = self.turk_code
        return out


def _stamped(message: str) -> str:
    # MTurk appends the server time in milliseconds to its messages: "... (1631094715163)".
    return f"{message} ({int(time.time() * 1000)})"


def request_error(message: str, turk_code: str) -> ApiError:
    """MTurk's modeled `RequestError` (HTTP 400); `turk_code` follows AWS.MechanicalTurk."""
    return ApiError("RequestError", _stamped(message), turk_code=TURK + turk_code)


def service_fault(message: str = "The service encountered an internal error.") -> ApiError:
    """MTurk's modeled `ServiceFault` (HTTP 500), which botocore retries."""
    return ApiError("ServiceFault", _stamped(message), status=500, turk_code=TURK + "ServiceFault")


def throttling() -> ApiError:
    return ApiError("ThrottlingException", "Rate exceeded")


def validation(message: str) -> ApiError:
    return ApiError("ValidationException", message)


def serialization(message: str) -> ApiError:
    return ApiError("SerializationException", message)


def unknown_worker(worker_id: str) -> ApiError:
    """A well-formed WorkerId this environment does not know, e.g. a production worker id used on
    the sandbox. MTurk answers an unmodeled `ParameterValidationError` (HTTP 400, no
    TurkErrorCode) stamped "(<ms> s)": `The value "A143XRCI1YXAFE" is not valid for the parameter
    WorkerId. (1585151438622 s)`."""
    return invalid_parameter("WorkerId", worker_id)


def invalid_parameter(name: str, value: str) -> ApiError:
    """MTurk's unmodeled `ParameterValidationError` for a value it refuses (HTTP 400, no
    TurkErrorCode): `The value "..." is not valid for the parameter Name. (<ms> s)`."""
    return ApiError(
        "ParameterValidationError",
        f'The value "{value}" is not valid for the parameter {name}. ({int(time.time() * 1000)} s)',
    )


def request_timeout(seconds: float) -> ApiError:
    """A request that did not arrive completely in time (HTTP 408); botocore retries it."""
    return ApiError(
        "RequestTimeoutException",
        f"The request did not arrive completely within {seconds:g} seconds of its first byte; "
        "the connection is closed.",
        status=408,
    )


def does_not_exist_qualification() -> ApiError:
    return request_error(
        "You requested a Qualification that does not exist.", "QualificationDoesNotExist"
    )


def does_not_exist_type(type_id: str) -> ApiError:
    return request_error(
        f"You requested a Qualification type that does not exist: {type_id}.",
        "QualificationTypeDoesNotExist",
    )


def permission_denied(type_id: str) -> ApiError:
    return request_error(
        f"You are not the owner of Qualification type {type_id}; only its owner can do this.",
        "PermissionDenied",
    )
