-- The qualification types the requester owns, as of the newest qualification_types snapshot.
CREATE TABLE IF NOT EXISTS qualification_types (
    qualification_type_id VARCHAR NOT NULL,
    name VARCHAR,
    description VARCHAR,
    keywords VARCHAR,
    qualification_type_status VARCHAR,
    creation_time TIMESTAMPTZ,
    is_requestable BOOLEAN,
    auto_granted BOOLEAN,
    auto_granted_value INTEGER,
    retry_delay_in_seconds BIGINT,
    test_duration_in_seconds BIGINT,
    has_test BOOLEAN,
    extracted_at TIMESTAMPTZ NOT NULL
);
