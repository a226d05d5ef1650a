-- Keys held more than once in the refreshed types (a broken extraction: the uniqueness check will
-- fail and block the push path; the history merge then takes one row per key).
SELECT count(*) - count(DISTINCT (qualification_type_id, worker_id)) AS duplicate_rows
FROM worker_qualifications
SEMI JOIN observed_partitions USING (qualification_type_id);
