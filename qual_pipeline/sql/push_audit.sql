-- push_audit: one row per change and attempt of every push run, written from the push journal.
-- kind 'scores' rows name a worker; kind 'requests' rows also name the qualification request.
-- status: 'verified' (read back and equal), 'mismatch' (read back and different), 'failed' (MTurk
-- refused the call; see error), 'interrupted' (the run stopped mid-call and the change had not
-- landed; a later attempt sent it). Never holds credentials.
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
    PRIMARY KEY (plan_id, seq, attempt)
)
