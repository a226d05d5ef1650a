"""Turn API pages into typed Arrow batches of the lake schemas.

botocore hands back Qualifications as dicts whose GrantTime is a datetime in the machine's local
zone; the lake wants one typed schema with UTC times and ISO 3166 locale columns, identical on every
machine. Locale names come from pycountry (the maintained iso-codes data), looked up once per
distinct locale. A locale that is not valid ISO is kept as given with null names and counted: no row
is ever dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pycountry

from qual_pipeline.mturk_api.model import QUALIFICATION_STATUSES
from qual_pipeline.schema import (
    QUALIFICATION_REQUESTS,
    QUALIFICATION_TYPES,
    UTC_TIMESTAMP,
    WORKER_QUALIFICATIONS,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_COUNTRY_CODE = re.compile(r"^[A-Z]{2}$")
_SUBDIVISION_CODE = re.compile(r"^[A-Z0-9]{1,3}$")


class MalformedRecordError(ValueError):
    """The API returned a record the lake cannot hold (e.g. no WorkerId); names the record."""


class Locale(NamedTuple):
    """A LocaleValue resolved against ISO 3166; `valid` is False when a given part is not ISO."""

    country: str | None
    subdivision: str | None
    country_name: str | None
    subdivision_name: str | None
    valid: bool


_NO_LOCALE = Locale(None, None, None, None, True)


@lru_cache(maxsize=8192)
def resolve_locale(country: str | None, subdivision: str | None) -> Locale:
    """ISO 3166 columns for a LocaleValue: `US` + `WA` -> `US-WA`, 'United States', 'Washington'.

    Codes must be upper case, as the API documents them; anything else (lower case, `XX`, a
    subdivision the country does not have) is kept as given with a null name and `valid=False`.
    """
    if country is None and subdivision is None:
        return _NO_LOCALE
    country_name = None
    if country is not None and _COUNTRY_CODE.match(country):
        found = pycountry.countries.get(alpha_2=country)
        country_name = found.name if found is not None else None
    if subdivision is None:
        return Locale(country, None, country_name, None, country_name is not None)
    if country is not None and subdivision.startswith(f"{country}-"):
        subdivision = subdivision[len(country) + 1 :]  # given in full form already
    code = f"{country}-{subdivision}" if country is not None else subdivision
    subdivision_name = None
    if country_name is not None and _SUBDIVISION_CODE.match(subdivision):
        found_sub = pycountry.subdivisions.get(code=code)
        if found_sub is not None and found_sub.code == code:
            subdivision_name = found_sub.name
    valid = country_name is not None and subdivision_name is not None
    return Locale(country, code, country_name, subdivision_name, valid)


def to_utc_micros(value: datetime | float | int | None) -> int | None:
    """Microseconds since the epoch, UTC, for an aware datetime (any zone) or epoch seconds.

    The result depends only on the instant, never on the machine's TZ. Naive datetimes are
    refused: their instant is unknowable.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        tz = value.tzinfo
        if tz is None or tz.utcoffset(value) is None:
            raise MalformedRecordError(
                f"timestamp {value!r} has no time zone; cannot place it in UTC"
            )
        # Exact and consistent with the tzinfo's own utcoffset (dateutil's tzlocal, from botocore),
        # which is what turned the wire's epoch into this datetime. A faster C mktime shortcut was
        # tried and disagrees with it on historical offsets (Europe/London in 1970).
        return (value - _EPOCH) // _MICROSECOND
    if isinstance(value, bool):
        raise MalformedRecordError(f"timestamp {value!r} is not a time")
    if isinstance(value, int):
        return value * 1_000_000
    if isinstance(value, float):
        return round(value * 1_000_000)
    raise MalformedRecordError(f"timestamp {value!r} is not a datetime or epoch seconds")


@dataclass
class NormaliseCounts:
    """What normalising saw; adds up across pages with `+=`."""

    rows: int = 0
    granted: int = 0
    revoked: int = 0
    null_scores: int = 0
    missing_locales: int = 0
    invalid_locales: int = 0

    def __iadd__(self, other: NormaliseCounts) -> NormaliseCounts:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def normalise_qualifications(
    qualifications: Sequence[Mapping[str, Any]],
    *,
    extracted_at: datetime,
    qualification_type_id: str | None = None,
    status: str | None = None,
) -> tuple[pa.RecordBatch, NormaliseCounts]:
    """One ListWorkersWithQualificationType page -> (a batch of schema.WORKER_QUALIFICATIONS, its
    counts). See `qualifications_batch` and `count_qualifications`."""
    batch = qualifications_batch(
        qualifications,
        extracted_at=extracted_at,
        qualification_type_id=qualification_type_id,
        status=status,
    )
    return batch, count_qualifications(batch)


def qualifications_batch(
    qualifications: Sequence[Mapping[str, Any]],
    *,
    extracted_at: datetime,
    qualification_type_id: str | None = None,
    status: str | None = None,
) -> pa.RecordBatch:
    """One ListWorkersWithQualificationType page -> a batch of schema.WORKER_QUALIFICATIONS.

    `qualification_type_id` and `status` are what was asked for: they fill a member the API left
    out, and a record of another type is refused (it would land in the wrong partition).
    Raises MalformedRecordError naming the record.
    """
    n = len(qualifications)
    type_ids: list[str] = [""] * n
    workers: list[str] = [""] * n
    statuses: list[str] = [""] * n
    scores: list[int | None] = [None] * n
    countries: list[str | None] = [None] * n
    subdivisions: list[str | None] = [None] * n
    country_names: list[str | None] = [None] * n
    subdivision_names: list[str | None] = [None] * n
    grant_times: list[int | None] = [None] * n
    for i, q in enumerate(qualifications):
        worker = q.get("WorkerId")
        if not worker:
            raise MalformedRecordError(f"qualification record without WorkerId: {dict(q)!r}")
        workers[i] = worker
        type_id = q.get("QualificationTypeId", qualification_type_id)
        if type_id is None or (
            qualification_type_id is not None and type_id != qualification_type_id
        ):
            raise MalformedRecordError(
                f"record for worker {worker} has QualificationTypeId {type_id!r}, "
                f"expected {qualification_type_id!r}"
            )
        type_ids[i] = type_id
        row_status = q.get("Status", status)
        if row_status not in QUALIFICATION_STATUSES:
            raise MalformedRecordError(f"record for worker {worker} has Status {row_status!r}")
        statuses[i] = row_status
        scores[i] = q.get("IntegerValue")
        locale_value = q.get("LocaleValue")
        if locale_value:
            loc = resolve_locale(locale_value.get("Country"), locale_value.get("Subdivision"))
            countries[i], subdivisions[i], country_names[i], subdivision_names[i], _ = loc
        grant_times[i] = to_utc_micros(q.get("GrantTime"))
    return pa.RecordBatch.from_arrays(
        [
            pa.array(type_ids, pa.string()),
            pa.array(workers, pa.string()),
            pa.array(statuses, pa.string()),
            pa.array(scores, pa.int32()),
            pa.array(countries, pa.string()),
            pa.array(subdivisions, pa.string()),
            pa.array(country_names, pa.string()),
            pa.array(subdivision_names, pa.string()),
            pa.array(grant_times, pa.int64()).view(UTC_TIMESTAMP),
            _repeat_time(extracted_at, n),
        ],
        schema=WORKER_QUALIFICATIONS,
    )


def count_qualifications(batch: pa.RecordBatch) -> NormaliseCounts:
    """What a batch of schema.WORKER_QUALIFICATIONS holds: rows by status, rows without a score,
    without a locale, and with a locale that is not valid ISO 3166 (a code without its name)."""
    country, subdivision = batch.column("country"), batch.column("subdivision")
    bad_country = pc.and_(pc.is_valid(country), pc.is_null(batch.column("country_name")))
    bad_sub = pc.and_(pc.is_valid(subdivision), pc.is_null(batch.column("subdivision_name")))
    granted = pc.sum(pc.equal(batch.column("status"), "Granted")).as_py() or 0
    return NormaliseCounts(
        rows=batch.num_rows,
        granted=granted,
        revoked=batch.num_rows - granted,
        null_scores=batch.column("integer_value").null_count,
        missing_locales=pc.sum(pc.and_(pc.is_null(country), pc.is_null(subdivision))).as_py() or 0,
        invalid_locales=pc.sum(pc.or_(bad_country, bad_sub)).as_py() or 0,
    )


def count_rows(batch: pa.RecordBatch) -> NormaliseCounts:
    """The counts of a table without statuses or locales: its rows."""
    return NormaliseCounts(rows=batch.num_rows)


def normalise_qualification_types(
    types: Sequence[Mapping[str, Any]], *, extracted_at: datetime
) -> pa.RecordBatch:
    """QualificationType dicts -> a batch of schema.QUALIFICATION_TYPES (AnswerKey is not kept)."""
    for t in types:
        if not t.get("QualificationTypeId"):
            raise MalformedRecordError(f"qualification type without QualificationTypeId: {t!r}")
    rows = [
        {
            "qualification_type_id": t["QualificationTypeId"],
            "name": t.get("Name"),
            "description": t.get("Description"),
            "keywords": t.get("Keywords"),
            "qualification_type_status": t.get("QualificationTypeStatus"),
            "creation_time": to_utc_micros(t.get("CreationTime")),
            "is_requestable": t.get("IsRequestable"),
            "auto_granted": t.get("AutoGranted"),
            "auto_granted_value": t.get("AutoGrantedValue"),
            "retry_delay_in_seconds": t.get("RetryDelayInSeconds"),
            "test_duration_in_seconds": t.get("TestDurationInSeconds"),
            "has_test": bool(t.get("Test")),
            "extracted_at": to_utc_micros(extracted_at),
        }
        for t in types
    ]
    return _batch_from_rows(rows, QUALIFICATION_TYPES)


def normalise_qualification_requests(
    requests: Sequence[Mapping[str, Any]],
    *,
    extracted_at: datetime,
    qualification_type_id: str | None = None,
) -> pa.RecordBatch:
    """QualificationRequest dicts -> a batch of schema.QUALIFICATION_REQUESTS."""
    rows = []
    for r in requests:
        type_id = r.get("QualificationTypeId", qualification_type_id)
        if not r.get("QualificationRequestId") or not r.get("WorkerId") or not type_id:
            raise MalformedRecordError(
                f"qualification request without id, worker or type: {dict(r)!r}"
            )
        if qualification_type_id is not None and type_id != qualification_type_id:
            raise MalformedRecordError(
                f"qualification request {r['QualificationRequestId']} is for type {type_id!r}, "
                f"expected {qualification_type_id!r}"
            )
        rows.append(
            {
                "qualification_request_id": r["QualificationRequestId"],
                "qualification_type_id": type_id,
                "worker_id": r["WorkerId"],
                "test": r.get("Test"),
                "answer": r.get("Answer"),
                "submit_time": to_utc_micros(r.get("SubmitTime")),
                "extracted_at": to_utc_micros(extracted_at),
            }
        )
    return _batch_from_rows(rows, QUALIFICATION_REQUESTS)


def _batch_from_rows(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.RecordBatch:
    # Timestamps arrive as int micros; build as int64 then view (a zero-copy cast, far cheaper per
    # page than a compute cast), so no datetime ever meets a zone.
    arrays = []
    for field in schema:
        values = [row[field.name] for row in rows]
        if pa.types.is_timestamp(field.type):
            arrays.append(pa.array(values, pa.int64()).view(field.type))
        else:
            arrays.append(pa.array(values, field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _repeat_time(at: datetime, n: int) -> pa.Array:
    return _repeated_micros(to_utc_micros(at), n)


@lru_cache(maxsize=8)
def _repeated_micros(micros: int | None, n: int) -> pa.Array:
    # One extraction stamps every page with the same time: build that column once per page size.
    return pa.array([micros] * n, pa.int64()).view(UTC_TIMESTAMP)
