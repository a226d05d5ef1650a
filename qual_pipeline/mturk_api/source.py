"""Which MTurk a warehouse was refreshed from, and which one a plan or push targets.

An `MTurkSource` is the MTurk environment (`sandbox` or `production`) and the endpoint URL the
requests go to (the environment's real service when MTURK_ENDPOINT_URL is unset). A warehouse load
records the source of the refresh that ran it (`warehouse_loads.mturk_environment`,
`mturk_endpoint`); `plan` and `push` compare it with their own target, so scores read from the
sandbox or a local MTurk are never pushed to production, nor the other way round.

The endpoint is kept as scheme, host, port and path only: a user name, password, query or
fragment in MTURK_ENDPOINT_URL is dropped before it is recorded or shown (never credentials).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

from qual_pipeline.mturk_api.client import resolve_endpoint


def clean_endpoint(url: str) -> str:
    """`url` without user info, query or fragment, scheme and host lower-cased, no trailing '/':
    e.g. 'HTTP://user:pw@LocalHost:8443/' -> 'http://localhost:8443'."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))


_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^\s/?#\"'<>]*@")
"""A URL's scheme and user info (`http://user:password@`)."""


def shown_endpoint(url: str) -> str:
    """`url` for a message: `clean_endpoint(url)` when it is an http(s) URL with a host, else the
    text as given with anything that looks like user info (`user:pw@`) cut out (a URL the
    preflight refuses, e.g. 'user:pw@localhost:8443' without a scheme). Never a password."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() in ("http", "https") and parts.hostname and _has_valid_port(parts):
        return clean_endpoint(url)
    text = scrub_urls(url.strip())
    if "://" not in text:  # 'user:pw@host:port': the user info is all before the last '@'
        authority, slash, rest = text.partition("/")
        text = authority.rpartition("@")[2] + slash + rest
    return text


def _has_valid_port(parts: SplitResult) -> bool:
    """Whether `parts` has no port or a number for one ('http://h:notaport' has neither: cleaned,
    its port would be dropped from the message that refuses it)."""
    try:
        _ = parts.port  # a port that is not a number raises
    except ValueError:
        return False
    return True


def scrub_urls(text: str) -> str:
    """`text` (e.g. botocore's 'Could not connect to the endpoint URL: "http://u:pw@h/"') with
    the user info of every URL in it removed: 'http://h/'."""
    return _USERINFO.sub(lambda m: m.group("scheme") or "", text)


@dataclass(frozen=True)
class MTurkSource:
    """An MTurk environment and the (cleaned) endpoint URL its requests go to."""

    environment: str
    endpoint: str

    @classmethod
    def of(cls, environment: str, endpoint_url: str | None) -> MTurkSource:
        """The source of a client made with these settings (ConfigurationError for an unknown
        environment)."""
        return cls(environment, clean_endpoint(resolve_endpoint(environment, endpoint_url or None)))

    def describe(self) -> str:
        """e.g. `sandbox (https://mturk-requester-sandbox.us-east-1.amazonaws.com)`."""
        return f"{self.environment} ({self.endpoint})"
