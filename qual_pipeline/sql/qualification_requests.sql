-- Pending qualification requests: the current pending set per qualification type.
CREATE TABLE IF NOT EXISTS qualification_requests (
    qualification_request_id VARCHAR NOT NULL,
    qualification_type_id VARCHAR NOT NULL,
    worker_id VARCHAR NOT NULL,
    test VARCHAR,
    answer VARCHAR,
    submit_time TIMESTAMPTZ,
    extracted_at TIMESTAMPTZ NOT NULL
);
