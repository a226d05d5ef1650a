"""Deterministic, realistic seed data sets for demos, tests and benchmarks.

The same seed always writes the same file. Ids look like MTurk's (30-character type ids, worker
ids of 'A' and 12 or 13 letters and digits), scores and grant times spread like real ones, most
locales are valid ISO 3166 codes and a few are the odd ones real data holds. About 5% of grants
are revoked and about 1% of workers per type have a pending qualification request. The workers
section lists every worker the environment knows: the holders, those with a pending request, and
about 1% more who hold nothing yet, so any other id is unknown there, as a production worker id
is on the sandbox. The file is written as a stream, one record per line, so a million rows need
little memory, to a temporary file in the same folder renamed over the target only when complete.
"""

from __future__ import annotations

import json
import os
import random
import string
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from qual_pipeline.warehouse.export import _publish, _umask

MAX_WORKERS = 10_000_000
"""Most workers a data set may have: 10 times the extraction bench's largest (1,000,000)."""
MAX_TYPES = 10_000
"""Most qualification types a data set may have."""
MAX_QUALIFICATIONS = 50_000_000
"""Most workers x types (the qualifications' upper bound): at about 190 bytes a qualification
(10.3 MB for 55,668 in one run) a data set stays under about 10 GB, never filling a disk
unasked."""
MAX_SEED = 2**63 - 1

GENERATED_ACCESS_KEY_ID = "LMTKGENERATED0000001"
GENERATED_SECRET = "local-mturk-generated-secret-not-for-aws"

_ALPHABET = string.ascii_uppercase + string.digits
_SPACE_12 = 36**12
_SPACE_13 = 36**13
# Multipliers coprime with 36 make i -> (i * M + C) mod 36**n a bijection: unique ids, no set kept.
# Near 0.618 * 36**n (golden ratio), so consecutive indices land far apart.
_MULTIPLIER_12 = 2_928_480_718_504_553_473
_MULTIPLIER_13 = 105_425_305_866_163_912_705

_COUNTRIES = (
    ("US", 40),
    ("IN", 18),
    ("GB", 5),
    ("CA", 5),
    ("DE", 3),
    ("PH", 3),
    ("BR", 3),
    ("VE", 3),
    ("FR", 2),
    ("IT", 2),
    ("ES", 2),
    ("AU", 2),
    ("MX", 2),
    ("KE", 1),
    ("NG", 1),
    ("PK", 1),
)
_SUBDIVISIONS = {
    "US": ("CA", "TX", "FL", "NY", "WA", "PA", "OH", "MI", "GA", "NC", "IL", "OR"),
    "IN": ("TN", "KA", "MH", "DL", "KL", "WB", "UP"),
    "CA": ("ON", "QC", "BC", "AB"),
    "DE": ("BY", "BE", "NW"),
}
# What real exports hold now and then: lower case, a user-assigned code, 'UK' for GB,
# a subdivision that belongs to another country, a subdivision without its country's prefix.
_ODD_LOCALES = (
    {"Country": "us"},
    {"Country": "XX"},
    {"Country": "UK"},
    {"Country": "GB", "Subdivision": "WA"},
    {"Country": "US", "Subdivision": "ZZ"},
    {"Country": "in", "Subdivision": "ka"},
)
_TOPICS = (
    "Image labelling",
    "Transcription",
    "Sentiment",
    "Survey",
    "Audio tagging",
    "Data entry",
    "Content moderation",
    "Translation",
)
_START = 1_420_070_400.0  # 2015-01-01
_END = 1_748_736_000.0  # 2025-06-01


@dataclass(frozen=True)
class GeneratedCounts:
    workers: int  # holders of the first type
    known_workers: int  # the workers section: holders, requesters and idle workers
    types: int
    qualifications: int
    revoked: int
    requests: int
    type_ids: tuple[str, ...]


def worker_id(index: int) -> str:
    """The index-th worker id: unique for every index, 13 or 14 characters."""
    if index % 4 == 3:
        value, width = (index * _MULTIPLIER_13 + 71_234_567_890_123_456_789) % _SPACE_13, 13
    else:
        value, width = (index * _MULTIPLIER_12 + 1_608_670_034_521_992_331) % _SPACE_12, 12
    chars = []
    for _ in range(width):
        value, digit = divmod(value, 36)
        chars.append(_ALPHABET[digit])
    return "A" + "".join(reversed(chars))


def _type_id(rng: random.Random) -> str:
    return "3" + "".join(rng.choices(_ALPHABET, k=29))


def _locale(rng: random.Random) -> dict[str, str] | None:
    roll = rng.random()
    if roll < 0.3:
        return None
    if roll < 0.305:
        return dict(rng.choice(_ODD_LOCALES))
    (country,) = rng.choices([c for c, _ in _COUNTRIES], weights=[w for _, w in _COUNTRIES])
    locale = {"Country": country}
    subdivisions = _SUBDIVISIONS.get(country)
    if subdivisions and rng.random() < 0.6:
        locale["Subdivision"] = rng.choice(subdivisions)
    return locale


def _score(rng: random.Random, kind: str) -> int:
    if kind == "binary":
        return 1
    if kind == "percent":
        return max(0, min(100, round(rng.gauss(82, 12))))
    return rng.randint(0, 1000)


def _write_section(out: IO[str], name: str, records: Any, first: bool) -> None:
    out.write(("" if first else ",\n") + f'"{name}": [\n')
    sep = ""
    for record in records:
        out.write(sep + json.dumps(record, separators=(",", ":")))
        sep = ",\n"
    out.write("\n]")


def size_problem(workers: int, types: int) -> str | None:
    """What is wrong with a data set of `workers` x `types` (outside 1..MAX_WORKERS,
    1..MAX_TYPES, or more than MAX_QUALIFICATIONS together), naming the options; None if fine."""
    if not 1 <= workers <= MAX_WORKERS:
        return f"--workers {workers} is outside 1 to {MAX_WORKERS:,}"
    if not 1 <= types <= MAX_TYPES:
        return f"--types {types} is outside 1 to {MAX_TYPES:,}"
    if workers * types > MAX_QUALIFICATIONS:
        return (
            f"--workers {workers:,} x --types {types:,} is {workers * types:,} qualifications at "
            f"most, above the limit of {MAX_QUALIFICATIONS:,} (about 10 GB); use fewer workers "
            "or types"
        )
    return None


def generate(path: Path, *, workers: int, types: int, seed: int = 0) -> GeneratedCounts:
    """Write a --data document: the first type is held by every worker, the others by a share
    of them (20% to 100%, drawn from the seed). ValueError for a size `size_problem` refuses."""
    if problem := size_problem(workers, types):
        raise ValueError(problem)
    rng = random.Random(seed)
    type_ids = [_type_id(rng) for _ in range(types)]
    kinds = [rng.choice(("percent", "percent", "binary", "points")) for _ in range(types)]
    shares = [1.0] + [rng.uniform(0.2, 1.0) for _ in range(types - 1)]
    counts = {"qualifications": 0, "revoked": 0, "requests": 0}

    def qualification_types() -> Any:
        for n, (type_id, kind) in enumerate(zip(type_ids, kinds, strict=True)):
            yield {
                "QualificationTypeId": type_id,
                "Name": f"{_TOPICS[n % len(_TOPICS)]} {kind} #{n + 1}",
                "Description": f"Workers qualified for {_TOPICS[n % len(_TOPICS)].lower()} work",
                "Keywords": f"{_TOPICS[n % len(_TOPICS)].lower()},qualification",
                "QualificationTypeStatus": "Active",
                "CreationTime": round(rng.uniform(_START, _START + 86_400 * 365), 3),
                "Owner": GENERATED_ACCESS_KEY_ID,
            }

    def qualifications() -> Any:
        for type_id, kind, share in zip(type_ids, kinds, shares, strict=True):
            for index in range(workers):
                if share < 1.0 and rng.random() >= share:
                    continue
                record: dict[str, Any] = {
                    "QualificationTypeId": type_id,
                    "WorkerId": worker_id(index),
                    "IntegerValue": _score(rng, kind),
                    "GrantTime": round(rng.uniform(_START, _END), 3),
                    "Status": "Granted",
                }
                locale = _locale(rng)
                if locale is not None:
                    record["LocaleValue"] = locale
                if rng.random() < 0.05:
                    record["Status"] = "Revoked"
                    counts["revoked"] += 1
                counts["qualifications"] += 1
                yield record

    pending = max(1, workers // 100)
    idle = max(1, workers // 100)
    known = workers + pending + idle

    def known_workers() -> Any:
        # Holders are 0..workers-1, requesters the next `pending`, then idle workers.
        for index in range(known):
            yield {"WorkerId": worker_id(index)}

    def requests() -> Any:
        for type_id in type_ids:
            for n in range(pending):
                yield {
                    "QualificationRequestId": _type_id(rng),
                    "QualificationTypeId": type_id,
                    # Workers beyond the holders: they asked and are waiting.
                    "WorkerId": worker_id(workers + n),
                    "Answer": "<QuestionFormAnswers/>",
                    "SubmitTime": round(rng.uniform(_END - 86_400 * 30, _END), 3),
                }
                counts["requests"] += 1

    path.parent.mkdir(parents=True, exist_ok=True)
    # Written to a temporary file in the same folder and renamed over `path` only when whole, as
    # the website export does: a failure or a stop (SIGINT/SIGTERM) leaves the old file as it was.
    partial: Path | None = None
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
        partial = Path(name)
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would hide it from a group
        with open(fd, "w", encoding="utf-8") as out:
            out.write("{\n")
            requester = {
                "AccessKeyId": GENERATED_ACCESS_KEY_ID,
                "SecretAccessKey": GENERATED_SECRET,
                "AvailableBalance": "10000.00",
            }
            _write_section(out, "requesters", [requester], first=True)
            _write_section(out, "workers", known_workers(), first=False)
            _write_section(out, "qualification_types", qualification_types(), first=False)
            _write_section(out, "qualifications", qualifications(), first=False)
            _write_section(out, "qualification_requests", requests(), first=False)
            out.write("\n}\n")
            out.flush()
            os.fsync(out.fileno())
        _publish(partial, path, overwrite=True)
    finally:
        if partial is not None:
            partial.unlink(missing_ok=True)
    return GeneratedCounts(
        workers=workers,
        known_workers=known,
        types=types,
        qualifications=counts["qualifications"],
        revoked=counts["revoked"],
        requests=counts["requests"],
        type_ids=tuple(type_ids),
    )
