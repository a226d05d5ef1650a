-- The first history versions of refreshed types seen for the first time (no current rows, no
-- history yet), read straight from their snapshots ($files), dated by them (observed_partitions):
-- every row is `new`. Only when every key is held once (the uniqueness check passed); runs before
-- merge_history, which then finds these types with a history and no key of theirs to compare
-- (compare_keys; a load that rewrites types, compare_types, leaves them to merge_history).
-- (Read from the current state just written instead, a first load of 10,000,000 rows spent
-- 23 s of CPU here; from the snapshots, 10 s.)
INSERT INTO worker_qualification_history BY NAME
SELECT
    r.qualification_type_id,
    r.worker_id,
    r.status,
    r.integer_value,
    r.country,
    r.subdivision,
    p.observed_at AS valid_from,
    NULL AS valid_to,
    'new' AS change,
    NULL AS end_reason,
    'refresh' AS source
FROM read_parquet($files, hive_partitioning = false) AS r
JOIN observed_partitions AS p USING (qualification_type_id);
