-- Current state: one row per (qualification_type_id, worker_id), columns as in the lake.
-- No key constraint on purpose: a broken extraction must land here visibly and fail the
-- uniqueness check (which blocks the push path) rather than abort every load.
CREATE TABLE IF NOT EXISTS worker_qualifications (
    qualification_type_id VARCHAR NOT NULL,
    worker_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    integer_value INTEGER,
    country VARCHAR,
    subdivision VARCHAR,
    country_name VARCHAR,
    subdivision_name VARCHAR,
    grant_time TIMESTAMPTZ,
    extracted_at TIMESTAMPTZ NOT NULL
);
