"""The history over generated refreshes equals an SCD2 model of what the README says it holds:
types first seen in a later load next to types merged in it, score, status (revocation) and locale
changes, workers gone and back, in five loads."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from support.stores import read_warehouse, stores_of
from warehouse_lake import T1, worker, write_worker_qualifications

from qual_pipeline.warehouse import load_warehouse

TYPES = [f"3GENERATED{i:018d}" for i in range(6)]
FIRST_LOAD = {TYPES[0]: 0, TYPES[1]: 0, TYPES[2]: 0, TYPES[3]: 1, TYPES[4]: 2, TYPES[5]: 2}
"""The load each type is first extracted in: later types are first sightings in a merging load."""
LOADS = 5
PLACES = [(None, None), ("US", "US-WA"), ("IN", "IN-KA"), ("DE", "DE-BE")]
Fields = tuple[str, int | None, str | None, str | None]


def snapshots(seed: int) -> list[dict[str, dict[str, Fields]]]:
    """Per load, per type extracted in it: worker -> (status, score, country, subdivision)."""
    rng = random.Random(seed)
    held: dict[str, dict[str, Fields]] = {t: {} for t in TYPES}
    out = []
    for load in range(LOADS):
        extracted: dict[str, dict[str, Fields]] = {}
        for t in TYPES:
            if FIRST_LOAD[t] > load:
                continue
            now = held[t]
            if not now:
                now.update(
                    {f"A{i:05d}": ("Granted", rng.randint(0, 9), None, None) for i in range(30)}
                )
            else:
                for w in list(now):
                    status, score, country, subdivision = now[w]
                    roll = rng.random()
                    if roll < 0.15:
                        now[w] = (
                            status,
                            rng.choice([None, rng.randint(0, 9)]),
                            country,
                            subdivision,
                        )
                    elif roll < 0.25:
                        now[w] = (
                            "Revoked" if status == "Granted" else "Granted",
                            score,
                            country,
                            subdivision,
                        )
                    elif roll < 0.32:
                        now[w] = (status, score, *rng.choice(PLACES))
                    elif roll < 0.40:
                        del now[w]  # gone; may come back below
                for i in range(40):  # returns and new workers
                    w = f"A{i:05d}"
                    if w not in now and rng.random() < 0.2:
                        now[w] = ("Granted", rng.randint(0, 9), None, None)
            extracted[t] = dict(now)
        out.append(extracted)
    return out


def model(loads: list[dict[str, dict[str, Fields]]], times: list[datetime]) -> tuple[list, list]:
    """The history rows an SCD2 merge keeps, and each load's counts of versions by change."""
    history: list[list] = []
    open_at: dict[tuple[str, str], int] = {}
    gone: set[tuple[str, str]] = set()
    counts = []
    for extracted, at in zip(loads, times, strict=True):
        changes: Counter[str] = Counter()
        for t, observed in extracted.items():
            for w, fields in observed.items():
                key = (t, w)
                if key in open_at:
                    version = history[open_at[key]]
                    before = tuple(version[2:6])
                    if before == fields:
                        continue
                    kinds = [
                        name
                        for name, differs in (
                            ("score", before[1] != fields[1]),
                            ("status", before[0] != fields[0]),
                            ("locale", before[2:] != fields[2:]),
                        )
                        if differs
                    ]
                    version[7], version[9] = at, "superseded"
                    change = ",".join(kinds)
                else:
                    change = "returned" if key in gone else "new"
                changes[change] += 1
                open_at[key] = len(history)
                history.append([t, w, *fields, at, None, change, None, "refresh"])
            for key in [k for k in open_at if k[0] == t and k[1] not in observed]:
                version = history[open_at.pop(key)]
                version[7], version[9] = at, "gone"
                gone.add(key)
                changes["gone"] += 1
        counts.append(dict(changes))
    return [tuple(v) for v in history], counts


def test_generated_refreshes_keep_the_history_of_the_model(tmp_path: Path, merge_path: str) -> None:
    data_dir = tmp_path / "data"
    loads = snapshots(seed=16)
    times = [T1 + timedelta(days=i) for i in range(LOADS)]
    got_counts = []
    for extracted, at in zip(loads, times, strict=True):
        for t, observed in extracted.items():
            rows = [
                worker(w, score, status, country=country, subdivision=subdivision)
                for w, (status, score, country, subdivision) in sorted(observed.items())
            ]
            write_worker_qualifications(data_dir, t, rows, at)
        got_counts.append(load_warehouse(stores_of(data_dir)).changes)
    expected, counts = model(loads, times)
    con = read_warehouse(data_dir)
    try:
        got = con.execute(
            "SELECT qualification_type_id, worker_id, status, integer_value, country, "
            "subdivision, valid_from, valid_to, change, end_reason, source "
            "FROM worker_qualification_history"
        ).fetchall()
    finally:
        con.close()
    assert got_counts == counts
    assert {"new", "returned", "gone", "score", "status", "locale"} <= set().union(*counts)
    assert len(got) == len(expected)
    assert Counter(got) == Counter(expected)
