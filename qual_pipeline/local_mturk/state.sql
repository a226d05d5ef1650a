-- State of the local MTurk (SQLite). One database per server: ':memory:' or the --state file.
-- Names of columns follow the API's field names in snake case; times are epoch seconds (REAL).

CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS requesters (
    access_key_id TEXT PRIMARY KEY,
    secret_access_key TEXT NOT NULL,
    available_balance TEXT NOT NULL
) WITHOUT ROWID;

-- owner is the access key id of the requester who created the type; NULL for MTurk's system types.
CREATE TABLE IF NOT EXISTS qualification_types (
    qualification_type_id TEXT PRIMARY KEY,
    owner TEXT,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    keywords TEXT,
    qualification_type_status TEXT NOT NULL,
    creation_time REAL NOT NULL,
    test TEXT,
    answer_key TEXT,
    test_duration_in_seconds INTEGER,
    retry_delay_in_seconds INTEGER,
    is_requestable INTEGER NOT NULL,
    auto_granted INTEGER NOT NULL,
    auto_granted_value INTEGER
) WITHOUT ROWID;

CREATE UNIQUE INDEX IF NOT EXISTS qualification_type_names
    ON qualification_types (owner, name) WHERE owner IS NOT NULL;

-- status: 0 Granted, 1 Revoked (an integer costs no bytes in SQLite's record format).
CREATE TABLE IF NOT EXISTS qualifications (
    qualification_type_id TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    status INTEGER NOT NULL,
    integer_value INTEGER,
    grant_time REAL,
    country TEXT,
    subdivision TEXT,
    PRIMARY KEY (qualification_type_id, worker_id)
) WITHOUT ROWID;

-- Keyset paging of ListWorkersWithQualificationType: a page is one index range scan.
CREATE INDEX IF NOT EXISTS qualifications_by_status
    ON qualifications (qualification_type_id, status, worker_id);

CREATE TABLE IF NOT EXISTS qualification_requests (
    request_seq INTEGER PRIMARY KEY,
    qualification_request_id TEXT NOT NULL UNIQUE,
    qualification_type_id TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    test TEXT,
    answer TEXT,
    submit_time REAL NOT NULL
);

-- Keyset paging of ListQualificationRequests for one type: a page is one index range scan
-- (without it every call scanned all requests: 0.58 ms a call at 2,000 types, 0.06 at 300).
CREATE INDEX IF NOT EXISTS qualification_requests_by_type
    ON qualification_requests (qualification_type_id, request_seq);

-- The workers the environment knows, when the seed listed them (meta 'workers_listed');
-- without a list every well-formed worker id is known.
CREATE TABLE IF NOT EXISTS workers (
    worker_id TEXT PRIMARY KEY
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS worker_blocks (
    requester TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (requester, worker_id)
) WITHOUT ROWID;

-- Every e-mail MTurk would have sent to a worker.
CREATE TABLE IF NOT EXISTS notifications (
    seq INTEGER PRIMARY KEY,
    operation TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    message_text TEXT NOT NULL,
    sent_time REAL NOT NULL
);
