-- Keys the refreshed types will hold more than once once replaced (a broken extraction: the
-- uniqueness check will fail and block the push path; the history merge then takes one row per
-- key): the extra copies among the rows replace_worker_qualifications.sql keeps (newer than the
-- snapshot) and the snapshot rows it inserts ($files, those of keys not kept), counted before the
-- replace, on the files, by a grouping. Run after the replace, on the table, the same grouping
-- ran out of 256MB at 10,000,000 rows (the replaced rows' versions held in memory).
WITH kept AS (
    SELECT w.qualification_type_id, w.worker_id
    FROM worker_qualifications AS w
    JOIN observed_partitions AS p USING (qualification_type_id)
    WHERE w.extracted_at > p.observed_at
),
replaced AS (
    SELECT r.qualification_type_id, r.worker_id
    FROM read_parquet($files, hive_partitioning = false) AS r
    ANTI JOIN kept USING (qualification_type_id, worker_id)
    UNION ALL
    SELECT qualification_type_id, worker_id FROM kept
)
-- Grouped by the keys' 64-bit hash, not their strings (a tenth of the work at 10,000,000 rows): a
-- collision can only count a duplicate that is not one, which sends the merge down its
-- deduplicating path, whose result is then the same.
SELECT coalesce(sum(copies - 1), 0) AS duplicate_rows
FROM (
    SELECT count(*) AS copies
    FROM replaced
    GROUP BY hash(qualification_type_id, worker_id)
    HAVING count(*) > 1
);
