-- The current state of refreshed types that hold no rows yet (first sighted): their snapshots'
-- rows as they are, read straight from the lake ($files). Runs after replace_worker_qualifications
-- (whose comparison then does not read these rows).
INSERT INTO worker_qualifications BY NAME
SELECT
    r.qualification_type_id,
    r.worker_id,
    r.status,
    r.integer_value,
    r.country,
    r.subdivision,
    r.country_name,
    r.subdivision_name,
    r.grant_time,
    r.extracted_at
FROM read_parquet($files, hive_partitioning = false) AS r;
