"""Which MTurk environment and requester account a piece of shared state belongs to.

In the shared profile one bucket and one PostgreSQL database serve sandbox and production, and
several requester accounts, without any of them touching another's data. Every piece of shared state
is therefore keyed by a `Namespace` (environment, account label):

    lake              s3://BUCKET/PREFIX/lake/<environment>/<account>/<table>/...  (Hive layout)
    warehouse files   s3://BUCKET/PREFIX/warehouse/<environment>/<account>/
    DuckLake catalog  PostgreSQL schema qp_<environment>_<account> ('-' becomes '_')
    push lock         PostgreSQL advisory lock keyed by (environment, account)

Why a label and not an account id: no MTurk operation returns the requester's account id (the API
knows only the caller's credentials), so the account is named by a label. The operator should set
it explicitly (e.g. `acme-research`): that is the only way two access keys of one requester account
(two IAM users, or a key being rotated) share one warehouse and, more importantly, one push lock.
When no label is given, `default_account_label` derives one from the access key id: a salted
SHA-256 digest, so the label never contains the key (nor lets it be read back), and the same key
always lands in the same namespace. Its limit, stated where it is used: rotating the key, or a
second key of the same account, starts a new, empty namespace with its own push lock.

The local profile (a folder) is not namespaced: one folder serves one environment and account.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final

ENVIRONMENTS: Final = ("sandbox", "production")
ACCOUNT_LABEL_PATTERN: Final = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
"""1 to 40 characters: lower-case letters, digits and inner hyphens (valid in S3 keys, in PostgreSQL
identifiers once '-' becomes '_', and unambiguous in both)."""
_LABEL_SALT: Final = b"qual_pipeline requester account label\x00"


class NamespaceError(ValueError):
    """An environment or account label that cannot name shared state; the message says the fix."""


def default_account_label(access_key_id: str) -> str:
    """`key-` and 16 hex digits of a salted SHA-256 of `access_key_id`; never contains the key.

    Raises NamespaceError for an empty key id.
    """
    key = access_key_id.strip()
    if not key:
        raise NamespaceError(
            "No requester account label and no access key id to derive one from: set the "
            "account label (lower-case letters, digits and hyphens)."
        )
    return "key-" + hashlib.sha256(_LABEL_SALT + key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Namespace:
    """An MTurk environment ('sandbox' or 'production') and a requester account label."""

    environment: str
    account: str

    def __post_init__(self) -> None:
        if self.environment not in ENVIRONMENTS:
            raise NamespaceError(
                f"MTurk environment {self.environment!r} is not one of {', '.join(ENVIRONMENTS)}."
            )
        if not ACCOUNT_LABEL_PATTERN.match(self.account):
            raise NamespaceError(
                f"Requester account label {self.account!r} is not valid: use 1 to 40 lower-case "
                "letters, digits and inner hyphens, e.g. 'acme-research'."
            )

    @classmethod
    def for_requester(
        cls, environment: str, account: str | None = None, *, access_key_id: str | None = None
    ) -> Namespace:
        """The namespace of `account`, or of the label derived from `access_key_id` when no
        account label is given (see the module docstring for that default's limit)."""
        label = account if account else default_account_label(access_key_id or "")
        return cls(environment, label)

    @property
    def path(self) -> str:
        """`<environment>/<account>`: the namespace's part of object keys."""
        return f"{self.environment}/{self.account}"

    @property
    def sql_name(self) -> str:
        """`qp_<environment>_<account>`: a PostgreSQL identifier (at most 63 bytes)."""
        return f"qp_{self.environment}_{self.account.replace('-', '_')}"

    def __str__(self) -> str:
        return self.path
