-- Current state: one row per (qualification type, worker) as last observed, columns as in the lake.
-- A snapshot's rows replace the type's rows as they are. No key constraint on purpose: a broken
-- extraction must land here visibly and fail the uniqueness check (which blocks the push path)
-- rather than abort every load.
CREATE TABLE IF NOT EXISTS worker_qualifications (
    qualification_type_id VARCHAR NOT NULL USING COMPRESSION dictionary,  -- the qualification type
    worker_id VARCHAR NOT NULL USING COMPRESSION fsst,  -- the worker
    status VARCHAR NOT NULL USING COMPRESSION dictionary,  -- `Granted` or `Revoked`
    integer_value INTEGER,  -- the score (null when the worker holds none)
    country VARCHAR USING COMPRESSION dictionary,  -- ISO 3166-1 alpha-2 code from LocaleValue, or as given when not ISO
    subdivision VARCHAR USING COMPRESSION dictionary,  -- full ISO 3166-2 code, e.g. `US-WA`
    country_name VARCHAR USING COMPRESSION dictionary,  -- the country's ISO name; null when the code is not ISO
    subdivision_name VARCHAR USING COMPRESSION dictionary,  -- the subdivision's ISO name; null when the code is not ISO
    grant_time TIMESTAMPTZ,  -- when MTurk granted it (UTC)
    extracted_at TIMESTAMPTZ NOT NULL  -- when this state was observed: the extraction's time
    -- (or, in the warehouse, the time of the verified push that changed it)
);
