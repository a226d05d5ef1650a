-- push_journal (SQLite at <data_dir>/push_journal.sqlite, or PostgreSQL in the shared profile: the
-- same DDL runs on both): the saved plans and the write-ahead record
-- of every push.
-- plans: one row per plan. state 'saved' (built by `plan`, may be pushed), 'superseded' (a newer
--        plan of the same kind was saved), 'open' (journalled for sending: a push is applying it
--        or was interrupted), 'done' (every change finished). The header records what the plan
--        was built from and with: the warehouse load, the inputs' fingerprint, the settings, the
--        guard's verdict and the blocking checks it may ignore.
-- changes: one row per planned change; state pending -> sending -> sent -> verified | mismatch,
--          or failed, or refused. 'sending' is committed before the call, so after a crash it means
--          "outcome unknown: read back before sending again". action: update, grant, revoke
--          (scores), accept, reject (requests). reject_reason: the message MTurk shows the worker
--          with a request rejection or a revocation. old_status, old_value: what the warehouse
--          held under the plan (NULL: the worker lacked the type); an accept is refused
--          ('refused') when MTurk holds something else just before it is sent.
-- rejections: the plan's rejected rows with their reason, the value as written and where the
--             first input row behind it is (source_line, and source_column for a website CSV);
--             unchanged rows are only counted.
-- attempts: one row per call attempt; the outbox of push_audit (recorded = 1 once copied).
CREATE TABLE IF NOT EXISTS plans (
    plan_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    environment TEXT NOT NULL,
    send_notifications INTEGER NOT NULL,
    total INTEGER NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    finished_at TEXT,
    opened_at TEXT,
    load_id TEXT,
    inputs_fingerprint TEXT,
    settings TEXT,
    summary TEXT,
    verdict TEXT,
    ignored_checks TEXT
);
CREATE TABLE IF NOT EXISTS changes (
    plan_id TEXT NOT NULL REFERENCES plans (plan_id) ON UPDATE CASCADE,
    seq INTEGER NOT NULL,
    action TEXT NOT NULL,
    qualification_type_id TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    qualification_request_id TEXT,
    old_value INTEGER,
    new_value INTEGER,
    reject_reason TEXT,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    old_status TEXT,
    PRIMARY KEY (plan_id, seq)
);
CREATE INDEX IF NOT EXISTS changes_by_state ON changes (plan_id, state, seq);
CREATE TABLE IF NOT EXISTS rejections (
    plan_id TEXT NOT NULL REFERENCES plans (plan_id) ON UPDATE CASCADE,
    seq INTEGER NOT NULL,
    qualification_type_id TEXT,
    worker_id TEXT,
    qualification_request_id TEXT,
    raw_value TEXT,
    reason TEXT NOT NULL,
    input_rows INTEGER,
    source_line INTEGER,
    source_column TEXT,
    PRIMARY KEY (plan_id, seq)
);
CREATE TABLE IF NOT EXISTS attempts (
    plan_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    status TEXT NOT NULL,
    observed_value INTEGER,
    observed_status TEXT,
    error TEXT,
    attempted_at TEXT NOT NULL,
    finished_at TEXT,
    recorded INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (plan_id, seq, attempt)
);
CREATE INDEX IF NOT EXISTS attempts_to_record ON attempts (recorded, status);
CREATE INDEX IF NOT EXISTS plans_by_state ON plans (kind, state, created_at);
