-- Pending qualification requests: per type, the set from its newest snapshot.
CREATE TABLE IF NOT EXISTS qualification_requests (
    qualification_request_id VARCHAR NOT NULL,  -- the id to accept or reject the request with
    qualification_type_id VARCHAR NOT NULL,  -- the type requested
    worker_id VARCHAR NOT NULL,  -- the worker who asked
    test VARCHAR,  -- the test form (QuestionForm XML) the worker answered, if any
    answer VARCHAR,  -- the worker's answers (QuestionFormAnswers XML), if any
    submit_time TIMESTAMPTZ,  -- when the worker submitted the request
    extracted_at TIMESTAMPTZ NOT NULL  -- when the snapshot was taken
);
