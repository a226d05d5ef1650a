-- The qualification types you own, replaced by each new qualification_types snapshot.
CREATE TABLE IF NOT EXISTS qualification_types (
    qualification_type_id VARCHAR NOT NULL,  -- the type's id (30 characters on MTurk)
    name VARCHAR,  -- its name, unique per requester
    description VARCHAR,  -- its description, as workers see it
    keywords VARCHAR,  -- its search keywords, comma-separated
    qualification_type_status VARCHAR,  -- `Active` or `Inactive`
    creation_time TIMESTAMPTZ,  -- when it was created
    is_requestable BOOLEAN,  -- whether workers can request it
    auto_granted BOOLEAN,  -- whether a request is granted at once
    auto_granted_value INTEGER,  -- the score an automatic grant gives
    retry_delay_in_seconds BIGINT,  -- seconds a worker waits before requesting it again
    test_duration_in_seconds BIGINT,  -- seconds a worker has for its test
    has_test BOOLEAN,  -- whether it has a qualification test
    extracted_at TIMESTAMPTZ NOT NULL  -- when the snapshot was taken
);
