-- The rows of the new worker_qualifications snapshots, tagged with the partition each file sits in.
-- new_snapshots(path, qualification_type_id, observed_at) lists the files; $files is the same list.
CREATE OR REPLACE TEMP TABLE staged_worker_qualifications AS
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
    r.extracted_at,
    s.qualification_type_id AS partition_type_id
FROM read_parquet($files, filename = true, hive_partitioning = false) AS r
JOIN new_snapshots AS s ON s.path = r.filename;
