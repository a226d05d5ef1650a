"""MTurk's service model from botocore, and request validation driven by it.

Checks are read from the shapes (required members, JSON types, min/max, patterns, enums, nested
structures and lists), never written per field, and failures are worded as AWS's Coral front end
words them: `1 validation error detected: Value '1000' at 'maxResults' failed to satisfy
constraint: Member must have value less than or equal to 100`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel, Shape

from qual_pipeline.local_mturk.errors import validation

SERVICE = "mturk"
API_VERSION = "2017-01-17"

_INT_RANGE = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


@cache
def service_model() -> ServiceModel:
    """The MTurk model installed with botocore (the same one every boto3 client uses)."""
    loader = Loader()
    return ServiceModel(loader.load_service_model(SERVICE, "service-2", API_VERSION), SERVICE)


def target_prefix() -> str:
    return str(service_model().metadata["targetPrefix"])


def signing_name() -> str:
    return str(service_model().signing_name)


def operation(name: str) -> OperationModel | None:
    """The operation's model, or None when the service has no such operation."""
    if name not in service_model().operation_names:
        return None
    return service_model().operation_model(name)


@cache
def shape(name: str) -> Shape:
    return service_model().shape_for(name)


@cache
def pattern(shape_name: str) -> re.Pattern[str]:
    """The compiled `pattern` of a named string shape (e.g. EntityId, CustomerId)."""
    return re.compile(shape(shape_name).metadata["pattern"])


@dataclass(frozen=True)
class Violation:
    value: Any
    path: str
    constraint: str

    def __str__(self) -> str:
        return (
            f"Value {_render(self.value)} at '{self.path}' failed to satisfy constraint: "
            f"{self.constraint}"
        )


def validate_input(op: OperationModel, params: dict[str, Any]) -> None:
    """Raise ValidationException listing every violation of the operation's input shape."""
    problems: list[Violation] = []
    if op.input_shape is not None:
        _check(op.input_shape, params, "", problems)
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise validation(
            f"{count} validation {noun} detected: " + "; ".join(str(p) for p in problems)
        )


def violations(target: Shape, value: Any, path: str = "") -> list[Violation]:
    """Every violation of `target` by `value` (used for seed data as well as requests)."""
    problems: list[Violation] = []
    _check(target, value, path, problems)
    return problems


def _member_path(parent: str, member: str) -> str:
    name = member[:1].lower() + member[1:]
    return f"{parent}.{name}" if parent else name


def _check(target: Shape, value: Any, path: str, problems: list[Violation]) -> None:
    kind = target.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            problems.append(Violation(value, path or "input", "Member must be a structure"))
            return
        for name, member in target.members.items():
            member_path = _member_path(path, name)
            if value.get(name) is None:
                if name in target.required_members:
                    problems.append(Violation(None, member_path, "Member must not be null"))
                continue
            _check(member, value[name], member_path, problems)
        return
    if kind == "list":
        if not isinstance(value, list):
            problems.append(Violation(value, path, "Member must be a list"))
            return
        _check_size(target, len(value), value, path, problems, "length")
        for index, item in enumerate(value, start=1):
            _check(target.member, item, f"{path}.{index}.member", problems)
        return
    if kind == "string":
        if not isinstance(value, str):
            problems.append(Violation(value, path, "Member must be a string"))
            return
        _check_size(target, len(value), value, path, problems, "length")
        regex = target.metadata.get("pattern")
        if regex and not re.search(regex, value):
            problems.append(
                Violation(value, path, f"Member must satisfy regular expression pattern: {regex}")
            )
        enum = target.metadata.get("enum")
        if enum and value not in enum:
            problems.append(
                Violation(value, path, f"Member must satisfy enum value set: [{', '.join(enum)}]")
            )
        return
    if kind in ("integer", "long"):
        low, high = _INT_RANGE[kind]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            problems.append(Violation(value, path, f"Member must be of type {kind}"))
            return
        _check_size(target, value, value, path, problems, "value")
        return
    if kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(Violation(value, path, f"Member must be of type {kind}"))
        return
    if kind == "boolean":
        if not isinstance(value, bool):
            problems.append(Violation(value, path, "Member must be of type boolean"))
        return
    if kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            problems.append(Violation(value, path, "Member must be a timestamp"))
        return
    if kind == "map":
        if not isinstance(value, dict):
            problems.append(Violation(value, path, "Member must be a map"))
            return
        for key, item in value.items():
            _check(target.key, key, f"{path}.{key}.key", problems)
            _check(target.value, item, f"{path}.{key}.value", problems)
        return
    if kind == "blob" and not isinstance(value, str):
        problems.append(Violation(value, path, "Member must be a base64 string"))


def _check_size(
    target: Shape, size: int, value: Any, path: str, problems: list[Violation], what: str
) -> None:
    low = target.metadata.get("min")
    high = target.metadata.get("max")
    if low is not None and size < low:
        problems.append(
            Violation(value, path, f"Member must have {what} greater than or equal to {low}")
        )
    if high is not None and size > high:
        problems.append(
            Violation(value, path, f"Member must have {what} less than or equal to {high}")
        )


def _render(value: Any) -> str:
    # Coral quotes the value with single quotes and prints null bare.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"'{str(value).lower()}'"
    if isinstance(value, list):
        return "'[" + ", ".join(str(v) for v in value) + "]'"
    return f"'{value}'"
