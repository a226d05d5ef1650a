-- Slowly changing dimension (type 2): one row per version of a (qualification_type_id, worker_id).
-- valid_to is null for the current version. A worker who disappears from MTurk gets its last
-- version closed with end_reason 'gone'; nothing is ever deleted.
CREATE TABLE IF NOT EXISTS worker_qualification_history (
    qualification_type_id VARCHAR NOT NULL,
    worker_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    integer_value INTEGER,
    country VARCHAR,
    subdivision VARCHAR,
    valid_from TIMESTAMPTZ NOT NULL,
    valid_to TIMESTAMPTZ,
    change VARCHAR NOT NULL,  -- why this version began: 'new', 'returned' or e.g. 'score,status'
    end_reason VARCHAR,  -- null while current, then 'superseded' or 'gone'
    source VARCHAR NOT NULL  -- where the version was observed: 'refresh' or 'push'
);
