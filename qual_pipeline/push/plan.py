"""Build the push plan: the user's model diffed against the warehouse, set-based in DuckDB.

The plan is a TEMP table of the connection (push_plan for scores, grant_plan for request decisions)
with an action and a reason per row, so it works on a read-only connection and writes nothing to
the warehouse file. Python only reads counts from it and streams the changes out in batches; a
million desired rows never become Python objects. `inputs_fingerprint` hashes the model's output,
set-based and order-independent, so a saved plan can tell later whether its inputs changed.
"""

from __future__ import annotations

import hashlib
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
    """How many workers of one qualification type a plan changes, against how many hold it.

    score_changes: changes to the score of a worker who holds the type (updates; for requests,
    accepts that set a held score to another value). They count in `changes` too.
    """

    qualification_type_id: str
    changes: int
    workers: int
    score_changes: int = 0

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
    """Create push_audit if it does not exist yet, and add the columns newer versions record
    (idempotent; needs a writable connection)."""
    con.execute("DROP VIEW IF EXISTS temp.push_audit")  # prepare_model's stand-in, if any
    for statement in duckdb.extract_statements(read_sql("push_audit", sql_dir)):
        con.execute(statement)


def build_score_plan(
    con: duckdb.DuckDBPyConnection,
    *,
    inputs_dir: Path,
    sql_dir: Path = SQL_DIR,
    allow_grants: bool = False,
) -> PlanSummary:
    """Run sql/desired_scores.sql and sql/push_plan.sql into TEMP table push_plan; summarise it.

    Reads only: `con` may be read-only. PlanError names the input and the fix when the model fails.
    """
    return _build("scores", con, inputs_dir, sql_dir, allow_grants=allow_grants)


def build_request_plan(
    con: duckdb.DuckDBPyConnection,
    *,
    inputs_dir: Path,
    sql_dir: Path = SQL_DIR,
) -> PlanSummary:
    """Run sql/grant_decisions.sql and sql/grant_plan.sql into TEMP table grant_plan; summarise it.

    Reads push_audit (to skip requests an earlier push decided); a warehouse without it yet reads
    as if it were empty. `con` may be read-only.
    """
    return _build("requests", con, inputs_dir, sql_dir, allow_grants=False)


def prepare_model(
    con: duckdb.DuckDBPyConnection,
    kind: Kind,
    *,
    inputs_dir: Path,
    sql_dir: Path = SQL_DIR,
    allow_grants: bool = False,
) -> None:
    """Set the variables the SQL reads and create the user's model as a TEMP view."""
    _require_tables(con, REQUIRED_TABLES[kind])
    if kind == "requests" and not _table_exists(con, "push_audit"):
        # No push yet: decided requests come from an empty audit, without writing the warehouse.
        con.execute(
            "CREATE OR REPLACE TEMP VIEW push_audit AS SELECT CAST(NULL AS VARCHAR) AS run_id, "
            "CAST(NULL AS VARCHAR) AS kind, CAST(NULL AS VARCHAR) AS qualification_request_id, "
            "CAST(NULL AS VARCHAR) AS status WHERE false"
        )
    con.execute("SET VARIABLE inputs_dir = ?", [str(Path(inputs_dir).resolve())])
    con.execute("SET VARIABLE allow_grants = ?", [allow_grants])
    model, columns = USER_MODELS[kind]
    _create_model_view(con, model, columns, sql_dir, Path(inputs_dir))


def inputs_fingerprint(con: duckdb.DuckDBPyConnection, kind: Kind) -> str:
    """An order-independent fingerprint of the user model's output rows (after prepare_model).

    `<rows>-<hash>`: the row count, then a SHA-256 prefix of the XOR and the sum of DuckDB's hash
    of each row's columns, computed set-based. Editing the CSV or the model so that any row
    differs changes it; reordering rows does not.
    """
    model, columns = USER_MODELS[kind]
    row_hash = f"hash({', '.join(columns)})"
    try:
        rows, xor, total = con.execute(
            f"SELECT count(*), coalesce(bit_xor(h), 0), coalesce(sum(CAST(h AS HUGEINT)), 0) "
            f"FROM (SELECT {row_hash} AS h FROM {model})"
        ).fetchall()[0]
    except duckdb.Error as e:
        raise PlanError(f"sql/{model}.sql failed: {e}") from e
    digest = hashlib.sha256(f"{kind}|{rows}|{xor}|{total}".encode()).hexdigest()[:24]
    return f"{rows}-{digest}"


def _build(
    kind: Kind,
    con: duckdb.DuckDBPyConnection,
    inputs_dir: Path,
    sql_dir: Path,
    *,
    allow_grants: bool,
) -> PlanSummary:
    prepare_model(con, kind, inputs_dir=inputs_dir, sql_dir=sql_dir, allow_grants=allow_grants)
    model, _ = USER_MODELS[kind]
    table = PLAN_TABLES[kind]
    plan_sql = read_sql(table, sql_dir)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS\n{plan_sql}\n")
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
    score_change = "action = 'update'" if kind == "scores" else "effect = 'update'"
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW guarded_plan AS SELECT qualification_type_id, "
        f"action IN ({changes}) AS is_change, "
        f"coalesce(action IN ({changes}) AND {score_change}, false) AS is_score_change "
        f"FROM {table}"
    )
    per_type = tuple(
        TypeChanges(str(t), int(c), int(w), int(sc))
        for t, c, w, sc in con.execute(read_sql("push_guard", sql_dir)).fetchall()
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


def _main_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()
    }


def _table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return table in _main_tables(con)


def _require_tables(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...]) -> None:
    present = _main_tables(con)
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
