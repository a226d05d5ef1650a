"""PostgreSQL connection strings in messages: named, never with their password."""

from __future__ import annotations

import psycopg2
import psycopg2.extensions


def redact_dsn(dsn: str) -> str:
    """The DSN without its password, for messages: `postgresql://user@host:port/db`."""
    try:
        params = psycopg2.extensions.parse_dsn(dsn)
    except psycopg2.ProgrammingError:
        return "(an unparsable PostgreSQL DSN)"
    user = params.get("user", "")
    host = params.get("host", "")
    port = params.get("port", "")
    database = params.get("dbname", "")
    return f"postgresql://{user}{'@' if user else ''}{host}{':' if port else ''}{port}/{database}"


def scrub(text: str, dsn: str) -> str:
    """`text` (e.g. a driver's error message) with the DSN redacted and its password masked."""
    text = text.replace(dsn, redact_dsn(dsn))
    try:
        password = psycopg2.extensions.parse_dsn(dsn).get("password")
    except psycopg2.ProgrammingError:
        password = None
    return text.replace(password, "***") if password else text


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (drivers add hints on further lines)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
