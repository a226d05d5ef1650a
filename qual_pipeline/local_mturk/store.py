"""The local MTurk's state in SQLite: in memory by default, or a file that survives restarts.

One connection guarded by a lock serves every request thread (SQLite serialises writers anyway).
Rows come out already in the API's field names so the operations only add their semantics. The
schema lives in state.sql; the queries here are one-liners.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

GRANTED, REVOKED = 0, 1
STATUS_NAMES = ("Granted", "Revoked")
STATUS_CODES = {"Granted": GRANTED, "Revoked": REVOKED}
DEFAULT_BALANCE = "10000.00"
ENVIRONMENTS = ("sandbox", "production")
DEFAULT_ENVIRONMENT = "sandbox"

# MTurk's own types: readable by every requester, owned by none, not requestable.
SYSTEM_TYPES: tuple[tuple[str, str, str], ...] = (
    ("00000000000000000071", "Worker_Locale", "The Worker's location, as a country and region."),
    ("00000000000000000060", "Worker_Adult", "The Worker has agreed to see adult content."),
    ("00000000000000000040", "Worker_NumberHITsApproved", "Number of HITs approved."),
    ("000000000000000000L0", "Worker_PercentAssignmentsApproved", "Share of work approved."),
)
# Masters has one id per environment; each environment lists only its own.
MASTERS = {
    "production": ("2F1QJWKUDD8XADTFD2Q0G6UTO95ALH", "Masters", "Masters on production."),
    "sandbox": ("2ARFPLSP75KLA8M8DH1HTEQVJT3SY6", "Masters", "Masters on the sandbox."),
}


class EnvironmentMismatch(ValueError):
    """A state file opened for another environment than the one it was created for."""


_TYPE_COLUMNS = (
    "qualification_type_id, owner, name, description, keywords, qualification_type_status, "
    "creation_time, test, answer_key, test_duration_in_seconds, retry_delay_in_seconds, "
    "is_requestable, auto_granted, auto_granted_value"
)
_TYPE_FIELDS = (
    "QualificationTypeId",
    "Owner",
    "Name",
    "Description",
    "Keywords",
    "QualificationTypeStatus",
    "CreationTime",
    "Test",
    "AnswerKey",
    "TestDurationInSeconds",
    "RetryDelayInSeconds",
    "IsRequestable",
    "AutoGranted",
    "AutoGrantedValue",
)
_BOOL_FIELDS = {"IsRequestable", "AutoGranted"}
_QUAL_COLUMNS = "worker_id, status, integer_value, grant_time, country, subdivision"
_REQUEST_COLUMNS = (
    "request_seq, qualification_request_id, qualification_type_id, worker_id, test, answer, "
    "submit_time"
)
BATCH = 10_000


def _schema() -> str:
    return resources.files(__package__).joinpath("state.sql").read_text()


def now() -> float:
    """Epoch seconds with millisecond precision, as MTurk reports times."""
    return round(time.time(), 3)


def qualification(type_id: str, row: tuple[Any, ...]) -> dict[str, Any]:
    """A Qualification in API field names from (worker_id, status, value, time, country, sub)."""
    worker_id, status, value, grant_time, country, subdivision = row
    out: dict[str, Any] = {"QualificationTypeId": type_id, "WorkerId": worker_id}
    if grant_time is not None:
        out["GrantTime"] = grant_time
    if value is not None:
        out["IntegerValue"] = value
    if country is not None:
        locale = {"Country": country}
        if subdivision is not None:
            locale["Subdivision"] = subdivision
        out["LocaleValue"] = locale
    out["Status"] = STATUS_NAMES[status]
    return out


def _type(row: tuple[Any, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field, value in zip(_TYPE_FIELDS, row, strict=True):
        if value is not None:
            out[field] = bool(value) if field in _BOOL_FIELDS else value
    return out


def _request(row: tuple[Any, ...]) -> dict[str, Any]:
    _, request_id, type_id, worker_id, test, answer, submit_time = row
    out = {
        "QualificationRequestId": request_id,
        "QualificationTypeId": type_id,
        "WorkerId": worker_id,
        "Test": test,
        "Answer": answer,
        "SubmitTime": submit_time,
    }
    return {k: v for k, v in out.items() if v is not None}


class Store:
    """All state of one local MTurk. Every method is atomic and thread-safe.

    `environment` ('sandbox' or 'production') is fixed when the state is created; None opens an
    existing state as it is, or creates a sandbox. Raises EnvironmentMismatch when an existing
    state belongs to the other environment.
    """

    def __init__(self, path: str | Path | None = None, environment: str | None = None) -> None:
        if environment is not None and environment not in ENVIRONMENTS:
            raise ValueError(f"environment must be sandbox or production, got {environment!r}")
        self.path = str(path) if path is not None else ":memory:"
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if self.path != ":memory:":
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(_schema())
        self._secrets: dict[str, str] = dict(
            self.conn.execute("SELECT access_key_id, secret_access_key FROM requesters")
        )
        self.is_new = self._meta("created") is None
        stored = self._meta("environment")
        if stored is not None and environment is not None and stored != environment:
            self.conn.close()
            raise EnvironmentMismatch(
                f"the state {self.path} belongs to the {stored} environment, not {environment}; "
                f"serve it with --environment {stored}, or use a new state file"
            )
        self.environment = stored or environment or DEFAULT_ENVIRONMENT
        with self.transaction():
            if self.is_new:
                self.conn.execute("INSERT INTO meta VALUES ('created', ?)", (str(now()),))
            if stored is None:
                # New, or created before environments existed: keep only this one's Masters.
                self.conn.execute("INSERT INTO meta VALUES ('environment', ?)", (self.environment,))
                for type_id, _, _ in MASTERS.values():
                    self._run(
                        "DELETE FROM qualification_types WHERE qualification_type_id = ? "
                        "AND owner IS NULL",
                        (type_id,),
                    )
                system = [MASTERS[self.environment]]
                if self.is_new:
                    system[:0] = SYSTEM_TYPES
                self.insert_types(
                    {
                        "QualificationTypeId": type_id,
                        "Name": name,
                        "Description": description,
                        "QualificationTypeStatus": "Active",
                        "CreationTime": 1_483_228_800.0,
                        "IsRequestable": False,
                        "AutoGranted": False,
                    }
                    for type_id, name, description in system
                )
        self._workers_listed = self._meta("workers_listed") is not None

    def _meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit; nested uses join the outer transaction."""
        with self.lock:
            if self.conn.in_transaction:
                yield self.conn
                return
            self.conn.execute("BEGIN")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        with self.lock:
            row: tuple[Any, ...] | None = self.conn.execute(sql, args).fetchone()
            return row

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.lock:
            return self.conn.execute(sql, args).fetchall()

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        with self.lock:
            return self.conn.execute(sql, args).rowcount

    # Requesters -----------------------------------------------------------------------------

    def secret_for(self, access_key_id: str) -> str | None:
        return self._secrets.get(access_key_id)

    def put_requester(
        self, access_key_id: str, secret: str, balance: str = DEFAULT_BALANCE
    ) -> None:
        with self.lock:
            self._run(
                "INSERT OR REPLACE INTO requesters VALUES (?, ?, ?)",
                (access_key_id, secret, balance),
            )
            self._secrets[access_key_id] = secret

    def balance(self, access_key_id: str) -> str:
        row = self._one(
            "SELECT available_balance FROM requesters WHERE access_key_id = ?", (access_key_id,)
        )
        return str(row[0]) if row else DEFAULT_BALANCE

    def requester_ids(self) -> list[str]:
        return [r[0] for r in self._all("SELECT access_key_id FROM requesters")]

    # Qualification types ----------------------------------------------------------------------

    def get_type(self, type_id: str) -> dict[str, Any] | None:
        row = self._one(
            f"SELECT {_TYPE_COLUMNS} FROM qualification_types WHERE qualification_type_id = ?",
            (type_id,),
        )
        return _type(row) if row else None

    def insert_type(self, fields: dict[str, Any]) -> None:
        self.insert_types([fields])

    def insert_types(self, types: Iterable[dict[str, Any]], replace: bool = False) -> None:
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        marks = ", ".join("?" * len(_TYPE_FIELDS))
        rows = (tuple(t.get(f) for f in _TYPE_FIELDS) for t in types)
        with self.transaction():
            self.conn.executemany(
                f"{verb} INTO qualification_types ({_TYPE_COLUMNS}) VALUES ({marks})", rows
            )

    def update_type(self, type_id: str, fields: dict[str, Any]) -> None:
        current = self.get_type(type_id)
        if current is None:
            return
        current.update(fields)
        with self.transaction():
            self._run("DELETE FROM qualification_types WHERE qualification_type_id = ?", (type_id,))
            self.insert_type(current)

    def type_name_taken(self, owner: str, name: str) -> bool:
        return (
            self._one(
                "SELECT 1 FROM qualification_types WHERE owner = ? AND name = ?", (owner, name)
            )
            is not None
        )

    def delete_type(self, type_id: str) -> None:
        """The type, its qualifications and its pending requests disappear."""
        with self.transaction():
            self._run("DELETE FROM qualifications WHERE qualification_type_id = ?", (type_id,))
            self._run(
                "DELETE FROM qualification_requests WHERE qualification_type_id = ?", (type_id,)
            )
            self._run("DELETE FROM qualification_types WHERE qualification_type_id = ?", (type_id,))

    def page_types(
        self,
        caller: str,
        *,
        owned_only: bool,
        requestable_only: bool,
        query: str | None,
        after: str | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Types visible to `caller`: their own, others' active ones and (unless requestable
        only) MTurk's system types, in id order after `after`."""
        where = ["qualification_type_id > ?"]
        args: list[Any] = [after or ""]
        if owned_only:
            where.append("owner = ?")
            args.append(caller)
        else:
            where.append("(owner = ? OR qualification_type_status = 'Active')")
            args.append(caller)
        if requestable_only:
            where.append("is_requestable = 1")
        if query:
            where.append(
                "(instr(lower(name), ?) OR instr(lower(description), ?) "
                "OR instr(lower(coalesce(keywords, '')), ?))"
            )
            args += [query.lower()] * 3
        rows = self._all(
            f"SELECT {_TYPE_COLUMNS} FROM qualification_types WHERE {' AND '.join(where)} "
            "ORDER BY qualification_type_id LIMIT ?",
            (*args, limit),
        )
        return [_type(r) for r in rows]

    # Qualifications ---------------------------------------------------------------------------

    def get_qualification(self, type_id: str, worker_id: str) -> dict[str, Any] | None:
        row = self._one(
            f"SELECT {_QUAL_COLUMNS} FROM qualifications "
            "WHERE qualification_type_id = ? AND worker_id = ?",
            (type_id, worker_id),
        )
        return qualification(type_id, row) if row else None

    def put_qualifications(self, rows: Iterable[tuple[Any, ...]]) -> int:
        """Insert or replace rows of (type, worker, status, value, time, country, subdivision)."""
        count = 0
        with self.lock:
            # Into an empty table, building the paging index once at the end is faster than
            # keeping it up to date row by row.
            bulk = self._one("SELECT 1 FROM qualifications LIMIT 1") is None
            if bulk:
                self.conn.execute("DROP INDEX IF EXISTS qualifications_by_status")
            try:
                batch: list[tuple[Any, ...]] = []
                for row in rows:
                    batch.append(row)
                    if len(batch) >= BATCH:
                        count += self._put_batch(batch)
                        batch = []
                if batch:
                    count += self._put_batch(batch)
            finally:
                if bulk:
                    self.conn.executescript(_schema())
        return count

    def _put_batch(self, batch: list[tuple[Any, ...]]) -> int:
        with self.transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO qualifications VALUES (?,?,?,?,?,?,?)", batch)
        return len(batch)

    def set_qualification(
        self,
        type_id: str,
        worker_id: str,
        *,
        status: int,
        integer_value: int | None,
        grant_time: float | None,
    ) -> None:
        """Grant, regrant or rescore: keeps an existing LocaleValue."""
        with self.lock:
            self._run(
                "INSERT INTO qualifications VALUES (?, ?, ?, ?, ?, NULL, NULL) "
                "ON CONFLICT (qualification_type_id, worker_id) DO UPDATE SET "
                "status = excluded.status, integer_value = excluded.integer_value, "
                "grant_time = coalesce(excluded.grant_time, grant_time)",
                (type_id, worker_id, status, integer_value, grant_time),
            )

    def set_status(self, type_id: str, worker_id: str, status: int) -> None:
        self._run(
            "UPDATE qualifications SET status = ? "
            "WHERE qualification_type_id = ? AND worker_id = ?",
            (status, type_id, worker_id),
        )

    def delete_qualification(self, type_id: str, worker_id: str) -> bool:
        return (
            self._run(
                "DELETE FROM qualifications WHERE qualification_type_id = ? AND worker_id = ?",
                (type_id, worker_id),
            )
            > 0
        )

    def page_qualifications(
        self, type_id: str, status: int, after: str | None, limit: int
    ) -> list[dict[str, Any]]:
        rows = self._all(
            f"SELECT {_QUAL_COLUMNS} FROM qualifications WHERE qualification_type_id = ? "
            "AND status = ? AND worker_id > ? ORDER BY worker_id LIMIT ?",
            (type_id, status, after or "", limit),
        )
        return [qualification(type_id, r) for r in rows]

    def count_qualifications(self, type_id: str | None = None) -> int:
        if type_id is None:
            row = self._one("SELECT count(*) FROM qualifications")
        else:
            row = self._one(
                "SELECT count(*) FROM qualifications WHERE qualification_type_id = ?", (type_id,)
            )
        return int(row[0]) if row else 0

    def missing_types(self) -> list[str]:
        """Type ids that qualifications or requests refer to but that do not exist."""
        rows = self._all(
            "SELECT DISTINCT qualification_type_id FROM (SELECT DISTINCT qualification_type_id "
            "FROM qualifications UNION SELECT qualification_type_id FROM qualification_requests) "
            "WHERE qualification_type_id NOT IN (SELECT qualification_type_id "
            "FROM qualification_types) LIMIT 5"
        )
        return [r[0] for r in rows]

    def unknown_owners(self) -> list[str]:
        rows = self._all(
            "SELECT DISTINCT owner FROM qualification_types WHERE owner IS NOT NULL "
            "AND owner NOT IN (SELECT access_key_id FROM requesters) LIMIT 5"
        )
        return [r[0] for r in rows]

    # Workers of the environment ------------------------------------------------------------

    @property
    def workers_listed(self) -> bool:
        """Whether the environment's workers were listed; if not, every well-formed id exists."""
        return self._workers_listed

    def put_workers(self, worker_ids: Iterable[str]) -> None:
        """Add workers to the environment's list (and from now on know only listed ones)."""
        with self.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('workers_listed', '1')")
            conn.executemany("INSERT OR IGNORE INTO workers VALUES (?)", ((w,) for w in worker_ids))
            self._workers_listed = True

    def worker_exists(self, worker_id: str) -> bool:
        """Whether MTurk knows this worker in this environment."""
        if not self._workers_listed:
            return True
        return self._one("SELECT 1 FROM workers WHERE worker_id = ?", (worker_id,)) is not None

    def unlisted_workers(self) -> list[str]:
        """Workers of qualifications or requests missing from the listed workers (at most 5)."""
        if not self._workers_listed:
            return []
        rows = self._all(
            "SELECT worker_id FROM qualifications WHERE worker_id NOT IN "
            "(SELECT worker_id FROM workers) UNION SELECT worker_id FROM qualification_requests "
            "WHERE worker_id NOT IN (SELECT worker_id FROM workers) LIMIT 5"
        )
        return [r[0] for r in rows]

    def worker_known(self, worker_id: str) -> bool:
        """A worker who has worked for requesters here: one who holds or has requested any
        qualification (NotifyWorkers reaches only them)."""
        return (
            self._one(
                "SELECT 1 FROM qualifications WHERE worker_id = ? UNION ALL "
                "SELECT 1 FROM qualification_requests WHERE worker_id = ? LIMIT 1",
                (worker_id, worker_id),
            )
            is not None
        )

    # Qualification requests -------------------------------------------------------------------

    def insert_requests(self, requests: Iterable[dict[str, Any]]) -> None:
        rows = (
            (
                r["QualificationRequestId"],
                r["QualificationTypeId"],
                r["WorkerId"],
                r.get("Test"),
                r.get("Answer"),
                r["SubmitTime"],
            )
            for r in requests
        )
        with self.transaction():
            self.conn.executemany(
                "INSERT OR REPLACE INTO qualification_requests (qualification_request_id, "
                "qualification_type_id, worker_id, test, answer, submit_time) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )

    def get_request(self, request_id: str) -> dict[str, Any] | None:
        row = self._one(
            f"SELECT {_REQUEST_COLUMNS} FROM qualification_requests "
            "WHERE qualification_request_id = ?",
            (request_id,),
        )
        return _request(row) if row else None

    def delete_request(self, request_id: str) -> bool:
        return (
            self._run(
                "DELETE FROM qualification_requests WHERE qualification_request_id = ?",
                (request_id,),
            )
            > 0
        )

    def page_requests(
        self, owner: str, type_id: str | None, after: int | None, limit: int
    ) -> list[tuple[int, dict[str, Any]]]:
        """(sequence, request) pairs of `owner`'s types, optionally one type, after `after`."""
        sql = (
            f"SELECT {_REQUEST_COLUMNS} FROM qualification_requests WHERE request_seq > ? "
            "AND qualification_type_id IN (SELECT qualification_type_id FROM qualification_types "
            "WHERE owner = ?)"
        )
        args: tuple[Any, ...] = (after or 0, owner)
        if type_id is not None:
            sql += " AND qualification_type_id = ?"
            args += (type_id,)
        rows = self._all(sql + " ORDER BY request_seq LIMIT ?", (*args, limit))
        return [(r[0], _request(r)) for r in rows]

    # Worker blocks ----------------------------------------------------------------------------

    def put_block(self, requester: str, worker_id: str, reason: str) -> None:
        self._run(
            "INSERT OR REPLACE INTO worker_blocks VALUES (?, ?, ?)", (requester, worker_id, reason)
        )

    def delete_block(self, requester: str, worker_id: str) -> bool:
        return (
            self._run(
                "DELETE FROM worker_blocks WHERE requester = ? AND worker_id = ?",
                (requester, worker_id),
            )
            > 0
        )

    def page_blocks(self, requester: str, after: str | None, limit: int) -> list[dict[str, str]]:
        rows = self._all(
            "SELECT worker_id, reason FROM worker_blocks WHERE requester = ? AND worker_id > ? "
            "ORDER BY worker_id LIMIT ?",
            (requester, after or "", limit),
        )
        return [{"WorkerId": w, "Reason": r} for w, r in rows]

    # Notifications ----------------------------------------------------------------------------

    def record_notifications(
        self, operation: str, worker_ids: Iterable[str], subject: str, text: str
    ) -> None:
        sent = now()
        with self.transaction():
            self.conn.executemany(
                "INSERT INTO notifications (operation, worker_id, subject, message_text, "
                "sent_time) VALUES (?, ?, ?, ?, ?)",
                ((operation, w, subject, text, sent) for w in worker_ids),
            )

    def notifications(self) -> list[dict[str, Any]]:
        rows = self._all(
            "SELECT operation, worker_id, subject, message_text, sent_time FROM notifications "
            "ORDER BY seq"
        )
        return [
            {"Operation": o, "WorkerId": w, "Subject": s, "MessageText": t, "SentTime": at}
            for o, w, s, t, at in rows
        ]
