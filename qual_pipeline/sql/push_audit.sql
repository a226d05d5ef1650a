-- push_audit: one row per change and attempt of every push run, written from the push journal.
-- kind 'scores' rows name a worker; kind 'requests' rows also name the qualification request.
-- status: 'verified' (read back and equal), 'mismatch' (read back and different), 'failed' (MTurk
-- refused the call; see error), 'interrupted' (the run stopped mid-call and the change had not
-- landed; a later attempt sent it). observed_status: what the read-back found: 'Granted',
-- 'Revoked' or 'Missing' (null for rejected requests, read back from the pending list).
-- ignored_checks: the blocking checks the plan was allowed to ignore (--ignore-check), comma
-- separated. Never holds credentials. One row per (plan_id, seq, attempt): the push inserts only the
-- rows not there yet (DuckLake has no PRIMARY KEY; warehouses of earlier versions keep theirs).
CREATE TABLE IF NOT EXISTS push_audit (
    run_id VARCHAR NOT NULL,
    plan_id VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    attempt INTEGER NOT NULL,
    kind VARCHAR NOT NULL,
    qualification_type_id VARCHAR NOT NULL,
    worker_id VARCHAR NOT NULL,
    qualification_request_id VARCHAR,
    old_value INTEGER,
    new_value INTEGER,
    observed_value INTEGER,
    action VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    error VARCHAR,
    attempted_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    observed_status VARCHAR,
    ignored_checks VARCHAR
);

-- Warehouses written by earlier versions gain the newer columns.
ALTER TABLE push_audit ADD COLUMN IF NOT EXISTS observed_status VARCHAR;
ALTER TABLE push_audit ADD COLUMN IF NOT EXISTS ignored_checks VARCHAR
