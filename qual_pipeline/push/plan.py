"""Build the push plan: the user's model diffed against the warehouse, set-based in DuckDB.

The plan is a TEMP table of the connection (push_plan for scores, grant_plan for request decisions)
with an action and a reason per row, so it works on a read-only connection and writes nothing to
the warehouse file. Python only reads counts from it and streams the changes out in batches; a
million desired rows never become Python objects. `inputs_fingerprint` hashes the inputs' rows,
set-based and order-independent, so a saved plan can tell later whether its inputs changed.

What the plan is built from (`prepare_model`): the user's model (sql/desired_scores.sql or
sql/grant_decisions.sql, which may read the CSV in the inputs folder through the tables
desired_scores_csv / grant_decisions_csv that push.inputs loads), or, for scores, the requester
website's worker CSV. Either way it becomes one TEMP view in fixed columns (desired_score_rows or
grant_decision_rows) that the plan SQL reads.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb

from qual_pipeline.push import inputs as inputs_module
from qual_pipeline.push.inputs import (
    InputError,
    create_whole_number_macros,
    load_csv_table,
    load_website_csv,
)
from qual_pipeline.settings import ConfigurationError
from qual_pipeline.stores.warehouse import shown_memory_limit
from qual_pipeline.warehouse.sql_files import SQL_DIR, sql_source, sql_text

Kind = Literal["scores", "requests"]
SCORE_ACTIONS = ("update", "grant", "revoke", "unchanged", "rejected")
REQUEST_ACTIONS = ("accept", "reject", "unchanged", "rejected")
CHANGE_ACTIONS: dict[str, tuple[str, ...]] = {
    "scores": ("update", "grant", "revoke"),
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
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "scores": ("action", "reason"),
    "requests": (),
}
"""Columns the user's model may return besides the required ones (NULL when it does not)."""
SOURCE_COLUMNS = ("source_line", "source_column", "input_problem")
"""Where each input row comes from in the file the user edited, and what is wrong with it as a
whole; NULL when the model does not say."""
INPUT_VIEWS: dict[str, str] = {"scores": "desired_score_rows", "requests": "grant_decision_rows"}
CSV_FILES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "scores": (
        "desired_scores",
        ("qualification_type_id", "worker_id", "integer_value"),
        ("action", "reason"),
    ),
    "requests": (
        "grant_decisions",
        ("qualification_request_id", "decision"),
        ("integer_value", "reason"),
    ),
}
"""Per kind: the CSV in the inputs folder (<name>.csv, loaded as TEMP table <name>_csv when the
model names that table), its required and its optional columns."""
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


class InputFileError(PlanError, ConfigurationError):
    """An input file given to plan or push (the desired scores, the decisions, the website CSV)
    cannot be used as it is: bad usage (exit 2); the message names the file and the fix.
    `missing`: the file's path when it does not exist (else None)."""

    def __init__(self, message: str, missing: Path | None = None) -> None:
        super().__init__(message)
        self.missing = missing


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
    revokes: int = 0
    """Revocations among the changes (DisassociateQualificationFromWorker)."""

    @property
    def share(self) -> float:
        """Changes as a share of the type's current holders; a type nobody holds counts as 100%."""
        return self.changes / self.workers if self.workers else 1.0

    @property
    def revoke_share(self) -> float:
        """Revocations as a share of the type's current holders (100% when nobody holds it)."""
        return self.revokes / self.workers if self.workers else 1.0


@dataclass(frozen=True)
class PlanInputs:
    """What a plan is built from, as the user knows it.

    source: the file the user edited and the model that read it, e.g.
    `inputs/desired_scores.csv (read by sql/desired_scores.sql)` or `the website CSV workers.csv`.
    notes: lines about the input the plan does not apply (block-status cells of a website CSV).
    """

    source: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlanSummary:
    """What a plan holds, in numbers: enough to print, guard and decide without the rows.

    rejected: reason -> rejected rows; rejected_examples: reason -> where its first row is and
    its value as written (`line 7: '85.5'`).
    """

    kind: Kind
    table: str
    counts: dict[str, int]
    rejected: dict[str, int] = field(default_factory=dict)
    per_type: tuple[TypeChanges, ...] = ()
    rejected_examples: dict[str, str] = field(default_factory=dict)
    inputs: PlanInputs = field(default_factory=lambda: PlanInputs(""))

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


def build_score_plan(
    con: duckdb.DuckDBPyConnection,
    *,
    inputs_dir: Path,
    sql_dir: Path = SQL_DIR,
    allow_grants: bool = False,
    allow_revokes: bool = False,
    website_csv: Path | None = None,
) -> PlanSummary:
    """Run sql/desired_scores.sql (or read `website_csv`, the requester website's worker CSV) and
    sql/push_plan.sql into TEMP table push_plan; summarise it.

    Reads only: `con` may be read-only. PlanError names the input and the fix when the model or
    the file fails.
    """
    return _build(
        "scores",
        con,
        inputs_dir,
        sql_dir,
        allow_grants=allow_grants,
        allow_revokes=allow_revokes,
        website_csv=website_csv,
    )


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
    return _build("requests", con, inputs_dir, sql_dir)


def prepare_model(
    con: duckdb.DuckDBPyConnection,
    kind: Kind,
    *,
    inputs_dir: Path,
    sql_dir: Path = SQL_DIR,
    allow_grants: bool = False,
    allow_revokes: bool = False,
    website_csv: Path | None = None,
) -> PlanInputs:
    """Set the variables the SQL reads and create the plan's input rows as TEMP view
    desired_score_rows (scores) or grant_decision_rows (requests): from the user's model, or, for
    scores with `website_csv`, from the requester website's worker CSV.

    Raises PlanError naming the file the user edited (or the model) when it cannot be read.
    """
    if website_csv is not None and kind != "scores":
        raise PlanError("a website CSV holds scores and revocations, not request decisions")
    _require_tables(con, REQUIRED_TABLES[kind])
    if kind == "requests" and not _table_exists(con, "push_audit"):
        # A warehouse not migrated since push_audit joined the schema: decided requests come
        # from an empty audit, without writing the warehouse.
        con.execute(
            "CREATE OR REPLACE TEMP VIEW push_audit AS SELECT CAST(NULL AS VARCHAR) AS run_id, "
            "CAST(NULL AS VARCHAR) AS kind, CAST(NULL AS VARCHAR) AS qualification_request_id, "
            "CAST(NULL AS VARCHAR) AS status WHERE false"
        )
    create_whole_number_macros(con)
    con.execute("SET VARIABLE inputs_dir = ?", [str(Path(inputs_dir).resolve())])
    con.execute("SET VARIABLE allow_grants = ?", [allow_grants])
    con.execute("SET VARIABLE allow_revokes = ?", [allow_revokes])
    if website_csv is not None:
        return _website_rows(con, Path(website_csv), sql_dir)
    model, columns = USER_MODELS[kind]
    sql = read_sql(model, sql_dir)
    model_file = source = sql_source(model, sql_dir)
    csv_name, required, optional = CSV_FILES[kind]
    if re.search(rf"\b{csv_name}_csv\b", _without_comments(sql), flags=re.IGNORECASE):
        path = Path(inputs_dir) / f"{csv_name}.csv"
        try:
            load_csv_table(con, path, f"{csv_name}_csv", required=required, optional=optional)
        except InputError as e:
            raise InputFileError(str(e), e.missing) from None
        source = f"{path} (read by {source})"
    got = _create_model_view(con, model, sql, columns, source, model_file)
    _create_input_view(con, kind, model, columns, got)
    return PlanInputs(source=source)


def inputs_fingerprint(con: duckdb.DuckDBPyConnection, kind: Kind) -> str:
    """An order-independent fingerprint of the plan's input rows (after prepare_model).

    `<rows>-<hash>`: the row count, then a SHA-256 prefix of the XOR and the sum of DuckDB's hash
    of each row's columns (all but source_line), computed set-based. Editing the CSV or the model
    so that any row differs changes it; reordering rows does not.
    """
    _, columns = USER_MODELS[kind]
    hashed = (*columns, *OPTIONAL_COLUMNS[kind], "source_column", "input_problem")
    row_hash = f"hash({', '.join(hashed)})"
    try:
        rows, xor, total = con.execute(
            f"SELECT count(*), coalesce(bit_xor(h), 0), coalesce(sum(CAST(h AS HUGEINT)), 0) "
            f"FROM (SELECT {row_hash} AS h FROM {INPUT_VIEWS[kind]})"
        ).fetchall()[0]
    except duckdb.OutOfMemoryException:
        raise
    except duckdb.Error as e:
        raise PlanError(f"reading the plan's inputs failed: {e}") from e
    digest = hashlib.sha256(f"{kind}|{rows}|{xor}|{total}".encode()).hexdigest()[:24]
    return f"{rows}-{digest}"


def planner_version(kind: Kind, sql_dir: Path = SQL_DIR) -> str:
    """A digest of what turns input rows into a plan: sql/<plan table>.sql as read from `sql_dir`
    and this package's plan and input-reading modules (`planner-<16 hex>`).

    Saved with a plan; `push` refuses a saved plan whose planner differs from its own (a plan
    saved before an upgrade), since the same inputs may now plan otherwise (e.g. two revocations
    with different reasons, merged before, rejected since). PlanError when the SQL file is missing.
    """
    digest = hashlib.sha256(read_sql(PLAN_TABLES[kind], sql_dir).encode())
    for module in (__file__, inputs_module.__file__):
        digest.update(b"\0" + Path(str(module)).read_bytes())
    return "planner-" + digest.hexdigest()[:16]


def _build(
    kind: Kind,
    con: duckdb.DuckDBPyConnection,
    inputs_dir: Path,
    sql_dir: Path,
    *,
    allow_grants: bool = False,
    allow_revokes: bool = False,
    website_csv: Path | None = None,
) -> PlanSummary:
    inputs = prepare_model(
        con,
        kind,
        inputs_dir=inputs_dir,
        sql_dir=sql_dir,
        allow_grants=allow_grants,
        allow_revokes=allow_revokes,
        website_csv=website_csv,
    )
    table = PLAN_TABLES[kind]
    plan_sql = read_sql(table, sql_dir)
    # Scores: first without grouping the input rows (each its own candidate), which is the plan
    # whenever no (type, worker) repeats; a plan whose keys repeat is built again, grouped.
    for group_rows in (False, True) if kind == "scores" else (True,):
        con.execute("SET VARIABLE group_rows = ?", [group_rows])
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS\n{plan_sql}\n")
        except duckdb.OutOfMemoryException:
            raise
        except duckdb.Error as e:
            raise PlanError(
                f"{sql_source(table, sql_dir)} failed on the rows of {inputs.source}: {e}"
            ) from e
        if not group_rows and _keys_distinct(con, kind):
            break  # one row per key: no change can repeat either
    else:
        _refuse_duplicate_changes(con, kind)
    return summarise(con, kind, sql_dir, inputs)


def out_of_memory(limit: str | None, source: str) -> str:
    """What to say when DuckDB ran out of the plan's memory limit `limit` (as the setting gives
    it; None or empty: DuckDB's default) on the rows of `source`. Asks DuckDB nothing: within a
    limit of a few KB not even `current_setting` runs."""
    return (
        f"the plan ran out of its memory limit ({shown_memory_limit(limit)}) on the rows of "
        f"{source}: plan with more memory (QUAL_PIPELINE_WAREHOUSE_MEMORY or "
        "--warehouse-memory)"
    )


def _keys_distinct(con: duckdb.DuckDBPyConnection, kind: Kind) -> bool:
    """Whether every row of the built plan table has its own key (e.g. type and worker).

    Compares DuckDB's 64-bit hash of the key: two keys of one hash read as a repeat, which only
    costs building the plan again grouped, never a wrong plan. The plan table is read, not its
    inputs, so a model that returns other rows when run again cannot fool it.
    """
    table, key = PLAN_TABLES[kind], _ORDER[kind]
    (distinct,) = con.execute(
        f"SELECT count(*) = count(DISTINCT hash({key})) FROM {table}"
    ).fetchone()
    return bool(distinct)


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


def summarise(
    con: duckdb.DuckDBPyConnection,
    kind: Kind,
    sql_dir: Path = SQL_DIR,
    inputs: PlanInputs | None = None,
) -> PlanSummary:
    """Counts per action, rejected reasons (with their first row) and per-type change counts of a
    built plan table."""
    table = PLAN_TABLES[kind]
    actions = SCORE_ACTIONS if kind == "scores" else REQUEST_ACTIONS
    counts = dict.fromkeys(actions, 0)
    counts.update(dict(con.execute(f"SELECT action, count(*) FROM {table} GROUP BY 1").fetchall()))
    rejected: dict[str, int] = {}
    examples: dict[str, str] = {}
    ids = ID_COLUMNS[kind]
    # the first row's ids, and its revocation's reason (scores) or its decision (requests)
    shown = (*ids, "revoke_reason") if kind == "scores" else (*ids, "decision")
    firsts = "".join(f", arg_min_null({c}, coalesce(source_line, 0))" for c in shown)
    for reason, n, line, column, raw, *first in con.execute(
        f"SELECT reason, count(*), min(source_line), "
        f"arg_min_null(source_column, coalesce(source_line, 0)), "
        f"arg_min_null(raw_value, coalesce(source_line, 0)){firsts} "
        f"FROM {table} WHERE action = 'rejected' GROUP BY 1 ORDER BY 2 DESC, 1"
    ).fetchall():
        rejected[reason] = n
        if line is None:
            continue
        field = _field_of(reason, ids)
        if kind == "requests" and reason.startswith(DECISION_REJECTION):
            # the decision is what is wrong, not the row's value: show it as written
            value = first[shown.index("decision")]
            examples[reason] = row_location(line, column, value, field="decision")
        elif kind == "scores" and reason.startswith(REVOKE_REJECTION):
            # a revocation has no value: show that it is one, and its reason
            examples[reason] = revocation_location(
                line, column, first[shown.index("revoke_reason")]
            )
        elif field is None:
            examples[reason] = row_location(line, column, raw)
        else:  # a reason about an id shows the id, not the row's value
            value = first[shown.index(field)]
            examples[reason] = row_location(line, column, value, field=field)
    changes = ", ".join(f"'{a}'" for a in CHANGE_ACTIONS[kind])
    score_change = "action = 'update'" if kind == "scores" else "effect = 'update'"
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW guarded_plan AS SELECT qualification_type_id, "
        f"action IN ({changes}) AS is_change, "
        f"coalesce(action IN ({changes}) AND {score_change}, false) AS is_score_change, "
        f"action = 'revoke' AS is_revoke "
        f"FROM {table}"
    )
    per_type = tuple(
        TypeChanges(str(t), int(c), int(w), int(sc), int(r))
        for t, c, w, sc, r in con.execute(read_sql("push_guard", sql_dir)).fetchall()
    )
    return PlanSummary(
        kind=kind,
        table=table,
        counts=counts,
        rejected=rejected,
        per_type=per_type,
        rejected_examples=examples,
        inputs=inputs or PlanInputs(""),
    )


ID_COLUMNS: dict[Kind, tuple[str, ...]] = {
    "scores": ("qualification_type_id", "worker_id"),
    "requests": ("qualification_request_id", "qualification_type_id"),
}
"""The id columns of each plan table that a rejection reason may be about."""


REVOKE_REJECTION = "revoking a qualification needs --allow-revokes"
DECISION_REJECTION = "decision must be accept or reject"
"""How sql/push_plan.sql's reason for a revocation that is not allowed begins."""


def _field_of(reason: str, ids: tuple[str, ...]) -> str | None:
    """The id column `reason` is about (`worker_id must be ...`, `not one of your qualification
    types`, `the same worker appears 2 times ...`), or None for a reason about the row's value."""
    if reason.startswith("not one of your qualification types") and "qualification_type_id" in ids:
        return "qualification_type_id"
    if reason.startswith("the same worker appears") and "worker_id" in ids:
        return "worker_id"  # its values are in the reason; the first row may be a revocation
    return next((c for c in ids if reason.startswith(f"{c} ")), None)


def _where(line: int | None, column: str | None) -> str:
    where = f"line {line}" if line is not None else "a row"
    return f"{where}, column {column!r}" if column else where


def row_location(
    line: int | None, column: str | None, raw: str | None, *, field: str | None = None
) -> str:
    """`line 7, column "UPDATE-Accuracy": '85.5'`: where an input row is and what it says; with
    `field`, what it says there (`line 3: worker_id 'a12'`)."""
    where = _where(line, column)
    said = f"{field} " if field else ""
    return f"{where}: {said}{raw!r}" if raw is not None else f"{where}: {said}empty"


def revocation_location(line: int | None, column: str | None, revoke_reason: str | None) -> str:
    """`line 3: revoke, reason 'left the study'` (or `line 3: revoke, no reason`): where a
    revocation is and what it asks (it has no value to show)."""
    said = f"reason {revoke_reason!r}" if revoke_reason is not None else "no reason"
    return f"{_where(line, column)}: revoke, {said}"


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
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_catalog = current_database() AND table_schema = 'main'"
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


def _without_comments(sql: str) -> str:
    """The SQL without -- and /* */ comments (to see which tables the query itself names)."""
    return re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.DOTALL)


def _create_model_view(
    con: duckdb.DuckDBPyConnection,
    model: str,
    sql: str,
    columns: tuple[str, ...],
    source: str,
    model_file: str,
) -> list[str]:
    """Create the user's model as a TEMP view; the columns it returns. Errors name `model_file`
    (the file the model was read from) and `source` (its input)."""
    if not _IDENTIFIER.match(model):
        raise PlanError(f"model name {model!r} is not a plain identifier")
    try:
        statements = len(duckdb.extract_statements(sql))
    except duckdb.Error:
        statements = 1  # a syntax error: creating the view reports it, naming the file
    if statements > 1:
        # DuckDB would make the view of the first and run the others apart, unseen.
        raise PlanError(
            f"{model_file} holds {statements} SQL statements: a model is one query (its rows "
            "are the plan's input); remove the others, or combine them with UNION ALL"
        )
    try:
        con.execute(f"CREATE OR REPLACE TEMP VIEW {model} AS\n{sql}\n")
        got = [r[0] for r in con.execute(f"DESCRIBE {model}").fetchall()]
    except duckdb.IOException as e:
        raise InputFileError(
            f"{model_file} could not read its input: {e}\nPoint --inputs-dir at the folder "
            f"that holds your files (see inputs/README.md), or edit {model_file} to read your "
            "own data."
        ) from e
    except duckdb.Error as e:
        raise PlanError(f"{source} failed: {e}") from e
    lowered = {c.lower() for c in got}
    absent = [c for c in columns if c not in lowered]
    if absent:
        raise PlanError(
            f"{model_file} must return the columns {', '.join(columns)}; "
            f"missing: {', '.join(absent)} (it returns {', '.join(got)})"
        )
    return got


def _create_input_view(
    con: duckdb.DuckDBPyConnection,
    kind: Kind,
    model: str,
    columns: tuple[str, ...],
    got: list[str],
) -> None:
    """The model's rows in the fixed columns the plan SQL reads: its required columns, then the
    optional and source columns it returns (matched in any case) or NULL."""
    named = {c.lower(): c for c in got}
    select = []
    for column in (*columns, *OPTIONAL_COLUMNS[kind], *SOURCE_COLUMNS):
        if column in named:
            quoted = named[column].replace('"', '""')
            select.append(f'"{quoted}" AS {column}')
        else:
            select.append(f"NULL AS {column}")
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {INPUT_VIEWS[kind]} AS "
        f"SELECT {', '.join(select)} FROM {model}"
    )


def _website_rows(con: duckdb.DuckDBPyConnection, path: Path, sql_dir: Path) -> PlanInputs:
    """The requester website's worker CSV as the score plan's input rows."""
    try:
        website = load_website_csv(con, path)
    except InputError as e:
        raise InputFileError(str(e), e.missing) from None
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {INPUT_VIEWS['scores']} AS\n"
        f"{read_sql('website_changes', sql_dir)}\n"
    )
    return PlanInputs(source=f"the website CSV {path}", notes=website.notes())
