-- One row per lake snapshot loaded into the warehouse: when it was taken and what the extraction
-- reported. Also the record of which snapshots are already loaded, so a reload is a no-op.
CREATE TABLE IF NOT EXISTS extract_runs (
    lake_table VARCHAR NOT NULL,  -- `worker_qualifications`, `qualification_requests` or
    -- `qualification_types`
    qualification_type_id VARCHAR,  -- the partition; null for `qualification_types`
    snapshot VARCHAR NOT NULL,  -- the snapshot file name (a UTC timestamp)
    extracted_at TIMESTAMPTZ NOT NULL,  -- when its rows were observed (newest row
    -- `extracted_at`; for an empty snapshot the writer's `finished_at`, else the file name)
    loaded_at TIMESTAMPTZ NOT NULL,  -- when the warehouse loaded it
    row_count BIGINT NOT NULL,  -- rows in the file
    pages BIGINT,  -- API pages read (this and the figures below: null when the snapshot did
    -- not record them)
    duplicates BIGINT,  -- records repeated or changed between pages, kept once
    granted BIGINT,  -- rows with status `Granted`
    revoked BIGINT,  -- rows with status `Revoked`
    invalid_locales BIGINT,  -- rows whose country or subdivision is not valid ISO 3166
    retries BIGINT,  -- attempts botocore's retry mode added
    throttles BIGINT,  -- throttled attempts among those retries
    started_at TIMESTAMPTZ,  -- when the extraction started
    finished_at TIMESTAMPTZ,  -- when its last row was written
    duration_s DOUBLE,  -- seconds from the start to the last row written
    run_id VARCHAR  -- the Dagster run, when known
);
