"""Seed data: a JSON document in the API's own field names, loaded into the store.

    {"requesters": [{"AccessKeyId", "SecretAccessKey", "AvailableBalance"}],
     "workers": [{"WorkerId"}],
     "qualification_types": [{...QualificationType fields..., "Owner": "<AccessKeyId>"}],
     "qualifications": [{...Qualification fields...}],
     "qualification_requests": [{...QualificationRequest fields...}]}

Files are read as a stream (one record in memory at a time), so a million qualifications load in
constant memory. Seed records may carry what the API cannot set (LocaleValue, GrantTime, odd
locales), but never a value the API's shapes could not carry (an id off its pattern, a
Subdivision that is not 2 characters, an IntegerValue beyond 32 bits, text that is not valid
Unicode): such a record is refused with a message naming it. `workers`, when present, is the
whole list of workers the environment knows; qualifications and requests may name only them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from qual_pipeline.local_mturk import model
from qual_pipeline.local_mturk.operations import new_id
from qual_pipeline.local_mturk.store import DEFAULT_BALANCE, STATUS_CODES, Store, now

SECTIONS = (
    "requesters",
    "workers",
    "qualification_types",
    "qualifications",
    "qualification_requests",
)
_BALANCE = re.compile(r"^[0-9]+(\.)?[0-9]{0,2}$")
# What SigV4's Credential= can carry: no '/', ',', '=' or space (IAM's pattern, in ASCII).
_ACCESS_KEY_ID = re.compile(r"[A-Za-z0-9_]{1,128}")
_INT32 = (-(2**31), 2**31 - 1)
_LOCALE_FIELDS = frozenset(model.shape("Locale").members)
_TYPE_ID = model.pattern("EntityId").fullmatch  # whole value: "A1\n" does not match
_WORKER_ID = model.pattern("CustomerId").fullmatch
_SURROGATES = re.compile("[\\ud800-\\udfff]")
_CHUNK = 1 << 20


class DataError(ValueError):
    """Seed data that cannot be loaded; the message names the source, the record and the fix."""


# Streaming JSON -----------------------------------------------------------------------------------


class _Stream:
    """Reads `{"section": [records...], ...}` record by record with the standard json decoder."""

    def __init__(self, handle: IO[str], name: str) -> None:
        self.handle = handle
        self.name = name
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.line = 1  # line number of buf[0]
        self.decoder = json.JSONDecoder()

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.handle.read(_CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.line += self.buf.count("\n", 0, self.pos)
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0
        return True

    def _where(self, pos: int) -> str:
        line = self.line + self.buf.count("\n", 0, pos)
        column = pos - self.buf.rfind("\n", 0, pos)
        return f"line {line} column {column}"

    def _fail(self, problem: str, pos: int | None = None) -> DataError:
        where = self._where(self.pos if pos is None else pos)
        return DataError(f"{self.name}: not valid JSON at {where}: {problem}")

    def _skip_ws(self) -> str:
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def _expect(self, chars: str) -> str:
        found = self._skip_ws()
        if not found or found not in chars:
            wanted = " or ".join(repr(c) for c in chars)
            raise self._fail(f"expected {wanted}, found {found or 'end of file'!r}")
        self.pos += 1
        return found

    def _value(self) -> Any:
        self._skip_ws()
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self._fill():
                    continue
                raise self._fail(exc.msg, exc.pos) from None
            if end == len(self.buf) and self._fill():
                continue  # a number may go on in the next chunk
            self.pos = end
            return value

    def sections(self) -> Iterator[tuple[str, Iterator[Any]]]:
        self._expect("{")
        if self._skip_ws() == "}":
            self.pos += 1
            return
        while True:
            key = self._value()
            if not isinstance(key, str):
                raise self._fail("expected a section name")
            self._expect(":")
            if self._skip_ws() != "[":
                raise DataError(f"{self.name}: section {key!r} must be a JSON list of records")
            records = self._records()
            yield key, records
            for _ in records:  # drain what the consumer left
                pass
            if self._expect(",}") == "}":
                break
        if self._skip_ws():
            raise self._fail("unexpected data after the document")

    def _records(self) -> Iterator[Any]:
        self._expect("[")
        if self._skip_ws() == "]":
            self.pos += 1
            return
        while True:
            yield self._value()
            if self._expect(",]") == "]":
                return


def _file_sections(path: Path) -> Iterator[tuple[str, Iterable[Any]]]:
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{path}: cannot read the data file: {exc.strerror}") from None
    with handle:
        try:
            yield from _Stream(handle, str(path)).sections()
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from None


def _dict_sections(data: dict[str, Any]) -> Iterator[tuple[str, Iterable[Any]]]:
    for key, records in data.items():
        if not isinstance(records, list | tuple):
            raise DataError(f"data: section {key!r} must be a list of records")
        yield key, records


# Records ------------------------------------------------------------------------------------------


TIME_RANGE = (0.0, 32_503_680_000.0)
"""Seed times are epoch seconds from 1970-01-01 up to (not including) 3000-01-01 UTC: a time
outside would be served as is, and clients cannot read it (botocore fails on 1e300 or a year
before 1 or after 9999 in the machine's zone), while MTurk's own times are all well inside."""


def _epoch(value: Any, where: str) -> float:
    """Epoch seconds from a JSON number or an ISO 8601 string (naive means UTC), within
    TIME_RANGE."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            seconds = parsed.timestamp()
    if seconds is None:
        raise DataError(f"{where}: {value!r} is not a time; use epoch seconds or ISO 8601")
    if not TIME_RANGE[0] <= seconds < TIME_RANGE[1]:  # NaN fails too
        raise DataError(
            f"{where}: {value!r} is outside the times the API can carry: use a time from "
            "1970-01-01 (epoch 0) to before 3000-01-01 (epoch 32503680000)"
        )
    return seconds


def _check_text(record: dict[str, Any], where: str) -> None:
    """Refuse strings that are not valid Unicode (a lone surrogate escape such as \\ud800)."""
    for field, value in record.items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise DataError(
                    f"{where}: {field} is not valid Unicode text (it holds a lone surrogate)"
                ) from None


def _check_shape(record: Any, shape_name: str, where: str, extra: Iterable[str] = ()) -> None:
    if not isinstance(record, dict):
        raise DataError(f"{where}: a record must be a JSON object, got {record!r}")
    _check_text(record, where)
    target = model.shape(shape_name)
    unknown = set(record) - set(target.members) - set(extra)
    if unknown:
        raise DataError(
            f"{where}: unknown field(s) {', '.join(sorted(unknown))}; "
            f"a {shape_name} has {', '.join(target.members)}"
        )
    problems = model.violations(target, {k: v for k, v in record.items() if k not in extra})
    if problems:
        raise DataError(f"{where}: {problems[0]}")


def _require(record: dict[str, Any], fields: Iterable[str], where: str) -> None:
    missing = [
        f
        for f in fields
        if record.get(f) is None or (isinstance(record[f], str) and not record[f].strip())
    ]
    if missing:
        raise DataError(f"{where}: missing required field(s) {', '.join(missing)}")


def _requester(record: Any, where: str) -> tuple[str, str, str]:
    if not isinstance(record, dict):
        raise DataError(f"{where}: a requester must be a JSON object")
    unknown = set(record) - {"AccessKeyId", "SecretAccessKey", "AvailableBalance"}
    if unknown:
        raise DataError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    _require(record, ("AccessKeyId", "SecretAccessKey"), where)
    if not all(isinstance(record[f], str) for f in ("AccessKeyId", "SecretAccessKey")):
        raise DataError(f"{where}: AccessKeyId and SecretAccessKey must be strings")
    _check_text(record, where)
    if not _ACCESS_KEY_ID.fullmatch(record["AccessKeyId"]):
        raise DataError(
            f"{where}: AccessKeyId {record['AccessKeyId']!r} must be 1-128 letters, digits or "
            "underscores, or no SigV4 signature could name it"
        )
    balance = record.get("AvailableBalance", DEFAULT_BALANCE)
    if isinstance(balance, int | float) and not isinstance(balance, bool):
        balance = f"{balance:.2f}"
    if not isinstance(balance, str) or not _BALANCE.match(balance):
        raise DataError(f"{where}: AvailableBalance {balance!r} is not an amount like '10000.00'")
    return record["AccessKeyId"], record["SecretAccessKey"], balance


def _qualification_type(record: Any, where: str) -> dict[str, Any]:
    record = dict(record) if isinstance(record, dict) else record
    if isinstance(record, dict) and "CreationTime" in record:
        record["CreationTime"] = _epoch(record["CreationTime"], f"{where}.CreationTime")
    _check_shape(record, "QualificationType", where, extra=("Owner",))
    _require(record, ("QualificationTypeId", "Name", "Owner"), where)
    return {
        "Description": "",
        "QualificationTypeStatus": "Active",
        "CreationTime": now(),
        "IsRequestable": True,
        "AutoGranted": False,
        **record,
    }


_QUALIFICATION_FIELDS = frozenset(model.shape("Qualification").members)


def _qualification(record: Any, where: str) -> tuple[Any, ...]:
    """A qualification row. Checked by hand for speed (a million of them); LocaleValue is kept
    as given, odd values included, because real data has them."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: a qualification must be a JSON object, got {record!r}")
    if not _QUALIFICATION_FIELDS.issuperset(record):
        unknown = sorted(set(record) - _QUALIFICATION_FIELDS)
        raise DataError(f"{where}: unknown field(s) {', '.join(unknown)}")
    type_id = record.get("QualificationTypeId")
    worker_id = record.get("WorkerId")
    if not isinstance(type_id, str) or not _TYPE_ID(type_id):
        raise DataError(
            f"{where}: QualificationTypeId {type_id!r} must match "
            f"{model.pattern('EntityId').pattern}"
        )
    if not isinstance(worker_id, str) or not _WORKER_ID(worker_id):
        raise DataError(
            f"{where}: WorkerId {worker_id!r} must match {model.pattern('CustomerId').pattern}"
        )
    status = STATUS_CODES.get(record.get("Status", "Granted"))
    if status is None:
        raise DataError(f"{where}: Status {record['Status']!r} must be Granted or Revoked")
    value = record.get("IntegerValue")
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not _INT32[0] <= value <= _INT32[1]
    ):
        raise DataError(
            f"{where}: IntegerValue {value!r} must be an integer from {_INT32[0]} to {_INT32[1]}"
        )
    grant_time = record.get("GrantTime")
    if grant_time is not None:
        grant_time = _epoch(grant_time, f"{where}.GrantTime")
    country = subdivision = None
    locale = record.get("LocaleValue")
    if locale is not None:
        country, subdivision = _locale(locale, where)
    return (type_id, worker_id, status, value, grant_time, country, subdivision)


def _locale(locale: Any, where: str) -> tuple[str, str | None]:
    """(Country, Subdivision) of a LocaleValue. Odd values the shape allows are kept ('us',
    'XX'); what it cannot carry is refused: each is exactly 2 characters."""
    if type(locale) is dict and len(locale) <= 2:  # the common case, checked cheaply
        country, subdivision = locale.get("Country"), locale.get("Subdivision")
        if (
            type(country) is str
            and len(country) == 2
            and country.isascii()
            and (len(locale) == 1 or "Subdivision" in locale)
            and (
                subdivision is None
                or (type(subdivision) is str and len(subdivision) == 2 and subdivision.isascii())
            )
        ):
            return country, subdivision
    if not isinstance(locale, dict) or not _LOCALE_FIELDS.issuperset(locale):
        raise DataError(
            f"{where}: LocaleValue must be an object with Country and optionally Subdivision, "
            f"got {locale!r}"
        )
    parts = []
    for field in ("Country", "Subdivision"):
        part = locale.get(field)
        if part is None and field == "Subdivision":
            parts.append(None)
            continue
        if not isinstance(part, str) or len(part) != 2 or _SURROGATES.search(part):
            hint = (
                "the 2 letters after the dash of an ISO 3166-2 code (WA for US-WA); leave "
                "Subdivision out when there is none"
                if field == "Subdivision"
                else "an ISO 3166-1 alpha-2 code such as US"
            )
            raise DataError(
                f"{where}: LocaleValue.{field} {part!r} must be exactly 2 characters: {hint}"
            )
        parts.append(part)
    return parts[0], parts[1]


def _qualification_request(record: Any, where: str) -> dict[str, Any]:
    record = dict(record) if isinstance(record, dict) else record
    if isinstance(record, dict) and "SubmitTime" in record:
        record["SubmitTime"] = _epoch(record["SubmitTime"], f"{where}.SubmitTime")
    _check_shape(record, "QualificationRequest", where)
    _require(record, ("QualificationTypeId", "WorkerId"), where)
    return {"QualificationRequestId": new_id(), "SubmitTime": now(), **record}


def _worker(record: Any, where: str) -> str:
    if not isinstance(record, dict) or set(record) != {"WorkerId"}:
        raise DataError(f'{where}: a worker must be {{"WorkerId": "A..."}}, got {record!r}')
    worker_id = record["WorkerId"]
    if not isinstance(worker_id, str) or not _WORKER_ID(worker_id):
        raise DataError(
            f"{where}: WorkerId {worker_id!r} must match {model.pattern('CustomerId').pattern}"
        )
    return worker_id


# Loading ------------------------------------------------------------------------------------------


def load(store: Store, data: dict[str, Any] | Path | str) -> dict[str, int]:
    """Load seed data into `store`; returns how many records of each section were loaded."""
    if isinstance(data, dict):
        name, sections = "data", _dict_sections(data)
    else:
        name, sections = str(data), _file_sections(Path(data))
    counts = dict.fromkeys(SECTIONS, 0)
    for section, records in sections:
        if section not in SECTIONS:
            raise DataError(f"{name}: unknown section {section!r}; expected {', '.join(SECTIONS)}")

        def located(items: Iterable[Any], section: str = section) -> Iterator[tuple[Any, str]]:
            for index, item in enumerate(items):
                counts[section] += 1
                yield item, f"{name}: {section}[{index}]"

        if section == "requesters":
            for record, where in located(records):
                store.put_requester(*_requester(record, where))
        elif section == "workers":
            store.put_workers(_worker(r, w) for r, w in located(records))
        elif section == "qualification_types":
            try:
                store.insert_types(_qualification_type(r, w) for r, w in located(records))
            except sqlite3.IntegrityError:
                raise DataError(
                    f"{name}: qualification_types[{counts[section] - 1}] repeats a "
                    "QualificationTypeId, or a Name its Owner already uses; both must be unique"
                ) from None
        elif section == "qualifications":
            store.put_qualifications(_qualification(r, w) for r, w in located(records))
        else:
            store.insert_requests(_qualification_request(r, w) for r, w in located(records))
    missing = store.missing_types()
    if missing:
        raise DataError(
            f"{name}: qualifications or requests refer to type(s) {', '.join(missing)} that no "
            "record in qualification_types defines"
        )
    unlisted = store.unlisted_workers()
    if unlisted:
        raise DataError(
            f"{name}: qualifications or qualification_requests name worker(s) "
            f"{', '.join(unlisted)} that the workers section does not list; list every worker "
            "of the environment there, or leave the section out to know every well-formed id"
        )
    owners = store.unknown_owners()
    if owners:
        raise DataError(
            f"{name}: qualification_types name Owner(s) that are not in requesters: "
            + ", ".join(owners)
        )
    return counts
