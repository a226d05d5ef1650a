"""MTurk's contracts as botocore's service model states them: id shapes, page size, statuses,
and which output member of an operation carries its records.

The model (`botocore/data/mturk/2017-01-17/service-2.json`, installed with boto3) is the ground
truth every boto3 client already uses; reading it here means no pattern, limit or enum is typed by
hand anywhere else in the pipeline. botocore checks only required members and types before sending,
so these are what the pipeline checks itself before a call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from botocore.loaders import create_loader
from botocore.model import ServiceModel


@cache
def service_model() -> ServiceModel:
    """The MTurk Requester service model of the installed botocore, read from its data files
    alone: no AWS configuration is consulted (a bad AWS_PROFILE is reported by the command that
    needs credentials, not by an import)."""
    return ServiceModel(create_loader().load_service_model("mturk", "service-2"), "mturk")


@dataclass(frozen=True)
class IdShape:
    """A string shape of the model with a length range and a pattern (EntityId, CustomerId)."""

    name: str
    min_length: int
    max_length: int
    pattern: str

    def matches(self, value: object) -> bool:
        """True when `value` is a string the API would accept for this shape."""
        return (
            isinstance(value, str)
            and self.min_length <= len(value) <= self.max_length
            and re.fullmatch(self.pattern, value) is not None
        )


def _metadata(shape_name: str) -> dict[str, Any]:
    return dict(service_model().shape_for(shape_name).metadata)


def _id_shape(shape_name: str) -> IdShape:
    meta = _metadata(shape_name)
    return IdShape(shape_name, int(meta["min"]), int(meta["max"]), str(meta["pattern"]))


TYPE_ID = _id_shape("EntityId")
"""QualificationTypeId: 1..64 characters, `^[A-Z0-9]+$`."""

WORKER_ID = _id_shape("CustomerId")
"""WorkerId: 1..64 characters, `^A[A-Z0-9]+$`."""

MAX_PAGE_SIZE: int = int(_metadata("ResultSize")["max"])
"""The largest MaxResults a List operation accepts (ResultSize's maximum, 100)."""

QUALIFICATION_STATUSES: tuple[str, ...] = tuple(_metadata("QualificationStatus")["enum"])
"""A qualification's Status, in the model's order: ('Granted', 'Revoked')."""


def records_member(operation: str) -> str:
    """The output member of `operation` that carries its records: the one list member of a List
    operation (`Qualifications`), or the one structure member of a Get (`QualificationType`)."""
    output = service_model().operation_model(operation).output_shape
    wanted = [
        name for name, member in output.members.items() if member.type_name in ("list", "structure")
    ]
    if len(wanted) != 1:
        raise ValueError(f"{operation} has no single record member in its output: {wanted}")
    return wanted[0]
