"""Build the push plan: the user's model diffed against the warehouse, set-based in DuckDB.

The plan is a DuckDB table (push_plan for scores, grant_plan for request decisions) with an action
and a reason per row. Python only reads counts from it and, when pushing, streams the changes out
in batches; a million desired rows never become Python objects.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb

from qual_pipeline.warehouse.sql_files import SQL_DIR, sql_text

Kind = Literal["scores", "requests"]
SCORE_ACTIONS = ("update", "grant", "unchanged", "rejected")
REQUEST_ACTIONS = ("accept", "reject", "unchanged", "rejected")
CHANGE_ACTIONS: dict[str, tuple[str, ...]] = {
    "scores": ("update", "grant"),
    "requests": ("accept", "reject"),
}
PLAN_TABLES: dict[str, str] = {"scores": "push_plan", "requests": "grant_plan"}
USER_MODELS: dict[str, tuple[str, tuple[str, ...]]] = {
    "scores": ("desired_scores", ("qualification_type_id", "worker_id", "integer_value")),
    "requests": (
        "grant_decisions",
        ("qualification_request_id", "decision", "integer_value", "reason"),
    ),
}
REQUIRED_TABLES: dict[str, tuple[str, ...]] = {
    "scores": ("worker_qualifications", "qualification_types"),
    "requests": ("worker_qualifications", "qualification_types", "qualification_requests"),
}
_ORDER: dict[str, str] = {
    "scores": "qualification_type_id, worker_id",
    "requests": "qualification_request_id",
}
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


class PlanError(ValueError):
    """The plan cannot be built; the message names the input and the fix."""


@dataclass(frozen=True)
class TypeChanges:
    """How many workers of one qualification type a plan changes, against how many hold it."""

    qualification_type_id: str
    changes: int
    workers: int

    @property
    def share(self) -> float:
        """Changes as a share of the type's current holders; a type nobody holds counts as 100%."""
        return self.changes / self.workers if self.workers else 1.0


@dataclass(frozen=True)
class PlanSummary:
    """What a plan holds, in numbers: enough to print, guard and decide without the rows."""

    kind: Kind
    table: str
    counts: dict[str, int]
    rejected: dict[str, int] = field(default_factory=dict)
    per_type: tuple[TypeChanges, ...] = ()

    @property
    def changes(self) -> int:
        return sum(self.counts[a] for a in CHANGE_ACTIONS[self.kind])

    @property
    def rejected_rows(self) -> int:
        return self.counts.get("rejected", 0)


def read_sql(name: str, sql_dir: Path = SQL_DIR) -> str:
    try:
        return sql_text(name, sql_dir).strip().rstrip(";")
    except FileNotFoundError as e:
        raise PlanError(str(e)) from None


def ensure_push_audit(con: duckdb.DuckDBPyConnection, sql_dir: Path = SQL_DIR) -> None:
    """Create push_audit if it does not exist yet (idempotent)."""
    con.execute(read_sql("push_audit", sql_dir))


def build_score_plan(
    con: duckdb.DuckDBPyConnection,
    *,
    inputs_dir: Path,
    sql_dir: Path = SQL_DIR,
    allow_grants: bool = False,
    temporary: bool = True,
) -> PlanSummary:
    """Run sql/desired_scores.sql and sql/push_plan.sql into table push_plan; summarise it."""
    return _build("scores", con, inputs_dir, sql_dir, temporary, allow_grants=allow_grants)


def build_request_plan(
    con: duckdb.DuckDBPyConnection,
    *,
    inputs_dir: Path,
    sql_dir: Path = SQL_DIR,
    temporary: bool = True,
) -> PlanSummary:
    """Run sql/grant_decisions.sql and sql/grant_plan.sql into table grant_plan; summarise it.

    Needs push_audit (to skip requests an earlier push decided), so `con` must be writable the
    first time; the table is created empty when missing.
    """
    return _build("requests", con, inputs_dir, sql_dir, temporary, allow_grants=False)


def _build(
    kind: Kind,
    con: duckdb.DuckDBPyConnection,
    inputs_dir: Path,
    sql_dir: Path,
    temporary: bool,
    *,
    allow_grants: bool,
) -> PlanSummary:
    _require_tables(con, REQUIRED_TABLES[kind])
    if kind == "requests":
        ensure_push_audit(con, sql_dir)
    con.execute("SET VARIABLE inputs_dir = ?", [str(Path(inputs_dir).resolve())])
    con.execute("SET VARIABLE allow_grants = ?", [allow_grants])
    model, columns = USER_MODELS[kind]
    _create_model_view(con, model, columns, sql_dir, Path(inputs_dir))
    table = PLAN_TABLES[kind]
    plan_sql = read_sql(table, sql_dir)
    scope = "TEMP TABLE" if temporary else "TABLE"
    try:
        con.execute(f"CREATE OR REPLACE {scope} {table} AS\n{plan_sql}\n")
    except duckdb.Error as e:
        raise PlanError(f"sql/{table}.sql failed on the output of sql/{model}.sql: {e}") from e
    _refuse_duplicate_changes(con, kind)
    return summarise(con, kind, sql_dir)


def _refuse_duplicate_changes(con: duckdb.DuckDBPyConnection, kind: Kind) -> None:
    """Two changes for one key mean the warehouse holds a worker twice: never push from that."""
    table, key = PLAN_TABLES[kind], _ORDER[kind]
    changes = ", ".join(f"'{a}'" for a in CHANGE_ACTIONS[kind])
    (extra,) = con.execute(
        f"SELECT count(*) - count(DISTINCT ({key})) FROM {table} WHERE action IN ({changes})"
    ).fetchone()
    if extra:
        raise PlanError(
            f"{table} has {extra} duplicate change(s) for the same {key.replace(', ', ' and ')}: "
            "worker_qualifications holds a worker twice for one type. Refresh the warehouse "
            "and check duplicate_worker_qualifications before pushing"
        )


def summarise(con: duckdb.DuckDBPyConnection, kind: Kind, sql_dir: Path = SQL_DIR) -> PlanSummary:
    """Counts per action, rejected reasons and per-type change counts of a built plan table."""
    table = PLAN_TABLES[kind]
    actions = SCORE_ACTIONS if kind == "scores" else REQUEST_ACTIONS
    counts = dict.fromkeys(actions, 0)
    counts.update(dict(con.execute(f"SELECT action, count(*) FROM {table} GROUP BY 1").fetchall()))
    rejected = dict(
        con.execute(
            f"SELECT reason, count(*) FROM {table} WHERE action = 'rejected' "
            "GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
    )
    changes = ", ".join(f"'{a}'" for a in CHANGE_ACTIONS[kind])
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW guarded_plan AS SELECT qualification_type_id, "
        f"action IN ({changes}) AS is_change FROM {table}"
    )
    per_type = tuple(
        TypeChanges(str(t), int(c), int(w))
        for t, c, w in con.execute(read_sql("push_guard", sql_dir)).fetchall()
    )
    return PlanSummary(kind=kind, table=table, counts=counts, rejected=rejected, per_type=per_type)


def plan_rows(
    con: duckdb.DuckDBPyConnection,
    kind: Kind,
    *,
    actions: tuple[str, ...] | None = None,
    limit: int | None = None,
    batch_size: int = 10_000,
) -> Iterator[list[dict[str, Any]]]:
    """The plan's rows as dicts, in batches, in a stable order (type, worker or request id)."""
    table = PLAN_TABLES[kind]
    order = _ORDER[kind]
    where, params = "", []
    if actions:
        where = f"WHERE action IN ({', '.join('?' for _ in actions)})"
        params = list(actions)
    tail = f" LIMIT {int(limit)}" if limit is not None else ""
    cur = con.execute(f"SELECT * FROM {table} {where} ORDER BY {order}{tail}", params)
    names = [d[0] for d in cur.description]
    while batch := cur.fetchmany(batch_size):
        yield [dict(zip(names, row, strict=True)) for row in batch]


def _require_tables(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...]) -> None:
    present = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()
    }
    missing = [t for t in tables if t not in present]
    if missing:
        raise PlanError(
            f"the warehouse has no {', '.join(missing)}: load the warehouse first "
            "(extract and load your qualification types), then plan again"
        )


def _create_model_view(
    con: duckdb.DuckDBPyConnection,
    model: str,
    columns: tuple[str, ...],
    sql_dir: Path,
    inputs_dir: Path,
) -> None:
    if not _IDENTIFIER.match(model):
        raise PlanError(f"model name {model!r} is not a plain identifier")
    sql = read_sql(model, sql_dir)
    try:
        con.execute(f"CREATE OR REPLACE TEMP VIEW {model} AS\n{sql}\n")
        got = [r[0] for r in con.execute(f"DESCRIBE {model}").fetchall()]
    except duckdb.IOException as e:
        raise PlanError(
            f"sql/{model}.sql could not read its input: {e}\n"
            f"The shipped model reads {Path(inputs_dir) / (model + '.csv')}: create that file "
            "(see inputs/README.md), point --inputs-dir at the folder that holds it, "
            f"or edit sql/{model}.sql to read your own data."
        ) from e
    except duckdb.BinderException as e:
        raise PlanError(
            f"sql/{model}.sql failed: {e}\nThe shipped model reads "
            f"{Path(inputs_dir) / (model + '.csv')}, whose header must be: {','.join(columns)}"
        ) from e
    except duckdb.Error as e:
        raise PlanError(f"sql/{model}.sql failed: {e}") from e
    absent = [c for c in columns if c not in got]
    if absent:
        raise PlanError(
            f"sql/{model}.sql must return the columns {', '.join(columns)}; "
            f"missing: {', '.join(absent)} (it returns {', '.join(got)})"
        )
