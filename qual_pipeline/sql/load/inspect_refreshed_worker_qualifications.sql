-- Keys held more than once in the refreshed types (a broken extraction: the uniqueness check will
-- fail and block the push path; the history merge then takes one row per key). The extra copies,
-- counted by a grouping (which spills to disk under the memory limit; a distinct count of the
-- pair does not, and ran out of 256MB at 10,000,000 rows).
SELECT coalesce(sum(copies - 1), 0) AS duplicate_rows
FROM (
    SELECT count(*) AS copies
    FROM worker_qualifications
    SEMI JOIN observed_partitions USING (qualification_type_id)
    GROUP BY qualification_type_id, worker_id
    HAVING count(*) > 1
);
