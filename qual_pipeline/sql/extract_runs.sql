-- One row per lake snapshot loaded into the warehouse: when it was taken and what the extraction
-- reported. Also the record of which snapshots are already loaded, so a reload is a no-op.
CREATE TABLE IF NOT EXISTS extract_runs (
    lake_table VARCHAR NOT NULL,  -- 'worker_qualifications', 'qualification_requests', ...
    qualification_type_id VARCHAR,  -- null for the unpartitioned qualification_types
    snapshot VARCHAR NOT NULL,  -- snapshot file name, a UTC timestamp
    extracted_at TIMESTAMPTZ NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL,
    row_count BIGINT NOT NULL,
    pages BIGINT,
    duplicates BIGINT,
    granted BIGINT,
    revoked BIGINT,
    invalid_locales BIGINT,
    retries BIGINT,
    throttles BIGINT,
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    duration_s DOUBLE,
    run_id VARCHAR
);
