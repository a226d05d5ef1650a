-- Rewrite the current state of every refreshed type with its new snapshot, read straight from the
-- lake ($files; observed_partitions(qualification_type_id, observed_at, complete) lists the types);
-- merge_history then compares every key of those types with the history (load/compare_types).
-- What replace_worker_qualifications left is undone first, if it ran. A small merge's path (fewer snapshot rows of loaded types than
-- load.HASH_MERGE_MIN_ROWS), and the comparison's fallback when a key is held twice (in the
-- snapshot or before it), where a comparison by row hashes cannot tell how many times a row is held.
-- A row observed after the snapshot was taken (a verified push) is newer than the snapshot: it stays.
DELETE FROM worker_qualifications AS w
USING observed_partitions AS p
WHERE w.qualification_type_id = p.qualification_type_id AND w.extracted_at <= p.observed_at;

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
FROM read_parquet($files, hive_partitioning = false) AS r
ANTI JOIN (
    SELECT qualification_type_id, worker_id
    FROM worker_qualifications
    SEMI JOIN observed_partitions USING (qualification_type_id)
) AS newer USING (qualification_type_id, worker_id);
