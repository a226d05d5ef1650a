"""MTurk's service model from botocore, and request validation driven by it.

Checks are read from the shapes (required members, JSON types, min/max, patterns, enums, nested
structures and lists), never written per field, and failures are worded as AWS's Coral front end
words them. A JSON value of the wrong type cannot even be deserialised, so it is a
`SerializationException` (`STRING_VALUE can not be converted to an Integer`); a value of the right
type that breaks a constraint is a `ValidationException` (`1 validation error detected: Value
'1000' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to
100`). An explicit JSON `null` is the same as a member left out, as on AWS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel, Shape

from qual_pipeline.local_mturk.errors import serialization, validation

SERVICE = "mturk"
API_VERSION = "2017-01-17"

_INT_RANGE = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_RENDERED_MAX = 256  # characters of a value quoted in a message
# Coral's names for what it expected, as in "NUMBER_VALUE can not be converted to a String".
_TARGETS = {
    "string": "a String",
    "integer": "an Integer",
    "long": "a Long",
    "boolean": "a Boolean",
    "double": "a Double",
    "float": "a Float",
    "timestamp": "a Timestamp",
    "blob": "a ByteBuffer",
    "list": "a List",
    "map": "a Map",
    "structure": "a Structure",
}


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
    """One problem of a value against its shape. `wrong_type` problems are Coral's
    SerializationException (the value cannot be read as that type); the others are constraint
    violations (ValidationException)."""

    value: Any
    path: str
    constraint: str
    wrong_type: bool = False

    def __str__(self) -> str:
        constraint = f"Member must be {self.constraint}" if self.wrong_type else self.constraint
        return (
            f"Value {_render(self.value)} at '{self.path}' failed to satisfy constraint: "
            f"{constraint}"
        )

    def serialization_message(self) -> str:
        """Coral's wording for a value of the wrong JSON type, plus where it was."""
        if isinstance(self.value, dict):
            text = "Start of structure or map found where not expected"
        elif isinstance(self.value, list):
            text = "Start of list found where not expected"
        else:
            text = f"{_token(self.value)} can not be converted to {self.constraint}"
        return f"{text} (at '{self.path or 'input'}')."


def validate_input(op: OperationModel, params: dict[str, Any]) -> None:
    """Raise SerializationException for the first value of a wrong JSON type, else
    ValidationException listing every constraint the input breaks."""
    problems: list[Violation] = []
    if op.input_shape is not None:
        _check(op.input_shape, params, "", problems)
    wrong = [p for p in problems if p.wrong_type]
    if wrong:
        raise serialization(wrong[0].serialization_message())
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


def _wrong(value: Any, path: str, kind: str, problems: list[Violation]) -> None:
    problems.append(Violation(value, path, _TARGETS.get(kind, kind), wrong_type=True))


def _check(target: Shape, value: Any, path: str, problems: list[Violation]) -> None:
    kind = target.type_name
    if value is None:  # a null list member; a null structure member is treated as absent
        problems.append(Violation(None, path, "Member must not be null"))
        return
    if kind == "structure":
        if not isinstance(value, dict):
            _wrong(value, path, kind, problems)
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
            _wrong(value, path, kind, problems)
            return
        _check_size(target, len(value), value, path, problems, "length")
        for index, item in enumerate(value, start=1):
            _check(target.member, item, f"{path}.{index}.member", problems)
        return
    if kind == "string":
        if not isinstance(value, str):
            _wrong(value, path, kind, problems)
            return
        _check_size(target, len(value), value, path, problems, "length")
        regex = target.metadata.get("pattern")
        if regex and re.fullmatch(regex, value) is None:
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
            _wrong(value, path, kind, problems)
            return
        _check_size(target, value, value, path, problems, "value")
        return
    if kind in ("double", "float", "timestamp"):
        # JSON 1.1 sends timestamps as epoch seconds, a JSON number.
        if isinstance(value, bool) or not isinstance(value, int | float):
            _wrong(value, path, kind, problems)
        return
    if kind == "boolean":
        if not isinstance(value, bool):
            _wrong(value, path, kind, problems)
        return
    if kind == "map":
        if not isinstance(value, dict):
            _wrong(value, path, kind, problems)
            return
        for key, item in value.items():
            _check(target.key, key, f"{path}.{key}.key", problems)
            _check(target.value, item, f"{path}.{key}.value", problems)
        return
    if kind == "blob" and not isinstance(value, str):
        _wrong(value, path, kind, problems)


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


def _token(value: Any) -> str:
    """Coral's name for a JSON scalar's token."""
    if isinstance(value, bool):
        return "BOOLEAN_VALUE"
    if isinstance(value, int | float):
        return "NUMBER_VALUE"
    return "STRING_VALUE"


def _render(value: Any) -> str:
    # Coral quotes the value with single quotes and prints null bare.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"'{str(value).lower()}'"
    text = "[" + ", ".join(str(v) for v in value) + "]" if isinstance(value, list) else str(value)
    if len(text) > _RENDERED_MAX:
        text = text[:_RENDERED_MAX] + "..."
    return f"'{text}'"
